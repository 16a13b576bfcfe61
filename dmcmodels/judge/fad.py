"""Fréchet distances between sets of audio files in the embedding space of MTT_vgg / MSD_vgg.

Each file becomes one embedding per 2.99-s patch (``MusicnnVGG`` ``embedding``: pool5 averaged over
its time x mel positions, 128 values); a set of files is the Gaussian fitted to all its patches'
embeddings (mean and unbiased covariance). Between two Gaussians (DESIGN §5, Dowson & Landau 1982):

    FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))

The matrix square root is never formed: tr((S_a S_b)^(1/2)) is the sum of the square roots of the
eigenvalues of S_a^(1/2) S_b S_a^(1/2), a symmetric positive semi-definite matrix with the same
eigenvalues as S_a S_b; its eigenvalues come from ``eigh`` and are clipped at 0, so rank-deficient or
near-singular covariances (fewer patches than dimensions) give neither NaN, complex values nor a
negative distance.

FD is biased upwards by an amount that shrinks like 1/N with the number N of generated samples
(Chong & Forsyth 2020, "Effectively unbiased FID"; fadtk's FAD-inf). :func:`fd_infinity` computes FD on
random subsets of the generated embeddings of several sizes, fits FD(N) = FD_inf + k / N by least
squares and returns the intercept FD_inf.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EMBEDDING_VERSION = "v1"  # part of the cache path: bump when the front end or embedding changes


class FadError(ValueError):
    """Embedding sets that cannot be compared (too few samples, different widths)."""


def gaussian(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (float64) of samples in rows.

    Rows are sorted (lexicographically) first, so the sums run in one order whatever the order of
    the files: permuting the inputs gives the same bits, not just the same value up to rounding.
    """
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] < 2:
        raise FadError(f"need at least 2 embeddings (rows) to fit a Gaussian, got shape {emb.shape}")
    emb = emb[np.lexsort(emb.T[::-1])]
    return emb.mean(axis=0), np.cov(emb, rowvar=False).reshape(emb.shape[1], emb.shape[1])


def psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix via ``eigh``; negative rounding clipped to 0."""
    sym = 0.5 * (sigma + sigma.T)
    w, v = np.linalg.eigh(sym)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
    """tr((S_a S_b)^(1/2)) = sum sqrt(eig(S_a^(1/2) S_b S_a^(1/2))), eigenvalues clipped at 0."""
    root = psd_sqrt(sigma_a)
    m = root @ sigma_b @ root
    w = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_from_stats(mu_a, sigma_a, mu_b, sigma_b) -> float:
    """FD between N(mu_a, S_a) and N(mu_b, S_b); never negative (rounding below 0 is returned as 0)."""
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape or sigma_a.shape != mu_a.shape * 2:
        raise FadError(f"shapes do not match: mu {mu_a.shape} vs {mu_b.shape}, sigma {sigma_a.shape} vs {sigma_b.shape}")
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * trace_sqrt_product(sigma_a, sigma_b))
    return max(value, 0.0)


def frechet_distance(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    """FD between Gaussians fitted to two embedding sets (rows = samples, same width)."""
    emb_a, emb_b = np.asarray(emb_a), np.asarray(emb_b)
    if emb_a.ndim != 2 or emb_b.ndim != 2 or emb_a.shape[1] != emb_b.shape[1]:
        raise FadError(f"embedding sets must be 2-D with equal widths, got {emb_a.shape} and {emb_b.shape}")
    return frechet_from_stats(*gaussian(emb_a), *gaussian(emb_b))


@dataclass(frozen=True)
class FdInfinity:
    value: float  # FD_inf, the intercept of FD(N) = FD_inf + slope / N
    slope: float
    sizes: tuple[int, ...]  # subset sizes N used
    fds: tuple[float, ...]  # mean FD at each size


def fd_infinity(emb_ref: np.ndarray, emb_gen: np.ndarray, min_n: int | None = None, steps: int = 10,
                repeats: int = 4, seed: int = 0) -> FdInfinity:
    """FD extrapolated to infinitely many generated samples.

    The reference Gaussian uses all of ``emb_ref``; for ``steps`` subset sizes N evenly spaced from
    ``min_n`` (default: a quarter of the generated set, at least 2) to all of ``emb_gen``, FD is
    averaged over ``repeats`` random subsets drawn without replacement (one seeded generator), then
    FD(N) = FD_inf + slope / N is fitted by least squares.
    """
    emb_gen = np.asarray(emb_gen, dtype=np.float64)
    n_gen = emb_gen.shape[0] if emb_gen.ndim == 2 else 0
    min_n = max(2, n_gen // 4) if min_n is None else min_n
    if n_gen < 3 or not 2 <= min_n < n_gen or steps < 2 or repeats < 1:
        raise FadError(f"FD-inf needs 3+ generated embeddings, 2 <= min_n < N, steps >= 2, repeats >= 1 "
                       f"(got N={n_gen}, min_n={min_n}, steps={steps}, repeats={repeats})")
    mu_r, sigma_r = gaussian(emb_ref)
    rng = np.random.default_rng(seed)
    sizes = tuple(sorted({int(round(n)) for n in np.linspace(min_n, n_gen, steps)}))
    fds = []
    for n in sizes:
        runs = 1 if n == n_gen else repeats
        fds.append(float(np.mean([frechet_from_stats(mu_r, sigma_r, *gaussian(emb_gen[rng.choice(n_gen, n, replace=False)]))
                                  for _ in range(runs)])))
    slope, intercept = np.polyfit(1.0 / np.array(sizes, dtype=np.float64), np.array(fds), 1)
    return FdInfinity(float(intercept), float(slope), sizes, tuple(fds))


def embedding_cache_path(sha256: str, model: str, cache: str | os.PathLike | None = None) -> Path:
    from dmcmodels.judge.weights import cache_dir

    return Path(cache or cache_dir()) / "embeddings" / f"{model}-{EMBEDDING_VERSION}" / f"{sha256}.npy"


def embed_files(paths, model: str = "mtt_vgg", cache: str | os.PathLike | None = None, progress: bool = False,
                per_file: bool = False):
    """Per-patch embeddings of audio files, stacked in file order: (total patches, 128) float32.

    Embeddings are cached per file content (sha256) under ``<cache>/embeddings/``; the same bytes
    under another name are not embedded twice. ``per_file=True`` returns the list of per-file arrays.
    Raises ``FrontendError`` (naming the file) for unusable audio, ``WeightsError`` without weights.
    """
    import io

    from dmcdata.shards import file_digest, write_atomic
    from dmcmodels.judge.frontend import FrontendError
    from dmcmodels.judge.infer import analyse_file
    from dmcmodels.judge.weights import load_model

    paths = [Path(p) for p in paths]
    iterator = paths
    if progress:
        from tqdm import tqdm

        iterator = tqdm(paths, desc=f"embedding ({model})", unit="file")
    net, out = None, []
    for path in iterator:
        if not path.is_file():
            raise FrontendError(f"{path}: no such file")
        cached = embedding_cache_path(file_digest(path), model, cache)
        if cached.is_file():
            emb = np.load(cached)
        else:
            if net is None:
                net, _ = load_model(model, cache)
            emb = analyse_file(net, path)["embedding"].astype(np.float32)
            buf = io.BytesIO()
            np.save(buf, emb)
            write_atomic(cached, buf.getvalue())
        out.append(emb)
    if per_file:
        return out
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def embed_audio(audio: np.ndarray, sample_rate: int, model: str = "mtt_vgg", cache: str | os.PathLike | None = None,
                net=None) -> np.ndarray:
    """Per-patch embeddings (n, 128) float32 of an in-memory signal, ``(samples,)`` or ``(channels, samples)``
    at ``sample_rate``: the same numbers :func:`embed_files` gives for a float WAV of it. A signal shorter
    than one 2.99-s patch gives ``(0, 128)``. Pass ``net`` (``weights.load_model(model)[0]``) to embed many
    signals without reloading the network; nothing is cached."""
    from dmcmodels.judge.frontend import audio_patches
    from dmcmodels.judge.infer import run_patches
    from dmcmodels.judge.weights import load_model

    patches = audio_patches(audio, sample_rate)
    if len(patches) == 0:
        return np.zeros((0, 128), np.float32)
    if net is None:
        net, _ = load_model(model, cache)
    return run_patches(net, patches)["embedding"].astype(np.float32)
