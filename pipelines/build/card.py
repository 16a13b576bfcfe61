"""``dataset_card.md``: what was built from what, how to read it, the options, the versions and
the rejects; with the command line that built it (options that cannot change the output left out)."""

from __future__ import annotations

import platform
import shlex

from pipelines.build.options import SPLITS


def canonical_command(argv: list[str]) -> str:
    """The command line without options that cannot change the output (workers, Ray address, progress)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--workers", "--ray-address"):
            skip = True
            continue
        if a.startswith(("--workers=", "--ray-address=")) or a == "--no-progress":
            continue
        out.append(a)
    return "dmcdata " + " ".join(shlex.quote(a) for a in out)


def versions() -> dict:
    import numpy
    import pyarrow
    import soundfile

    import dmcdata

    return {"dmc": getattr(dmcdata, "__version__", "0.1.0"), "python": platform.python_version(),
            "numpy": numpy.__version__, "pyarrow": pyarrow.__version__, "soundfile": soundfile.__version__,
            "libsndfile": soundfile.__libsndfile_version__}


DISPLAY = {"medleydb": "MedleyDB", "enst_drums": "ENST-drums", "signaltrain": "SignalTrain LA2A"}


def source_info(dataset: str) -> tuple[str, str]:
    """(licence, BibTeX) of the source dataset, from its loader."""
    import importlib

    mod = importlib.import_module(f"dmcdata.loaders.{dataset}")
    return mod.LICENSE, mod.BIBTEX


def dataset_card(dataset: str, rows: list[dict], n_shards: int, rejects: list[dict], cfg, command: str) -> str:
    """A Markdown card: what was built from what, how to read it, the options, versions and rejects."""
    from collections import Counter

    licence, bibtex = source_info(dataset)
    unit = "pairs" if dataset == "signaltrain" else ("takes" if dataset == "enst_drums" else "songs")
    lines = [f"# {DISPLAY[dataset]} shards", "",
             f"Built with `{command}`.", "",
             f"Source: {DISPLAY[dataset]} (licence: {licence}). The shards hold its audio unchanged (lossless, "
             f"bit-exact), so the same licence applies to them; cite the dataset (BibTeX below).", "",
             "## Contents", "",
             f"| split | samples | {unit} | hours | shards |", "|---|---:|---:|---:|---:|"]
    for split in SPLITS:
        r = [x for x in rows if x["split"] == split]
        hours = sum(x["duration_s"] for x in r) / 3600
        lines.append(f"| {split} | {len(r)} | {len({x['song'] for x in r})} | {hours:.4f} | "
                     f"{len({x['shard'] for x in r})} |")
    total_h = sum(x["duration_s"] for x in rows) / 3600
    n_rej = len({x["song"] for x in rejects})
    lines += ["", f"Total: {len(rows)} samples from {len({x['song'] for x in rows})} {unit}, {total_h:.4f} hours of "
                  f"audio, {n_shards} shards; {n_rej} {unit} rejected" + (" (listed below)." if n_rej else "."), ""]
    one = unit[:-1]
    seg = (f"a {cfg.segment_seconds:g} s segment of one {one} (its last, shorter segment is kept"
           + (f" unless under {cfg.min_segment_seconds:g} s)" if cfg.min_segment_seconds > 0 else ")")
           if cfg.segment_seconds > 0 else f"one whole {one}")
    fractions = "/".join(f"{f:g}" for f in cfg.split_fractions)
    if dataset == "signaltrain":
        lines += [f"One sample = {seg}: input and LA-2A target. Split: the dataset's own Train/Val/Test.", ""]
    else:
        kind = {"medleydb": f"the {cfg.tracks}", "enst_drums": "the microphones"}[dataset]
        cap = f" ({unit} with at most {cfg.max_tracks} of them)" if cfg.max_tracks is not None else ""
        how = ("song-disjoint" if dataset == "medleydb" else "per drummer, over takes")
        lines += [f"One sample = {seg}: input tracks = {kind}{cap}, plus the reference mix. "
                  f"Split: {how}, train/val/test {fractions}, seed {cfg.seed}.", ""]
    if dataset != "signaltrain" and rows:
        per_song = {x["song"]: x for x in rows}
        c = Counter(i for x in per_song.values() for i in x["instruments"])
        nt = Counter(x["n_tracks"] for x in per_song.values())
        lines += [f"{unit.capitalize()} by number of input tracks: "
                  + ", ".join(f"{k} tracks: {v}" for k, v in sorted(nt.items())), "",
                  f"Input tracks per instrument (over the {len(per_song)} {unit}):", ""]
        lines += [f"- {name}: {n}" for name, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]
        lines += [""]
    members = ("`<key>.input.*`, `<key>.target.*`" if dataset == "signaltrain" else
               "`<key>.t00.flac`, `<key>.t01.flac`, ... (one per input track, in the order of the JSON's "
               "`tracks`), `<key>.mix.flac`" + (", `<key>.dry_mix.flac`" if dataset == "enst_drums" else ""))
    lines += ["## Files", "",
              f"- `{dataset}-<split>-NNNNNN.tar`: WebDataset shards (plain tar). Sample `<key>` = `<key>.json` "
              f"(metadata) and {members}; FLAC keeps the source's bit depth, float sources are float32 WAV.",
              "- `manifest.parquet`: one row per sample (key, split, song, position, tracks, instruments, "
              "loudness, silence, shard, sha256); select with pandas, e.g. "
              "`pd.read_parquet(\"manifest.parquet\").query(\"split == 'train'\")`.",
              "- `shards.parquet`: size, sample count and sha256 per shard; `dmcdata verify <this folder>` "
              "re-checks them.",
              "- `rejects.parquet`: the rejected items and why; `build.json`: the options (a rerun into this "
              "folder must use the same ones).", ""]
    size = (f"{cfg.shard_size[1]} samples" if cfg.shard_size[0] == "samples"
            else f"{cfg.shard_size[1]} bytes of uncompressed PCM")
    lines += ["## Options", "",
              f"- segment seconds: {cfg.segment_seconds:g} (min {cfg.min_segment_seconds:g})",
              f"- shard size: {size}; order within a split: {cfg.order}; codec: {cfg.codec}",
              f"- split fractions: {', '.join(f'{f:g}' for f in cfg.split_fractions)}; seed: {cfg.seed}",
              f"- sample rate: {cfg.sample_rate} Hz; silence threshold: {cfg.silence_db:g} dBFS sample peak"]
    if dataset == "medleydb":
        lines.append(f"- tracks: {cfg.tracks}; max tracks: {cfg.max_tracks if cfg.max_tracks is not None else 'any'}")
    elif dataset == "enst_drums":
        lines.append(f"- max tracks: {cfg.max_tracks if cfg.max_tracks is not None else 'any'}")
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), ""]
    if rejects:
        lines += ["## Rejected", ""] + [f"- {r['song']}: {r['reason']}" for r in rejects] + [""]
    lines += ["## Citation", "", "```bibtex", bibtex, "```", ""]
    return "\n".join(lines)
