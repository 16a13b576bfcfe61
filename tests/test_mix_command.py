"""`dmcmodels mix STEMS_DIR --checkpoint CKPT --out OUT/` on real stem files and real (tiny, untrained)
mixer checkpoints in the trainer's format: mix.wav is the console render of mix.json and the model's
own output; an edit of mix.json is heard as exactly that edit; the stem folders real users have;
the CLI's exit codes; the neural (TCN) channel and Mix-Wave-U-Net paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dmcdata.console.mixfile import MixDocument
from dmcmodels import mixers
from dmcmodels.mix import MARKER, MixCommandError, mix_folder, summary
from dmcmodels.training import checkpoint
from dmcmodels.training.config import TrainConfig
from dmcmodels.training.setup import build

SR = 8000
TINY = {"encoder_filters": 8, "hidden": 64}
TINY_TCN = {"n_blocks": 3, "kernel_size": 3, "channels": 4, "film_hidden": [8], "film_embed": 8}
REPO = Path(__file__).resolve().parents[1]


def save_run(run: Path, model: str, model_args: dict, channel: str | None = None, seed: int = 0) -> Path:
    """A `train mix` run folder holding an untrained model: config.json + checkpoints/best.pt as the
    trainer writes them (the model's state dict and the config)."""
    cfg = TrainConfig(kind="mix", train=["unused"], model=model, model_args=dict(model_args), sample_rate=SR,
                      encoder_weights="none", channel=channel).check()
    torch.manual_seed(seed)
    net = build(cfg)
    run.mkdir(parents=True)
    cfg.save(run)
    checkpoint.save(run / checkpoint.CKPT_DIR / checkpoint.BEST, {"model": net.state_dict(), "config": cfg.to_dict(), "step": 0})
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "dmc-basic": save_run(root / "basic", "dmc-basic", TINY),
        "dmc-full/dsp": save_run(root / "dsp", "dmc-full", TINY, channel="dsp"),
        "dmc-full/tcn": save_run(root / "tcn", "dmc-full", {**TINY, "channel_model": {
            "model": "tcn-10", "model_args": TINY_TCN, "cond_dim": 25}}, channel="tcn"),
        "mix-wave-u-net": save_run(root / "wun", "mix-wave-u-net", {
            "inputs": 4, "depth": 3, "channels": 4, "film_hidden": [8], "film_embed": 8}),
    }


def signal(seed: int, seconds: float, channels: int = 1, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    env = 0.05 + np.sin(np.pi * t * rng.uniform(0.5, 3.0)) ** 2
    x = rng.standard_normal((n, channels)) * env[:, None] * rng.uniform(0.05, 0.3)
    return x.astype(np.float32)


def write_stems(folder: Path, specs: dict, sr: int = SR) -> Path:
    """``specs``: file name -> (seed, seconds[, channels]) or an array; real WAV/FLAC files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, spec in specs.items():
        x = spec if isinstance(spec, np.ndarray) else signal(*spec, sr=sr)
        subtype = "PCM_24" if name.endswith(".flac") else "FLOAT"
        sf.write(str(folder / name), x, sr, subtype=subtype)
    return folder


def read_wav(path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    assert sr == SR and x.shape[1] == 2
    return x.T


def mono_tracks(folder: Path, names) -> np.ndarray:
    """The stems as the console reads them (channel mean), zero-padded to the longest: (N, T)."""
    xs = []
    for n in names:
        x, _ = sf.read(str(folder / n), dtype="float32", always_2d=True)
        xs.append(x.mean(axis=1) if x.shape[1] > 1 else x[:, 0])
    out = np.zeros((len(xs), max(len(x) for x in xs)), np.float32)
    for i, x in enumerate(xs):
        out[i, :len(x)] = x
    return out


def assert_close(a, b, rel=1e-5):
    scale = max(1e-6, float(np.max(np.abs(b))))
    err = float(np.max(np.abs(np.asarray(a, np.float64) - b)))
    assert err <= rel * scale, f"max |diff| {err:.3g} > {rel} x peak {scale:.3g}"


# -- (1) mix.wav = console render of mix.json = the model's own forward --------------------------

@pytest.mark.parametrize("kind", ["dmc-basic", "dmc-full/dsp"])
def test_mix_wav_is_the_render_of_mix_json_and_the_models_forward(runs, tmp_path, kind):
    names = ["bass.wav", "drums.flac", "vox.wav"]
    stems = write_stems(tmp_path / "stems", {n: (i + 1, 7.0) for i, n in enumerate(names)})
    out = tmp_path / "out"
    rep = mix_folder(stems, runs[kind], out, device="cpu", patch_batch=2)  # 7 s: 3 patches, 2 at a time
    assert rep.mixer == kind and [s.path.name for s in rep.stems] == names and rep.patches == [3, 3, 3]
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "mix.json", "mix.wav"])
    mix = read_wav(out / "mix.wav")
    doc = MixDocument.load(out / "mix.json")
    assert [t.file for t in doc.tracks] == [f"../stems/{n}" for n in names]  # relative to the document
    assert [t.name for t in doc.tracks] == ["bass", "drums", "vox"]
    np.testing.assert_array_equal(mix, doc.render())  # what `dmcdata render OUT/mix.json` gives

    mixer = mixers.load_mixer(str(runs[kind]))
    with torch.no_grad():
        own = mixer.module(torch.from_numpy(mono_tracks(stems, names))[None])
    assert_close(mix, own["mix"][0].numpy())
    expected = mixers.named_params(mixer, own["params"][0])
    for got, want in zip((t.params for t in doc.tracks), expected):
        for k in mixer.module.names:
            assert got[k] == pytest.approx(want[k], abs=1e-4 * max(1.0, abs(want[k]))), k
    if kind == "dmc-basic":  # what it does not set is exactly neutral in the document
        assert doc.tracks[0].params["eq.band1_q"] == 0.707 and doc.tracks[0].params["eq.low_shelf_freq_hz"] == 100.0
    if kind == "dmc-basic":
        assert rep.compare is not None and rep.compare["max_abs"] < 1e-5 * np.abs(mix).max()
    text = summary(rep)
    assert "ONE static setting per track" in text and "gain_db" in text
    mix_folder(stems, runs[kind], tmp_path / "again", device="cpu")  # same arguments, same bytes
    for f in ("mix.wav", "mix.json"):
        assert (tmp_path / "again" / f).read_bytes() == (out / f).read_bytes()
    assert ("processors" in text) == (kind == "dmc-full/dsp")


# -- (2) an edit of mix.json is heard as that edit and nothing else -----------------------------

def test_editing_one_gain_changes_that_tracks_contribution_only(runs, tmp_path):
    stems = write_stems(tmp_path / "stems", {f"t{i}.wav": (10 + i, 2.0) for i in range(4)})
    out = tmp_path / "out"
    mix_folder(stems, runs["dmc-basic"], out, device="cpu")
    doc = MixDocument.load(out / "mix.json")
    orig = read_wav(out / "mix.wav")
    k = int(np.argmax([t.params["gain_db"] for t in doc.tracks]))
    assert doc.tracks[k].params["gain_db"] - 6.0 >= -24.0

    edited = json.loads((out / "mix.json").read_text())
    edited["tracks"][k]["params"]["gain_db"] -= 6.0
    (out / "edited.json").write_text(json.dumps(edited))
    louder = MixDocument.load(out / "edited.json").render()

    alone = json.loads((out / "mix.json").read_text())
    alone["tracks"] = [alone["tracks"][k]]  # the track's channel by itself
    (out / "alone.json").write_text(json.dumps(alone))
    channel = MixDocument.load(out / "alone.json").render()

    factor = 10 ** (-6.0 / 20.0) - 1.0
    diff = louder.astype(np.float64) - orig
    assert np.max(np.abs(diff)) > 0.1 * np.max(np.abs(channel))  # the change is heard ...
    np.testing.assert_allclose(diff, factor * channel.astype(np.float64), rtol=0,
                               atol=2e-6 * np.max(np.abs(orig)))  # ... and nothing else


# -- (3) what real stem folders hold -------------------------------------------------------------

def test_stereo_short_silent_hidden_and_other_files(runs, tmp_path):
    stems = write_stems(tmp_path / "stems", {
        "a_stereo.wav": (1, 3.0, 2), "b_short.flac": (2, 1.25), "c_silent.wav": np.zeros((int(2.5 * SR), 1), np.float32),
        "d.wav": (4, 3.0), "._d.wav": (5, 1.0)})  # "._d.wav": a hidden macOS resource-fork file
    (stems / ".DS_Store").write_bytes(b"\0\1junk")
    (stems / "notes.txt").write_text("take 3 was the good one")
    write_stems(stems / "alt_takes", {"x.wav": (6, 1.0)})
    out = tmp_path / "out"
    rep = mix_folder(stems, runs["dmc-basic"], out, device="cpu")
    names = ["a_stereo.wav", "b_short.flac", "c_silent.wav", "d.wav"]
    assert [s.path.name for s in rep.stems] == names
    assert dict(rep.skipped) == {"._d.wav": "hidden file", ".DS_Store": "hidden file",
                                 "alt_takes": "a folder (stems are not searched recursively)",
                                 "notes.txt": "not a .wav or .flac file"}
    text = summary(rep)
    assert "a_stereo.wav: 2 channels downmixed to mono (channel mean)" in text
    assert "b_short.flac: 1.25 s, zero-padded at the end to the longest stem (3.00 s)" in text
    assert "c_silent.wav: digitally silent" in text and "skipped notes.txt" in text

    mix = read_wav(out / "mix.wav")
    assert mix.shape == (2, 3 * SR)
    doc = MixDocument.load(out / "mix.json")
    assert len(doc.tracks) == 4 and set(doc.tracks[2].params) >= {"gain_db", "pan"}  # the silent one has settings
    np.testing.assert_array_equal(mix, doc.render())
    mixer = mixers.load_mixer(str(runs["dmc-basic"]))
    with torch.no_grad():
        own = mixer.module(torch.from_numpy(mono_tracks(stems, names))[None])["mix"][0].numpy()
    assert_close(mix, own)  # stereo = channel mean, short = zero-padded, as the model sees them
    without_silent = MixDocument(SR, [t for i, t in enumerate(doc.tracks) if i != 2], path=doc.path).render()
    np.testing.assert_array_equal(mix, without_silent)  # the silent stem adds nothing
    end = int(1.25 * SR)  # past the short stem's end only the two long ones sound (gain-pan has no tail)
    long_ones = MixDocument(SR, [doc.tracks[0], doc.tracks[3]], path=doc.path).render()
    np.testing.assert_array_equal(mix[:, end:], long_ones[:, end:])


def truncate(path: Path) -> None:
    """Cut a WAV file's tail off, keeping its header: the header then promises more than the file holds."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_refused_stem_folders_name_the_file_and_write_nothing(runs, tmp_path):
    def refused(specs, match, ckpt=runs["dmc-basic"], sr=SR, extra=None, damage=None):
        folder = write_stems(tmp_path / f"s{len(list(tmp_path.iterdir()))}", specs, sr=sr)
        for name, data in (extra or {}).items():
            (folder / name).write_bytes(data)
        if damage:
            damage(folder)
        out = tmp_path / f"o{len(list(tmp_path.iterdir()))}"
        with pytest.raises(MixCommandError, match=match):
            mix_folder(folder, ckpt, out, device="cpu")
        assert not out.exists()

    refused({"a.wav": (1, 1.0), "b.wav": (2, 1.0)}, sr=16000,
            match=r"stem '.*/a\.wav' \(and the 1 other stems\) has sample rate 16000 Hz; the model was trained at 8000 Hz")
    refused({"a.wav": (1, 1.0)}, ckpt="mono", damage=lambda f: write_stems(f, {"b.wav": (2, 1.0)}, sr=11025),
            match=r"disagree on the sample rate \(8000 Hz: a\.wav; 11025 Hz: b\.wav\)")
    refused({}, match=r"holds no \.wav or \.flac stems$")
    refused({}, extra={".hidden.wav": b"x", "readme.md": b"#"},
            match=r"no \.wav or \.flac stems \(skipped: \.hidden\.wav, readme\.md\)")
    refused({"a.wav": (1, 1.0)}, extra={"b.wav": b"not audio at all, just text"}, match=r"stem '.*/b\.wav': unreadable audio")
    refused({"a.wav": (1, 1.0), "b.wav": np.zeros((0, 1), np.float32)},
            match=r"stem '.*/b\.wav' is an empty audio file \(0 frames\)")
    refused({"a.wav": (1, 1.0), "b.wav": (2, 1.0)}, damage=lambda f: truncate(f / "b.wav"), match=r"stem '.*/b\.wav': truncated")
    refused({"a.wav": (1, 1.0), "a.flac": (2, 1.0)}, match=r"exist as both \.wav and \.flac")
    with pytest.raises(MixCommandError, match="stems folder '.*nowhere' does not exist"):
        mix_folder(tmp_path / "nowhere", "mono", tmp_path / "o_none")


def test_out_folder_is_new_empty_or_ours(runs, tmp_path):
    stems = write_stems(tmp_path / "stems", {"a.wav": (1, 1.0), "b.wav": (2, 1.0)})
    user = tmp_path / "user"
    user.mkdir()
    (user / "my_mix.wav").write_bytes(b"precious")
    with pytest.raises(MixCommandError, match=r"holds files `dmcmodels mix` did not write \(my_mix\.wav\)"):
        mix_folder(stems, "mono", user)
    assert sorted(p.name for p in user.iterdir()) == ["my_mix.wav"]
    with pytest.raises(MixCommandError, match="is the stems folder"):
        mix_folder(stems, "mono", stems)
    (tmp_path / "empty").mkdir()
    mix_folder(stems, "mono", tmp_path / "empty")
    first = (tmp_path / "empty" / "mix.wav").read_bytes()
    (tmp_path / "empty" / "keep.txt").write_text("a user's note next to our files")
    mix_folder(stems, "random", tmp_path / "empty", seed=1)  # ours: overwritten, the note untouched
    assert (tmp_path / "empty" / "mix.wav").read_bytes() != first
    assert (tmp_path / "empty" / "keep.txt").read_text() == "a user's note next to our files"
    if not torch.cuda.is_available():
        with pytest.raises(MixCommandError, match="--device cuda: no CUDA device is available"):
            mix_folder(stems, "mono", tmp_path / "gpu", device="cuda")


# -- (4) the command line ------------------------------------------------------------------------

def cli(*args):
    r = subprocess.run([sys.executable, "-m", "dmcmodels.cli", "mix", *map(str, args), "--no-progress"],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_cli_end_to_end_same_seed_same_bytes_and_user_errors(runs, tmp_path):
    from dmcdata.cli import main as dmcdata

    stems = write_stems(tmp_path / "stems", {"bass.wav": (1, 1.5), "keys.wav": (2, 1.5, 2), ".hidden.wav": (3, 0.5)})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    r = cli(stems, "--checkpoint", "random", "--seed", "3", "--out", tmp_path / "a" / "out")
    assert r.returncode == 0, r.stderr
    assert "bass.wav" in r.stdout and "gain_db" in r.stdout and "skipped .hidden.wav: hidden file" in r.stdout
    assert "keys.wav: 2 channels downmixed to mono" in r.stdout and f"wrote {tmp_path / 'a' / 'out' / 'mix.json'}" in r.stdout
    assert "model's own mix (gain-pan channel) vs console render: max |diff|" in r.stdout
    again = mix_folder(stems, "random", tmp_path / "b" / "out", seed=3)
    assert again.mixer == "random"
    for f in ("mix.wav", "mix.json"):
        assert (tmp_path / "a" / "out" / f).read_bytes() == (tmp_path / "b" / "out" / f).read_bytes()
    mix_folder(stems, "random", tmp_path / "b" / "out", seed=4)
    assert (tmp_path / "a" / "out" / "mix.wav").read_bytes() != (tmp_path / "b" / "out" / "mix.wav").read_bytes()
    # the document plays back as mix.wav through `dmcdata render`
    assert dmcdata(["render", str(tmp_path / "a" / "out" / "mix.json"), "--out", str(tmp_path / "r.wav"), "--quiet"]) == 0
    np.testing.assert_array_equal(read_wav(tmp_path / "r.wav"), read_wav(tmp_path / "a" / "out" / "mix.wav"))

    fast = write_stems(tmp_path / "fast", {"a.wav": (1, 0.5)}, sr=44100)
    r = cli(fast, "--checkpoint", runs["dmc-basic"], "--out", tmp_path / "c")
    assert r.returncode == 2 and "dmcmodels mix: error: stem" in r.stderr and "44100 Hz" in r.stderr and "8000 Hz" in r.stderr
    r = cli(stems, "--checkpoint", tmp_path / "no_run", "--out", tmp_path / "d")
    assert r.returncode == 2 and "no such checkpoint file or run folder" in r.stderr and "mono, random" in r.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


# -- (5) the neural channel and Mix-Wave-U-Net ------------------------------------------------------

def test_tcn_channel_mix_is_the_models_output_and_reports_its_difference_from_the_console(runs, tmp_path):
    names = ["a.wav", "b.wav", "c.wav"]
    stems = write_stems(tmp_path / "stems", {"a.wav": (1, 1.5), "b.wav": (2, 1.0, 2), "c.wav": (3, 1.5)})
    out = tmp_path / "out"
    rep = mix_folder(stems, runs["dmc-full/tcn"], out, device="cpu", block_seconds=0.1)  # 15 blocks per track
    assert rep.mixer == "dmc-full/tcn"
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "mix.json", "mix.wav", "mix_console.wav"])
    mix = read_wav(out / "mix.wav")
    mixer = mixers.load_mixer(str(runs["dmc-full/tcn"]))
    with torch.no_grad():
        own = mixer.module(torch.from_numpy(mono_tracks(stems, names))[None])["mix"][0].numpy()
    assert_close(mix, own)  # blocks of 0.1 s = the model's one pass over each whole track
    console = read_wav(out / "mix_console.wav")
    np.testing.assert_array_equal(console, MixDocument.load(out / "mix.json").render())
    d = float(np.max(np.abs(mix.astype(np.float64) - console)))
    assert d > 0 and rep.compare["max_abs"] == pytest.approx(d)  # an untrained network is not the console
    assert "neural channel (mix.wav) vs console render (mix_console.wav): max |diff|" in summary(rep)
    mix_folder(stems, runs["dmc-basic"], out, device="cpu")  # the same folder again: a stale file of ours goes
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "mix.json", "mix.wav"])


def test_mix_wave_u_net_writes_audio_only(runs, tmp_path):
    names = ["a.wav", "b.wav", "c.wav"]
    stems = write_stems(tmp_path / "stems", {n: (i, 1.2) for i, n in enumerate(names)})
    rep = mix_folder(stems, runs["mix-wave-u-net"], tmp_path / "out", device="cpu", block_seconds=0.05)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([MARKER, "mix.wav"])
    assert "no mix.json can exist" in summary(rep) and rep.params == []
    mixer = mixers.load_mixer(str(runs["mix-wave-u-net"]))
    with torch.no_grad():
        own = mixer.module(torch.from_numpy(mono_tracks(stems, names))[None])["mix"][0].numpy()
    assert_close(read_wav(tmp_path / "out" / "mix.wav"), own)
    many = write_stems(tmp_path / "many", {f"{i}.wav": (i, 0.2) for i in range(5)})
    with pytest.raises(MixCommandError, match="built for at most 4 tracks; .* holds 5 stems"):
        mix_folder(many, runs["mix-wave-u-net"], tmp_path / "out2")
