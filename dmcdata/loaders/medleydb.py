"""MedleyDB (V1 / V2) multitrack loader, index built by scanning the user's copy.

Accepted data homes: a folder holding ``Audio/`` (the V1 download), ``V1/`` and/or ``V2/``
(the V2 download), or the folder of song folders itself. Each song folder ``<Song>/`` holds
``<Song>_METADATA.yaml`` (or it sits in ``<home>/Metadata/``), the mix, ``<stem_dir>/`` and
``<raw_dir>/``. Every file name is read from the YAML (``mix_filename``, ``stems.Sxx.filename``,
``stems.Sxx.raw.Ryy.filename``), never rebuilt from a pattern: one song's raw files are numbered
``RAW_01_03``/``RAW_01_04`` under ``R01``/``R02``.

Quirks handled: ``instrument`` may be a string or a list (``Track.instruments`` is always a
list, ``Track.instrument`` the first entry); ``has_bleed``/``instrumental``/``excerpt`` are
'yes'/'no' strings (turned into bools).

Track ids are the audio file names without ``.wav`` (``<Song>_STEM_01``, ``<Song>_RAW_01_02``);
multitrack ids are song names. ``multitrack(id).tracks`` are the stems (their sum is the mix);
``multitrack(id).raw_tracks`` the raw recordings.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from mirdata import core

from dmcdata.loaders import AudioFileTrack, LoaderError, Problem, ScannedIndex, file_entry

NAME = "medleydb"
ROOTS = ("Audio", "V1", "V2")
BIBTEX = """@inproceedings{bittner2014medleydb,
  title={MedleyDB: A Multitrack Dataset for Annotation-Intensive MIR Research},
  author={Bittner, Rachel M and Salamon, Justin and Tierney, Mike and Mauch, Matthias and Cannam, Chris and Bello, Juan Pablo},
  booktitle={ISMIR}, year={2014}}"""
LICENSE = "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 (audio); metadata MIT"


def yes_no(value, field: str, where: str) -> bool:
    """MedleyDB's 'yes'/'no' strings (and real bools) as bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower() == "yes"
    raise ValueError(f"{where}: field {field!r} should be 'yes' or 'no', got {value!r}")


def instrument_list(value, where: str) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{where}: field 'instrument' should be a name or a list of names, got {value!r}")


def song_folders(home: Path) -> list[tuple[Path, Path]]:
    """(root, song folder) pairs under the accepted roots, sorted by song name then root."""
    roots = [home / r for r in ROOTS if (home / r).is_dir()] or [home]
    out = []
    for root in roots:
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            name = d.name
            if (d / f"{name}_METADATA.yaml").exists() or (d / f"{name}_MIX.wav").exists() \
                    or (d / f"{name}_STEMS").is_dir() or (d / f"{name}_RAW").is_dir():
                out.append((root, d))
    return out


def find_yaml(home: Path, song_dir: Path) -> Path | None:
    name = song_dir.name
    for cand in (song_dir / f"{name}_METADATA.yaml", home / "Metadata" / f"{name}_METADATA.yaml"):
        if cand.is_file():
            return cand
    return None


def relative_name(value, field: str, where: str) -> str:
    """A file or folder name from the YAML that stays inside the song folder: a non-empty relative
    path without ``..``, NUL or a drive/absolute root. Raises ``ValueError`` naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: field {field!r} should be a file name, got {value!r}")
    p = Path(value)
    if "\0" in value or p.is_absolute() or value.startswith(("/", "\\")) or ".." in p.parts \
            or ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"{where}: field {field!r} is {value!r}, which leaves the song folder "
                         f"(names must be relative, without '..')")
    return value


def parse_song_yaml(path: Path, song: str) -> dict:
    """Parse and check one ``_METADATA.yaml``; raises ``ValueError`` naming file and field."""
    try:
        with open(path, encoding="utf-8") as f:
            meta = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: malformed YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: malformed YAML: top level is not a mapping")
    for field in ("mix_filename", "stem_dir", "raw_dir", "stems"):
        if field not in meta:
            raise ValueError(f"{path}: missing field {field!r}")
    if not isinstance(meta["stems"], dict) or not meta["stems"]:
        raise ValueError(f"{path}: field 'stems' should be a non-empty mapping")
    for field in ("mix_filename", "stem_dir", "raw_dir"):
        relative_name(meta[field], field, str(path))
    if any(not isinstance(k, str) for k in meta["stems"]):
        raise ValueError(f"{path}: field 'stems' should have names like S01 as keys, got {list(meta['stems'])!r}")
    stems = []
    for sk in sorted(meta["stems"]):
        s = meta["stems"][sk]
        where = f"{path}: stems.{sk}"
        if not isinstance(s, dict) or s.get("filename") is None:
            raise ValueError(f"{where}: missing field 'filename'")
        relative_name(s["filename"], "filename", where)
        raw = s.get("raw") or {}
        if not isinstance(raw, dict) or any(not isinstance(k, str) for k in raw):
            raise ValueError(f"{where}: field 'raw' should be a mapping like R01: {{filename: ...}}, got {raw!r}")
        raws = []
        for rk in sorted(raw):
            r = raw[rk]
            if not isinstance(r, dict) or r.get("filename") is None:
                raise ValueError(f"{where}.raw.{rk}: missing field 'filename'")
            relative_name(r["filename"], "filename", f"{where}.raw.{rk}")
            raws.append({"raw_key": rk, "filename": r["filename"],
                         "instruments": instrument_list(r.get("instrument", s.get("instrument")), f"{where}.raw.{rk}")})
        stems.append({"stem_key": sk, "filename": s["filename"],
                      "instruments": instrument_list(s.get("instrument"), where),
                      "component": s.get("component") or "", "raw": raws})
    return {
        "song": song,
        "artist": str(meta.get("artist") or ""),
        "title": str(meta.get("title") or ""),
        "genre": str(meta.get("genre") or ""),
        "has_bleed": yes_no(meta.get("has_bleed", "no"), "has_bleed", str(path)),
        "instrumental": yes_no(meta.get("instrumental", "no"), "instrumental", str(path)),
        "excerpt": yes_no(meta.get("excerpt", "no"), "excerpt", str(path)),
        "version": str(meta.get("version") or ""),
        "mix_filename": meta["mix_filename"],
        "stem_dir": meta["stem_dir"],
        "raw_dir": meta["raw_dir"],
        "stems": stems,
    }


def scan(home: Path, checksums: bool = False):
    """Scan a MedleyDB copy: ``(index, metadata, problems)`` (see module docstring)."""
    tracks, mtracks, metadata, problems = {}, {}, {}, []
    for root, d in song_folders(home):
        song = d.name
        if song in mtracks or any(p.item == song for p in problems):
            problems.append(Problem(song, str(d), f"song {song} found twice (also under another root)"))
            continue
        ypath = find_yaml(home, d)
        if ypath is None:
            problems.append(Problem(song, str(d / f"{song}_METADATA.yaml"), "missing metadata YAML"))
            continue
        try:
            meta = parse_song_yaml(ypath, song)
            song_tracks, song_meta, stem_ids, raw_ids = song_entries(home, d, meta, checksums)
            clash = sorted(set(song_tracks) & set(tracks)) or sorted(t for t in set(stem_ids + raw_ids)
                                                                     if (stem_ids + raw_ids).count(t) > 1)
            if clash:
                raise ValueError(f"{ypath}: track file {clash[0]}.wav is named twice (in this song or "
                                 f"another one): every stem and raw file name must be unique")
            mix = file_entry(home, d / meta["mix_filename"], checksums)
        except (ValueError, TypeError, OSError) as e:
            problems.append(Problem(song, str(ypath), str(e)))
            continue
        tracks.update(song_tracks)
        metadata.update(song_meta)
        mtracks[song] = {"tracks": stem_ids, "mix": mix}
        metadata[song] = {k: v for k, v in meta.items() if k != "stems"}
        metadata[song].update(stem_ids=stem_ids, raw_ids=raw_ids, root=root.relative_to(home).as_posix(),
                              metadata_file=ypath.relative_to(home).as_posix() if ypath.is_relative_to(home) else str(ypath))
    index = {"version": "scan", "tracks": tracks, "multitracks": mtracks}
    return index, metadata, problems


def song_entries(home: Path, d: Path, meta: dict, checksums: bool):
    """Index entries and metadata of one parsed song: ``(tracks, metadata, stem_ids, raw_ids)``."""
    tracks, metadata, stem_ids, raw_ids = {}, {}, [], []
    song = meta["song"]
    for s in meta["stems"]:
        tid = Path(s["filename"]).stem
        tracks[tid] = {"audio": file_entry(home, d / meta["stem_dir"] / s["filename"], checksums)}
        metadata[tid] = {"song": song, "kind": "stem", "stem_key": s["stem_key"],
                         "instruments": s["instruments"], "component": s["component"]}
        stem_ids.append(tid)
        for r in s["raw"]:
            rid = Path(r["filename"]).stem
            tracks[rid] = {"audio": file_entry(home, d / meta["raw_dir"] / r["filename"], checksums)}
            metadata[rid] = {"song": song, "kind": "raw", "stem_key": s["stem_key"], "raw_key": r["raw_key"],
                             "instruments": r["instruments"], "component": s["component"]}
            raw_ids.append(rid)
    return tracks, metadata, stem_ids, raw_ids


class Track(AudioFileTrack, core.Track):
    """MedleyDB stem or raw track.

    Attributes:
        track_id (str): file name without ``.wav``, e.g. ``AClassicEducation_NightOwl_STEM_01``
        audio_path (str): absolute path of the WAV file
        song (str): multitrack id
        kind (str): ``stem`` or ``raw``
        instruments (list[str]): instrument names from the YAML (always a list)
        instrument (str): the first of ``instruments``
        component (str): ``melody``, ``bass`` or ``''``
    """

    def __init__(self, track_id, data_home, dataset_name, index, metadata):
        super().__init__(track_id, data_home, dataset_name, index, metadata)
        self.audio_path = self.get_path("audio")
        m = self._track_metadata
        self.song = m["song"]
        self.kind = m["kind"]
        self.instruments = list(m["instruments"])
        self.instrument = self.instruments[0]
        self.component = m["component"]


class MultiTrack(core.MultiTrack):
    """MedleyDB song: stems (``tracks``), raw recordings (``raw_tracks``) and the mix.

    Attributes:
        mtrack_id (str): song name, e.g. ``AClassicEducation_NightOwl``
        mix_path (str): absolute path of ``<Song>_MIX.wav``
        artist, title, genre (str); has_bleed, instrumental, excerpt (bool)
    """

    def __init__(self, mtrack_id, data_home, dataset_name, index, track_class, metadata):
        super().__init__(mtrack_id, data_home, dataset_name, index, track_class, metadata)
        self.mix_path = self.get_path("mix")
        m = self._multitrack_metadata
        self.artist, self.title, self.genre = m["artist"], m["title"], m["genre"]
        self.has_bleed, self.instrumental, self.excerpt = m["has_bleed"], m["instrumental"], m["excerpt"]
        self.raw_track_ids = list(m["raw_ids"])

    @property
    def raw_tracks(self) -> dict:
        return {t: self._track_class(t, self._data_home, self._dataset_name, self._index, self._metadata)
                for t in self.raw_track_ids}

    @property
    def track_audio_property(self):
        return "audio"

    def input_tracks(self, kind: str = "stems") -> dict:
        """The stems (``kind='stems'``) or the raw recordings (``kind='raw'``)."""
        if kind not in ("stems", "raw"):
            raise ValueError(f"kind must be 'stems' or 'raw', got {kind!r}")
        return self.tracks if kind == "stems" else self.raw_tracks


class Dataset(ScannedIndex, core.Dataset):
    """MedleyDB multitrack dataset (V1 and V2), indexed by scanning ``data_home``.

    Args:
        data_home: the copy's folder; default ``$MEDLEYDB_PATH`` else ``~/mir_datasets/medleydb``
        checksums: also compute the md5 of every file (reads all the audio: minutes for the real
            dataset). Off by default: the md5s come from this very copy, so they only serve to detect
            later changes, through ``save_index`` now and ``validate`` on ``Dataset(home, index_path=...)``
            later. Without them ``validate`` checks that every file exists.
        index_path: reuse an index written by ``save_index`` instead of scanning
    """

    NAME, BIBTEX, LICENSE, TRACK_CLASS = NAME, BIBTEX, LICENSE, Track
    MULTITRACK_CLASS = MultiTrack

    def _scan(self, home: Path, checksums: bool):
        return scan(home, checksums)


__all__ = ["Dataset", "MultiTrack", "Track", "LoaderError", "scan", "parse_song_yaml"]
