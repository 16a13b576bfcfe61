"""The three datasets on real shards: multitrack patches/padding/selection, paired mixup, effects."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from scipy import stats

from dmcdata import effects
from dmcdata.console import mixfile

from dist_worker import SR, multitrack_sample, write_multitrack_shards, write_paired_shard
from dmcdata.shards import ShardWriter
from dmcdata.streaming import (
    DatasetKindError, EffectDataset, MultitrackDataset, UrlError, PairedDataset, SelectionError, StreamingLoader, collate_song, pad_tracks,
    sample_lambda,
)
from dmcdata.streaming.shardlist import Slot, SplitWarning


@pytest.fixture(scope="module")
def mt(tmp_path_factory):
    out = tmp_path_factory.mktemp("mt")
    rows = write_multitrack_shards(out, n_shards=2, per_shard=4, frames=6000, track_counts=(2, 5, 3, 4))
    # one more shard with a stereo track, to check the mono downmix
    rng = np.random.default_rng(9)
    key, members, row = multitrack_sample("stereo", 0, 3, 6000, rng, stereo_track=True)
    with ShardWriter(out / "extra-000000.tar") as w:
        w.write(key, members)
    return out, rows, (key, members)


def _members_of(tar_path, key):
    with tarfile.open(tar_path) as t:
        return {m.name[len(key) + 1:]: t.extractfile(m).read() for m in t.getmembers() if m.name.startswith(key + ".")}


def _ref_patch(data: bytes, start: int, n: int) -> np.ndarray:
    """Independent reference: decode the whole member, slice, average channels, zero-pad."""
    a, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    seg = a[start:start + n].mean(axis=1)
    return np.pad(seg, (0, n - len(seg)))


def test_multitrack_patches_match_a_direct_decode(mt):
    out, rows, (skey, smembers) = mt
    ds = MultitrackDataset(str(out), patch_seconds=0.5, patches=2, seed=1)
    got = list(ds.iter_slot(Slot()))
    assert len(got) == 2 * 9
    n = int(0.5 * SR)
    for s in got:
        shard = next((r["shard"] for r in rows if r["key"] == s["key"]), "extra-000000.tar")
        members = _members_of(out / shard, s["key"])
        meta = json.loads(members["json"])
        assert s["n_tracks"] == len(meta["tracks"]) and s["tracks"].shape == (s["n_tracks"], n)
        assert 0 <= s["start"] <= meta["frames"] - n
        for i, t in enumerate(meta["tracks"]):
            np.testing.assert_array_equal(s["tracks"][i], _ref_patch(members[t["member"]], s["start"], n))
        mix, _ = sf.read(io.BytesIO(members["mix.flac"]), dtype="float32", always_2d=True)
        np.testing.assert_array_equal(s["mix"], mix[s["start"]:s["start"] + n].T)
    assert any(s["key"] == skey for s in got)
    # mono=False keeps channels: the stereo track as decoded, mono tracks repeated to 2 channels
    st = next(s for s in MultitrackDataset(str(out / "extra-000000.tar"), patch_seconds=0.5, mono=False)
              .iter_slot(Slot()))
    a, _ = sf.read(io.BytesIO(smembers["t00.flac"]), dtype="float32", always_2d=True)
    b, _ = sf.read(io.BytesIO(smembers["t01.flac"]), dtype="float32", always_2d=True)
    assert st["tracks"].shape == (3, 2, n)
    np.testing.assert_array_equal(st["tracks"][0], a[st["start"]:st["start"] + n].T)
    np.testing.assert_array_equal(st["tracks"][1], np.repeat(b[st["start"]:st["start"] + n].T, 2, axis=0))


def test_multitrack_short_segment_is_zero_padded(mt):
    out, rows, _ = mt
    ds = MultitrackDataset(str(out / "medleydb-train-000000.tar"), patch_seconds=1.0, shuffle_shards=False)
    s = next(iter(ds.iter_slot(Slot())))
    assert s["tracks"].shape[1] == SR and s["valid"] == 6000 and s["start"] == 0
    assert not s["tracks"][:, 6000:].any() and s["tracks"][:, :6000].any()


def test_pad_tracks_and_mask(mt):
    out, rows, _ = mt
    ds = MultitrackDataset(str(out / "medleydb-train-{000000..000001}.tar"), patch_seconds=0.25, seed=2)
    samples = list(ds.iter_slot(Slot()))
    batch = pad_tracks(samples[:4])
    counts = [s["n_tracks"] for s in samples[:4]]
    assert batch["tracks"].shape == (4, max(counts), int(0.25 * SR))
    assert batch["track_mask"].tolist() == [[i < c for i in range(max(counts))] for c in counts]
    for b, s in enumerate(samples[:4]):
        assert torch.equal(batch["tracks"][b, :counts[b]], torch.from_numpy(s["tracks"]))
        assert not batch["tracks"][b, counts[b]:].any()
        assert batch["instruments"][b][:counts[b]] == s["instruments"]
    assert batch["mix"].shape == (4, 2, int(0.25 * SR))
    one = collate_song(samples[:1])
    assert one["tracks"].shape == (counts[0], int(0.25 * SR))
    with pytest.raises(ValueError, match="one song"):
        collate_song(samples[:2])
    # through a real DataLoader with workers
    loader = StreamingLoader(ds, batch_size=3, num_workers=2, collate_fn=pad_tracks)
    got = [b for b in loader]
    assert sum(b["tracks"].shape[0] for b in got) == 8
    assert all(b["track_mask"].sum(1).tolist() == b["n_tracks"].tolist() for b in got)


def test_track_permutation_is_consistent(mt):
    out, *_ = mt
    kw = dict(patch_seconds=0.25, seed=4, shuffle_shards=False)
    plain = {s["key"]: s for s in MultitrackDataset(str(out), **kw).iter_slot(Slot())}
    perm = list(MultitrackDataset(str(out), permute=True, **kw).iter_slot(Slot()))
    changed = 0
    for s in perm:
        p = plain[s["key"]]
        # every permuted track is one of the original tracks, with its own instrument label
        idx = [next(j for j in range(p["n_tracks"]) if np.array_equal(p["tracks"][j], t)) for t in s["tracks"]]
        assert sorted(idx) == list(range(p["n_tracks"]))
        assert s["instruments"] == [p["instruments"][j] for j in idx]
        changed += idx != sorted(idx)
        np.testing.assert_array_equal(s["mix"], p["mix"])
    assert changed >= 3


def test_manifest_query_and_dataframe_selection(mt):
    out, rows, _ = mt
    df = pd.read_parquet(out / "manifest.parquet")
    want = sorted(r["key"] for r in rows if r["n_tracks"] <= 3)
    by_query = MultitrackDataset(str(out), selection="n_tracks <= 3", patch_seconds=0.25)
    by_frame = MultitrackDataset(str(out), selection=df.query("n_tracks <= 3"), patch_seconds=0.25)
    by_urls = MultitrackDataset(str(out / "medleydb-train-{000000..000001}.tar"), selection="n_tracks <= 3",
                                patch_seconds=0.25)
    by_manifest = MultitrackDataset(str(out / "manifest.parquet"), selection="n_tracks <= 3", patch_seconds=0.25)
    for ds in (by_query, by_frame, by_urls, by_manifest):
        assert sorted(s["key"] for s in ds.iter_slot(Slot())) == want
    # a selection inside one shard reads only that shard
    one = df[df["shard"] == "medleydb-train-000001.tar"].head(2)
    ds = MultitrackDataset(str(out), selection=one)
    assert [u.rsplit("/", 1)[-1] for u in ds.urls] == ["medleydb-train-000001.tar"]
    with pytest.raises(SelectionError, match="matches no samples"):
        MultitrackDataset(str(out), selection="n_tracks > 99")
    with pytest.raises(SelectionError, match="no_such_column"):
        MultitrackDataset(str(out), selection="no_such_column > 1")
    with pytest.raises(SelectionError, match="not among the given URLs"):
        MultitrackDataset(str(out / "medleydb-train-000000.tar"), selection=df)


# -- paired -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    out = tmp_path_factory.mktemp("paired")
    keys = write_paired_shard(out / "signaltrain-train-000000.tar", n=7, frames=3000)
    return out, keys


def test_paired_patches_and_conditioning(paired):
    out, keys = paired
    ds = PairedDataset(str(out), patch_seconds=0.125, shuffle_shards=False)
    got = list(ds.iter_slot(Slot()))
    n = int(0.125 * SR)
    assert {s["key"] for s in got} == set(keys) and len(got) == 7 * (3000 // n)
    for s in got:
        members = _members_of(out / "signaltrain-train-000000.tar", s["key"])
        meta = json.loads(members["json"])
        np.testing.assert_array_equal(s["params"], np.float32([meta["limit"], meta["peak_reduction"] / 100]))
        np.testing.assert_array_equal(s["input"][0], _ref_patch(members["input.flac"], s["start"], n))
        np.testing.assert_array_equal(s["target"][0], _ref_patch(members["target.flac"], s["start"], n))
        assert s["lam"] == 1.0


def test_paired_mixup_math(paired):
    out, keys = paired
    kw = dict(patch_seconds=0.125, seed=3, shuffle_buffer=3, item_shuffle_buffer=4)
    plain = list(PairedDataset(str(out), **kw).iter_slot(Slot()))
    mixed = list(PairedDataset(str(out), mixup_alpha=0.3, **kw).iter_slot(Slot()))
    assert len(mixed) == len(plain)
    lams = []
    for k, m in enumerate(mixed):
        a = plain[k]
        if k == len(plain) - 1 and k % 2 == 0:  # odd item out: unmixed
            assert m["lam"] == 1.0 and np.array_equal(m["input"], a["input"])
            continue
        b = plain[k + 1] if k % 2 == 0 else plain[k - 1]
        lam = m["lam"]
        lams.append(lam)
        assert m["key"] == a["key"] and m["partner"] == b["key"] and 0.0 <= lam <= 1.0
        for f in ("input", "target", "params"):
            ref = lam * a[f].astype(np.float64) + (1 - lam) * b[f].astype(np.float64)
            np.testing.assert_allclose(m[f], ref, rtol=0, atol=1e-6)
    assert len(set(lams)) == len(lams)  # a fresh λ per output


def test_mixup_lambda_is_beta_alpha_alpha():
    rng = np.random.default_rng(0)
    for alpha in (0.2, 0.4):
        lam = sample_lambda(rng, alpha, size=4000)
        assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
        assert stats.kstest(lam, stats.uniform().cdf).pvalue < 1e-6  # and clearly not uniform
    with pytest.raises(ValueError, match="alpha"):
        PairedDataset("x.tar", mixup_alpha=0.0)


# -- effects ---------------------------------------------------------------------------------------

def _npy(a) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def test_effect_shards_mode_reads_synth_chain_samples(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    with ShardWriter(tmp_path / "synth-000000.tar") as w:
        for i in range(5):
            key = f"synth-000000-{i:06d}"
            x = rng.standard_normal(400).astype(np.float32)
            y = np.stack([x, -x]).astype(np.float32)
            p = rng.uniform(-1, 1, 25).astype(np.float32)
            w.write(key, {"input.npy": _npy(x), "target.npy": _npy(y), "params.npy": _npy(p),
                          "json": json.dumps({"seed": 100 + i}).encode()})
            written[key] = (x, y, p, 100 + i)
        w.write("synth-000000-bad", {"input.npy": _npy(np.zeros(4, np.float32))})
    ds = EffectDataset(str(tmp_path / "synth-000000.tar"), mode="shards")
    with pytest.warns(UserWarning, match="synth-000000-bad"):
        got = list(ds.iter_slot(Slot()))
    assert ds.skip_log.samples_skipped == 1
    assert len(got) == 5
    for s in got:
        x, y, p, seed = written[s["key"]]
        assert s["input"].shape == (1, 400)
        np.testing.assert_array_equal(s["input"][0], x)
        np.testing.assert_array_equal(s["target"], y)
        np.testing.assert_array_equal(s["params"], p)
        assert s["seed"] == seed


def test_effect_generate_mode_rebuilds_from_seed_and_ignores_topology(mt):
    out, rows, _ = mt
    cfg = effects.EffectConfig(sample_rate=SR, patch_seconds=0.25)
    url = str(out / "medleydb-train-000000.tar")
    ds = EffectDataset(url, mode="generate", config=cfg, seed=8, item_shuffle_buffer=8)
    got = list(ds.iter_slot(Slot()))
    n = cfg.patch_len
    assert got and all(s["input"].shape == (1, n) and s["target"].shape == (2, n) and s["params"].shape == (25,)
                       for s in got)
    # every dry member's non-silent patches: tracks are tones, so all full patches count
    total = sum(r["n_tracks"] for r in rows if r["shard"] == "medleydb-train-000000.tar")
    assert total * (6000 // n - 1) <= len(got) <= total * (6000 // n)
    for s in got[:6]:
        members = _members_of(url, s["key"])
        dry = effects.decode_mono(members[s["member"]], "x", SR)[s["start"]:s["start"] + n]
        partner = None
        if s["mix_member"]:
            pa = effects.decode_mono(members[s["mix_member"]], "x", SR)
            partner = pa[s["mix_start"]:s["mix_start"] + n]
        ref = effects.example_from_seed(dry, s["seed"], cfg, mix_with=partner)
        np.testing.assert_array_equal(s["input"][0], ref["input"])
        np.testing.assert_array_equal(s["target"], ref["target"])
        np.testing.assert_array_equal(s["params"], ref["params"])
    # two readers (sample split of the one shard) make the very same examples
    halves = []
    for w in range(2):  # (warns: 1 shard for 2 slots)
        with pytest.warns(SplitWarning) if w == 0 else contextlib.nullcontext():
            halves += list(EffectDataset(url, mode="generate", config=cfg, seed=8, rank=0, world_size=1)
                           .iter_slot(Slot(0, 1, w, 2)))
    key = lambda s: (s["key"], s["member"], s["start"])  # noqa: E731
    assert sorted(map(key, halves)) == sorted(map(key, got))
    by = {key(s): s for s in got}
    assert all(np.array_equal(by[key(s)]["target"], s["target"]) for s in halves)
    # a new epoch draws new parameters for the same patches
    ds.set_epoch(1)
    before = {s["params"].tobytes() for s in got}
    after = {s["params"].tobytes() for s in ds.iter_slot(Slot())}
    assert after and not before & after


def test_effect_generate_through_loader(mt):
    out, *_ = mt
    cfg = effects.EffectConfig(sample_rate=SR, patch_seconds=0.25, augment=effects.AugmentConfig.off())
    ds = EffectDataset(str(out / "medleydb-train-000001.tar"), mode="generate", config=cfg, patches_per_track=1)
    loader = StreamingLoader(ds, batch_size=4, num_workers=1)
    batches = list(loader)
    b = batches[0]
    assert b["input"].shape == (4, 1, cfg.patch_len) and b["target"].shape == (4, 2, cfg.patch_len)
    assert sum(x["input"].shape[0] for x in batches) == sum(r for r in (5, 3, 4, 2))  # one patch per track


def test_on_the_fly_target_equals_dmcdata_render(mt, tmp_path):
    """The loader's target for an example = `dmcdata render` of its input with its named parameters."""
    from dmcdata.cli import main as cli_main

    out, *_ = mt
    cfg = effects.EffectConfig(sample_rate=SR, patch_seconds=0.25)
    url = str(out / "medleydb-train-000001.tar")
    s = next(iter(EffectDataset(url, mode="generate", config=cfg, seed=21).iter_slot(Slot())))
    members = _members_of(url, s["key"])
    n = cfg.patch_len
    dry = effects.decode_mono(members[s["member"]], "x", SR)[s["start"]:s["start"] + n]
    partner = effects.decode_mono(members[s["mix_member"]], "x", SR)[s["mix_start"]:s["mix_start"] + n]
    named = effects.example_from_seed(dry, s["seed"], cfg, mix_with=partner)["named"]
    sf.write(tmp_path / "in.wav", s["input"][0], SR, subtype="FLOAT")
    doc = mixfile.MixDocument(sample_rate=SR, tracks=[mixfile.TrackEntry("in.wav", named, "t")],
                              ir_bank=cfg.ir_bank, pan_law=cfg.pan_law)
    doc.save(tmp_path / "mix.json")
    assert cli_main(["render", str(tmp_path / "mix.json"), "--out", str(tmp_path / "out.wav"), "--quiet"]) == 0
    rendered, sr = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert sr == SR and rendered.shape == (n, 2)
    np.testing.assert_allclose(s["target"], rendered.T, rtol=0, atol=1e-6)


# -- the wrong dataset for the shards, a spec that names no existing shard -------------------------

def test_wrong_dataset_for_the_shards_is_an_error_not_an_empty_epoch(mt, paired, tmp_path):
    """Every sample would be skipped: raise at once, naming the shard and the right dataset."""
    mt_out, paired_out = mt[0], paired[0]
    with ShardWriter(tmp_path / "synth-000000.tar") as w:
        x = np.zeros(400, np.float32)
        w.write("synth-000000-000000", {"input.npy": _npy(x), "target.npy": _npy(np.stack([x, x])),
                                        "params.npy": _npy(np.zeros(25, np.float32)), "json": b"{}"})
    synth = str(tmp_path / "synth-000000.tar")
    cases = [
        (lambda: MultitrackDataset(synth), "mode='shards'"),
        (lambda: MultitrackDataset(str(paired_out)), "PairedDataset"),
        (lambda: PairedDataset(str(mt_out)), "MultitrackDataset"),
        (lambda: EffectDataset(str(mt_out), mode="shards"), "mode='generate'"),
        (lambda: EffectDataset(synth, mode="generate"), "mode='shards'"),
    ]
    for make, advice in cases:
        with pytest.raises(DatasetKindError, match=advice):  # also without strict=True
            list(make().iter_slot(Slot()))
    # the right pairings still read
    assert len(list(EffectDataset(synth, mode="shards").iter_slot(Slot()))) == 1
    from dmcdata.effects import EffectConfig

    cfg = EffectConfig(sample_rate=SR, patch_seconds=1000 / SR)
    assert list(EffectDataset(str(paired_out), mode="generate", config=cfg, patches_per_track=1).iter_slot(Slot()))


def test_spec_naming_no_existing_local_shard_is_an_error(tmp_path):
    for spec in (str(tmp_path / "typo"), str(tmp_path / "x-{000..003}.tar"), f"file://{tmp_path}/x-000000.tar"):
        with pytest.raises(UrlError, match="exists"):
            MultitrackDataset(spec)
    with pytest.raises(SelectionError, match="not found"):
        MultitrackDataset(str(tmp_path / "x-000000.tar"), selection="n_tracks > 1")
