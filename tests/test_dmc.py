"""The mixers (DMC-basic, DMC-full through the twin or a neural channel, baselines, Mix-Wave-U-Net):
the properties the thesis' design promises, each able to fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmcdata.console import render_mix
from dmcdata.console.params import CHANNEL_SPACE
from dmcmodels.models import build_mixer
from dmcmodels.models.encoder import LogMel, patch_starts, resample_fft, to_patches

SR = 16000  # fast: the encoder resamples to 16 kHz anyway
TINY = {"encoder_filters": 8, "hidden": 32, "sample_rate": SR}


def tracks(n: int, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = int(seconds * SR)
    env = torch.linspace(1.0, 0.2, t)
    level = 10.0 ** (-6.0 * (torch.arange(n) % 6) / 20.0)[:, None]  # tracks 6 dB apart: distinct embeddings
    return (0.2 * torch.randn(n, t, generator=g) * env * level).float()


def mixer(name: str, **kw):
    torch.manual_seed(0)
    return build_mixer(name, **{**TINY, **kw}).eval()


def tiny_tcn_channel() -> dict:
    return {"model": "tcn-10", "model_args": {"channels": 4, "n_blocks": 3, "kernel_size": 3},
            "cond_dim": 25}


MIXERS = [("dmc-basic", {}), ("dmc-full", {"channel": "dsp"}),
          ("dmc-full", {"channel": "tcn", "channel_model": tiny_tcn_channel()})]


@pytest.mark.parametrize("name,kw", MIXERS, ids=["basic", "full-dsp", "full-tcn"])
def test_permuting_tracks_permutes_params_not_the_mix(name, kw):
    m = mixer(name, **kw)
    x = tracks(5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        a, b = m(x), m(x[perm])
    assert torch.allclose(a["mix"], b["mix"], atol=1e-5 * a["mix"].abs().max())
    assert torch.allclose(a["params"][0, perm], b["params"][0], atol=1e-6)
    # the params really are per track (else the permutation check above proves nothing)
    assert (a["params"][0] - a["params"][0].mean(dim=0)).abs().max() > 1e-5


@pytest.mark.parametrize("name,kw", MIXERS, ids=["basic", "full-dsp", "full-tcn"])
def test_padded_and_silent_tracks_change_nothing(name, kw):
    m = mixer(name, **kw)
    x = tracks(3)
    with torch.no_grad():
        ref = m(x)
        # a padded (masked) track holding loud audio, and a digitally silent real track
        xp = torch.cat([x, 0.9 * torch.ones(1, x.shape[1]), torch.zeros(1, x.shape[1])])
        mask = torch.tensor([[True, True, True, False, True]])
        out = m(xp[None], mask)
    assert torch.allclose(out["mix"], ref["mix"], atol=1e-6)
    assert torch.allclose(out["params"][0, :3], ref["params"][0], atol=1e-6)
    assert out["active"].tolist() == [[True, True, True, False, False]]


def test_a_batch_of_songs_mixes_each_song_as_alone():
    m = mixer("dmc-basic")
    a, b = tracks(2, seed=1), tracks(4, seed=2)
    batch = torch.zeros(2, 4, a.shape[1])
    batch[0, :2], batch[1] = a, b
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    with torch.no_grad():
        out = m(batch, mask)
        assert torch.allclose(out["mix"][0], m(a)["mix"][0], atol=1e-6)
        assert torch.allclose(out["mix"][1], m(b)["mix"][0], atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 16, 64])
def test_any_track_count_runs(n):
    m = mixer("dmc-basic")
    with torch.no_grad():
        out = m(tracks(n, seconds=0.5))
    assert out["mix"].shape == (1, 2, SR // 2) and out["params"].shape == (1, n, 2)
    assert torch.isfinite(out["mix"]).all()


def test_dmc_basic_mix_is_the_console_render_of_its_choices():
    """gain-pan: the mix equals `render_mix` with the predicted gain and pan (others neutral)."""
    m = mixer("dmc-basic")
    x = tracks(4)
    with torch.no_grad():
        out = m(x)
    full = m.full_vector(out["params"][0])
    params = [CHANNEL_SPACE.denormalize(r.double().numpy()) for r in full]
    neutral = CHANNEL_SPACE.neutral()
    moved = {k for k, v in params[0].items() if abs(v - neutral[k]) > 1e-4 * max(1.0, abs(neutral[k]))}
    assert moved == {"gain_db", "pan"}
    ref = render_mix([t.numpy() for t in x], params, SR)
    np.testing.assert_allclose(out["mix"][0].numpy(), ref, atol=1e-6 * np.abs(ref).max() + 1e-7)


def test_dmc_full_dsp_mix_is_the_console_render_of_its_choices():
    m = mixer("dmc-full", channel="dsp")
    x = tracks(3)
    with torch.no_grad():
        out = m(x)
    params = [CHANNEL_SPACE.denormalize(r.double().numpy()) for r in m.full_vector(out["params"][0])]
    ref = render_mix([t.numpy() for t in x], params, SR)
    np.testing.assert_allclose(out["mix"][0].numpy(), ref, atol=1e-5 * np.abs(ref).max())


def test_gradients_reach_the_controller_through_every_channel_but_not_frozen_parts():
    for name, kw in MIXERS:
        m = mixer(name, **kw).train()
        out = m(tracks(2, seconds=0.5))
        out["mix"].pow(2).mean().backward()
        last = m.post.net[-1].weight.grad
        assert last is not None and last.abs().sum() > 0, name
        if kw.get("channel") == "tcn":
            assert all(p.grad is None for p in m.channel.model.parameters())
            assert not m.channel.model.training  # its batch norm keeps its statistics


def test_neural_channel_chunking_and_checkpointing_do_not_change_results():
    torch.manual_seed(0)
    spec = tiny_tcn_channel()
    outs, grads = [], []
    for chunk, ckpt in [(1, True), (8, False)]:
        torch.manual_seed(0)
        m = build_mixer("dmc-full", channel="tcn", channel_model=spec, chunk=chunk, checkpointing=ckpt, **TINY)
        m.train()
        torch.manual_seed(1)
        out = m(tracks(3, seconds=0.5))
        out["mix"].pow(2).mean().backward()
        outs.append(out["mix"].detach())
        grads.append(m.post.net[-1].weight.grad.clone())
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-8)


def test_baselines():
    x = tracks(3)
    with torch.no_grad():
        mono = build_mixer("mono", pan_law="linear")(x)["mix"][0]
        assert torch.allclose(mono[0], 0.5 * x.sum(0), atol=1e-6) and torch.allclose(mono[0], mono[1])
        r1 = build_mixer("random", seed=3)(x)
        r2 = build_mixer("random", seed=3)(x)
        r3 = build_mixer("random", seed=4)(x)
    assert torch.equal(r1["mix"], r2["mix"]) and not torch.equal(r1["mix"], r3["mix"])
    gains = CHANNEL_SPACE["gain_db"].min + (r1["params"][..., 0] + 1) / 2 * 48.0
    assert gains.abs().max() <= 12.0 + 1e-4


def test_mix_wave_u_net_fixed_inputs_zero_filled():
    torch.manual_seed(0)
    m = build_mixer("mix-wave-u-net", inputs=4, depth=3, channels=4).eval()
    x = tracks(2, seconds=0.5)
    with torch.no_grad():
        out = m(x)
        padded = m(torch.cat([x, torch.zeros(2, x.shape[1])])[None], torch.tensor([[True, True, False, False]]))
    assert out["mix"].shape == (1, 2, x.shape[1])
    assert torch.allclose(out["mix"], padded["mix"], atol=1e-6)
    with pytest.raises(ValueError, match="at most 4 tracks"):
        m(tracks(5, seconds=0.5))


def test_frontend_matches_musicnn_at_16k():
    """The torch log-mel equals the judge's librosa front end (same 16 kHz signal, no resampling)."""
    from dmcmodels.judge.frontend import log_mel

    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal(16000 * 3)).astype(np.float32)
    ours = LogMel(16000)(torch.from_numpy(x)[None])[0].numpy()
    ref = log_mel(x)
    assert ours.shape == ref.shape
    # float16 rounding of the mel power may land one ulp apart: compare on the log scale
    assert np.abs(ours - ref).max() < 2e-3 and np.abs(ours - ref).mean() < 1e-5


def test_resample_and_patches():
    t = torch.arange(44100) / 44100
    tone = torch.sin(2 * torch.pi * 1000 * t)[None]
    y = resample_fft(tone, 44100, 16000)
    ref = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)
    assert y.shape == (1, 16000) and torch.allclose(y[0, 100:-100], ref[100:-100], atol=1e-3)
    assert patch_starts(100) == [0] and patch_starts(187) == [0] and patch_starts(313) == [0, 126]
    p = to_patches(torch.ones(2, 400, 96))
    assert p.shape == (2, 3, 187, 96)
    assert to_patches(torch.ones(1, 50, 96))[0, 0, 50:].abs().sum() == 0


def test_pretrained_encoder_weights_load_when_cached():
    from dmcmodels.judge.weights import weights_path

    if not weights_path("msd_vgg").is_file():
        pytest.skip("msd_vgg weights not fetched (dmcmodels weights fetch)")
    from dmcmodels.judge.weights import load_model
    from dmcmodels.models.encoder import TrackEncoder

    enc = TrackEncoder(SR, weights="msd_vgg").eval()
    net, _ = load_model("msd_vgg")
    patch = torch.randn(1, 187, 96).abs()
    assert torch.allclose(enc.vgg.embed(patch), net(patch)["embedding"], atol=1e-6)
