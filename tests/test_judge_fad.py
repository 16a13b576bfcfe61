"""Fréchet distance, FD-infinity and the embedding cache (``dmcmodels fad``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.stats import ortho_group

from dmcdata.shards import file_digest
from dmcmodels.cli import main as cli
from dmcmodels.judge import fad
from tests.test_judge_weights import judge_cache  # noqa: F401  (session fixture: real fetch)


def test_identical_sets_give_zero():
    emb = np.random.default_rng(0).standard_normal((300, 16))
    assert fad.frechet_distance(emb, emb) == pytest.approx(0.0, abs=1e-9)
    assert fad.frechet_distance(emb, emb[::-1]) == pytest.approx(0.0, abs=1e-9)
    assert fad.frechet_distance(emb, emb + 1.0) == fad.frechet_distance(emb[::-1], emb[::-1] + 1.0)


def test_shift_and_closed_form():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((200, 8))
    shift = rng.standard_normal(8)
    # same covariance: FD is the squared distance of the means
    assert fad.frechet_distance(emb, emb + shift) == pytest.approx(float(shift @ shift), rel=1e-9)
    # commuting covariances R diag(a) R^T and R diag(b) R^T: |dmu|^2 + sum (sqrt a - sqrt b)^2
    r = ortho_group.rvs(8, random_state=2)
    a, b = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
    mu_a, mu_b = rng.standard_normal(8), rng.standard_normal(8)
    expected = float((mu_a - mu_b) @ (mu_a - mu_b) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    got = fad.frechet_from_stats(mu_a, r @ np.diag(a) @ r.T, mu_b, r @ np.diag(b) @ r.T)
    assert got == pytest.approx(expected, rel=1e-9)
    # a general (non-commuting) pair against scipy's sqrtm where it is well conditioned
    from scipy.linalg import sqrtm

    sa, sb = np.cov(rng.standard_normal((50, 8)), rowvar=False), np.cov(rng.standard_normal((50, 8)) * 3, rowvar=False)
    naive = float(np.trace(sa + sb - 2 * np.real(sqrtm(sa @ sb))))
    assert fad.frechet_from_stats(np.zeros(8), sa, np.zeros(8), sb) == pytest.approx(naive, rel=1e-7)


def test_near_singular_covariances_stay_finite():
    rng = np.random.default_rng(3)
    few = rng.standard_normal((5, 128))  # 5 samples in 128 dimensions: rank-4 covariances
    other = few + 1e-9 * rng.standard_normal((5, 128))
    for a, b in ((few, other), (few, few), (few * 1e-6, other * 1e-6)):
        value = fad.frechet_distance(a, b)
        assert np.isfinite(value) and value >= 0.0
    assert fad.frechet_distance(few, other) < 1e-6
    # a covariance whose eigendecomposition has tiny negative eigenvalues from rounding
    v = rng.standard_normal((64, 3))
    s = v @ v.T  # rank 3: 61 eigenvalues that rounding scatters around 0, some negative
    assert np.linalg.eigvalsh(s).min() < 0
    value = fad.frechet_from_stats(np.zeros(64), s, np.zeros(64), s)
    assert np.isfinite(value) and 0.0 <= value < 1e-6


def test_fd_infinity_removes_sample_size_bias():
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((4000, 16))
    gen = rng.standard_normal((400, 16))  # same distribution: the true distance is 0
    plain = fad.frechet_distance(ref, gen)
    inf = fad.fd_infinity(ref, gen, seed=0)
    assert abs(inf.value) < 0.5 * plain and inf.slope > 0  # FD grows like slope / N at small N
    assert inf.sizes[0] == 100 and inf.sizes[-1] == 400 and list(inf.fds) == sorted(inf.fds, reverse=True)
    assert fad.fd_infinity(ref, gen, seed=0) == inf  # seeded: same value
    with pytest.raises(fad.FadError):
        fad.fd_infinity(ref, gen[:2])


def _write_clips(folder, seed, n=3, seconds=6.2, sr=22050):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    paths = []
    for i in range(n):
        f0 = rng.uniform(110, 440)
        x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 4)) + 0.05 * rng.standard_normal(t.size)
        x *= 0.3 / np.abs(x).max()
        paths.append(folder / f"clip{i}.wav")
        sf.write(paths[-1], x.astype(np.float32), sr, subtype="PCM_16")
    return paths


def test_embed_files_cache_and_permutation(judge_cache, tmp_path):  # noqa: F811
    ref = _write_clips(tmp_path / "ref", 0)
    gen = _write_clips(tmp_path / "gen", 1)
    emb = fad.embed_files(ref, cache=judge_cache, per_file=True)
    assert [e.shape for e in emb] == [(2, 128)] * 3  # 6.2 s -> two 2.99-s patches per file
    cached = fad.embedding_cache_path(file_digest(ref[0]), "mtt_vgg", judge_cache)
    assert cached.is_file() and np.array_equal(np.load(cached), emb[0])
    a = fad.frechet_distance(fad.embed_files(ref, cache=judge_cache), fad.embed_files(gen, cache=judge_cache))
    b = fad.frechet_distance(fad.embed_files(ref[::-1], cache=judge_cache), fad.embed_files(gen[1:] + gen[:1], cache=judge_cache))
    assert a > 0 and a == b  # rows are sorted before fitting: bit-identical
    # the cache is by content: a copy under another name is not embedded again, and a stale cached
    # entry (here: overwritten on purpose) is what is returned, proving the lookup is by hash
    np.save(cached, np.zeros((2, 128), np.float32))
    copy = tmp_path / "copy.wav"
    copy.write_bytes(ref[0].read_bytes())
    assert not fad.embed_files([copy], cache=judge_cache).any()


def test_fad_cli(judge_cache, tmp_path, capsys):  # noqa: F811
    _write_clips(tmp_path / "ref", 5)
    _write_clips(tmp_path / "gen", 6)
    (tmp_path / "gen.txt").write_text("gen/clip2.wav\ngen/clip0.wav\ngen/clip1.wav\n")
    out = tmp_path / "fad.json"
    assert cli(["fad", str(tmp_path / "ref"), str(tmp_path / "gen"), "--json", str(out), "--cache", str(judge_cache)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert f"FD (mtt_vgg) = {doc['fd']:.4f}" in printed and doc["generated"]["patches"] == 6
    assert doc["fd_inf"] is not None and len(doc["fd_inf_fit"]["sizes"]) >= 2
    assert cli(["fad", str(tmp_path / "ref"), str(tmp_path / "gen.txt"), "--no-inf", "--cache", str(judge_cache)]) == 0
    assert f"FD (mtt_vgg) = {doc['fd']:.4f}" in capsys.readouterr().out  # a list in another order: same FD
    assert cli(["fad", str(tmp_path / "ref"), str(tmp_path / "nowhere"), "--cache", str(judge_cache)]) == 2
    assert "nowhere: no such folder or list file" in capsys.readouterr().err
