"""The console channel strip (mono in, stereo out) and a whole mix.

Signal flow: gain → polarity → [EQ, compressor, reverb in the strip's order] → pan.
Parameters are the named values of :data:`dmcdata.console.params.CHANNEL_SPACE` (names missing
from a params dict take their neutral value; unknown names and out-of-range values raise
:class:`ConsoleError`). Audio is float32; the output has the input's length.
"""

from __future__ import annotations

import numpy as np

from dmcdata.console.compressor import apply_compressor, compressor_params
from dmcdata.console.eq import apply_eq
from dmcdata.console.errors import ConsoleError
from dmcdata.console.gain import gain_factor
from dmcdata.console.ir import IRBank
from dmcdata.console.pan import apply_pan, check_pan_law
from dmcdata.console.params import CHANNEL_SPACE, DEFAULT_N_IRS, ORDERS, ParameterSpace, channel_space, check_order
from dmcdata.console.reverb import apply_reverb


def check_audio(x, where: str = "input") -> np.ndarray:
    """A finite, 1-D float32 copy-free view of ``x`` or a :class:`ConsoleError` saying what is wrong.

    Audio is float, full scale ±1. An integer *array* (e.g. int16 PCM) is refused rather than
    taken as floats 32768 times too loud; a plain list of numbers is fine.
    """
    a = np.asarray(x)
    if a.ndim != 1:
        raise ConsoleError(f"{where}: expected mono audio of shape (n,), got shape {a.shape}")
    if isinstance(x, np.ndarray) and np.issubdtype(a.dtype, np.integer):
        scale = f" (e.g. x / {2 ** (8 * a.itemsize - 1)})" if np.issubdtype(a.dtype, np.signedinteger) else ""
        raise ConsoleError(f"{where}: got integer samples (dtype {a.dtype}); the console takes float audio "
                           f"with full scale 1.0: convert integer PCM to float first{scale}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ConsoleError(f"{where}: expected float audio, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise ConsoleError(f"{where}: sample {bad} is {a[bad]} (NaN/Inf in the audio; "
                           f"{int((~finite).sum())} bad samples)")
    return a


class ChannelStrip:
    """One console channel at ``sample_rate`` Hz.

    ``ir_bank``: the reverb's :class:`IRBank` (None: ``IRBank.generate(sample_rate)``, 8 IRs,
    seed 0, built on first use). ``pan_law``: "linear" (thesis) or "constant_power".
    ``order``: a permutation of ("eq", "compressor", "reverb"), default the static order.
    """

    def __init__(self, sample_rate: int, ir_bank: IRBank | None = None, pan_law: str = "linear",
                 order=ORDERS[0]):
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)) \
                or sample_rate <= 0 or sample_rate != int(sample_rate):
            raise ConsoleError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        if ir_bank is not None and ir_bank.sample_rate != self.sample_rate:
            raise ConsoleError(f"IR bank sample rate {ir_bank.sample_rate} Hz differs from the channel sample rate {self.sample_rate} Hz")
        self._bank = ir_bank
        self.pan_law = check_pan_law(pan_law)
        self.order = check_order(order)
        n_irs = DEFAULT_N_IRS if ir_bank is None else len(ir_bank)
        self.space: ParameterSpace = CHANNEL_SPACE if n_irs == DEFAULT_N_IRS else channel_space(n_irs)

    @property
    def ir_bank(self) -> IRBank:
        if self._bank is None:
            self._bank = IRBank.generate(self.sample_rate)
        return self._bank

    def _run(self, name: str, y: np.ndarray, p: dict) -> np.ndarray:
        if name == "eq":
            return apply_eq(y, p, self.sample_rate)
        if name == "compressor":
            return apply_compressor(y, self.sample_rate, **compressor_params(p))
        if p["reverb.wet"] == 0.0:  # no bank needed
            return apply_reverb(y, None, 0, dry=p["reverb.dry"], wet=0.0)
        return apply_reverb(y, self.ir_bank, self.ir_bank.check_index(p["reverb.ir"]), p["reverb.decay"],
                            p["reverb.dry"], p["reverb.wet"])

    def process_mono(self, x: np.ndarray, params: dict, order=None, where: str = "input") -> np.ndarray:
        """gain → polarity → ordered processors, before the pan: float32 (n,)."""
        x = check_audio(x, where)
        p = self.space.validate(params, where=f"{where}: ")
        order = self.order if order is None else check_order(order)
        g = gain_factor(p["gain_db"], p["polarity"])
        y = x * np.float32(g) if g != 1.0 else x.copy()
        for name in order:
            y = self._run(name, y, p)
        return y

    def process(self, x: np.ndarray, params: dict, order=None) -> np.ndarray:
        """Mono float32 (n,) -> stereo float32 (2, n)."""
        y = self.process_mono(x, params, order)
        return apply_pan(y, self.space["pan"].check(params.get("pan", 0.5)), self.pan_law)

    def process_batch(self, xs, params: list[dict], orders=None) -> np.ndarray:
        """Many channels at once: (c, n) and c param dicts (and optionally c orders) -> (c, 2, n)."""
        xs = np.asarray(xs)
        if xs.ndim != 2:
            raise ConsoleError(f"process_batch: expected audio of shape (channels, n), got {xs.shape}")
        if len(params) != xs.shape[0]:
            raise ConsoleError(f"process_batch: {xs.shape[0]} channels but {len(params)} parameter dicts")
        if orders is not None and len(orders) != xs.shape[0]:
            raise ConsoleError(f"process_batch: {xs.shape[0]} channels but {len(orders)} orders")
        out = np.empty((xs.shape[0], 2, xs.shape[1]), dtype=np.float32)
        for i in range(xs.shape[0]):
            y = self.process_mono(xs[i], params[i], None if orders is None else orders[i], where=f"channel {i}")
            apply_pan(y, params[i].get("pan", 0.5), self.pan_law, out=out[i])
        return out


def render_mix(tracks, params: list[dict], sample_rate: int, ir_bank: IRBank | None = None,
               pan_law: str = "linear", order=ORDERS[0], progress=None) -> np.ndarray:
    """Sum of every track through its channel strip: float32 (2, n).

    Tracks of different lengths are zero-padded at the end to the longest *before* their
    channel runs, so a short track's EQ ringing and reverb tail carry on into the rest of the mix
    (they are not cut where its file ends). ``progress``: an optional callable taking an iterable
    (e.g. ``tqdm``) to show progress over the tracks.
    """
    tracks = list(tracks)
    if len(tracks) != len(params):
        raise ConsoleError(f"render_mix: {len(tracks)} tracks but {len(params)} parameter dicts")
    strip = ChannelStrip(sample_rate, ir_bank, pan_law, order)
    tracks = [check_audio(t, f"track {i}") for i, t in enumerate(tracks)]
    n = max((t.shape[0] for t in tracks), default=0)
    mix = np.zeros((2, n), dtype=np.float32)
    it = range(len(tracks)) if progress is None else progress(range(len(tracks)))
    for i in it:
        x = tracks[i]
        if x.shape[0] < n:
            x = np.concatenate([x, np.zeros(n - x.shape[0], np.float32)])
        y = strip.process_mono(x, params[i], where=f"track {i}")
        p = strip.space["pan"].check(params[i].get("pan", 0.5), f"track {i}: ")
        mix += apply_pan(y, p, pan_law)
    return mix
