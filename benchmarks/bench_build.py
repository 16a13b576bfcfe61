"""Benchmark `dmcdata build medleydb` on a demo corpus: 1 vs 2 Ray workers against a plain-process baseline.

Run:  python benchmarks/bench_build.py [--songs 8 --song-seconds 40 --work /tmp/dmc-bench-build]

1. Writes (once, cached in --work) a demo corpus with `dmcdata demo --only medleydb`.
2. Baseline, one plain Python process, no Ray: read every segment of every stem and mix of the
   build's plan bit-exactly and FLAC-encode it. The other per-sample stages (BS.1770 loudness,
   silence flags, JSON + tar writing with sha256) are timed on the same data and printed as the
   cost of each stage.
3. `build()` with --workers 1 and --workers 2 (a fresh local Ray instance each), timed as the whole
   command (scan, Ray start, probe, shard tasks, final tables) and as the shard stage alone.

Prints audio-hours per minute per worker ("track-hours": every stem and mix counted), the
2-vs-1 speed-up, and the ratio of the 1-worker build to the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_args(argv):
    from dmcdata.cli import build_parser

    return build_parser(["build", *argv]).parse_args(["build", *argv])


def make_corpus(work: Path, songs: int, seconds: float, seed: int) -> Path:
    demo = work / f"demo-{songs}x{seconds:g}-s{seed}"
    if not (demo / "medleydb").is_dir():
        cmd = [sys.executable, "-m", "dmcdata.cli", "demo", "--out", str(demo), "--only", "medleydb",
               "--songs", str(songs), "--song-seconds", str(seconds), "--seed", str(seed), "--no-progress"]
        print("writing corpus:", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return demo / "medleydb"


def plan(home: Path, argv) -> list[dict]:
    from pipelines import build as B

    cfg = build_args([*argv, "--out", "unused"])
    items, _ = B.medleydb_items(str(home), cfg)
    good = [it for it, rej in B.probe_chunk(items, "medleydb", cfg.sample_rate) if rej is None]
    return B.plan_shards(good, "medleydb", cfg)


def baseline(specs) -> dict:
    """Plain process: read + FLAC-encode every member (the bare cost), then the other stages."""
    from dmcdata import audio, stats

    t = {"read": 0.0, "encode": 0.0, "loudness": 0.0, "silence": 0.0, "tar+sha256": 0.0}
    track_seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            members_all = []
            for s in spec["samples"]:
                members = {}
                for src in s["sources"]:
                    t0 = time.perf_counter()
                    data = audio.read_segment(src["path"], s["start"], s["frames"], subtype=src["subtype"])
                    t1 = time.perf_counter()
                    ext, blob = audio.encode(data, s["sample_rate"], src["subtype"], "flac")
                    t2 = time.perf_counter()
                    stats.integrated_loudness(data, s["sample_rate"])
                    t3 = time.perf_counter()
                    stats.is_silent(data)
                    t4 = time.perf_counter()
                    t["read"] += t1 - t0
                    t["encode"] += t2 - t1
                    t["loudness"] += t3 - t2
                    t["silence"] += t4 - t3
                    members[f"{src['member']}.{ext}"] = blob
                    track_seconds += s["frames"] / s["sample_rate"]
                members_all.append((s["key"], members))
            t0 = time.perf_counter()
            from dmcdata.shards import ShardWriter

            with ShardWriter(Path(tmp) / spec["shard"]) as w:
                for key, members in members_all:
                    members["json"] = json.dumps({"key": key}).encode()
                    w.write(key, members)
                    h = hashlib.sha256()
                    for ext in sorted(members):
                        h.update(members[ext])
            t["tar+sha256"] += time.perf_counter() - t0
    t["track_hours"] = track_seconds / 3600
    return t


def run_build(home: Path, out: Path, argv, workers: int) -> dict:
    from pipelines import build as B

    args = build_args([*argv, "--out", str(out), "--workers", str(workers), "--no-progress"])
    t0 = time.perf_counter()
    summary = B.build(args, ["build", *argv])
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=8, help="demo songs")
    ap.add_argument("--song-seconds", type=float, default=40.0, help="seconds per demo song")
    ap.add_argument("--seed", type=int, default=1, help="demo corpus seed")
    ap.add_argument("--segment-seconds", type=float, default=5.0, help="build --segment-seconds")
    ap.add_argument("--shard-size", default="8", help="build --shard-size (samples or bytes)")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "dmc-bench-build"), help="work folder")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    home = make_corpus(work, a.songs, a.song_seconds, a.seed)
    argv = ["medleydb", "--data-home", str(home), "--segment-seconds", str(a.segment_seconds),
            "--shard-size", a.shard_size]
    specs = plan(home, argv)
    n_samples = sum(len(s["samples"]) for s in specs)
    print(f"corpus: {home} ({a.songs} songs x {a.song_seconds:g} s), {n_samples} samples in {len(specs)} shards",
          flush=True)

    t0 = time.perf_counter()
    base = baseline(specs)
    base_wall = time.perf_counter() - t0
    bare = base["read"] + base["encode"]
    th = base["track_hours"]
    print(f"\nbaseline (one plain process, no Ray) over {th * 60:.2f} track-minutes of audio:")
    for k in ("read", "encode", "loudness", "silence", "tar+sha256"):
        print(f"  {k:<11} {base[k]:7.2f} s  ({base[k] / bare:5.2f} x read+encode)")
    print(f"  bare read+FLAC-encode: {bare:.2f} s; all stages: {base_wall:.2f} s", flush=True)

    res = {}
    for w in (1, 2):
        out = work / f"out-w{w}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        res[w] = run_build(home, out, argv, w)
        t = res[w]["timings"]
        print(f"\nbuild --workers {w}: {res[w]['wall_s']:.2f} s whole command "
              f"(scan {t['scan_s']:.2f}, Ray start {t['ray_start_s']:.2f}, probe {t['probe_s']:.2f}, "
              f"plan {t['plan_s']:.2f}, Ray stop {t['ray_stop_s']:.2f}, "
              f"shard tasks {t['shards_s']:.2f}, final tables {t['finish_s']:.2f}); "
              f"shard task CPU-seconds {t['shard_task_s']:.2f}", flush=True)

    same = all((work / "out-w1" / p.name).read_bytes() == p.read_bytes()
               for p in sorted((work / "out-w2").glob("*.tar"))) and \
        (work / "out-w1" / "manifest.parquet").read_bytes() == (work / "out-w2" / "manifest.parquet").read_bytes()
    w1, w2 = res[1], res[2]
    print("\nresults")
    for w in (1, 2):
        r = res[w]
        print(f"  {w} worker(s): {th / (r['wall_s'] / 60) / w:.3f} track-hours / minute / worker (whole command), "
              f"{th / (r['timings']['shards_s'] / 60) / w:.3f} (shard stage)")
    print(f"  speed-up 2 vs 1 workers: {w1['wall_s'] / w2['wall_s']:.2f} x whole command, "
          f"{w1['timings']['shards_s'] / w2['timings']['shards_s']:.2f} x shard stage   (goal >= 1.7)")
    print(f"  1-worker build / bare read+encode: {w1['wall_s'] / bare:.2f} x whole command, "
          f"{w1['timings']['shards_s'] / bare:.2f} x shard stage   (goal <= 1.5)")
    print(f"  outputs of 1 and 2 workers byte-identical: {same}")
    print(f"  load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
