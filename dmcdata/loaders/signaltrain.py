"""SignalTrain LA2A (v1.1) loader: input/target pairs, index built by scanning the user's copy.

Layout: ``<home>/{Train,Val,Test}/input_<id>_.wav`` and
``target_<id>_LA2A_<unit>__<mode>__<peak_reduction>.wav`` (``mode`` 0 = compress, 1 = limit;
``peak_reduction`` 0-100). ``<home>`` may also hold a single folder that contains the three
split folders (as the archive unpacks). Each pair is one mirdata track with two index entries,
``input`` and ``target``; the split is the dataset's own (``Track.split``).

An input without a target, a target without an input, two targets for one input, an id found
in two splits, or an unrecognised file name is listed in ``problems``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from mirdata import core

from dmcdata import audio as dmc_audio
from dmcdata.loaders import Problem, ScannedIndex, file_entry

NAME = "signaltrain"
SPLITS = {"Train": "train", "Val": "val", "Test": "test"}
INPUT_RE = re.compile(r"^input_(\d+)_\.wav$")
TARGET_RE = re.compile(r"^target_(\d+)_LA2A_([A-Za-z0-9]+)__([01])__(\d+(?:\.\d+)?)\.wav$")
LICENSE = "CC BY 4.0"
BIBTEX = """@inproceedings{hawley2019signaltrain,
  title={SignalTrain: Profiling Audio Compressors with Deep Neural Networks},
  author={Hawley, Scott H and Colburn, Benjamin and Mimilakis, Stylianos Ioannis},
  booktitle={AES Convention 147}, year={2019}}"""


def split_root(home: Path) -> Path:
    if any((home / s).is_dir() for s in SPLITS):
        return home
    subs = [d for d in sorted(home.iterdir()) if d.is_dir() and any((d / s).is_dir() for s in SPLITS)] \
        if home.is_dir() else []
    return subs[0] if len(subs) == 1 else home


def scan(home: Path, checksums: bool = False):
    """Scan a SignalTrain LA2A copy: ``(index, metadata, problems)``."""
    root = split_root(home)
    tracks, metadata, problems, seen = {}, {}, [], {}
    for sdir_name, split in SPLITS.items():
        sdir = root / sdir_name
        if not sdir.is_dir():
            continue
        inputs, targets = {}, {}
        for f in sorted(sdir.glob("*.wav")):
            if m := INPUT_RE.match(f.name):
                inputs[m.group(1)] = f
            elif m := TARGET_RE.match(f.name):
                targets.setdefault(m.group(1), []).append((f, m))
            else:
                problems.append(Problem(f.stem, str(f), "unrecognised SignalTrain file name"))
        for pid in sorted(set(inputs) | set(targets), key=lambda s: (len(s), s)):
            if pid not in targets:
                problems.append(Problem(pid, str(inputs[pid]), f"unpaired: input {pid} has no target in {sdir_name}/"))
                continue
            if pid not in inputs:
                problems.append(Problem(pid, str(targets[pid][0][0]), f"unpaired: target {pid} has no input in {sdir_name}/"))
                continue
            if len(targets[pid]) > 1:
                problems.append(Problem(pid, str(targets[pid][1][0]), f"input {pid} has {len(targets[pid])} targets"))
                continue
            if pid in seen:
                problems.append(Problem(pid, str(inputs[pid]), f"id {pid} found in both {seen[pid]}/ and {sdir_name}/"))
                tracks.pop(pid, None)
                continue
            seen[pid] = sdir_name
            tfile, m = targets[pid][0]
            tracks[pid] = {"input": file_entry(home, inputs[pid], checksums),
                           "target": file_entry(home, tfile, checksums)}
            metadata[pid] = {"split": split, "unit": m.group(2), "limit": int(m.group(3)),
                             "peak_reduction": float(m.group(4))}
    return {"version": "scan", "tracks": tracks}, metadata, problems


class Track(core.Track):
    """One SignalTrain input/target pair.

    Attributes:
        track_id (str): the pair's number, e.g. ``138``
        input_path, target_path (str): absolute paths
        split (str): ``train`` / ``val`` / ``test`` (the dataset's own split)
        unit (str): LA-2A unit name; limit (int): 0 compress, 1 limit; peak_reduction (float): 0-100
    """

    def __init__(self, track_id, data_home, dataset_name, index, metadata):
        super().__init__(track_id, data_home, dataset_name, index, metadata)
        self.input_path = self.get_path("input")
        self.target_path = self.get_path("target")
        m = self._track_metadata
        self.split, self.unit, self.limit, self.peak_reduction = m["split"], m["unit"], m["limit"], m["peak_reduction"]

    @property
    def audio(self) -> tuple[np.ndarray, float]:
        """(np.ndarray, float): the input as float32 ``(channels, frames)`` and its sample rate."""
        import soundfile as sf

        y, sr = sf.read(self.input_path, dtype="float32", always_2d=True)
        return y.T, float(sr)

    @property
    def target(self) -> tuple[np.ndarray, float]:
        """(np.ndarray, float): the LA-2A output as float32 ``(channels, frames)`` and its sample rate."""
        import soundfile as sf

        y, sr = sf.read(self.target_path, dtype="float32", always_2d=True)
        return y.T, float(sr)

    def read_exact(self, which: str = "input", start: int = 0, frames: int = -1) -> np.ndarray:
        return dmc_audio.read_segment(self.input_path if which == "input" else self.target_path, start, frames)


class Dataset(ScannedIndex, core.Dataset):
    """SignalTrain LA2A, indexed by scanning ``data_home`` (default ``$SIGNALTRAIN_PATH`` else
    ``~/mir_datasets/signaltrain``). See :class:`dmcdata.loaders.medleydb.Dataset` for the arguments."""

    NAME, BIBTEX, LICENSE, TRACK_CLASS = NAME, BIBTEX, LICENSE, Track

    def _scan(self, home: Path, checksums: bool):
        return scan(home, checksums)

    def get_track_splits(self) -> dict:
        """The dataset's own split: ``{'train': [ids], 'val': [...], 'test': [...]}``."""
        out = {"train": [], "val": [], "test": []}
        for tid in self.track_ids:
            out[self._metadata[tid]["split"]].append(tid)
        return out
