"""The output folder and resuming: which ``--out`` a build may use (new, empty, or its own
``build.json`` with the same options), which finished shards a rerun keeps (their part matches
the plan and the file re-hashes), and what it may delete (only its own temporary names and
this dataset's shards that left the plan)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipelines.build.options import CONFIG_FILE, FINAL_FILES, OPTION_NAMES, PARTS_DIR, BuildError


def load_done_part(out: Path, spec: dict, fp: str) -> dict | None:
    """The recorded part of a finished shard if it matches the plan and the shard re-hashes."""
    from dmcdata.shards import sha256_file

    ppath = out / PARTS_DIR / (spec["shard"] + ".json")
    spath = out / spec["shard"]
    if not ppath.is_file() or not spath.is_file():
        return None
    try:
        part = json.loads(ppath.read_bytes())
    except (OSError, json.JSONDecodeError):
        return None
    if part.get("fingerprint") != fp or part["shard"]["size"] != spath.stat().st_size:
        return None
    if sha256_file(spath) != part["shard"]["sha256"]:
        return None
    return part


def shard_name_pattern(dataset: str) -> str:
    """Regex of this dataset's shard file names: ``<dataset>-<split>-NNNNNN.tar``."""
    return rf"{re.escape(dataset)}-(train|val|test)-\d{{6}}\.tar"


def clean_stale(out: Path, dataset: str, planned: set[str]) -> list[str]:
    """Remove what a killed run of this build left: its own private temporary files
    (``<shard|table|card>.<pid>-<hex>.partial``, never any other ``*.partial``) and this dataset's
    shards/parts that are not in the plan. Only called on a folder whose ``build.json`` is ours."""
    from dmcdata.shards import own_temp_files

    removed = []
    shard_pat = re.compile(shard_name_pattern(dataset))
    finals = "|".join(re.escape(n) for n in (*FINAL_FILES, CONFIG_FILE))
    temps = (own_temp_files(out, rf"{shard_name_pattern(dataset)}|{finals}")
             + own_temp_files(out / PARTS_DIR, rf"{shard_name_pattern(dataset)}\.json"))
    for p in temps:
        p.unlink(missing_ok=True)
        removed.append(p.name)
    for p in sorted(out.glob("*.tar")):
        if shard_pat.fullmatch(p.name) and p.name not in planned and p.is_file():
            p.unlink()
            removed.append(p.name)
    for p in sorted((out / PARTS_DIR).glob("*.tar.json")):
        if shard_pat.fullmatch(p.name[:-5]) and p.name[:-5] not in planned and p.is_file():
            p.unlink()
            removed.append(p.name)
    return removed


def read_own_config(cpath: Path) -> dict | None:
    """The ``build.json`` of a dmcdata build, or None when ``cpath`` is not one of ours."""
    try:
        old = json.loads(cpath.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(old, dict) or old.get("tool") != "dmcdata build":
        return None
    return old


def check_out_folder(out: Path, dataset: str, config: dict) -> None:
    """``out`` must be new/empty or hold a build of the same dataset with the same options (resume).

    A folder is ours only if its ``build.json`` says so; anything else that is not empty (a user's
    files, another dataset's build, the same dataset built with other options, a synth-chain
    folder) is refused before anything is written or deleted in it.
    """
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        return
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise BuildError(f"--out {out}: cannot list the folder ({e.strerror or e})") from None
    if not entries:
        return
    cpath = out / CONFIG_FILE
    old = read_own_config(cpath) if cpath.is_file() and not cpath.is_symlink() else None
    if old is None:
        shown = ", ".join(entries[:4]) + (" ..." if len(entries) > 4 else "")
        what = (f"its {CONFIG_FILE} is not one of dmcdata build" if cpath.exists()
                else f"holds no {CONFIG_FILE} of a dmcdata build")
        raise BuildError(f"--out {out} is not empty ({shown}) and {what}: give a new or empty folder "
                         f"(nothing in {out} was touched)")
    shards_there = any(out.glob("*.tar")) or any((out / PARTS_DIR).glob("*.json")) or (out / "manifest.parquet").exists()
    if not shards_there:
        return  # e.g. a run that stopped before any shard (all rejected, --strict): nothing to keep or mix
    if old.get("dataset") != dataset:
        raise BuildError(f"{out} holds a build of {old.get('dataset')!r}, not {dataset!r}: use another --out "
                         f"(one dataset per build folder)")
    diff = [k for k in sorted(set(old) | set(config)) if old.get(k) != config.get(k)]
    if diff:
        what = "; ".join(f"{OPTION_NAMES.get(k, k)} was {old.get(k)!r}, now {config.get(k)!r}" for k in diff)
        raise BuildError(f"{out} was built with other options ({what}): use another --out, delete {out}, "
                         f"or rerun with the same options to resume it")
