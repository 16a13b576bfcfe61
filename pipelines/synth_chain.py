"""``dmcdata synth-chain``: write random effect-chain examples to WebDataset shards (thesis §4.4).

Each example: a dry mono patch from the source shards (built by ``dmcdata build``), augmented,
then put through a randomly parameterized console channel (:mod:`dmcdata.effects`). Output, in
the shape of a build::

    OUT/synth-NNNNNN.tar     samples synth-<shard:06d>-<index:06d> with members
                             input.npy (n,) float32, target.npy (2, n) float32,
                             params.npy (25,|31,) float32, json (named params, order, seed, source)
    OUT/manifest.parquet     one row per example (schema: manifests.effects)
    OUT/shards.parquet       shard, size, n_samples, sha256
    OUT/synth_config.json    the settings of this output (checked when a run resumes)
    OUT/.synth-chain/        one record per finished shard (its shard-table entry and manifest rows)
    OUT/dataset_card.md      counts and settings

Determinism: shard i is generated from ``np.random.SeedSequence([seed, i])`` alone, so the
bytes of every shard depend on (source, settings, seed, i) and not on the number of workers,
the order in which shards finish, or how many shards the run asks for. Resume: shards are written
atomically (a private ``.partial`` file + rename), then its manifest rows are recorded in ``.synth-chain/``; a
rerun skips every finished shard and takes its rows from that record (or, if the run was killed
between the two writes, from the shard itself: the rows are a function of the shard's bytes), so an interrupted and resumed run gives the same bytes as one that
was never interrupted. Asking for more ``--shards`` later extends an output.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmcdata.augment import AugmentConfig
from dmcdata.effects import (PATCH_PRESETS, EffectConfig, EffectError, decode_mono, dry_member_names, make_example,
                             orders, parameter_space, parse_patch_seconds, parse_processors, patch_starts, rms_db)
from dmcdata.shards import ShardInfo, ShardWriter, own_temp_files, sha256_file
from pipelines.ray_runtime import RayStartError, add_ray_arguments

SHARD_NAME = "synth-{:06d}.tar"
KEY = "synth-{:06d}-{:06d}"
CONFIG_FILE = "synth_config.json"
PROGRESS_DIR = ".synth-chain"  # per-shard records of finished shards (info + manifest rows)
FORMAT_VERSION = 1
MAX_DRAWS_PER_PATCH = 500


class SynthChainError(Exception):
    """A problem with the source, the output folder or the options; the message says which."""


# ---------------------------------------------------------------------------------------------
# command line

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", nargs="+", required=True, metavar="SRC",
                        help="dry audio built by 'dmcdata build': its output folder (uses manifest.parquet), "
                             "a manifest.parquet path, several build folders, or shard paths/URLs with brace ranges "
                             "(e.g. 'out/signaltrain-train-{000000..000009}.tar', file:// allowed). "
                             "Every track member (tNN.flac|wav, stereo downmixed) and every SignalTrain "
                             "'input' member is dry audio; mixes and targets are never used")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; a rerun resumes it)")
    parser.add_argument("--shards", type=int, required=True, help="number of output shards synth-NNNNNN.tar")
    parser.add_argument("--samples-per-shard", type=int, default=256,
                        help="examples per shard (256 medium patches ~ 100 MB)")
    parser.add_argument("--patch-seconds", default="medium",
                        help="patch length: a preset (" + ", ".join(f"{k}={v} s" for k, v in PATCH_PRESETS.items())
                             + ", the thesis' receptive fields) or any number of seconds")
    parser.add_argument("--order", choices=("static", "variable"), default="static",
                        help="processor order: 'static' = eq -> compressor -> reverb (25 params); 'variable' = "
                             "one of the 6 orders per example, one-hot appended (31 params)")
    parser.add_argument("--processors", default="all",
                        help="comma list of processors given random settings, the rest neutral (no effect): "
                             "gain, polarity, eq, comp|compressor, reverb, pan, or 'all'. "
                             "The thesis' per-processor tasks: 'eq', 'comp', 'reverb'; combined: 'eq,comp,reverb'")
    parser.add_argument("--seed", type=int, default=0, help="random seed; shard i uses SeedSequence([seed, i])")
    parser.add_argument("--split", default="train", help="split label written to the manifest")
    parser.add_argument("--source-query", default=None,
                        help="pandas query on the source manifest selecting the samples to draw from, "
                             "e.g. \"split == 'train'\" (needs a manifest source)")
    parser.add_argument("--ir-folder", type=Path, default=None,
                        help="folder of impulse responses (wav/flac/aiff) for the reverb; "
                             "default: the console's generated bank (8 IRs, seed 0)")
    parser.add_argument("--pan-law", choices=("linear", "constant_power"), default="linear",
                        help="pan law of the target: linear (thesis) or constant power (-3 dB)")
    parser.add_argument("--sample-rate", type=int, default=44100,
                        help="sample rate (Hz) the source must have; targets are rendered at it")
    parser.add_argument("--silence-db", type=float, default=-60.0,
                        help="patches with RMS below this level (dBFS) are skipped as silence")
    parser.add_argument("--no-augment", action="store_true",
                        help="switch all augmentations off (default: DESIGN section 3 augmentations, "
                             "see dmcdata.augment.AugmentConfig)")
    parser.add_argument("--augment", default=None, metavar="NAMES",
                        help="only these augmentations, comma separated (scale, polarity, mix, noise, "
                             "zero_samples, zero_block), each with its default probability")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_arguments(parser)


def _augment_config(args) -> AugmentConfig:
    if args.no_augment:
        return AugmentConfig.off()
    if args.augment:
        from dataclasses import replace

        from dmcdata.augment import AUGMENTATIONS, AugmentError

        names = {s.strip() for s in args.augment.split(",") if s.strip()}
        unknown = names - set(AUGMENTATIONS)
        if unknown:
            raise AugmentError(f"--augment: unknown augmentation(s) {sorted(unknown)}; known: {', '.join(AUGMENTATIONS)}")
        return replace(AugmentConfig(), **{"p_" + a: 0.0 for a in AUGMENTATIONS if a not in names})
    return AugmentConfig()


def effect_config_from_args(args) -> EffectConfig:
    ir_bank = {"generated": {"n": 8, "seed": 0}}
    if args.ir_folder is not None:
        folder = Path(args.ir_folder).resolve()
        if not folder.is_dir():
            raise SynthChainError(f"--ir-folder {args.ir_folder}: not a folder")
        ir_bank = {"folder": str(folder)}
    try:
        return EffectConfig(sample_rate=args.sample_rate, patch_seconds=parse_patch_seconds(args.patch_seconds),
                            order=args.order, processors=parse_processors(args.processors), pan_law=args.pan_law,
                            ir_bank=ir_bank, silence_db=args.silence_db, augment=_augment_config(args))
    except (EffectError, ValueError) as e:
        raise SynthChainError(str(e)) from e


# ---------------------------------------------------------------------------------------------
# source: shards of dry audio

@dataclass(frozen=True)
class DryMember:
    shard: int  # index into SourceIndex.shards
    key: str
    member: str  # extension, e.g. "t03.flac"
    offset: int  # byte offset of the member's data in the tar
    size: int  # bytes


@dataclass(frozen=True)
class SourceIndex:
    shards: tuple[str, ...]  # absolute paths
    members: tuple[DryMember, ...]
    query: str | None

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([[Path(s).name, os.path.getsize(s)] for s in self.shards]).encode())
        for m in self.members:
            h.update(f"{m.shard}\0{m.key}\0{m.member}\0{m.size}\n".encode())
        return h.hexdigest()


def _expand(spec: str) -> list[str]:
    from braceexpand import braceexpand

    if re.match(r"^(https?|pipe|s3|gs):", spec):
        raise SynthChainError(f"--source {spec}: synth-chain reads local shards only (random access); "
                              f"copy the shards to a local or mounted folder")
    if spec.startswith("file://"):
        spec = spec[len("file://"):]
    try:
        return list(braceexpand(spec))
    except Exception as e:
        raise SynthChainError(f"--source {spec}: cannot expand brace range: {e}") from e


def resolve_source(specs: list[str], query: str | None = None) -> tuple[list[Path], set[str] | None]:
    """→ (shard paths, allowed sample keys or None for all)."""
    manifest = None
    if len(specs) == 1:
        p = Path(specs[0][len("file://"):] if specs[0].startswith("file://") else specs[0])
        if p.is_dir():
            if (p / "manifest.parquet").is_file():
                manifest = p / "manifest.parquet"
            else:
                shards = sorted(x for x in p.glob("*.tar"))
                if not shards:
                    raise SynthChainError(f"--source {p}: folder holds neither manifest.parquet nor *.tar shards")
                if query:
                    raise SynthChainError(f"--source-query needs a manifest, but {p} has no manifest.parquet")
                return shards, None
        elif p.suffix == ".parquet":
            if not p.is_file():
                raise SynthChainError(f"--source {p}: manifest not found")
            manifest = p
    if manifest is not None:
        import pandas as pd

        try:
            df = pd.read_parquet(manifest)
        except Exception as e:
            raise SynthChainError(f"{manifest}: cannot read the manifest: {e}") from e
        for col in ("key", "shard"):
            if col not in df.columns:
                raise SynthChainError(f"{manifest}: manifest has no {col!r} column")
        if query:
            try:
                df = df.query(query)
            except Exception as e:
                raise SynthChainError(f"--source-query {query!r} on {manifest}: {e}") from e
            if df.empty:
                raise SynthChainError(f"--source-query {query!r} selects no sample of {manifest}")
        if not query and "split" in df.columns and df["split"].nunique() > 1:
            counts = df["split"].value_counts()
            print(f"note: the source holds several splits ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))} "
                  f"samples) and all are used; --source-query \"split == 'train'\" keeps the training split only",
                  file=sys.stderr)
        shards = [manifest.parent / s for s in sorted(set(df["shard"]))]
        return shards, (set(df["key"]) if query else None)
    if query:
        raise SynthChainError("--source-query needs a manifest source (a build folder or manifest.parquet)")
    paths = []
    for spec in specs:
        for s in _expand(spec):
            p = Path(s)
            if p.is_dir():  # one of several build folders: all its shards
                tars = sorted(p.glob("*.tar"))
                if not tars:
                    raise SynthChainError(f"--source {p}: folder holds no *.tar shards")
                paths.extend(tars)
            else:
                paths.append(p)
    return paths, None


def build_index(shards: list[Path], keys: set[str] | None, query: str | None = None) -> SourceIndex:
    """List the dry-audio members of the source shards (tar headers only; no audio decoded)."""
    members: list[DryMember] = []
    abs_shards = []
    saw_synth = False  # a synth-chain output given as the source
    for path in shards:
        if not path.is_file():
            raise SynthChainError(f"source shard {path}: file not found")
        i = len(abs_shards)
        abs_shards.append(str(path.resolve()))
        found: dict[str, dict[str, tarfile.TarInfo]] = {}
        try:
            with tarfile.open(path, "r:") as tf:
                for ti in tf:
                    if not ti.isfile() or "." not in ti.name:
                        continue
                    key, ext = ti.name.split(".", 1)
                    found.setdefault(key, {})[ext] = ti
        except (tarfile.TarError, OSError) as e:
            raise SynthChainError(f"source shard {path}: not a readable tar file: {e}") from e
        for key in sorted(found):
            if keys is not None and key not in keys:
                continue
            saw_synth = saw_synth or "input.npy" in found[key]
            for ext in dry_member_names(list(found[key])):
                ti = found[key][ext]
                members.append(DryMember(i, key, ext, ti.offset_data, ti.size))
    if not members:
        hint = ""
        if saw_synth:
            hint = ("; they hold synth-chain examples (input.npy): give the dry-audio output of "
                    "'dmcdata build' instead")
        raise SynthChainError(f"no dry audio (tNN.flac|wav track or input.flac|wav members) in the "
                              f"{len(shards)} source shard(s)" + (f" selected by {query!r}" if query else "") + hint)
    return SourceIndex(tuple(abs_shards), tuple(members), query)


class _PatchSource:
    """Draws non-silent dry patches from the index with a generator: a member uniformly at random
    (build segments have equal lengths, so this is about uniform in time), then one of its
    non-silent patches uniformly at random."""

    def __init__(self, index: SourceIndex, config: EffectConfig):
        self.index, self.config = index, config
        self._files: dict[int, object] = {}
        self._decoded: dict[int, np.ndarray] = {}
        self._useless: set[int] = set()
        self._longest = 0  # frames of the longest member decoded (for the error message)

    def _audio(self, i: int) -> np.ndarray:
        if i not in self._decoded:
            if len(self._decoded) >= 16:
                self._decoded.pop(next(iter(self._decoded)))
            m = self.index.members[i]
            f = self._files.get(m.shard)
            if f is None:
                f = self._files[m.shard] = open(self.index.shards[m.shard], "rb")
            f.seek(m.offset)
            data = f.read(m.size)
            where = f"{Path(self.index.shards[m.shard]).name}:{m.key}.{m.member}"
            if len(data) != m.size:
                raise SynthChainError(f"{where}: source shard changed or truncated since it was indexed")
            try:
                self._decoded[i] = decode_mono(data, where, self.config.sample_rate)
            except EffectError as e:
                raise SynthChainError(str(e)) from e
            self._longest = max(self._longest, self._decoded[i].shape[0])
        return self._decoded[i]

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, DryMember, int]:
        n = self.config.patch_len
        for _ in range(MAX_DRAWS_PER_PATCH):
            i = int(rng.integers(len(self.index.members)))
            if i in self._useless:
                continue
            audio = self._audio(i)
            starts = patch_starts(audio, n, rng, self.config.silence_db)
            if not starts:
                self._useless.add(i)
                continue
            s = starts[int(rng.integers(len(starts)))]
            return np.ascontiguousarray(audio[s:s + n]), self.index.members[i], s
        raise SynthChainError(
            f"found no non-silent patch of {n} samples (RMS >= {self.config.silence_db} dBFS) in "
            f"{MAX_DRAWS_PER_PATCH} draws from the source: its audio is silent or shorter than the patch "
            f"(the longest dry member drawn has {self._longest} samples = {self._longest / self.config.sample_rate:.2f} s; "
            f"--patch-seconds is {self.config.patch_seconds} s)")

    def close(self):
        for f in self._files.values():
            f.close()


# ---------------------------------------------------------------------------------------------
# samples and manifest rows

def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False).encode() + b"\n"


def sample_members(ex: dict, meta: dict) -> dict[str, bytes]:
    doc = {**meta, "params": ex["named"], "order": list(ex["order"]), "seed": ex["seed"],
           "augmentations": list(ex["augmentations"])}
    return {"input.npy": _npy(ex["input"]), "target.npy": _npy(ex["target"]),
            "params.npy": _npy(ex["params"]), "json": _json_bytes(doc)}


def manifest_row(key: str, members: dict[str, bytes], shard: str, split: str) -> dict:
    """The manifest row of one sample, computed from its members only (fresh and resumed alike)."""
    doc = json.loads(members["json"])
    x = np.load(io.BytesIO(members["input.npy"]))
    y = np.load(io.BytesIO(members["target.npy"]))
    p = np.load(io.BytesIO(members["params.npy"]))
    h = hashlib.sha256()
    for ext in sorted(members):
        h.update(members[ext])
    order = tuple(doc["order"])
    mix = doc.get("mix_source")
    return {
        "key": key, "dataset": "synth", "split": split, "shard": shard, "index": int(doc["index"]),
        "seed": int(doc["seed"]), "sample_rate": int(doc["sample_rate"]), "frames": int(x.shape[0]),
        "duration_s": x.shape[0] / doc["sample_rate"], "order": ",".join(order),
        "order_index": orders().index(order), "processors": list(doc["processors"]),
        "n_params": int(p.shape[0]), "params": p.astype(np.float32).tolist(),
        "augmentations": list(doc["augmentations"]),
        "source_shard": doc["source"]["shard"], "source_key": doc["source"]["key"],
        "source_member": doc["source"]["member"], "source_start_s": doc["source"]["start"] / doc["sample_rate"],
        "mix_source_key": mix["key"] if mix else None, "mix_source_member": mix["member"] if mix else None,
        "input_rms_db": max(rms_db(x), -200.0), "input_peak": float(np.max(np.abs(x))),
        "target_peak": float(np.max(np.abs(y))),
        "member_sizes": json.dumps({k: len(members[k]) for k in sorted(members)}, sort_keys=True),
        "sha256": h.hexdigest(),
    }


def write_shard(out: str, shard_index: int, spec: dict) -> tuple[ShardInfo, list[dict]]:
    """Generate shard ``shard_index`` (deterministic in (spec, seed, shard_index)) and write it atomically."""
    config: EffectConfig = spec["config"]
    index: SourceIndex = spec["index"]
    rng = np.random.default_rng(np.random.SeedSequence([spec["seed"], shard_index]))
    source = _PatchSource(index, config)
    name = SHARD_NAME.format(shard_index)
    rows = []
    want_mix = config.augment.enabled and config.augment.p_mix > 0
    try:
        with ShardWriter(Path(out) / name) as writer:
            for j in range(spec["samples_per_shard"]):
                dry, src, start = source.draw(rng)
                other = source.draw(rng) if want_mix else None
                ex = make_example(dry, rng, config, mix_with=None if other is None else other[0])
                key = KEY.format(shard_index, j)
                meta = {
                    "key": key, "index": j, "sample_rate": config.sample_rate,
                    "processors": list(config.processors), "pan_law": config.pan_law, "ir_bank": config.ir_bank,
                    "source": {"shard": Path(index.shards[src.shard]).name, "key": src.key,
                               "member": src.member, "start": int(start)},
                }
                if other is not None and "mix" in ex["augmentations"]:
                    o = other[1]
                    meta["mix_source"] = {"shard": Path(index.shards[o.shard]).name, "key": o.key,
                                          "member": o.member, "start": int(other[2])}
                members = sample_members(ex, meta)
                writer.write(key, members)
                rows.append(manifest_row(key, members, name, spec["split"]))
            info = writer.close()
    finally:
        source.close()
    _save_progress(Path(out), info, rows)
    return info, rows


def _progress_path(out: Path, name: str) -> Path:
    return out / PROGRESS_DIR / (name + ".json")


def _save_progress(out: Path, info: ShardInfo, rows: list[dict]) -> None:
    """Record a finished shard's table rows beside it, so a resumed run need not re-read the shard."""
    from dmcdata.shards import write_atomic

    doc = {"info": {"shard": info.shard, "size": info.size, "n_samples": info.n_samples, "sha256": info.sha256},
           "rows": rows}
    write_atomic(_progress_path(out, info.shard), json.dumps(doc, sort_keys=True, allow_nan=False).encode())


def read_finished_shard(out: Path, shard_index: int, spec: dict) -> tuple[ShardInfo, list[dict]]:
    """Shard info and manifest rows of a shard a previous run finished: from its progress record
    when that matches the shard's size, else by reading the shard (and recording them)."""
    name = SHARD_NAME.format(shard_index)
    path = out / name
    record = _progress_path(out, name)
    if record.is_file():
        try:
            doc = json.loads(record.read_text())
            info = ShardInfo(**doc["info"])
            if (info.shard == name and info.size == path.stat().st_size
                    and info.n_samples == spec["samples_per_shard"] == len(doc["rows"])):
                return info, doc["rows"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable or stale record: fall back to the shard itself
    samples: dict[str, dict[str, bytes]] = {}
    try:
        with tarfile.open(path, "r:") as tf:
            for ti in tf:
                key, ext = ti.name.split(".", 1)
                samples.setdefault(key, {})[ext] = tf.extractfile(ti).read()
    except (tarfile.TarError, OSError, ValueError) as e:
        raise SynthChainError(f"{path}: existing shard is unreadable ({e}); delete it to regenerate it") from e
    expected = [KEY.format(shard_index, j) for j in range(spec["samples_per_shard"])]
    if sorted(samples) != expected:
        raise SynthChainError(f"{path}: existing shard does not hold samples {expected[0]}..{expected[-1]}; "
                              f"it was written with other settings: delete it or use another --out")
    rows = [manifest_row(k, samples[k], name, spec["split"]) for k in expected]
    info = ShardInfo(name, path.stat().st_size, len(expected), sha256_file(path))
    _save_progress(out, info, rows)
    return info, rows


# ---------------------------------------------------------------------------------------------
# the run

def run_config(spec: dict) -> dict:
    return {"format": FORMAT_VERSION, "tool": "dmcdata synth-chain", "seed": spec["seed"],
            "samples_per_shard": spec["samples_per_shard"], "split": spec["split"],
            "effect": spec["config"].to_dict(),
            "source": {"shards": [Path(s).name for s in spec["index"].shards], "query": spec["index"].query,
                       "dry_members": len(spec["index"].members), "digest": spec["index"].digest()}}


def check_out_folder(out: Path) -> None:
    """``out`` must be new, empty, or an earlier synth-chain output (its ``synth_config.json``);
    a folder holding anything else is refused before anything is written or deleted in it."""
    if out.exists() and not out.is_dir():
        raise SynthChainError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        above = next((p for p in out.absolute().parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise SynthChainError(f"--out {out}: {above} is a file, not a folder")
        return
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise SynthChainError(f"--out {out}: cannot list the folder ({e.strerror or e})") from None
    if not entries:
        return
    try:
        ours = json.loads((out / CONFIG_FILE).read_text()).get("tool") == "dmcdata synth-chain"
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        ours = False
    if not ours:
        shown = ", ".join(entries[:4]) + (" ..." if len(entries) > 4 else "")
        raise SynthChainError(f"--out {out} is not empty ({shown}) and holds no {CONFIG_FILE} of a synth-chain "
                              f"run: give a new or empty folder (nothing in {out} was touched)")


def _check_or_write_config(out: Path, cfg: dict) -> None:
    from dmcdata.shards import write_atomic

    path = out / CONFIG_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SynthChainError(f"{path}: unreadable ({e}); delete the output folder or use another --out") from e
        if old != cfg:
            if not any(re.fullmatch(r"synth-\d{6}\.tar", p.name) for p in out.iterdir()):
                # an earlier run stopped before finishing any shard: nothing to protect
                print(f"note: {out} holds no finished shard; replacing the settings of the earlier run "
                      f"({'; '.join(_config_diff(old, cfg))})", file=sys.stderr)
                write_atomic(path, _json_bytes(cfg))
                return
            raise SynthChainError(f"{out} was written with other settings ({'; '.join(_config_diff(old, cfg))}); "
                                  f"use another --out or the same options to resume it")
        return
    write_atomic(path, _json_bytes(cfg))


def _config_diff(old, new, prefix: str = "") -> list[str]:
    """The settings that differ, by dotted name: 'effect.order: static -> variable'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            if old.get(k) != new.get(k):
                out += _config_diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    name = prefix[:-1]
    if name == "source.digest":
        return ["source.digest (the source shards' contents or selection)"]
    return [f"{name}: {json.dumps(old)} before, {json.dumps(new)} now"]


def _dataset_card(cfg: dict, n_shards: int, n_samples: int, total_bytes: int) -> str:
    e = cfg["effect"]
    lines = [
        "# synth-chain effect examples", "",
        f"- examples: {n_samples} in {n_shards} shards ({total_bytes / 1e9:.3f} GB)",
        f"- patch: {e['patch_seconds']} s = {e['patch_len']} samples at {e['sample_rate']} Hz",
        f"- processor order: {e['order']}; random processors: {', '.join(e['processors'])} (others neutral)",
        f"- pan law: {e['pan_law']}; IR bank: {json.dumps(e['ir_bank'], sort_keys=True)}",
        f"- silence threshold: {e['silence_db']} dBFS RMS; augmentations: {json.dumps(e['augment'], sort_keys=True)}",
        f"- seed: {cfg['seed']}; split label: {cfg['split']}; samples per shard: {cfg['samples_per_shard']}",
        f"- source: {len(cfg['source']['shards'])} shard(s), {cfg['source']['dry_members']} dry members, "
        f"query {cfg['source']['query']!r}, digest {cfg['source']['digest'][:16]}",
        "", "Members per sample: input.npy (n,) float32 dry patch after augmentation; target.npy (2, n) float32 "
        "console output; params.npy normalized conditioning; json named parameters, order, seed, source.", "",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        return _main(args)
    except (SynthChainError, EffectError, ValueError, RayStartError) as e:
        print(f"dmcdata synth-chain: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an unwritable or full --out, a vanished source: name the file, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"dmcdata synth-chain: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from manifests import shard_table, write_table
    from manifests.effects import EFFECT_MANIFEST_SCHEMA, effect_manifest_table

    t0 = time.perf_counter()
    if args.shards < 1:
        raise SynthChainError(f"--shards must be >= 1, got {args.shards}")
    if args.samples_per_shard < 1:
        raise SynthChainError(f"--samples-per-shard must be >= 1, got {args.samples_per_shard}")
    if args.shards > 1_000_000:
        raise SynthChainError("--shards must be below 1,000,000 (shard numbers have 6 digits)")
    if args.workers < 1:
        raise SynthChainError(f"--workers must be >= 1, got {args.workers}")
    if args.seed < 0:
        raise SynthChainError(f"--seed must be a non-negative integer, got {args.seed}")
    check_out_folder(args.out)  # before the source is read: an unusable --out is the first thing said
    config = effect_config_from_args(args)
    parameter_space(config)  # loads the IR bank: a bad --ir-folder fails here, before any output
    shard_paths, keys = resolve_source(args.source, args.source_query)
    index = build_index(shard_paths, keys, args.source_query)
    spec = {"config": config, "index": index, "seed": int(args.seed),
            "samples_per_shard": int(args.samples_per_shard), "split": args.split}
    out: Path = args.out
    check_out_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SynthChainError(f"--out {out}: cannot create the output folder ({e.strerror or e})") from None
    cfg = run_config(spec)
    _check_or_write_config(out, cfg)

    done = [i for i in range(args.shards) if (out / SHARD_NAME.format(i)).is_file()]
    todo = [i for i in range(args.shards) if i not in set(done)]
    extra = sorted(p.name for p in out.glob("synth-*.tar")
                   if re.fullmatch(r"synth-\d{6}\.tar", p.name) and int(p.name[6:12]) >= args.shards)
    if extra:
        print(f"note: {len(extra)} shard(s) beyond --shards {args.shards} in {out} are left out of the manifest "
              f"(e.g. {extra[0]})", file=sys.stderr)
    print(f"synth-chain: {len(index.members)} dry members in {len(index.shards)} source shard(s); "
          f"{len(done)} of {args.shards} shards already written, {len(todo)} to go", file=sys.stderr)

    results: dict[int, tuple[ShardInfo, list[dict]]] = {}
    bar = tqdm(total=args.shards, initial=0, unit="shard", file=sys.stderr, disable=args.no_progress,
               desc="synth-chain", dynamic_ncols=True)
    for i in done:
        results[i] = read_finished_shard(out, i, spec)
        bar.update(1)
    t_gen = time.perf_counter()
    if todo:
        if args.workers == 1 and not args.ray_address:
            for i in todo:
                results[i] = write_shard(str(out), i, spec)
                bar.update(1)
        else:
            _run_ray(out, todo, spec, args, results, bar)
    gen_s = time.perf_counter() - t_gen
    bar.close()
    # this tool's own temporary files a killed run left behind (every shard of this run is now complete);
    # any other *.partial is not ours and stays
    for p in own_temp_files(out, r"synth-\d{6}\.tar") + own_temp_files(out / PROGRESS_DIR, r"synth-\d{6}\.tar\.json"):
        p.unlink(missing_ok=True)

    infos = [results[i][0] for i in range(args.shards)]
    rows = [r for i in range(args.shards) for r in results[i][1]]
    write_table(effect_manifest_table(rows), out / "manifest.parquet", EFFECT_MANIFEST_SCHEMA)
    write_table(shard_table(infos), out / "shards.parquet")
    total_bytes = sum(i.size for i in infos)
    from dmcdata.shards import write_atomic

    write_atomic(out / "dataset_card.md", _dataset_card(cfg, args.shards, len(rows), total_bytes).encode())
    wall = time.perf_counter() - t0
    n_new = len(todo) * args.samples_per_shard
    rate = f"{n_new / gen_s:.1f} examples/s" if n_new and gen_s > 0 else "nothing generated"
    print(f"synth-chain: {args.shards} shards ({len(todo)} written, {len(done)} already there), "
          f"{len(rows)} examples of {config.patch_seconds} s ({config.patch_len} samples), order {config.order}, "
          f"{config.n_params} params, processors {','.join(config.processors)}")
    print(f"  out: {out}  ({total_bytes / 1e6:.1f} MB; manifest.parquet, shards.parquet)")
    print(f"  wall {wall:.1f} s, generation {gen_s:.1f} s, {rate}, workers {args.workers}"
          + (f" on {args.ray_address}" if args.ray_address else ""))
    return 0


def _run_ray(out: Path, todo: list[int], spec: dict, args, results: dict, bar) -> None:
    from pipelines.ray_runtime import ray_session

    with ray_session(args.workers, args.ray_address) as ray:
        task = ray.remote(num_cpus=1, max_retries=2)(write_shard)
        spec_ref = ray.put(spec)
        queue = list(todo)
        pending: dict = {}
        in_flight = max(1, args.workers)
        try:
            while queue or pending:
                while queue and len(pending) < in_flight:
                    i = queue.pop(0)
                    pending[task.remote(str(out.resolve()), i, spec_ref)] = i
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        results[i] = ray.get(ref)
                    except Exception as e:  # RayTaskError wraps the worker's exception
                        cause = getattr(e, "cause", None) or e
                        raise SynthChainError(f"shard {SHARD_NAME.format(i)}: {cause}") from e
                    bar.update(1)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
