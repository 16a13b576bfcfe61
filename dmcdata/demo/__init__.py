"""The built-in demo corpus: MedleyDB, ENST-drums and SignalTrain LA2A look-alikes, written
procedurally and deterministically from one seed in the real datasets' on-disk layouts.

``write_demo(out, DemoConfig(seed=0))`` is what ``dmcdata demo`` runs. Randomness: one seed;
every song / take / pair draws from its own ``np.random.Generator`` seeded by
``SeedSequence(seed, spawn_key=(dataset, item…))``, so the same seed gives byte-identical files,
and asking for more songs (or only one dataset) leaves the other items unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

DATASETS = ("medleydb", "enst-drums", "signaltrain")
MARKER = "demo_corpus.json"


class DemoError(ValueError):
    """Bad demo options or an output folder the demo must not touch; the message says which."""


@dataclass
class DemoConfig:
    seed: int = 0
    only: tuple = DATASETS
    songs: int = 2
    song_seconds: float = 15.0
    min_stems: int = 3
    max_stems: int = 8
    enst_takes: int = 1
    enst_seconds: float = 8.0
    signaltrain_pairs: int = 6
    signaltrain_seconds: float = 4.0

    def check(self) -> "DemoConfig":
        bad = [d for d in self.only if d not in DATASETS]
        if bad or not self.only:
            raise DemoError(f"--only: unknown dataset(s) {', '.join(bad) or '(none given)'}; "
                            f"choose from {', '.join(DATASETS)}")
        if self.seed < 0:
            raise DemoError(f"--seed must be >= 0, got {self.seed}")
        if self.songs < 1 or self.enst_takes < 1 or self.signaltrain_pairs < 3:
            raise DemoError("--songs and --enst-takes must be >= 1 and --signaltrain-pairs >= 3 "
                            f"(got {self.songs}, {self.enst_takes}, {self.signaltrain_pairs})")
        if not 3 <= self.min_stems <= self.max_stems <= 12:
            raise DemoError(f"--min-stems/--max-stems must satisfy 3 <= min <= max <= 12 "
                            f"(got {self.min_stems}, {self.max_stems})")
        for name in ("song_seconds", "enst_seconds", "signaltrain_seconds"):
            v = getattr(self, name)
            if not 2.0 <= v <= 600.0:
                raise DemoError(f"--{name.replace('_', '-')} must be between 2 and 600 s, got {v}")
        return self


@dataclass
class DatasetSummary:
    name: str
    root: str
    items: int = 0
    files: int = 0
    bytes: int = 0
    audio_seconds: float = 0.0
    wall_s: float = 0.0
    detail: str = ""

    def add(self, written, audio_seconds: float) -> None:
        """Count one written item (a song, take or pair) with its files, bytes and seconds of audio."""
        self.items += 1
        self.files += len(written.files)
        self.bytes += written.bytes
        self.audio_seconds += audio_seconds


@dataclass
class DemoSummary:
    out: str
    seed: int
    renderer: str
    datasets: list = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.datasets)

    @property
    def files(self) -> int:
        return sum(d.files for d in self.datasets)


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """The generator of one item: ``SeedSequence(seed, spawn_key=key)``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


def _marker_doc(out: Path) -> dict | None:
    """``DIR/demo_corpus.json`` if it is a marker written by ``dmcdata demo``, else None."""
    try:
        doc = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not str(doc.get("what", "")).startswith("dmc demo corpus"):
        return None
    return doc


def _demo_roots(out: Path) -> set:
    """Dataset folders that ``DIR/demo_corpus.json`` says an earlier ``dmcdata demo`` wrote."""
    roots = (_marker_doc(out) or {}).get("roots", {})
    return {d for d in roots if d in DATASETS} if isinstance(roots, dict) else set()


def _demo_files(out: Path) -> dict[str, set]:
    """Per dataset folder, the files (paths relative to DIR) the marker records as written by the demo."""
    files = (_marker_doc(out) or {}).get("files", {})
    if not isinstance(files, dict):
        return {}
    return {d: {str(f) for f in v} for d, v in files.items() if d in DATASETS and isinstance(v, list)}


def _foreign_file(out: Path, folder: Path, recorded: set) -> Path | None:
    """The first file under ``folder`` that the marker does not record as the demo's (its own
    temporary ``.partial`` files of atomic writes count as the demo's), or None."""
    from dmcdata.shards import temp_target

    for p in sorted(folder.rglob("*")):
        if p.is_dir() and not p.is_symlink():
            continue
        if p.relative_to(out).as_posix() not in recorded and (temp_target(p.name) is None or p.is_symlink()):
            return p
    return None


def _remove_demo_folder(folder: Path) -> None:
    """Delete a checked dataset folder of an earlier demo: its files, then its emptied folders."""
    for p in sorted(folder.rglob("*")):
        if not p.is_dir() or p.is_symlink():
            p.unlink()
    for d in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        d.rmdir()
    folder.rmdir()


def _prepare(out: Path, only: tuple, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {str(out)!r} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DemoError(f"--out {str(out)!r}: cannot create the output folder ({e.strerror or e})") from None
    marker = out / MARKER
    if (marker.exists() or marker.is_symlink()) and _marker_doc(out) is None:
        raise DemoError(f"{marker} exists but is not a marker of `dmcdata demo`; refusing to replace it")
    for d in only:
        if (out / d).exists() and not (out / d).is_dir():
            raise DemoError(f"{out / d} exists and is not a folder; refusing to replace it")
    busy = [out / d for d in only if (out / d).is_dir() and any((out / d).iterdir())]
    if not busy:
        return
    if not overwrite:
        raise DemoError(f"{busy[0]} exists and is not empty; pass --overwrite to replace it "
                        f"(only files written by an earlier `dmcdata demo` are removed)")
    if not marker.is_file():
        raise DemoError(f"{busy[0]} exists but {marker} does not: not a demo corpus, refusing to delete it")
    ours = _demo_roots(out)
    foreign = [d for d in busy if d.name not in ours]
    if foreign:
        raise DemoError(f"{foreign[0]} exists but {marker} does not list it as written by `dmcdata demo`; "
                        f"refusing to delete it")
    recorded = _demo_files(out)
    for d in busy:  # check every folder before deleting anything
        odd = _foreign_file(out, d, recorded.get(d.name, set()))
        if odd is not None:
            raise DemoError(f"{odd} is not a file `dmcdata demo` recorded writing; refusing to delete {d} "
                            f"(move your files out of it or use another --out)")
    for d in busy:
        _remove_demo_folder(d)


def _write_marker(out: Path, cfg: DemoConfig, renderer: str, complete: bool, files: dict | None = None) -> None:
    """``DIR/demo_corpus.json``. ``roots`` lists every dataset folder a ``dmcdata demo`` wrote here
    (this run's and earlier runs' that still exist) and ``files`` every file in them the demo wrote
    (updated after each item): ``--overwrite`` deletes only those."""
    from dmcdata.shards import write_atomic

    earlier = _demo_files(out)
    written = set(cfg.only) | {d for d in _demo_roots(out) if (out / d).is_dir()}
    files = files or {}
    recorded = {d: sorted(files.get(d, set()) if d in cfg.only else earlier.get(d, set()))
                for d in DATASETS if d in written}

    doc = {"what": "dmc demo corpus (procedural; not real recordings)", "complete": complete,
           "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
           "renderer": renderer, "sample_rate": 44100,
           "roots": {d: d for d in DATASETS if d in written},
           "files": recorded,
           "formats": {"medleydb": "stems/raw mono, mix stereo; 16-bit PCM WAV",
                       "enst-drums": "mics mono, dry_mix/wet_mix stereo; 16-bit PCM WAV",
                       "signaltrain": "mono 32-bit float WAV"}}
    write_atomic(out / MARKER, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())


def write_demo(out, cfg: DemoConfig | None = None, overwrite: bool = False, progress: bool = True) -> DemoSummary:
    """Write the demo corpus under ``out`` and return what was written (see module doc)."""
    from tqdm import tqdm

    from dmcdata.console import IRBank

    from . import enst, medleydb, signaltrain
    from .instruments import NoteRenderer

    cfg = (cfg or DemoConfig()).check()
    out = Path(out)
    _prepare(out, cfg.only, overwrite)
    total = ((cfg.songs if "medleydb" in cfg.only else 0)
             + (3 * cfg.enst_takes if "enst-drums" in cfg.only else 0)
             + (cfg.signaltrain_pairs if "signaltrain" in cfg.only else 0))
    bar = tqdm(total=total, desc="demo corpus", unit="item", disable=not progress, dynamic_ncols=True)
    bar.set_postfix_str("loading the SoundFont and the console")
    R = NoteRenderer()
    if R.sf is None:
        import sys

        print("dmcdata demo: warning: the SoundFont TimGM6mb.sf2 (shipped with pretty_midi) could not be "
              "loaded; rendering with the fallback synthesizer instead", file=sys.stderr)
    files: dict[str, set] = {d: set() for d in cfg.only}  # what --overwrite may later delete

    def record(root: str, written) -> None:
        files[root].update(Path(f).relative_to(out).as_posix() for f in written.files)
        _write_marker(out, cfg, R.backend, complete=False, files=files)

    _write_marker(out, cfg, R.backend, complete=False, files=files)
    bank = IRBank.generate(44100, n=8, seed=0)
    summary = DemoSummary(str(out), cfg.seed, R.backend)
    try:
        if "medleydb" in cfg.only:
            t0 = time.perf_counter()
            ds = DatasetSummary("medleydb", str(out / "medleydb"))
            taken: set = set()
            stems = []
            for i in range(cfg.songs):
                rng = rng_for(cfg.seed, 0, i)
                n_stems = int(rng.integers(cfg.min_stems, cfg.max_stems + 1))
                bar.set_postfix_str(f"medleydb song {i + 1}/{cfg.songs}")
                r = medleydb.write_song(rng, out / "medleydb", n_stems, cfg.song_seconds, R, bank, taken)
                ds.add(r, r.seconds)
                record("medleydb", r)
                stems.append(r.n_stems)
                bar.update(1)
            ds.detail = f"{ds.items} songs, {min(stems)}-{max(stems)} stems each"
            ds.wall_s = time.perf_counter() - t0
            summary.datasets.append(ds)
        if "enst-drums" in cfg.only:
            t0 = time.perf_counter()
            ds = DatasetSummary("enst-drums", str(out / "enst-drums"))
            for d in sorted(enst.DRUMMERS):
                tuning, gains = enst.session(rng_for(cfg.seed, 1, d, 0))
                for i in range(1, cfg.enst_takes + 1):
                    bar.set_postfix_str(f"enst drummer_{d} take {i}")
                    r = enst.write_take(rng_for(cfg.seed, 1, d, i), out / "enst-drums", d, i, cfg.enst_seconds,
                                        R, bank, tuning, gains)
                    ds.add(r, r.seconds)
                    record("enst-drums", r)
                    bar.update(1)
            ds.detail = f"3 drummers x {cfg.enst_takes} take(s), drummer_1 without tom_3"
            ds.wall_s = time.perf_counter() - t0
            summary.datasets.append(ds)
        if "signaltrain" in cfg.only:
            t0 = time.perf_counter()
            ds = DatasetSummary("signaltrain", str(out / "signaltrain"))
            counts = signaltrain.pair_counts(cfg.signaltrain_pairs)
            settings = signaltrain.split_settings(rng_for(cfg.seed, 2, 0), counts)
            pair_id = 1
            for split in signaltrain.SPLITS:
                for j in range(counts[split]):
                    bar.set_postfix_str(f"signaltrain {split} pair {j + 1}")
                    setting = settings[split][j % len(settings[split])]
                    r = signaltrain.write_pair(rng_for(cfg.seed, 2, 1, pair_id), out / "signaltrain", split,
                                               pair_id, setting, cfg.signaltrain_seconds, R)
                    ds.add(r, 2 * r.seconds)  # input and target
                    record("signaltrain", r)
                    pair_id += 1
                    bar.update(1)
            ds.detail = "pairs Train/Val/Test = " + "/".join(str(counts[s]) for s in signaltrain.SPLITS)
            ds.wall_s = time.perf_counter() - t0
            summary.datasets.append(ds)
    finally:
        bar.close()
    _write_marker(out, cfg, R.backend, complete=True, files=files)
    return summary
