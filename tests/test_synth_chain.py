"""``dmcdata synth-chain`` end to end: real FLAC source shards, real tar shards and Parquet,
a real Ray local cluster, a killed subprocess, and the real ``dmcdata render`` CLI."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dmcdata.cli import main as dmcdata
from dmcdata.console.mixfile import MixDocument, TrackEntry
from dmcdata.effects import EffectConfig, decode_mono, example_from_seed, make_example, rms_db
from dmcdata.shards import ShardWriter
from pipelines.synth_chain import _npy

SR = 44100


# -- a tiny dry-audio source in the shard contract's formats -------------------------------------
# Two multitrack shards (tNN.flac tracks: a mono sine, a stereo noise track, an all-silent track, plus
# a mix member that must never be used) and one SignalTrain-style paired shard (input/target).

def flac(audio: np.ndarray, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, SR, format="FLAC", subtype=subtype)
    return buf.getvalue()


def write_source(folder: Path, seconds: float = 1.5, with_manifest: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    rows = []
    for s in range(2):
        name = f"demo-train-{s:06d}.tar"
        with ShardWriter(folder / name) as w:
            for song in range(2):
                key = f"demo-song{s}{song}-000000"
                sine = 0.3 * np.sin(2 * np.pi * (110 + 50 * song + 30 * s) * t) * (t > 0.2)
                stereo = 0.1 * rng.standard_normal((n, 2))
                silent = np.zeros(n)
                mix = np.stack([sine, sine], 1) * 0.5
                doc = {"dataset": "demo", "song": f"song{s}{song}", "segment": 0, "start": 0, "frames": n,
                       "sample_rate": SR, "split": "train", "mix": "mix.flac",
                       "tracks": [{"name": "sine", "instrument": "synth", "kind": "stem", "channels": 1, "member": "t00.flac"},
                                  {"name": "noise", "instrument": "noise", "kind": "stem", "channels": 2, "member": "t01.flac"},
                                  {"name": "quiet", "instrument": "none", "kind": "stem", "channels": 1, "member": "t02.flac"}]}
                w.write(key, {"json": json.dumps(doc).encode(), "t00.flac": flac(sine), "t01.flac": flac(stereo),
                              "t02.flac": flac(silent), "mix.flac": flac(mix)})
                rows.append({"key": key, "dataset": "demo", "split": "train", "shard": name, "n_tracks": 3})
    name = "signaltrain-val-000000.tar"
    with ShardWriter(folder / name) as w:
        key = "signaltrain-1-000000"
        x = 0.2 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.5 * t)
        w.write(key, {"json": json.dumps({"dataset": "signaltrain", "id": "1", "segment": 0, "start": 0,
                                          "frames": n, "sample_rate": SR, "split": "val", "limit": 0,
                                          "peak_reduction": 50}).encode(),
                      "input.flac": flac(x, "PCM_24"), "target.flac": flac(0.5 * x, "PCM_24")})
        rows.append({"key": key, "dataset": "signaltrain", "split": "val", "shard": name, "n_tracks": 1})
    if with_manifest:
        pd.DataFrame(rows).to_parquet(folder / "manifest.parquet", index=False)
    return folder


SHARDS, PER_SHARD = 10, 3
ARGS = ["--shards", str(SHARDS), "--samples-per-shard", str(PER_SHARD), "--patch-seconds", "short",
        "--seed", "7", "--no-progress"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_source(tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert dmcdata(["synth-chain", "--source", str(source), "--out", str(out), "--workers", "1", *ARGS]) == 0
    return out


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def read_samples(tar_path: Path) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    with tarfile.open(tar_path) as tf:
        for ti in tf:
            key, ext = ti.name.split(".", 1)
            out.setdefault(key, {})[ext] = tf.extractfile(ti).read()
    return out


def npy(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b))


def source_patch(source: Path, ref: dict, n: int) -> np.ndarray:
    with tarfile.open(source / ref["shard"]) as tf:
        data = tf.extractfile(f"{ref['key']}.{ref['member']}").read()
    return decode_mono(data, "test")[ref["start"]:ref["start"] + n]


def test_output_layout_and_verify(reference, capsys):
    names = sorted(p.name for p in reference.iterdir())
    assert [n for n in names if n.endswith(".tar")] == [f"synth-{i:06d}.tar" for i in range(SHARDS)]
    assert {"manifest.parquet", "shards.parquet", "synth_config.json", "dataset_card.md"} <= set(names)
    assert not [n for n in names if n.endswith(".partial")]
    m = pd.read_parquet(reference / "manifest.parquet")
    assert list(m["key"]) == [f"synth-{i:06d}-{j:06d}" for i in range(SHARDS) for j in range(PER_SHARD)]
    s = pd.read_parquet(reference / "shards.parquet")
    assert list(s["n_samples"]) == [PER_SHARD] * SHARDS
    assert dmcdata(["verify", str(reference)]) == 0
    assert "verify OK" in capsys.readouterr().out


def test_samples_regenerate_from_their_provenance(reference, source):
    """Every sample: members as documented; the dry patch is non-silent audio of a track/input member
    at the recorded start; example_from_seed(that patch, seed) gives the stored bytes again."""
    cfg = EffectConfig(patch_seconds="short")
    m = pd.read_parquet(reference / "manifest.parquet").set_index("key")
    used = set()
    for shard in sorted(reference.glob("synth-*.tar")):
        for key, mem in read_samples(shard).items():
            assert sorted(mem) == ["input.npy", "json", "params.npy", "target.npy"]
            doc = json.loads(mem["json"])
            x, y, p = npy(mem["input.npy"]), npy(mem["target.npy"]), npy(mem["params.npy"])
            assert x.shape == (cfg.patch_len,) and y.shape == (2, cfg.patch_len) and p.shape == (25,)
            assert x.dtype == y.dtype == p.dtype == np.float32
            src = doc["source"]
            assert re.fullmatch(r"(t\d\d|input)\.flac", src["member"]), src  # never mix/target
            used.add(src["member"])
            dry = source_patch(source, src, cfg.patch_len)
            assert rms_db(dry) >= -60.0  # silence skipped
            other = source_patch(source, doc["mix_source"], cfg.patch_len) if "mix_source" in doc else None
            ex = example_from_seed(dry, doc["seed"], cfg, mix_with=other)
            assert ex["input"].tobytes() == x.tobytes() and ex["target"].tobytes() == y.tobytes()
            assert ex["params"].tobytes() == p.tobytes() and ex["named"] == doc["params"]
            row = m.loc[key]
            assert np.array_equal(np.asarray(row["params"], np.float32), p) and row["seed"] == doc["seed"]
            assert row["source_member"] == src["member"] and list(row["augmentations"]) == doc["augmentations"]
    assert "t02.flac" not in used  # the all-silent track is never drawn from
    assert used & {"t00.flac", "t01.flac", "input.flac"}


def test_ray_two_workers_byte_identical(reference, source, tmp_path):
    out = tmp_path / "ray"
    # the source given as shard URLs with brace ranges instead of a folder
    urls = [f"file://{source}/demo-train-{{000000..000001}}.tar", str(source / "signaltrain-val-000000.tar")]
    assert dmcdata(["synth-chain", "--source", *urls, "--out", str(out), "--workers", "2", *ARGS]) == 0
    assert files(out) == files(reference)


def test_resume_after_kill_is_byte_identical(reference, source, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "dmcdata.cli", "synth-chain", "--source", str(source), "--out", str(out),
           "--workers", "1", *ARGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "synth-000000.tar").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in out.glob("synth-*.tar"))
    assert 1 <= len(finished) < SHARDS and not (out / "manifest.parquet").exists()
    # a run killed between a shard's rename and its progress record: the rows come from the shard itself
    (out / ".synth-chain" / "synth-000000.tar.json").unlink(missing_ok=True)
    # a half-written shard is only ever a .partial file; plant one to be sure it is not taken as done
    (out / f"synth-{SHARDS - 1:06d}.tar.4242-0badcafe.partial").write_bytes(b"garbage")
    assert dmcdata(["synth-chain", "--source", str(source), "--out", str(out), "--workers", "1", *ARGS]) == 0
    assert files(out) == files(reference)


def test_other_settings_refused_in_same_folder(reference, source, capsys):
    before = files(reference)
    rc = dmcdata(["synth-chain", "--source", str(source), "--out", str(reference), "--workers", "1",
                  *ARGS[:-3], "--seed", "8", "--no-progress"])
    assert rc == 2 and "seed" in capsys.readouterr().err
    assert files(reference) == before


def test_variable_order_subset_query_and_render_cli(source, tmp_path):
    """Variable order, --processors eq,comp,reverb, SignalTrain inputs only; then every target equals
    what the real `dmcdata render` CLI makes of a mix document with the sample's named parameters."""
    out = tmp_path / "var"
    assert dmcdata(["synth-chain", "--source", str(source / "manifest.parquet"), "--source-query",
                    "split == 'val'", "--out", str(out), "--workers", "1", "--shards", "1",
                    "--samples-per-shard", "2", "--patch-seconds", "0.2", "--order", "variable",
                    "--processors", "reverb,eq,comp", "--seed", "3", "--no-progress"]) == 0
    samples = read_samples(out / "synth-000000.tar")
    for mem in samples.values():
        doc = json.loads(mem["json"])
        assert doc["source"]["member"] == "input.flac"
        assert npy(mem["params.npy"]).shape == (31,)
        assert doc["params"]["gain_db"] == 0.0 and doc["params"]["pan"] == 0.5 and doc["params"]["polarity"] == 0
    # plus one made on the fly (as the effect loader does) with every processor and the other pan law
    dry = source_patch(source, json.loads(samples["synth-000000-000000"]["json"])["source"], 8820)
    cfg = EffectConfig(patch_seconds=0.2, order="variable", pan_law="constant_power")
    ex = make_example(dry, np.random.default_rng(5), cfg)
    assert ex["named"]["pan"] != 0.5 and ex["named"]["gain_db"] != 0.0
    samples["on-the-fly"] = {"input.npy": _npy(ex["input"]), "target.npy": _npy(ex["target"]),
                             "json": json.dumps({"params": ex["named"], "order": ex["order"], "pan_law": cfg.pan_law,
                                                 "ir_bank": cfg.ir_bank}).encode()}
    cases = []
    for key, mem in samples.items():
        doc = json.loads(mem["json"])
        d = tmp_path / key
        d.mkdir()
        sf.write(d / "in.wav", npy(mem["input.npy"]), 44100, subtype="FLOAT")
        MixDocument(sample_rate=44100, pan_law=doc["pan_law"], order=tuple(doc["order"]), ir_bank=doc["ir_bank"],
                    tracks=[TrackEntry(file="in.wav", params=doc["params"])]).save(d / "mix.json")
        cases.append((d, npy(mem["target.npy"])))
    assert len(cases) == 3
    # the real CLI in one subprocess (one interpreter start for all documents: imports cost seconds)
    script = ("import sys; from dmcdata.cli import main\n"
              "for d in sys.argv[1:]:\n"
              "    assert main(['render', d + '/mix.json', '--out', d + '/out.wav', '--quiet']) == 0, d\n")
    proc = subprocess.run([sys.executable, "-c", script, *[str(d) for d, _ in cases]], capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    for d, target in cases:
        rendered, sr = sf.read(d / "out.wav", dtype="float32", always_2d=True)
        assert sr == 44100 and rendered.T.shape == target.shape
        peak = float(np.max(np.abs(target)))
        assert peak > 0 and float(np.max(np.abs(rendered.T - target))) < 1e-6 * peak


def test_bad_sources(tmp_path, capsys):
    assert dmcdata(["synth-chain", "--source", str(tmp_path / "nope-{0..1}.tar"), "--out", str(tmp_path / "o"),
                    "--shards", "1", "--workers", "1", "--no-progress"]) == 2
    assert "nope-0.tar" in capsys.readouterr().err
    # a source whose only dry track is silent
    with ShardWriter(tmp_path / "quiet-000000.tar") as w:
        w.write("demo-q-000000", {"json": b"{}", "t00.flac": flac(np.zeros(44100)), "mix.flac": flac(np.zeros(44100))})
    assert dmcdata(["synth-chain", "--source", str(tmp_path / "quiet-000000.tar"), "--out", str(tmp_path / "o2"),
                    "--shards", "1", "--samples-per-shard", "1", "--workers", "1", "--no-progress"]) == 2
    assert "no non-silent patch" in capsys.readouterr().err
    assert not list((tmp_path / "o2").glob("*.tar"))
    assert dmcdata(["synth-chain", "--source", str(tmp_path / "quiet-000000.tar"), "--out", str(tmp_path / "o3"),
                    "--shards", "1", "--processors", "eq,flanger", "--workers", "1"]) == 2
    assert "flanger" in capsys.readouterr().err


def test_user_ir_folder_and_augment_selection(source, tmp_path):
    from dmcdata.console import ChannelStrip, IRBank

    irs = tmp_path / "irs"
    irs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        h = rng.standard_normal(2000) * np.exp(-np.arange(2000) / (200.0 * (i + 1)))
        sf.write(irs / f"room{i}.wav", h.astype(np.float32), 44100, subtype="FLOAT")
    out = tmp_path / "ir"
    assert dmcdata(["synth-chain", "--source", str(source), "--out", str(out), "--workers", "1", "--shards", "1",
                    "--samples-per-shard", "6", "--patch-seconds", "0.1", "--processors", "reverb",
                    "--ir-folder", str(irs), "--augment", "noise", "--no-progress"]) == 0
    strip = ChannelStrip(44100, ir_bank=IRBank.from_folder(irs, 44100))
    for mem in read_samples(out / "synth-000000.tar").values():
        doc = json.loads(mem["json"])
        assert doc["ir_bank"] == {"folder": str(irs.resolve())}
        assert doc["params"]["reverb.ir"] in (0, 1, 2)
        assert set(doc["augmentations"]) <= {"noise"}
        np.testing.assert_array_equal(strip.process(npy(mem["input.npy"]), doc["params"]), npy(mem["target.npy"]))


def test_failed_first_run_does_not_lock_the_folder_and_refusals_name_the_field(source, tmp_path, capsys):
    out = tmp_path / "o"
    base = ["synth-chain", "--source", str(source), "--out", str(out), "--workers", "1", "--shards", "1",
            "--samples-per-shard", "1", "--no-progress"]
    # a patch longer than every source track: no shard can be made
    assert dmcdata([*base, "--patch-seconds", "2.0"]) == 2
    err = capsys.readouterr().err
    assert "no non-silent patch" in err and "1.50 s" in err  # the source tracks are 1.5 s long
    assert not list(out.glob("*.tar"))
    # the same folder then takes other settings (no shard of the failed run to protect) ...
    assert dmcdata([*base, "--patch-seconds", "0.1"]) == 0
    assert "replacing the settings" in capsys.readouterr().err
    # ... and, once it holds a shard, refuses others, naming the setting that differs
    assert dmcdata([*base, "--patch-seconds", "0.1", "--order", "variable"]) == 2
    assert 'effect.order: "static" before, "variable" now' in capsys.readouterr().err
    # several build folders together
    other = write_source(tmp_path / "src2", with_manifest=False)
    assert dmcdata(["synth-chain", "--source", str(source), str(other), "--out", str(tmp_path / "two"), "--workers",
                    "1", "--shards", "1", "--samples-per-shard", "1", "--patch-seconds", "0.1", "--no-progress"]) == 0
    assert "26 dry members in 6 source shard(s)" in capsys.readouterr().err
    # a synth-chain output is not dry audio
    assert dmcdata(["synth-chain", "--source", str(out), "--out", str(tmp_path / "o2"), "--workers", "1",
                    "--shards", "1", "--no-progress"]) == 2
    assert "synth-chain examples" in capsys.readouterr().err
    # bad numbers fail before anything is written
    for bad, says in ((["--workers", "0"], "--workers"), (["--seed", "-1"], "--seed"),
                      (["--patch-seconds", "0.00001"], "shorter than one sample")):
        o3 = tmp_path / "o3"
        assert dmcdata(["synth-chain", "--source", str(source), "--out", str(o3), "--shards", "1", *bad]) == 2
        assert says in capsys.readouterr().err
        assert not o3.exists()
