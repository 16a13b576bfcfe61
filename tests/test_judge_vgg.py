"""The torch VGG port and its front end against reference outputs of the ORIGINAL musicnn graphs.

The references (tests/data/judge/reference_*.npz) were made with TensorFlow 2.15 / numpy 1.26 by
tests/data/judge/make_reference.py from tests/data/judge/clip.flac. Measured agreement (torch 2.13
CPU; ``python -m dmcmodels.judge.agreement tests/data/judge`` prints it): taggram max |diff| about
1e-6 (MTT_vgg) / 3e-7 (MSD_vgg), logits 1e-5 / 4e-6; the float16 mel is identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dmcmodels.cli import main as cli
from dmcmodels.judge import frontend, weights
from dmcmodels.judge.infer import analyse_file
from tests.test_judge_weights import judge_cache  # noqa: F401  (session fixture: real fetch)

DATA = Path(__file__).parent / "data" / "judge"
CLIP = DATA / "clip.flac"


@pytest.fixture(scope="module")
def reference_patches():
    mel16 = np.load(DATA / "reference_frontend.npz")["mel16"]
    return frontend.to_patches(frontend.log_compress(mel16))


def test_front_end_matches_musicnn_librosa():
    ref = np.load(DATA / "reference_frontend.npz")["mel16"]
    mine = frontend.mel_float16(frontend.load_audio(CLIP))
    assert mine.dtype == np.float16 and mine.shape == ref.shape == (576, 96)
    # same float16 values (at most one float16 step apart where float32 FFT rounding straddles a boundary)
    steps = np.abs(mine.astype(np.float64) - ref.astype(np.float64)) / np.spacing(np.abs(ref).astype(np.float16)).astype(np.float64)
    assert steps.max() <= 1.0 and np.mean(mine == ref) > 0.999
    patches = frontend.file_patches(CLIP)
    assert patches.shape == (3, 187, 96) and patches.dtype == np.float32  # 576 frames: tail of 15 dropped


def test_log_compress_does_not_overflow_in_float16():
    x = np.array([0.0, 1.0, 100.0, 60000.0], dtype=np.float16)
    y = frontend.log_compress(x)
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    assert np.allclose(y, np.log10(10000.0 * x.astype(np.float64) + 1.0), rtol=1e-6)


def test_short_or_bad_audio_is_refused(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "short.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(frontend.FrontendError, match="shorter than one"):
        frontend.file_patches(tmp_path / "short.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(frontend.FrontendError, match="junk.wav: cannot read audio"):
        frontend.file_patches(tmp_path / "junk.wav")


@pytest.mark.parametrize("model", ["mtt_vgg", "msd_vgg"])
def test_port_matches_original_graph(model, judge_cache, reference_patches):  # noqa: F811
    ref = np.load(DATA / f"reference_{model}.npz")
    net, _ = weights.load_model(model, judge_cache)
    with torch.no_grad():
        out = net(torch.from_numpy(reference_patches))
    assert np.abs(out["tags"].numpy() - ref["taggram"]).max() < 1e-4
    assert np.abs(out["logits"].numpy() - ref["logits"]).max() < 1e-3
    pool5 = out["pool5"].permute(0, 2, 3, 1).numpy()  # NCHW -> TF's NHWC
    assert pool5.shape == ref["pool5"].shape == (3, 2, 1, 128)
    assert np.abs(pool5 - ref["pool5"]).max() < 1e-4 * max(1.0, np.abs(ref["pool5"]).max())
    for i, shape in zip(range(1, 5), ((92, 48), (46, 24), (23, 12), (11, 6))):
        assert tuple(out[f"pool{i}"].shape[2:]) == shape
        mean = out[f"pool{i}"].mean(dim=(2, 3)).numpy()
        assert np.abs(mean - ref[f"pool{i}_mean"]).max() < 1e-4 * max(1.0, np.abs(ref[f"pool{i}_mean"]).max())
    assert np.allclose(out["embedding"].numpy(), ref["pool5"].mean(axis=(1, 2)), atol=1e-4)
    # the whole pipeline, file -> tags, against musicnn.extractor's taggram
    assert np.abs(analyse_file(net, CLIP)["tags"] - ref["taggram_extractor"]).max() < 1e-4


def test_tag_cli_json(judge_cache, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "tags.json"
    assert cli(["tag", str(CLIP), "--model", "msd_vgg", "--top", "3", "--json", str(out), "--cache", str(judge_cache)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    ref = np.load(DATA / "reference_msd_vgg.npz")["taggram_extractor"]
    taggram = np.array(doc["files"][0]["taggram"])
    assert doc["model"] == "msd_vgg" and len(doc["labels"]) == 50 and taggram.shape == (3, 50)
    assert np.abs(taggram - ref).max() < 1e-4
    top = doc["labels"][int(ref.mean(axis=0).argmax())]
    assert f"(3 patches of 2.99 s): {top} " in printed
    (tmp_path / "junk.wav").write_bytes(b"RIFF junk")
    assert cli(["tag", str(tmp_path / "junk.wav"), "--cache", str(judge_cache)]) == 2
    err = capsys.readouterr().err
    assert "junk.wav: cannot read audio" in err and "Traceback" not in err
