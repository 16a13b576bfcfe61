"""``dmcdata verify OUT``: re-hash every shard of a build (or synth-chain) folder against its tables.

Checks, for every row of ``OUT/shards.parquet``: the shard exists, has the recorded size and
sha256. Then, if ``OUT/manifest.parquet`` has ``key``/``shard`` columns: every manifest row
names a listed shard, each shard holds exactly the manifest's samples, the per-shard sample
count matches, and where the manifest has a ``sha256`` column, the sha256 of each sample's
members (concatenated in sorted member order) matches. A ``.tar`` file in OUT that the shard
table does not list is an error too (a glob would stream it). Exit status 0 when all is well,
1 naming each bad shard otherwise, 2 when OUT is not a finished build folder (no such folder, no
``shards.parquet``, no ``manifest.parquet`` unless ``--shards-only``, or an unreadable table).
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


class NotABuildError(Exception):
    """OUT is not a finished build folder (missing or unreadable tables); exit status 2."""


def add_arguments(p) -> None:
    p.add_argument("out", help="a build output folder (with shards.parquet), e.g. from dmcdata build or synth-chain")
    p.add_argument("--shards-only", action="store_true",
                   help="only re-hash whole shards; skip the per-sample checks against manifest.parquet "
                        "(and do not require it)")
    p.add_argument("--jobs", type=int, default=2, help="shards hashed in parallel (threads)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def read_table(path: Path, columns: set[str]):
    """A Parquet table as a DataFrame; :class:`NotABuildError` if unreadable or lacking ``columns``."""
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several kinds for a damaged file
        raise NotABuildError(f"{path}: unreadable Parquet table ({str(e).splitlines()[0]})") from None
    missing = sorted(columns - set(df.columns))
    if missing:
        raise NotABuildError(f"{path}: lacks column(s) {', '.join(missing)}: not a dmcdata table")
    return df


def sample_hashes(path: Path) -> dict[str, str]:
    """sha256 of each sample's members concatenated in sorted member-name order, by key."""
    members = defaultdict(dict)
    with tarfile.open(path, "r:") as tf:
        for ti in tf:
            if not ti.isfile():
                continue
            base = ti.name.rsplit("/", 1)[-1]
            key, _, ext = base.partition(".")
            prefix = ti.name[: len(ti.name) - len(base)]
            members[prefix + key][ext] = tf.extractfile(ti).read()
    out = {}
    for key, m in members.items():
        h = hashlib.sha256()
        for ext in sorted(m):
            h.update(m[ext])
        out[key] = h.hexdigest()
    return out


def check_shard(out: Path, row: dict, samples: dict | None) -> list[str]:
    """Problems found with one shard (empty list when it is fine)."""
    from dmcdata.shards import sha256_file

    name = row["shard"]
    path = out / name
    if not path.is_file():
        return [f"{name}: missing"]
    size = path.stat().st_size
    if size != row["size"]:
        return [f"{name}: size {size} bytes, shards.parquet says {row['size']}"]
    digest = sha256_file(path)
    if digest != row["sha256"]:
        return [f"{name}: sha256 {digest} differs from shards.parquet ({row['sha256']})"]
    if samples is None:
        return []
    try:
        found = sample_hashes(path)
    except tarfile.TarError as e:
        return [f"{name}: unreadable tar: {e}"]
    problems = []
    if len(found) != row["n_samples"]:
        problems.append(f"{name}: holds {len(found)} samples, shards.parquet says {row['n_samples']}")
    missing = sorted(set(samples) - set(found))
    extra = sorted(set(found) - set(samples))
    if missing:
        problems.append(f"{name}: lacks {len(missing)} sample(s) listed in manifest.parquet, e.g. {missing[0]}")
    if extra:
        problems.append(f"{name}: holds {len(extra)} sample(s) not in manifest.parquet, e.g. {extra[0]}")
    bad = [k for k, h in samples.items() if h is not None and k in found and found[k] != h]
    if bad:
        problems.append(f"{name}: {len(bad)} sample(s) whose members do not match their manifest sha256, e.g. {bad[0]}")
    return problems


def verify(out: str | Path, shards_only: bool = False, jobs: int = 2,
           progress: bool = False) -> tuple[list[str], dict]:
    """Return ``(problems, counts)`` for the folder ``out``.

    Raises :class:`NotABuildError` (a ``FileNotFoundError`` when a table is absent) if ``out`` is not
    a finished build: no folder, no ``shards.parquet``, no ``manifest.parquet`` (unless
    ``shards_only``), or a table that cannot be read.
    """
    out = Path(out)
    if not out.is_dir():
        raise NotABuildError(f"{out}: no such folder")
    table = out / "shards.parquet"
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found: not a finished build folder")
    mpath = out / "manifest.parquet"
    if not shards_only and not mpath.is_file():
        raise FileNotFoundError(f"{mpath} not found: an unfinished build (dmcdata build writes it last); "
                                f"rerun the build, or pass --shards-only to check the shards alone")
    shards = read_table(table, {"shard", "size", "n_samples", "sha256"}).to_dict("records")
    listed = {r["shard"] for r in shards}
    problems = [f"{p.name}: not listed in shards.parquet" for p in sorted(out.glob("*.tar")) if p.name not in listed]
    per_shard: dict[str, dict] | None = None
    n_rows = 0
    if not shards_only:
        m = read_table(mpath, set())
        if {"key", "shard"} <= set(m.columns):
            n_rows = len(m)
            has_sha = "sha256" in m.columns
            per_shard = {name: {} for name in listed}
            for r in m.itertuples(index=False):
                if r.shard not in per_shard:
                    problems.append(f"{r.shard}: named by manifest row {r.key!r} but not listed in shards.parquet")
                    continue
                per_shard[r.shard][r.key] = r.sha256 if has_sha else None
    bar = None
    if progress and shards:
        from tqdm import tqdm

        bar = tqdm(total=int(sum(r["size"] for r in shards)), desc="verify", unit="B", unit_scale=True,
                   file=sys.stderr)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = pool.map(lambda r: (r, check_shard(out, r, None if per_shard is None else per_shard[r["shard"]])),
                           shards)
        for r, res in results:
            problems.extend(res)
            if bar:
                bar.update(int(r["size"]))
    if bar:
        bar.close()
    return problems, {"shards": len(shards), "samples": n_rows, "bytes": int(sum(r["size"] for r in shards))}


def main(args) -> int:
    try:
        problems, counts = verify(args.out, args.shards_only, args.jobs, progress=not args.no_progress)
    except (FileNotFoundError, NotABuildError) as e:
        print(f"dmcdata verify: error: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"BAD {p}")
    what = f"{counts['shards']} shards ({counts['bytes'] / 1e6:.1f} MB)" + (
        f", {counts['samples']} manifest samples" if counts["samples"] else "")
    if problems:
        print(f"verify FAILED: {len(problems)} problem(s) in {what}")
        return 1
    print(f"verify OK: {what} match their recorded sha256")
    return 0
