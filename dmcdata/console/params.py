"""Declared parameter spaces of the console channel (DESIGN §2).

Every processor declares its parameters as :class:`Param` (name, unit, min, max, default,
sampling distribution). A channel's *normalized vector* is each value mapped linearly from
``[min, max]`` to ``[-1, 1]``::

    v = 2 (x - min) / (max - min) - 1            x = min + (v + 1) (max - min) / 2

concatenated in the fixed order of :data:`CHANNEL_SPACE` (25 values, the thesis' full channel).
Discrete parameters (``polarity``, ``reverb.ir``) are rounded to the nearest integer on the way
back. Variable processor order adds :func:`order_one_hot` (6 values) after the 25.

Sampling distributions (one seeded ``numpy.random.Generator``, nothing global):

- ``uniform``      x ~ U(min, max)
- ``log_uniform``  log x ~ U(log min, log max)   (frequencies, Q, times)
- ``bernoulli``    x = 1 with probability ``p`` else 0
- ``choice``       x ~ integer uniform on {min, ..., max}
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from dmcdata.console.errors import ConsoleError

DISTRIBUTIONS = ("uniform", "log_uniform", "bernoulli", "choice")
PROCESSORS = ("gain", "polarity", "eq", "compressor", "reverb", "pan")
ORDERABLE = ("eq", "compressor", "reverb")
DEFAULT_N_IRS = 8


@dataclass(frozen=True)
class Param:
    """One parameter: ``name`` (unit in the name), unit, inclusive range, default, distribution.

    ``default`` is also the value at which the processor has no effect (the neutral value), except
    for frequencies and Q, which have no effect when their band's gain is 0 dB.
    ``p`` is the probability of 1 for ``bernoulli`` parameters.
    """

    name: str
    unit: str
    min: float
    max: float
    default: float
    dist: str
    p: float = 0.5
    doc: str = ""

    def __post_init__(self):
        if self.dist not in DISTRIBUTIONS:
            raise ValueError(f"{self.name}: unknown distribution {self.dist!r}")
        if not (self.min < self.max or (self.dist == "choice" and self.min == self.max)):
            raise ValueError(f"{self.name}: min must be below max (equal only for a one-way choice)")
        if not self.min <= self.default <= self.max:
            raise ValueError(f"{self.name}: default outside [min, max]")
        if self.dist == "log_uniform" and self.min <= 0:
            raise ValueError(f"{self.name}: log_uniform needs min > 0")

    @property
    def processor(self) -> str:
        """The processor this parameter belongs to ('gain', 'polarity', 'eq', ..., 'pan')."""
        if "." in self.name:
            return self.name.split(".", 1)[0]
        return {"gain_db": "gain"}.get(self.name, self.name)

    @property
    def discrete(self) -> bool:
        return self.dist in ("bernoulli", "choice")

    def sample(self, rng: np.random.Generator) -> float | int:
        if self.dist == "uniform":
            return float(rng.uniform(self.min, self.max))
        if self.dist == "log_uniform":
            return float(math.exp(rng.uniform(math.log(self.min), math.log(self.max))))
        if self.dist == "bernoulli":
            return int(rng.random() < self.p)
        return int(rng.integers(int(self.min), int(self.max) + 1))

    def check(self, value, where: str = "") -> float | int:
        """Return ``value`` as float (int for discrete parameters) or raise :class:`ConsoleError`."""
        label = f"{where}{self.name}"
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConsoleError(f"{label}: expected a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ConsoleError(f"{label}: value {value!r} is not finite")
        if not self.min <= v <= self.max:
            raise ConsoleError(f"{label}: value {v:g} {self.unit} out of range [{self.min:g}, {self.max:g}]")
        if self.discrete:
            if v != round(v):
                raise ConsoleError(f"{label}: expected an integer, got {value!r}")
            return int(round(v))
        return v


def _channel_params(n_irs: int) -> list[Param]:
    P = Param
    eq = [
        P("eq.low_shelf_gain_db", "dB", -24.0, 24.0, 0.0, "uniform", doc="low shelf gain (plateau below the corner)"),
        P("eq.low_shelf_freq_hz", "Hz", 20.0, 1000.0, 100.0, "log_uniform", doc="low shelf corner (gain/2 in dB)"),
    ]
    for k, (lo, hi, f0) in enumerate([(200.0, 5000.0, 500.0), (500.0, 6000.0, 1500.0), (2000.0, 10000.0, 5000.0)], 1):
        eq += [
            P(f"eq.band{k}_gain_db", "dB", -24.0, 24.0, 0.0, "uniform", doc=f"peaking band {k} gain at its centre"),
            P(f"eq.band{k}_freq_hz", "Hz", lo, hi, f0, "log_uniform", doc=f"peaking band {k} centre frequency"),
            P(f"eq.band{k}_q", "", 0.1, 10.0, 0.707, "log_uniform", doc=f"peaking band {k} quality factor"),
        ]
    eq += [
        P("eq.high_shelf_gain_db", "dB", -24.0, 24.0, 0.0, "uniform", doc="high shelf gain (plateau above the corner)"),
        P("eq.high_shelf_freq_hz", "Hz", 8000.0, 20000.0, 10000.0, "log_uniform", doc="high shelf corner (gain/2 in dB)"),
    ]
    comp = [
        P("compressor.threshold_db", "dB", -60.0, 0.0, 0.0, "uniform", doc="threshold T (dBFS)"),
        P("compressor.ratio", "", 1.0, 10.0, 1.0, "uniform", doc="ratio R (1 = no compression)"),
        P("compressor.attack_ms", "ms", 0.03, 30.0, 10.0, "log_uniform", doc="attack time constant"),
        P("compressor.release_ms", "ms", 50.0, 3000.0, 100.0, "log_uniform", doc="release time constant"),
        P("compressor.makeup_db", "dB", -12.0, 12.0, 0.0, "uniform", doc="make-up gain"),
    ]
    rev = [
        P("reverb.ir", "index", 0.0, float(n_irs - 1), 0.0, "choice", doc="impulse response index in the IR bank"),
        P("reverb.decay", "", 0.0, 1.0, 1.0, "uniform", doc="tail length factor (1 = IR as is, 0 = first tap only)"),
        P("reverb.dry", "", 0.0, 1.0, 1.0, "uniform", doc="dry (direct) level, linear"),
        P("reverb.wet", "", 0.0, 1.0, 0.0, "uniform", doc="wet (reverberated) level, linear"),
    ]
    return (
        [P("gain_db", "dB", -24.0, 24.0, 0.0, "uniform", doc="input gain, y = 10^(g/20) x"),
         P("polarity", "flag", 0.0, 1.0, 0.0, "bernoulli", p=0.2, doc="1 = inverted (y = -x)")]
        + eq + comp + rev
        + [P("pan", "", 0.0, 1.0, 0.5, "uniform", doc="0 = hard left, 0.5 = centre, 1 = hard right")]
    )


@dataclass
class ParameterSpace:
    """An ordered list of :class:`Param` with normalization, validation and seeded sampling."""

    params: list[Param]
    _index: dict = field(init=False, repr=False)

    def __post_init__(self):
        self._index = {p.name: i for i, p in enumerate(self.params)}
        if len(self._index) != len(self.params):
            raise ValueError("duplicate parameter names")
        self._lo = np.array([p.min for p in self.params], dtype=np.float64)
        self._hi = np.array([p.max for p in self.params], dtype=np.float64)
        # a one-way choice (e.g. a bank of one IR) has no span: it normalizes to -1
        self._span = np.where(self._hi > self._lo, self._hi - self._lo, 1.0)
        self._discrete = np.array([p.discrete for p in self.params])

    # -- lookup -----------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        try:
            return self.params[self._index[name]]
        except KeyError:
            raise ConsoleError(f"unknown parameter {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def processor_names(self, processor: str) -> list[str]:
        return [p.name for p in self.params if p.processor == processor]

    # -- named values ------------------------------------------------------------------------
    def defaults(self) -> dict:
        """Every parameter at its default (which is also neutral: see :meth:`neutral`)."""
        return {p.name: (int(p.default) if p.discrete else float(p.default)) for p in self.params}

    def neutral(self) -> dict:
        """Every processor without effect: 0 dB gains, no inversion, ratio 1, dry reverb, pan centre.

        With these values the channel output is ``pan_gains(0.5) * x`` (identity before pan).
        """
        return self.defaults()

    def validate(self, params: dict, where: str = "", complete: bool = False) -> dict:
        """Check names and ranges; returns a full dict (missing names take their neutral value,
        unless ``complete``). Raises :class:`ConsoleError` naming the parameter."""
        if not isinstance(params, dict):
            raise ConsoleError(f"{where}parameters must be a dict of name -> value, got {type(params).__name__}")
        unknown = [k for k in params if k not in self._index]
        if unknown:
            raise ConsoleError(f"{where}unknown parameter(s) {unknown}; known: {self.names}")
        if complete:
            missing = [n for n in self.names if n not in params]
            if missing:
                raise ConsoleError(f"{where}missing parameter(s) {missing}")
        out = self.neutral()
        for k, v in params.items():
            out[k] = self[k].check(v, where)
        return out

    # -- normalized vectors ------------------------------------------------------------------
    def normalize(self, params: dict) -> np.ndarray:
        """Named values (all of them) -> float32 vector in [-1, 1] in :attr:`names` order."""
        full = self.validate(params, complete=True)
        x = np.array([full[n] for n in self.names], dtype=np.float64)
        v = 2.0 * (x - self._lo) / self._span - 1.0
        return np.clip(v, -1.0, 1.0).astype(np.float32)

    def denormalize(self, vec) -> dict:
        """float vector in [-1, 1] (values outside are clipped) -> named values.

        Exact inverse of :meth:`normalize` up to float32 precision; discrete parameters are
        rounded to the nearest integer.
        """
        v = np.asarray(vec, dtype=np.float64)
        if v.shape != (len(self),):
            raise ConsoleError(f"normalized vector must have shape ({len(self)},), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ConsoleError("normalized vector contains NaN/Inf")
        v = np.clip(v, -1.0, 1.0)
        x = self._lo + (v + 1.0) * 0.5 * self._span
        x = np.clip(x, self._lo, self._hi)
        return {p.name: (int(round(x[i])) if p.discrete else float(x[i])) for i, p in enumerate(self.params)}

    def sample(self, rng: np.random.Generator, processors=PROCESSORS) -> dict:
        """Draw every parameter of the listed processors; the others are set neutral.

        Draws happen in :attr:`names` order from ``rng`` (for every parameter, listed or not, so
        the values of one processor do not depend on which other processors are enabled).
        """
        bad = [p for p in processors if p not in PROCESSORS]
        if bad:
            raise ConsoleError(f"unknown processor(s) {bad}; known: {list(PROCESSORS)}")
        out = self.neutral()
        for p in self.params:
            value = p.sample(rng)
            if p.processor in processors:
                out[p.name] = value
        return out


def channel_space(n_irs: int = DEFAULT_N_IRS) -> ParameterSpace:
    """The 25-parameter channel space for an IR bank of ``n_irs`` impulse responses."""
    if n_irs < 1:
        raise ConsoleError("an IR bank needs at least one impulse response")
    return ParameterSpace(_channel_params(n_irs))


#: The full channel (gain, polarity, EQ, compressor, reverb, pan) for the default 8-IR bank.
CHANNEL_SPACE = channel_space(DEFAULT_N_IRS)

#: The 6 orders of the orderable processors; ``ORDERS[0]`` is the static order of the thesis.
ORDERS: tuple[tuple[str, str, str], ...] = tuple(itertools.permutations(ORDERABLE))


def check_order(order) -> tuple[str, str, str]:
    t = tuple(order)
    if t not in ORDERS:
        raise ConsoleError(f"processor order {list(order)!r} must be a permutation of {list(ORDERABLE)}")
    return t


def order_one_hot(order) -> np.ndarray:
    """float32 (6,) one-hot of ``order`` among :data:`ORDERS`."""
    v = np.zeros(len(ORDERS), dtype=np.float32)
    v[ORDERS.index(check_order(order))] = 1.0
    return v


def sample_channel_params(rng: np.random.Generator, processors=PROCESSORS,
                          space: ParameterSpace = CHANNEL_SPACE) -> dict:
    """Seeded random channel settings; processors not listed are neutral. Same rng state ->
    same values."""
    return space.sample(rng, processors)


def markdown_table(space: ParameterSpace = CHANNEL_SPACE) -> str:
    """The parameter table of the README: ``python -c "from dmcdata.console.params import markdown_table;
    print(markdown_table())"``."""
    lines = ["| # | name | unit | min | max | default (neutral) | distribution | meaning |",
             "|---|---|---|---|---|---|---|---|"]
    for i, p in enumerate(space.params):
        dist = f"bernoulli (p = {p.p:g})" if p.dist == "bernoulli" else p.dist.replace("_", "-")
        lines.append(f"| {i} | `{p.name}` | {p.unit or '–'} | {p.min:g} | {p.max:g} | {p.default:g} | {dist} | {p.doc} |")
    return "\n".join(lines)

