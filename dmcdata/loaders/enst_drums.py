"""ENST-drums multitrack loader, index built by scanning the user's copy.

Layout: ``<home>/drummer_N/audio/<channel>/<take>.wav`` where the channels are single
microphones (``kick``, ``snare``, ``hi-hat``, ``overhead_L``, ``overhead_R``, ``tom_1``,
``tom_2``, and ``tom_3`` for drummers whose kit has it) and two stereo mixes: ``dry_mix``
(gain and pan only) and ``wet_mix`` (the engineer's mix with EQ, compression, reverb).
``accompaniment/`` (backing music) is not a drum channel and is ignored.

A drummer's channel set is every channel folder that holds any of that drummer's takes; a take
lacking one of them is unusable and listed in ``problems`` (a drummer without ``tom_3`` at
all is normal). Multitrack id: ``<drummer>_<take>``; its ``tracks`` are the microphones,
``mix`` the wet mix and ``dry_mix`` the dry mix.
"""

from __future__ import annotations

from pathlib import Path

from mirdata import core

from dmcdata.loaders import AudioFileTrack, Problem, ScannedIndex, file_entry

NAME = "enst_drums"
MIC_ORDER = ("kick", "snare", "hi-hat", "overhead_L", "overhead_R", "tom_1", "tom_2", "tom_3")
MIX_DIRS = ("wet_mix", "dry_mix")
IGNORED_DIRS = ("accompaniment",)
INSTRUMENTS = {"kick": "kick drum", "snare": "snare drum", "hi-hat": "hi-hat", "overhead_L": "overheads",
               "overhead_R": "overheads", "tom_1": "toms", "tom_2": "toms", "tom_3": "toms"}
LICENSE = "ENST-drums licence agreement (research use)"
BIBTEX = """@inproceedings{gillet2006enst,
  title={ENST-Drums: an extensive audio-visual database for drum signals processing},
  author={Gillet, Olivier and Richard, Ga{\\"e}l}, booktitle={ISMIR}, year={2006}}"""


def mic_sort_key(name: str):
    return (MIC_ORDER.index(name), "") if name in MIC_ORDER else (len(MIC_ORDER), name)


def scan(home: Path, checksums: bool = False):
    """Scan an ENST-drums copy: ``(index, metadata, problems)``."""
    tracks, mtracks, metadata, problems = {}, {}, {}, []
    drummers = sorted(d for d in home.iterdir() if d.is_dir() and d.name.startswith("drummer_")) \
        if home.is_dir() else []
    for ddir in drummers:
        drummer = ddir.name
        adir = ddir / "audio"
        if not adir.is_dir():
            problems.append(Problem(drummer, str(adir), "missing audio folder"))
            continue
        channels = {}
        for cdir in sorted(p for p in adir.iterdir() if p.is_dir() and p.name not in IGNORED_DIRS):
            takes = {f.stem for f in cdir.glob("*.wav")}
            if takes:
                channels[cdir.name] = takes
        mics = sorted((c for c in channels if c not in MIX_DIRS), key=mic_sort_key)
        all_takes = sorted(set().union(*channels.values())) if channels else []
        for take in all_takes:
            mid = f"{drummer}_{take}"
            missing = [c for c in list(mics) + [m for m in MIX_DIRS if m in channels] if take not in channels[c]]
            if missing:
                problems.append(Problem(mid, str(adir / missing[0] / f"{take}.wav"),
                                        f"take {take} of {drummer} lacks channel(s) {', '.join(missing)} "
                                        f"that the drummer's other takes have"))
                continue
            if "wet_mix" not in channels:
                problems.append(Problem(mid, str(adir / "wet_mix" / f"{take}.wav"), "no wet_mix for this drummer"))
                continue
            ids = []
            for mic in mics:
                tid = f"{mid}_{mic}"
                tracks[tid] = {"audio": file_entry(home, adir / mic / f"{take}.wav", checksums)}
                metadata[tid] = {"song": mid, "drummer": drummer, "take": take, "mic": mic,
                                 "instrument": INSTRUMENTS.get(mic, mic)}
                ids.append(tid)
            entry = {"tracks": ids, "mix": file_entry(home, adir / "wet_mix" / f"{take}.wav", checksums)}
            if "dry_mix" in channels:
                entry["dry_mix"] = file_entry(home, adir / "dry_mix" / f"{take}.wav", checksums)
            mtracks[mid] = entry
            metadata[mid] = {"drummer": drummer, "take": take, "mics": mics}
    return {"version": "scan", "tracks": tracks, "multitracks": mtracks}, metadata, problems


class Track(AudioFileTrack, core.Track):
    """One microphone of one ENST-drums take.

    Attributes:
        track_id (str): ``<drummer>_<take>_<mic>``
        audio_path (str): absolute path of the WAV file
        drummer, take, mic (str); instrument (str): e.g. ``snare drum``
    """

    def __init__(self, track_id, data_home, dataset_name, index, metadata):
        super().__init__(track_id, data_home, dataset_name, index, metadata)
        self.audio_path = self.get_path("audio")
        m = self._track_metadata
        self.drummer, self.take, self.mic, self.instrument = m["drummer"], m["take"], m["mic"], m["instrument"]


class MultiTrack(core.MultiTrack):
    """One ENST-drums take: microphones (``tracks``), ``mix_path`` (wet mix), ``dry_mix_path``."""

    def __init__(self, mtrack_id, data_home, dataset_name, index, track_class, metadata):
        super().__init__(mtrack_id, data_home, dataset_name, index, track_class, metadata)
        self.mix_path = self.get_path("mix")
        self.dry_mix_path = self.get_path("dry_mix") if "dry_mix" in self._multitrack_paths else None
        m = self._multitrack_metadata
        self.drummer, self.take = m["drummer"], m["take"]

    @property
    def track_audio_property(self):
        return "audio"


class Dataset(ScannedIndex, core.Dataset):
    """ENST-drums, indexed by scanning ``data_home`` (default ``$ENST_DRUMS_PATH`` else
    ``~/mir_datasets/enst_drums``). See :class:`dmcdata.loaders.medleydb.Dataset` for the arguments."""

    NAME, BIBTEX, LICENSE, TRACK_CLASS = NAME, BIBTEX, LICENSE, Track
    MULTITRACK_CLASS = MultiTrack

    def _scan(self, home: Path, checksums: bool):
        return scan(home, checksums)
