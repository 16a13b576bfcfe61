"""Evaluation of trained effect models: thesis Tables 6/7 (channel) and 9 (LA-2A), with baselines.

**Channel** (``eval effect``): held-out dry audio (the DATA's ``test`` split by default), effect
examples generated on the fly exactly as in training but with a fixed seed and no augmentation,
four tasks as in the thesis:

| task       | processors with random settings                         |
|------------|---------------------------------------------------------|
| eq         | gain, polarity, EQ, pan (compressor and reverb neutral) |
| compressor | gain, polarity, compressor, pan                         |
| reverb     | gain, polarity, reverb, pan                             |
| combined   | all six                                                 |

The order is the model's (static, or variable when it was trained with 31 inputs = Table 7).
Every task scores the same audio patches (the same seed), so rows are comparable. Metrics are
computed on what the network produces — the processor block's mono output (gain and polarity
already applied to its input, pan not yet; :mod:`dmcmodels.tasks`), over the model's output span
— for the model and for the **identity** baseline: the network's input (the dry patch with gain
and polarity applied) taken as the prediction. Synth-chain shards hold only the combined task.

**LA-2A** (``eval la2a``): every patch of the DATA's ``test`` split (no mixup), the model vs the
identity (the input as the prediction).

Each metric is reported as mean and standard deviation over the examples, with the count.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dmcmodels import losses, tasks
from dmcmodels.models import count_parameters
from dmcmodels.evaluation import thesis

CHANNEL_TASKS = {
    "eq": ("gain", "polarity", "eq", "pan"),
    "compressor": ("gain", "polarity", "compressor", "pan"),
    "reverb": ("gain", "polarity", "reverb", "pan"),
    "combined": ("gain", "polarity", "eq", "compressor", "reverb", "pan"),
}
METRICS = thesis.METRIC_NAMES


@dataclass
class Block:
    """Per-example metric values of one (method, task) pair."""

    method: str
    task: str
    values: dict = field(default_factory=dict)  # metric -> np.ndarray (n,)

    @property
    def n(self) -> int:
        return len(next(iter(self.values.values())))

    def mean_std(self, metric: str) -> tuple[float, float]:
        v = self.values[metric]
        return float(np.mean(v)), float(np.std(v))


def metric_values(pred: torch.Tensor, target: torch.Tensor, sample_rate: int) -> dict:
    """metric -> (B,) numpy values for (B, 1, T) prediction and target."""
    out = {}
    for name in METRICS:
        fn = losses.METRICS[name]
        kw = {"sample_rate": sample_rate} if name == "mcd" else {}
        out[name] = fn(pred.double(), target.double(), reduction="none", **kw).cpu().numpy()
    return out


@torch.no_grad()
def score(model, task: str, batch: dict, batch_size: int = 8, sample_rate: int = 44100, device="cpu"):
    """(model metrics, identity metrics, (input, target, prediction) cropped tensors) over ``batch``."""
    model_vals: dict = {m: [] for m in METRICS}
    ident_vals: dict = {m: [] for m in METRICS}
    keep = []
    count = len(batch["key"])
    for i in range(0, count, batch_size):
        part = {k: v[i:i + batch_size] for k, v in batch.items()}
        part = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in part.items()}
        xc, yc, out = (t.cpu() for t in tasks.predict(model, task, part))
        for store, pred in ((model_vals, out), (ident_vals, xc)):
            for m, v in metric_values(pred, yc, sample_rate).items():
                store[m].append(v)
        keep.append((xc, yc, out))
    cat = lambda d: {m: np.concatenate(v) for m, v in d.items()}  # noqa: E731
    triples = tuple(torch.cat([k[j] for k in keep]) for j in range(3))
    return cat(model_vals), cat(ident_vals), triples


def fmt(mean: float, std: float | None = None) -> str:
    s = f"{mean:.3e}" if 0 < abs(mean) < 1e-2 else f"{mean:.4g}" if abs(mean) < 1e4 else f"{mean:.4e}"
    if std is None:
        return s
    t = f"{std:.2e}" if 0 < abs(std) < 1e-2 else f"{std:.3g}"
    return f"{s} ({t})"


def write_tables(out: Path, title: str, blocks: list[Block], reference: dict | None, ref_label: str,
                 header_note: str) -> list[dict]:
    """table.md and table.csv: one row per (method, task), mean (std) per metric, n examples."""
    from dmcdata.shards import write_atomic

    rows = []
    for b in blocks:
        row = {"method": b.method, "task": b.task, "n": b.n}
        for m in METRICS:
            mean, std = b.mean_std(m)
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_atomic(out / "table.csv", buf.getvalue().encode())
    md = [f"# {title}", "", header_note, "",
          "| method | task | n | MAE | ESR | MCD | MR-STFT |", "|---|---|---:|---:|---:|---:|---:|"]
    for b in blocks:
        md.append(f"| {b.method} | {b.task} | {b.n} | " + " | ".join(fmt(*b.mean_std(m)) for m in METRICS) + " |")
    if reference:
        md += ["", f"For reference, the thesis' own figures ({ref_label}; other data, other MCD scale — "
                   "not measured here):", "", "| thesis | task | MAE | ESR | MCD | MR-STFT |", "|---|---|---:|---:|---:|---:|"]
        for task, vals in reference.items():
            md.append(f"| {ref_label} | {task} | " + " | ".join(fmt(*v) if isinstance(v, tuple) else fmt(v)
                                                            for v in vals) + " |")
    write_atomic(out / "table.md", ("\n".join(md) + "\n").encode())
    return rows


def write_examples(out: Path, triples, keys: list[str], k: int, sample_rate: int) -> list[Path]:
    """``examples/<i>_<key>/{input,target,prediction}.wav`` + ``spectrogram.png`` for the first ``k``."""
    from dmcdata.audio import wav_bytes
    from dmcdata.shards import write_atomic

    written = []
    x, y, p = triples
    for i in range(min(k, x.shape[0])):
        d = out / "examples" / f"{i:02d}_{keys[i]}"
        sigs = {"input": x[i, 0], "target": y[i, 0], "prediction": p[i, 0]}
        for name, s in sigs.items():
            write_atomic(d / f"{name}.wav", wav_bytes(s.float().numpy()[:, None], sample_rate, "FLOAT"))
        write_atomic(d / "spectrogram.png", spectrogram_png(sigs, sample_rate, keys[i]))
        written.append(d)
    return written


def spectrogram_png(signals: dict, sample_rate: int, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(signals), 1, figsize=(8, 2.2 * len(signals)), sharex=True, constrained_layout=True)
    for ax, (name, s) in zip(axes, signals.items()):
        a = s.double().numpy()
        ax.specgram(a + 1e-9, NFFT=1024, Fs=sample_rate, noverlap=768, cmap="magma", vmin=-140, vmax=0)
        ax.set_ylabel(f"{name}\nHz")
    axes[0].set_title(title)
    axes[-1].set_xlabel("s")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def model_label(cfg, model) -> str:
    rf_ms = 1000.0 * model.receptive_field / cfg.sample_rate
    return f"{cfg.model} ({count_parameters(model) / 1000:.0f}k, {rf_ms:.1f} ms)"
