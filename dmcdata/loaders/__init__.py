"""mirdata-style loaders for the three datasets dmc ingests.

mirdata 1.0 ships no loader and no index for MedleyDB (multitrack), ENST-drums or SignalTrain
LA2A, so each loader here builds its index by scanning the user's own copy. The index follows
mirdata's JSON schema::

    {"version": "scan", "tracks": {track_id: {"audio": [relative_path, md5 or null]}},
     "multitracks": {mtrack_id: {"tracks": [track_id, ...], "mix": [relative_path, md5]}}}

so ``validate()``, ``track(id)``, ``multitrack(id).tracks`` and friends work as mirdata users
expect. By default no md5 is computed (``validate`` then reports missing files): a scan only
reads the metadata and lists files, so ``Dataset(home).select(...)`` is quick on the real data.
``checksums=True`` also hashes every file (reads all the audio), and with ``save_index`` /
``index_path`` a later ``validate`` detects files changed since.

Items that cannot be used (a malformed YAML, a take missing a microphone, an unpaired file)
are kept out of the index and listed in ``dataset.problems`` as :class:`Problem` rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dmcdata.shards import file_digest

ENV_VARS = {"medleydb": "MEDLEYDB_PATH", "enst_drums": "ENST_DRUMS_PATH", "signaltrain": "SIGNALTRAIN_PATH"}


class LoaderError(Exception):
    """The data home or an index cannot be used; the message names the path and the problem."""


@dataclass(frozen=True)
class Problem:
    """One unusable item found while scanning: ``item`` is the song / take / pair id."""

    item: str
    file: str | None
    reason: str


def resolve_data_home(name: str, data_home: str | os.PathLike | None = None) -> str:
    """``data_home`` if given, else the dataset's environment variable, else ``~/mir_datasets/<name>``."""
    if data_home:
        return str(Path(data_home).expanduser())
    env = os.environ.get(ENV_VARS.get(name, ""), "")
    if env:
        return str(Path(env).expanduser())
    return os.path.join(os.getenv("HOME", "/tmp"), "mir_datasets", name)


class AudioFileTrack:
    """Mixin for a mirdata ``Track`` backed by one audio file at ``self.audio_path``."""

    audio_path: str

    @property
    def audio(self):
        """(np.ndarray, float): float32 audio ``(channels, frames)`` in [-1, 1] and sample rate in Hz."""
        import soundfile as sf

        from dmcdata import audio as dmc_audio

        dmc_audio.check_wav_complete(self.audio_path)  # a truncated WAV raises, never reads short
        y, sr = sf.read(self.audio_path, dtype="float32", always_2d=True)
        return y.T, float(sr)

    def read_exact(self, start: int = 0, frames: int = -1):
        """Samples ``(frames, channels)`` exactly as stored (see :mod:`dmcdata.audio`)."""
        from dmcdata import audio as dmc_audio

        return dmc_audio.read_segment(self.audio_path, start, frames)


def md5_file(path: str | os.PathLike) -> str:
    """md5 of a file, as mirdata indexes record it."""
    return file_digest(path, "md5")


def file_entry(data_home: Path, path: Path, checksums: bool) -> list:
    """mirdata index entry ``[relative_path, md5]`` (md5 is None when not computed or missing)."""
    rel = path.relative_to(data_home).as_posix()
    md5 = md5_file(path) if checksums and path.is_file() else None
    return [rel, md5]


def load_index_file(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise LoaderError(f"{path}: cannot read index: {e}") from None
    if not isinstance(index, dict) or "tracks" not in index:
        raise LoaderError(f"{path}: not a mirdata index (no 'tracks')")
    return index


def save_index_file(index: dict, path: str | os.PathLike) -> None:
    from dmcdata.shards import write_atomic

    write_atomic(path, json.dumps(index, indent=1, sort_keys=True).encode())


class ScannedIndex:
    """Mixin for ``mirdata.core.Dataset`` subclasses whose index comes from a scan.

    Subclasses set ``NAME``, ``BIBTEX``, ``LICENSE``, ``TRACK_CLASS`` (and ``MULTITRACK_CLASS``) and
    implement ``_scan(data_home: Path, checksums: bool) -> (index, metadata, problems)``.
    """

    NAME: str
    BIBTEX: str
    LICENSE: str
    TRACK_CLASS: type
    MULTITRACK_CLASS: type | None = None
    _scan_result = None

    def __init__(self, data_home=None, checksums: bool = False, index_path: str | None = None):
        from mirdata import core

        self._checksums = checksums
        self._index_file = index_path
        super().__init__(data_home=resolve_data_home(self.NAME, data_home), version="default", name=self.NAME,
                         track_class=self.TRACK_CLASS, multitrack_class=self.MULTITRACK_CLASS,
                         bibtex=self.BIBTEX, indexes={"default": "scan", "scan": core.Index(f"{self.NAME}_scan.json")},
                         license_info=self.LICENSE)

    def _scan_once(self):
        if self._scan_result is None:
            home = Path(self.data_home)
            if not home.is_dir():
                raise LoaderError(f"{home}: data home of {self.name} does not exist "
                                  f"(use --data-home or ${ENV_VARS.get(self.name, '')})")
            self._scan_result = self._scan(home, self._checksums and not self._index_file)
        return self._scan_result

    _loaded_index = None

    @property
    def _index(self):
        if self._index_file:
            if self._loaded_index is None:
                self._loaded_index = load_index_file(self._index_file)
            return self._loaded_index
        return self._scan_once()[0]

    @property
    def _metadata(self):
        """Per-item metadata keyed by track id and multitrack id (mirdata's convention)."""
        return self._scan_once()[1]

    def select(self, selection) -> list[str]:
        """Multitrack (or track) ids named by ``selection``: a manifest DataFrame (its ``song``
        column, e.g. ``pd.read_parquet(m).query("n_tracks <= 16")``) or an iterable of ids.
        Unknown ids raise :class:`LoaderError`."""
        if hasattr(selection, "columns"):
            if "song" not in selection.columns:
                raise LoaderError(f"{self.name}: the selection has no 'song' column (it has "
                                  f"{', '.join(map(str, selection.columns))}): pass manifest rows or song ids")
            ids = selection["song"].tolist()
        elif isinstance(selection, str):
            raise LoaderError(f"{self.name}: select() takes manifest rows (a DataFrame) or a list of ids, not the "
                              f"string {selection!r}; query the manifest with pandas first")
        else:
            ids = list(selection)
        known = self._index.get("multitracks") or self._index["tracks"]
        out = []
        for i in ids:
            if i not in known:
                raise LoaderError(f"{self.name}: {i!r} is not in the index of {self.data_home}")
            if i not in out:
                out.append(i)
        return out

    @property
    def problems(self) -> list[Problem]:
        return list(self._scan_once()[2])

    def validate(self, verbose: bool = True):
        """mirdata's ``(missing_files, invalid_checksums)``, by section and id. Entries whose md5
        was not computed (``checksums=False``) are only checked for existence."""
        import logging

        missing, invalid = {}, {}
        for section in ("tracks", "multitracks"):
            if section not in self._index:
                continue
            missing[section], invalid[section] = {}, {}
            for item_id, entry in self._index[section].items():
                for key, value in entry.items():
                    if key == "tracks" or not value or value[0] is None:
                        continue
                    path = os.path.join(self.data_home, value[0])
                    if not os.path.isfile(path):
                        missing[section].setdefault(item_id, []).append(path)
                    elif value[1] is not None and md5_file(path) != value[1]:
                        invalid[section].setdefault(item_id, []).append(path)
        if verbose:
            for kind, found in (("missing", missing), ("invalid checksum", invalid)):
                for section in found.values():
                    for paths in section.values():
                        for p in paths:
                            logging.warning("%s: %s", kind, p)
        return missing, invalid

    def save_index(self, path: str | os.PathLike) -> None:
        """Write the scanned index as mirdata JSON (reuse it with ``index_path=``)."""
        save_index_file(self._index, path)
