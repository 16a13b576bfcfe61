"""The build driver: scan, probe, plan, write the shards (Ray), then the tables and the card;
``manifest.parquet`` last (its presence marks a complete build)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipelines.build.card import canonical_command, dataset_card
from pipelines.build.encode import write_shard
from pipelines.build.items import ITEM_BUILDERS, nothing_found_message
from pipelines.build.options import (CONFIG_FILE, DATASETS, FINAL_FILES, PARTS_DIR, SPLITS, BuildError, build_config,
                                     check_options, config_bytes)
from pipelines.build.plan import fingerprint, note_small_shards, plan_shards
from pipelines.build.probe import probe_chunk
from pipelines.build.resume import check_out_folder, clean_stale, load_done_part
from pipelines.ray_runtime import ray_session


def build(cfg, argv: list[str] | None = None) -> dict:
    """Run a build; returns a summary dict. Raises :class:`BuildError` on unusable input."""
    import manifests
    from dmcdata.loaders import ENV_VARS, LoaderError, resolve_data_home
    from dmcdata.shards import write_atomic

    dataset = DATASETS[cfg.dataset]
    check_options(cfg)
    home = resolve_data_home(dataset, cfg.data_home)
    if not Path(home).exists():
        raise BuildError(f"data home {home} does not exist (use --data-home or ${ENV_VARS[dataset]})")
    if not Path(home).is_dir():
        raise BuildError(f"data home {home} is not a folder (give the dataset's folder to --data-home)")
    out = Path(cfg.out)
    config = build_config(dataset, home, cfg)
    check_out_folder(out, dataset, config)  # before anything is written: never spoil another build

    t0 = time.perf_counter()
    try:
        items, rejects = ITEM_BUILDERS[dataset](home, cfg)
    except LoaderError as e:
        raise BuildError(str(e)) from None
    progress = not cfg.no_progress
    timings = {"scan_s": time.perf_counter() - t0}
    if not items:
        raise BuildError(nothing_found_message(dataset, home, cfg, rejects))

    out.mkdir(parents=True, exist_ok=True)
    (out / PARTS_DIR).mkdir(exist_ok=True)
    write_atomic(out / CONFIG_FILE, config_bytes(config))
    # a rerun must never leave an old manifest next to shards being rewritten
    for name in FINAL_FILES:
        (out / name).unlink(missing_ok=True)

    t_ray = time.perf_counter()
    with ray_session(cfg.workers, cfg.ray_address) as ray:
        t1 = time.perf_counter()
        timings["ray_start_s"] = t1 - t_ray
        probe_remote = ray.remote(num_cpus=1)(probe_chunk)
        chunk = max(1, min(32, len(items) // max(1, 4 * cfg.workers) or 1))
        refs = [probe_remote.remote(items[i:i + chunk], dataset, cfg.sample_rate) for i in range(0, len(items), chunk)]
        good = []
        for res in ray.get(refs):
            for it, rej in res:
                if rej is not None:
                    rejects.append(rej)
                else:
                    good.append(it)
        timings["probe_s"] = time.perf_counter() - t1
        if cfg.strict and rejects:
            write_reject_table(out, rejects)
            raise BuildError(f"--strict: {len({r['song'] for r in rejects})} item(s) rejected, first: "
                             f"{rejects[0]['song']}: {rejects[0]['reason']} (all in {out / 'rejects.parquet'})")

        t_plan = time.perf_counter()
        specs = plan_shards(good, dataset, cfg)
        if not any(s["samples"] for s in specs):
            write_reject_table(out, rejects)
            if not good:
                n_bad = len({r["song"] for r in rejects})
                raise BuildError(f"all {n_bad} {cfg.dataset} songs/takes/pairs were rejected, first: "
                                 f"{rejects[0]['song']}: {rejects[0]['reason']} (all in {out / 'rejects.parquet'})")
            longest = max(it["frames"] / it["sample_rate"] for it in good)
            raise BuildError(f"no segment is --min-segment-seconds {cfg.min_segment_seconds:g} long: "
                             f"the longest song/take/pair lasts {longest:.3f} s")
        note_small_shards(specs, cfg)
        removed = clean_stale(out, dataset, {s["shard"] for s in specs})
        fps = {s["shard"]: fingerprint(s, dataset, cfg) for s in specs}
        parts, todo = {}, []
        for s in specs:
            done = load_done_part(out, s, fps[s["shard"]])
            if done is not None:
                parts[s["shard"]] = done
            else:
                todo.append(s)
        t2 = time.perf_counter()
        timings["plan_s"] = t2 - t_plan
        shard_remote = ray.remote(num_cpus=1)(write_shard)
        # on a cluster --workers caps the shard tasks in flight; locally Ray's CPU count does
        cap = cfg.workers if cfg.ray_address else len(todo)
        queue = list(todo)
        pending = {}

        def submit():
            while queue and len(pending) < max(1, cap):
                s = queue.pop(0)
                pending[shard_remote.remote(s, str(out), dataset, cfg.codec, cfg.silence_db, fps[s["shard"]])] = s["shard"]

        submit()
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=f"{dataset} shards", unit="shard", file=sys.stderr)
        task_seconds = 0.0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                try:
                    part = ray.get(ref)
                except Exception as e:  # a bug or an OS error (disk full...) in the task: name the shard
                    raise BuildError(f"writing shard {pending[ref]} failed: {e}") from e
                task_seconds += part.get("seconds", 0.0)
                parts[pending.pop(ref)] = part
                if bar:
                    bar.update(1)
            submit()
        if bar:
            bar.close()
        timings["shards_s"] = time.perf_counter() - t2
        timings["shard_task_s"] = task_seconds
        t_stop = time.perf_counter()

    t3 = time.perf_counter()
    timings["ray_stop_s"] = t3 - t_stop
    rows, infos = [], []
    from dmcdata.shards import ShardInfo

    for name in sorted(parts):
        p = parts[name]
        rows.extend(p["rows"])
        rejects.extend(p["rejects"])
        infos.append(ShardInfo(**p["shard"]))
    if dataset == "signaltrain":
        from manifests import paired as schema_mod
    else:
        from manifests import multitrack as schema_mod
    table = schema_mod.to_table(rows)
    n_rejected = len({(r["dataset"], r["song"]) for r in rejects})
    manifests.write_table(manifests.shard_table(infos), out / "shards.parquet")
    write_reject_table(out, rejects)
    command = canonical_command(sys.argv[1:] if argv is None else argv)
    write_atomic(out / "dataset_card.md", dataset_card(dataset, rows, len(infos), sorted(
        rejects, key=lambda r: (r["song"], r["file"] or "")), cfg, command).encode())
    if cfg.strict and rejects:
        raise BuildError(f"--strict: {n_rejected} item(s) rejected while reading audio (see {out / 'rejects.parquet'})")
    manifests.write_table(table, out / "manifest.parquet")
    timings["finish_s"] = time.perf_counter() - t3
    return {"dataset": dataset, "samples": len(rows), "shards": len(infos), "written": len(todo),
            "skipped": len(specs) - len(todo), "rejected": n_rejected, "removed": removed,
            "hours": sum(r["duration_s"] for r in rows) / 3600,
            "per_split": {s: sum(1 for r in rows if r["split"] == s) for s in SPLITS},
            "songs": len({r["song"] for r in rows}), "timings": timings, "out": str(out)}


def write_reject_table(out: Path, rejects: list[dict]) -> None:
    import manifests

    manifests.write_table(manifests.rejects_table(rejects), out / "rejects.parquet")
