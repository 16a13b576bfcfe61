"""ENST-drums loader on a tree in the real layout."""

from dmcdata.loaders import enst_drums
from tests.trees import enst_tree


def test_scan_mics_mixes_and_tom3(tmp_path):
    takes = enst_tree(tmp_path, takes_per_drummer=3, seconds=0.05)
    ds = enst_drums.Dataset(tmp_path, checksums=True)
    assert ds.problems == []  # drummers without tom_3 at all are normal
    assert len(ds.mtrack_ids) == 9
    mt = ds.multitrack(f"drummer_2_{takes['drummer_2'][0]}")
    assert [t.mic for t in mt.tracks.values()] == ["kick", "snare", "hi-hat", "overhead_L", "overhead_R",
                                                     "tom_1", "tom_2", "tom_3"]
    mt1 = ds.multitrack(f"drummer_1_{takes['drummer_1'][0]}")
    assert "tom_3" not in [t.mic for t in mt1.tracks.values()]
    assert mt1.mix_path.endswith(f"wet_mix/{takes['drummer_1'][0]}.wav")
    assert mt1.dry_mix_path.endswith(f"dry_mix/{takes['drummer_1'][0]}.wav")
    missing, invalid = ds.validate(verbose=False)
    assert all(not v for v in missing.values()) and all(not v for v in invalid.values())
    # accompaniment is not a drum channel
    assert not any("accompaniment" in t for t in ds.track_ids)
    # a changed file and a deleted one are caught by validate(), each under its own id
    take = takes["drummer_3"][0]
    snare = tmp_path / "drummer_3" / "audio" / "snare" / f"{take}.wav"
    snare.write_bytes(snare.read_bytes()[:-2] + b"\x01\x02")
    (tmp_path / "drummer_1" / "audio" / "wet_mix" / f"{takes['drummer_1'][1]}.wav").unlink()
    missing, invalid = ds.validate(verbose=False)
    assert [p for paths in invalid["tracks"].values() for p in paths] == [str(snare)]
    assert list(missing["multitracks"]) == [f"drummer_1_{takes['drummer_1'][1]}"]
    assert not missing["tracks"] and not invalid["multitracks"]


def test_take_missing_a_channel_is_a_problem(tmp_path):
    takes = enst_tree(tmp_path, takes_per_drummer=3, seconds=0.05)
    victim = takes["drummer_2"][1]
    (tmp_path / "drummer_2" / "audio" / "tom_3" / f"{victim}.wav").unlink()
    ds = enst_drums.Dataset(tmp_path, checksums=False)
    assert len(ds.mtrack_ids) == 8
    (p,) = ds.problems
    assert p.item == f"drummer_2_{victim}" and "tom_3" in p.reason and p.file.endswith(f"tom_3/{victim}.wav")
