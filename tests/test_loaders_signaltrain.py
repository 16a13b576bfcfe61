"""SignalTrain LA2A loader on a tree in the real layout."""

from dmcdata.loaders import signaltrain
from tests.trees import signaltrain_tree, write_wav


def test_pairs_settings_and_own_split(tmp_path):
    signaltrain_tree(tmp_path / "SignalTrain_LA2A_Dataset_1.1", seconds=0.05)
    ds = signaltrain.Dataset(tmp_path, checksums=True)  # the archive's top folder is found
    assert ds.problems == []
    assert ds.get_track_splits() == {"train": ["1", "2", "3", "4"], "val": ["5"], "test": ["6"]}
    t = ds.track("2")
    assert (t.unit, t.limit, t.peak_reduction, t.split) == ("3c", 1, 65.0, "train")
    assert t.target_path.endswith("Train/target_2_LA2A_3c__1__65.wav")
    y, sr = t.target
    assert sr == 44100 and y.dtype.name == "float32"
    missing, invalid = ds.validate(verbose=False)
    assert all(not v for v in missing.values()) and all(not v for v in invalid.values())
    # a changed target and a deleted input are caught by validate(), under their pair ids
    target = tmp_path / "SignalTrain_LA2A_Dataset_1.1" / "Test" / "target_6_LA2A_3c__1__75.wav"
    target.write_bytes(target.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    (tmp_path / "SignalTrain_LA2A_Dataset_1.1" / "Val" / "input_5_.wav").unlink()
    missing, invalid = ds.validate(verbose=False)
    assert invalid["tracks"] == {"6": [str(target)]}
    assert list(missing["tracks"]) == ["5"] and missing["tracks"]["5"][0].endswith("Val/input_5_.wav")


def test_unpaired_and_unknown_files_are_problems(tmp_path):
    signaltrain_tree(tmp_path, seconds=0.05)
    write_wav(tmp_path / "Train" / "input_77_.wav", 100)
    write_wav(tmp_path / "Val" / "target_78_LA2A_2a__0__50.wav", 100)
    write_wav(tmp_path / "Test" / "notes.wav", 100)
    ds = signaltrain.Dataset(tmp_path, checksums=False)
    reasons = {p.item: p.reason for p in ds.problems}
    assert "input 77 has no target" in reasons["77"]
    assert "target 78 has no input" in reasons["78"]
    assert "unrecognised" in reasons["notes"]
    assert sorted(ds.track_ids) == ["1", "2", "3", "4", "5", "6"]
