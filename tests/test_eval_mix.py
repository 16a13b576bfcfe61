"""`dmcmodels eval mix`: a real demo corpus, a real build, a real (tiny) DMC-basic run; the figures
checked against independent computations from the shards and the engineer's mix documents."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dmcmodels.cli import main as cli
from dmcmodels.losses import stereo_mr_stft

PATCH = "2"  # seconds per excerpt: several excerpts per 4-s segment, quick on CPU
SILENCE = 10.0 ** (-60.0 / 20.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ray_local):
    """Demo corpus (3 songs, 3-4 stems), its build (one song per split, 4-s segments) and a 2-step run."""
    from dmcdata.cli import build_parser
    from dmcdata.demo import DemoConfig, write_demo
    from dmcmodels.training.config import TrainConfig
    from dmcmodels.training.trainer import train
    from pipelines import build as B

    root = tmp_path_factory.mktemp("evalmix")
    write_demo(root / "demo", DemoConfig(seed=3, only=("medleydb",), songs=3, song_seconds=4.0, min_stems=3,
                                         max_stems=4), progress=False)
    argv = ["medleydb", "--data-home", str(root / "demo" / "medleydb"), "--out", str(root / "b"),
            "--segment-seconds", "4", "--split-fractions", "0.34,0.33,0.33", "--no-progress"]
    B.build(build_parser(["build", *argv]).parse_args(["build", *argv]), ["build", *argv])
    cfg = TrainConfig(kind="mix", model="dmc-basic", encoder_weights="none",
                      model_args={"encoder_filters": 8, "hidden": 64}, max_steps=2, val_every=1, val_examples=2,
                      batch_size=1, num_workers=0, patch_seconds=2.0, train=[str(root / "b")])
    train(cfg, root / "run", progress=False)
    return {"root": root, "demo": root / "demo" / "medleydb", "build": root / "b", "run": root / "run"}


def eval_mix(corpus, out: Path, *extra) -> int:
    return cli(["eval", "mix", "--checkpoint", str(corpus["run"]), "--data", str(corpus["build"]), "--out", str(out),
                "--patch-seconds", PATCH, "--reference-params", str(corpus["demo"]), "--no-progress", *extra])


@pytest.fixture(scope="module")
def result(corpus):
    out = corpus["root"] / "eval"
    assert eval_mix(corpus, out, "--no-fad", "--stimuli", "3", "--stimuli-per-song", "3") == 0
    return out, json.loads((out / "results.json").read_text())


def shard_excerpt(build: Path, key: str, start: int, frames: int):
    """(tracks (N, T) float64, track names, reference mix (2, T)) read straight from the shard tar."""
    for shard in sorted(build.glob("*.tar")):
        with tarfile.open(shard) as tar:
            names = tar.getnames()
            if f"{key}.json" not in names:
                continue
            meta = json.load(tar.extractfile(f"{key}.json"))

            def read(member):
                a, _ = sf.read(io.BytesIO(tar.extractfile(f"{key}.{member}").read()), dtype="float32", always_2d=True)
                return a[start:start + frames].astype(np.float64)

            tracks = np.stack([read(t["member"]).mean(axis=1) for t in meta["tracks"]])
            mix = read(meta["mix"]).T
            return tracks, [t["name"] for t in meta["tracks"]], mix
    raise AssertionError(f"{key} in no shard")


def engineer_params(demo: Path, song: str) -> dict:
    doc = json.loads((demo / "Audio" / song / f"{song}_MIX_PARAMS.json").read_text())
    return {Path(t["file"]).stem: t["params"] for t in doc["tracks"]}


def test_table_rows_and_mono_mr_stft_equals_an_independent_computation(corpus, result):
    out, res = result
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [r["method"] for r in rows] == ["dmc-basic", "mono", "random"]
    md = (out / "table.md").read_text()
    for name in ("| dmc-basic |", "| mono |", "| random |", "Table 13", "Mono mix"):
        assert name in md
    assert res["n_excerpts"] == len(res["excerpts"]) >= 2 and res["selection"] == "split == 'test'"
    assert {e["song"] for e in res["excerpts"]} == {res["excerpts"][0]["song"]}  # one test song
    vals = []
    for e in res["excerpts"]:
        frames = int(round(e["seconds"] * 44100))
        tracks, _, ref = shard_excerpt(corpus["build"], e["key"], e["start_frame"], frames)
        ref = torch.from_numpy(ref)[None]
        assert float(stereo_mr_stft(ref, ref)) == 0.0  # the reference against itself
        mono = torch.from_numpy(0.5 * np.stack([tracks.sum(0), tracks.sum(0)]))[None]  # linear law, centre
        vals.append(float(stereo_mr_stft(mono, ref)))
        assert e["mr_stft"]["mono"] == pytest.approx(vals[-1], rel=1e-5)
    mono = next(m for m in res["methods"] if m["method"] == "mono")
    assert mono["mr_stft"]["mean"] == pytest.approx(np.mean(vals), rel=1e-5)
    assert mono["mr_stft"]["std"] == pytest.approx(np.std(vals), rel=1e-4, abs=1e-9)
    assert float(rows[1]["mr_stft_mean"]) == pytest.approx(np.mean(vals), rel=1e-5)
    assert mono["mr_stft"]["n"] == len(vals)


def test_mono_gain_and_pan_errors_equal_a_hand_computation(corpus, result):
    _, res = result
    gain, pan = [], []
    for e in res["excerpts"]:
        tracks, names, _ = shard_excerpt(corpus["build"], e["key"], e["start_frame"], int(round(e["seconds"] * 44100)))
        ref = engineer_params(corpus["demo"], e["song"])
        scored = [n for n, x in zip(names, tracks) if np.abs(x).max() > SILENCE]
        g = np.array([ref[n]["gain_db"] for n in scored])
        gain += list(np.abs(0.0 - (g - g.mean())))  # mono: every gain 0 dB -> relative gain 0
        pan += [abs(0.5 - ref[n]["pan"]) for n in scored]
    mono = next(m for m in res["methods"] if m["method"] == "mono")
    assert mono["gain_error_db"]["n"] == len(gain) > 0
    assert mono["gain_error_db"]["mean"] == pytest.approx(np.mean(gain), abs=1e-9)
    assert mono["gain_error_db"]["std"] == pytest.approx(np.std(gain), abs=1e-9)
    assert mono["pan_error"]["mean"] == pytest.approx(np.mean(pan), abs=1e-9)
    assert mono["pan_error_lr_free"]["mean"] == pytest.approx(np.mean(pan), abs=1e-9)  # centre = its mirror
    assert mono["pan_amount_error"]["mean"] == pytest.approx(np.mean(pan), abs=1e-9)  # centre: amount 0
    assert np.mean(gain) > 0.5  # the engineer's relative gains are not all equal: the check can fail
    rnd = next(m for m in res["methods"] if m["method"] == "random")
    dmc = next(m for m in res["methods"] if m["method"] == "dmc-basic")
    assert rnd["pan_error_lr_free"]["mean"] <= rnd["pan_error"]["mean"]
    for m in (rnd, dmc):  # ||a| − |b|| ≤ |a − b| and ≤ |a + b|: never above either pan error
        assert m["pan_amount_error"]["mean"] <= m["pan_error_lr_free"]["mean"] + 1e-12
    assert dmc["gain_error_db"]["n"] == len(gain) and rnd["gain_error_db"]["mean"] != mono["gain_error_db"]["mean"]


def test_stimuli_make_a_listening_page(corpus, result, tmp_path):
    out, res = result
    folders = sorted(p for p in (out / "stimuli").iterdir())
    assert [p.name for p in folders] == res["stimuli"] and len(folders) == min(3, res["n_excerpts"])
    for f in folders:
        assert sorted(p.name for p in f.iterdir()) == ["dmc-basic.wav", "mono.wav", "random.wav", "reference.wav"]
        a, sr = sf.read(f / "reference.wav", always_2d=True)
        assert sr == 44100 and a.shape[1] == 2
    assert cli(["listen", "build", str(out / "stimuli"), "--out", str(tmp_path / "page")]) == 0
    plan = json.loads((tmp_path / "page" / "listen.json").read_text())
    assert len(plan["pages"]) == len(folders)
    assert {s["method"] for s in plan["pages"][0]["stimuli"]} == {"dmc-basic", "mono", "random", "reference"}


def test_same_seed_same_bytes_other_seed_other_random_mix(corpus, result):
    out, _ = result
    again, other = corpus["root"] / "again", corpus["root"] / "other"
    assert eval_mix(corpus, again, "--no-fad", "--stimuli", "3", "--stimuli-per-song", "3") == 0
    assert (again / "table.csv").read_bytes() == (out / "table.csv").read_bytes()
    assert (again / "results.json").read_bytes() == (out / "results.json").read_bytes()
    assert eval_mix(corpus, again, "--no-fad", "--stimuli", "1") == 0  # a folder of ours is rewritten
    assert len(list((again / "stimuli").iterdir())) == 1
    assert eval_mix(corpus, other, "--no-fad", "--seed", "99") == 0
    rows = {r["method"]: r for r in csv.DictReader((other / "table.csv").open())}
    base = {r["method"]: r for r in csv.DictReader((out / "table.csv").open())}
    assert rows["random"]["mr_stft_mean"] != base["random"]["mr_stft_mean"]


def test_frechet_distances_equal_those_of_the_written_stimuli(corpus, tmp_path, monkeypatch):
    from dmcmodels.judge import weights as w
    from dmcmodels.judge.fad import embed_files, frechet_distance
    from dmcmodels.judge.frontend import FrontendError

    if not all(w.weights_path(m).is_file() for m in ("mtt_vgg", "msd_vgg")):
        pytest.skip(f"MTT_vgg / MSD_vgg weights not in {w.weights_path('mtt_vgg').parent} (`dmcmodels weights fetch`)")
    cache = tmp_path / "cache"  # the real weights, but a private embedding cache
    (cache / "weights").mkdir(parents=True)
    for m in ("mtt_vgg", "msd_vgg"):
        (cache / "weights" / f"{m}.pt").symlink_to(w.weights_path(m))
    monkeypatch.setenv("DMC_CACHE", str(cache))
    out = tmp_path / "fad"
    # every song (3 patches or more), 3-s excerpts: one 2.99-s VGG patch each (none for shorter
    # tails); every excerpt is written as a stimulus
    assert cli(["eval", "mix", "--data", str(corpus["build"]), "--select", "n_tracks >= 1", "--out", str(out),
                "--patch-seconds", "3", "--stimuli", "99", "--stimuli-per-song", "99", "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    folders = sorted((out / "stimuli").iterdir())
    assert len(folders) == res["n_excerpts"]
    usable = []  # `dmcmodels fad` refuses files shorter than one patch; eval mix counts them as 0 patches
    for d in folders:
        try:
            embed_files([d / "reference.wav"], "mtt_vgg", cache)
            usable.append(d)
        except FrontendError:
            assert sf.info(d / "reference.wav").duration < 3.0
    folders = usable
    patches = len(embed_files([d / "reference.wav" for d in folders], "mtt_vgg", cache))
    assert patches >= 3
    for r in res["methods"]:
        for model in ("mtt_vgg", "msd_vgg"):
            f = r["fd"][model]
            assert f["patches"] == f["reference_patches"] == patches and f["fd_inf"] is not None
            ref = embed_files([d / "reference.wav" for d in folders], model, cache)
            gen = embed_files([d / r["stimulus"] for d in folders], model, cache)
            assert f["fd"] == pytest.approx(frechet_distance(ref, gen), rel=1e-6, abs=1e-9)
            assert f["fd"] > 0
    md = (out / "table.md").read_text()
    assert f"{patches} patches of 2.99 s per set" in md and "| mono |" in md


def test_errors_exit_2_without_traceback(corpus, result, tmp_path, capsys):
    out, _ = result
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    run = corpus["run"]
    # a copy of the run whose config says it was trained for ENST's dry mix
    state = torch.load(run / "checkpoints" / "best.pt", map_location="cpu", weights_only=False)
    state["config"]["target"] = "dry_mix"
    dry = tmp_path / "dry.pt"
    torch.save(state, dry)
    cases = [
        (["--checkpoint", str(run), "--data", str(corpus["build"]), "--out", str(foreign), "--no-fad"],
         "not written by"),
        (["--checkpoint", str(tmp_path / "nope"), "--data", str(corpus["build"]), "--out", str(tmp_path / "o1")],
         "no such checkpoint"),
        (["--checkpoint", str(run), str(dry), "--data", str(corpus["build"]), "--out", str(tmp_path / "o2")],
         "different targets"),
        (["--target", "dry_mix", "--data", str(corpus["build"]), "--out", str(tmp_path / "o3"), "--no-fad"],
         "no excerpt to evaluate"),
        (["--data", str(corpus["build"]), "--out", str(tmp_path / "o4"), "--no-fad", "--patch-seconds", "0"],
         "--patch-seconds must be > 0"),
        (["--data", str(corpus["build"]), "--out", str(tmp_path / "o5"), "--no-fad", "--reference-params",
          str(tmp_path / "missing")], "no such folder"),
    ]
    for argv, msg in cases:
        assert cli(["eval", "mix", "--no-progress", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err, (argv, err)
    assert not (foreign / "results.json").exists()
    # a corpus folder without the params files: every song is skipped with a message, the rest is scored
    empty = tmp_path / "noparams"
    (empty / "Audio").mkdir(parents=True)
    assert cli(["eval", "mix", "--no-progress", "--no-fad", "--data", str(corpus["build"]), "--out",
                str(tmp_path / "o6"), "--reference-params", str(empty)]) == 0
    cap = capsys.readouterr()
    assert "no params file" in cap.err and "skipped from gain/pan" in cap.err
    res = json.loads((tmp_path / "o6" / "results.json").read_text())
    assert res["songs_without_params"] and all(m["gain_error_db"]["n"] == 0 for m in res["methods"])
    assert cli(["eval", "effect", "--checkpoint", str(run), "--data", str(corpus["build"]), "--out",
                str(tmp_path / "o7"), "--no-fad"]) == 2
    assert "belong(s) to eval mix" in capsys.readouterr().err


def test_recovery_errors_by_hand():
    from dmcmodels.evaluation.mix import recovery_errors

    ref = {"a": {"gain_db": 0.0, "pan": 0.2}, "b": {"gain_db": -6.0, "pan": 0.5}, "c": {"gain_db": 3.0, "pan": 0.9}}
    pred = [{"gain_db": 1.0, "pan": 0.7}, {"gain_db": -5.0, "pan": 0.5}, {"gain_db": 1.0, "pan": 0.35}, {"gain_db": 0, "pan": 0.5}]
    g, p, q, a, miss = recovery_errors(pred, ref, ["a", "b", "c", "x"], np.array([1.0, 1.0, 1.0, 1.0]))
    assert miss == ["x"]
    # relative gains: pred (1, -5, 1) - (-1) = (2, -4, 2); ref (0, -6, 3) - (-1) = (1, -5, 4)
    assert g == pytest.approx([1.0, 1.0, 2.0])
    assert p == pytest.approx([0.5, 0.0, 0.55])
    assert q == pytest.approx([0.1, 0.0, 0.25])  # the mirror (0.3, 0.5, 0.65) is closer
    assert a == pytest.approx([0.1, 0.0, 0.25])  # |0.2 - 0.3|, 0, |0.15 - 0.4|
    g, p, q, a, _ = recovery_errors(pred[:3], ref, ["a", "b", "c"], np.array([1.0, 1e-4, 1.0]))  # b silent
    assert len(p) == 2 and a == pytest.approx([0.1, 0.25])
