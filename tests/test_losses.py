"""dmcmodels.losses against hand-computed values, an independent numpy STFT, scipy's DCT, and
(when installed) auraloss and librosa."""

import math

import numpy as np
import pytest
import scipy.fft
import torch

from dmcmodels import losses as L

RES = L.THESIS_RESOLUTIONS


def _noise(shape, seed, scale=0.1):
    return torch.from_numpy(np.random.default_rng(seed).normal(0.0, scale, shape))


def _np_stft_mag(x, n_fft, hop, win):
    """Straightforward numpy STFT: reflect padding by n_fft // 2, periodic Hann of ``win`` centred in n_fft."""
    pad = n_fft // 2
    xp = np.pad(x, pad, mode="reflect")
    w = np.zeros(n_fft)
    left = (n_fft - win) // 2
    w[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    frames = 1 + (len(xp) - n_fft) // hop
    spec = np.stack([np.fft.rfft(xp[i * hop:i * hop + n_fft] * w) for i in range(frames)], axis=1)
    return np.sqrt(np.maximum(np.abs(spec) ** 2, 1e-8))


def _np_mr_stft(pred, target):
    """Mono numpy reference of the documented definition."""
    total = 0.0
    for n_fft, hop, win in RES:
        mp, mt = _np_stft_mag(pred, n_fft, hop, win), _np_stft_mag(target, n_fft, hop, win)
        total += np.linalg.norm(mt - mp) / np.linalg.norm(mt) + np.mean(np.abs(np.log(mt) - np.log(mp)))
    return total / len(RES)


# ----------------------------------------------------------------------------- time domain

def test_mae_mse_esr_hand_values():
    target = torch.tensor([[[1.0, -2.0, 3.0, 0.0]], [[0.5, 0.5, 0.5, 0.5]]], dtype=torch.float64)
    pred = torch.tensor([[[1.5, -2.0, 2.0, 0.0]], [[0.5, 0.5, 0.5, 0.5]]], dtype=torch.float64)
    # example 0: errors 0.5, 0, -1, 0 → MAE 1.5/4, MSE 1.25/4, ESR 1.25 / 14
    np.testing.assert_allclose(L.mae(pred, target, reduction="none"), [0.375, 0.0])
    np.testing.assert_allclose(L.mse(pred, target, reduction="none"), [0.3125, 0.0])
    np.testing.assert_allclose(L.esr(pred, target, reduction="none"), [1.25 / (14 + 1e-8), 0.0])
    np.testing.assert_allclose(L.mae(pred, target), 0.1875)
    # ESR of a 10 % amplitude error is 0.01 whatever the signal; sums run over channels too
    y = _noise((3, 2, 1000), 0)
    np.testing.assert_allclose(L.esr(1.1 * y, y, reduction="none"), [0.01] * 3, rtol=1e-6)
    # (batch, samples) is read as one channel
    assert torch.equal(L.mae(y[:, 0], 2 * y[:, 0], reduction="none"), L.mae(y[:, :1], 2 * y[:, :1], reduction="none"))
    # silent target: eps keeps it finite
    assert torch.isfinite(L.esr(torch.ones(1, 1, 4), torch.zeros(1, 1, 4)))


def test_bad_inputs_give_clear_errors():
    a, b = torch.zeros(2, 1, 2000), torch.zeros(2, 1, 1999)
    with pytest.raises(ValueError, match="shapes differ"):
        L.mae(a, b)
    with pytest.raises(ValueError, match="reduction"):
        L.esr(a, a, reduction="sum")
    with pytest.raises(ValueError, match=r"more than 1024 samples"):
        L.mr_stft(torch.zeros(1, 1, 1024), torch.zeros(1, 1, 1024))
    with pytest.raises(ValueError, match="stereo"):
        L.stereo_mr_stft(a, a)
    with pytest.raises(ValueError, match="batch, channels, samples"):
        L.mse(torch.zeros(5), torch.zeros(5))


# ----------------------------------------------------------------------------- MR-STFT

def test_mr_stft_identical_is_zero_and_scaled_is_closed_form():
    y = _noise((2, 1, 4096), 1)
    np.testing.assert_allclose(L.mr_stft(y, y, reduction="none"), [0.0, 0.0], atol=1e-12)
    # |STFT(a·y)| = a·|STFT(y)| → SC = |1 − a|, log term = |ln a| at every resolution
    for a in (2.0, 0.5):
        np.testing.assert_allclose(L.mr_stft(a * y, y, reduction="none"), [abs(1 - a) + abs(math.log(a))] * 2,
                                   rtol=5e-5)  # not exact: one bin of 18 450 sits on the 1e-4 floor


def test_mr_stft_against_numpy_reference():
    n = 3000
    t = np.arange(n) / 44100.0
    sine = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    noise = _noise(n, 2).numpy()
    cases = [(noise, sine), (np.zeros(n), sine), (sine, np.zeros(n)), (0.3 * sine + noise, noise)]
    for pred, target in cases:
        got = L.mr_stft(torch.from_numpy(pred)[None], torch.from_numpy(target)[None]).item()
        np.testing.assert_allclose(got, _np_mr_stft(pred, target), rtol=1e-9)
    # silence predicted for a sine: |Ŷ| sits on the 1e-4 floor, so SC is just below 1
    got = L.mr_stft(torch.zeros(1, n, dtype=torch.float64), torch.from_numpy(sine)[None]).item()
    assert got > 1.0


def test_mr_stft_channels_are_averaged_and_reduction_none():
    p, t = _noise((3, 2, 2500), 3), _noise((3, 2, 2500), 4)
    per = L.mr_stft(p, t, reduction="none")
    assert per.shape == (3,)
    for b in range(3):
        mono = [L.mr_stft(p[b:b + 1, c], t[b:b + 1, c]).item() for c in range(2)]
        np.testing.assert_allclose(per[b].item(), np.mean(mono), rtol=1e-12)
    np.testing.assert_allclose(L.mr_stft(p, t).item(), per.mean().item(), rtol=1e-12)


def test_mr_stft_matches_auraloss():
    auraloss = pytest.importorskip("auraloss")
    ref = auraloss.freq.MultiResolutionSTFTLoss(fft_sizes=[r[0] for r in RES], hop_sizes=[r[1] for r in RES],
                                                win_lengths=[r[2] for r in RES])
    p = _noise((3, 1, 4000), 5).float()
    t = (_noise((3, 1, 4000), 6) * torch.tensor([1.0, 3.0, 0.2], dtype=torch.float64)[:, None, None]).float()
    per = L.mr_stft(p, t, reduction="none")
    # one mono example: the same number (float32 tolerance)
    for b in range(3):
        np.testing.assert_allclose(per[b].item(), ref(p[b:b + 1], t[b:b + 1]).item(), rtol=1e-5)
    # a batch: auraloss takes one spectral-convergence ratio over the whole batch; the log term is
    # the same mean. The known difference, reproduced from our STFT helper:
    expected = 0.0
    for n_fft, hop, win in RES:
        mp = L.stft_magnitude(p[:, 0], n_fft, hop, win)
        mt = L.stft_magnitude(t[:, 0], n_fft, hop, win)
        expected += (torch.linalg.vector_norm(mt - mp) / torch.linalg.vector_norm(mt)
                     + (mt.log() - mp.log()).abs().mean()).item()
    batch_ref = ref(p, t).item()
    np.testing.assert_allclose(batch_ref, expected / 3, rtol=1e-5)
    assert abs(batch_ref - L.mr_stft(p, t).item()) > 1e-3  # mean of ratios ≠ ratio of sums


def test_stereo_mr_stft_sum_difference_and_swap_invariance():
    p, t = _noise((2, 2, 2500), 7), _noise((2, 2, 2500), 8)
    t[:, 1] *= 0.3  # not symmetric
    v = L.stereo_mr_stft(p, t, reduction="none")
    assert v.shape == (2,)
    for b in range(2):
        pn, tn = p[b].numpy(), t[b].numpy()
        ref = _np_mr_stft(pn[0] + pn[1], tn[0] + tn[1]) + _np_mr_stft(pn[0] - pn[1], tn[0] - tn[1])
        np.testing.assert_allclose(v[b].item(), ref, rtol=1e-9)
    swap = [1, 0]
    np.testing.assert_allclose(L.stereo_mr_stft(p[:, swap], t[:, swap], reduction="none"), v, rtol=1e-12)
    # swapping only the prediction negates its L−R, which |STFT| cannot see
    np.testing.assert_allclose(L.stereo_mr_stft(p[:, swap], t, reduction="none"), v, rtol=1e-12)
    # … but the stereo width is seen: scale the prediction's difference signal
    mid, side = (p[:, 0] + p[:, 1]) / 2, (p[:, 0] - p[:, 1]) / 2
    wide = torch.stack([mid + 2 * side, mid - 2 * side], dim=1)
    assert (L.stereo_mr_stft(wide, t, reduction="none") - v).abs().min() > 1e-3


def test_gradients_are_finite():
    t = _noise((2, 2, 2048), 9)
    for fn in (L.mae, L.mse, L.esr, L.mr_stft, L.stereo_mr_stft, L.mcd):
        for p0 in (_noise((2, 2, 2048), 10), t.clone()):  # also at pred == target
            p = p0.clone().requires_grad_(True)
            fn(p, t).backward()
            assert torch.isfinite(p.grad).all(), fn.__name__
    p = _noise((1, 1, 2048), 11).requires_grad_(True)
    L.mr_stft(p, t[:1, :1]).backward()
    assert p.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- MCD

def test_dct_matrix_is_scipy_orthonormal_dct2():
    x = np.random.default_rng(12).normal(size=128)
    d = L.dct_ortho_matrix(128, 25).numpy()
    np.testing.assert_allclose(d @ x, scipy.fft.dct(x, type=2, norm="ortho")[:25], atol=1e-12)


def test_mcd_closed_forms():
    y = _noise((2, 1, 8192), 13)
    np.testing.assert_allclose(L.mcd(y, y, reduction="none"), [0.0, 0.0], atol=1e-9)
    # a gain g adds 20·log10 g dB to every mel band: only c0 moves (by sqrt(128)·20·log10 g,
    # orthonormal DCT of a constant), so MCD without c0 is 0 and with c0 is α·sqrt(128)·|20 log10 g|
    g = 2.0
    np.testing.assert_allclose(L.mcd(g * y, y).item(), 0.0, atol=1e-6)
    np.testing.assert_allclose(L.mcd(g * y, y, include_c0=True).item(),
                               L.MCD_ALPHA * math.sqrt(128) * 20 * math.log10(g), rtol=1e-6)
    assert abs(L.MCD_ALPHA - 6.14185) < 1e-5
    # different spectra → positive; per-example values and channel averaging
    z = _noise((2, 2, 8192), 14)
    z[:, 1] = torch.cumsum(z[:, 1], dim=-1) * 0.01  # a low-pass (brown) channel
    per = L.mcd(z, z[:, [1, 0]], reduction="none")
    assert per.shape == (2,) and (per > 10).all()


def test_mcd_matches_librosa_mfcc_and_hand_formula():
    librosa = pytest.importorskip("librosa")
    sr, n = 22050, 6000
    t = np.arange(n) / sr
    a = 0.4 * np.sin(2 * np.pi * 300 * t) + _noise(n, 15, 0.02).numpy()
    b = 0.3 * np.sign(np.sin(2 * np.pi * 300 * t)) + _noise(n, 16, 0.02).numpy()
    ca = librosa.feature.mfcc(y=a, sr=sr, n_mfcc=25)
    cb = librosa.feature.mfcc(y=b, sr=sr, n_mfcc=25)
    ours = L.mfcc(torch.from_numpy(a)[None], sample_rate=sr)[0].numpy()
    np.testing.assert_allclose(ours, ca, atol=1e-6 * np.abs(ca).max())
    np.testing.assert_allclose(L.mel_filterbank(sr, 2048, 128).numpy(),
                               librosa.filters.mel(sr=sr, n_fft=2048, n_mels=128), atol=1e-7)
    hand = np.mean([10 * math.sqrt(2) / math.log(10) * math.sqrt(np.sum((ca[1:, f] - cb[1:, f]) ** 2))
                    for f in range(ca.shape[1])])
    got = L.mcd(torch.from_numpy(b)[None], torch.from_numpy(a)[None], sample_rate=sr).item()
    np.testing.assert_allclose(got, hand, rtol=1e-6)


# ----------------------------------------------------------------------------- modules

def test_make_loss_and_modules():
    assert L.LOSSES == ("l1", "mrstft", "l1+mrstft", "l1+mrstft+mcd", "stereo-mrstft")
    p, t = _noise((2, 2, 2048), 17), _noise((2, 2, 2048), 18)
    expected = {"l1": L.mae(p, t), "mrstft": L.mr_stft(p, t), "l1+mrstft": L.mae(p, t) + L.mr_stft(p, t),
                "l1+mrstft+mcd": L.mae(p, t) + L.mr_stft(p, t) + 0.01 * L.mcd(p, t),
                "stereo-mrstft": L.stereo_mr_stft(p, t)}
    for name in L.LOSSES:
        loss = L.make_loss(name)
        assert isinstance(loss, torch.nn.Module)
        torch.testing.assert_close(loss(p, t), expected[name])
    with pytest.raises(ValueError, match="l1, mrstft, l1\\+mrstft, l1\\+mrstft\\+mcd, stereo-mrstft"):
        L.make_loss("l2")
    assert set(L.METRICS) == {"mae", "esr", "mcd", "mr_stft"}
    assert L.METRICS["mcd"](p, t, sample_rate=22050, reduction="none").shape == (2,)
