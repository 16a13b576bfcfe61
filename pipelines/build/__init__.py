"""``dmcdata build {medleydb,enst-drums,signaltrain}``: datasets -> WebDataset shards + Parquet manifests.

Stages (all deterministic, so the same inputs and seed give byte-identical output whatever the
number of workers, and a killed build resumes to exactly the output of an uninterrupted one),
each in its own module:

1. scan (``items.py``, the recipes) - the dataset's loader indexes the user's copy (file names
   from the metadata); unusable items (malformed YAML, missing channel, unpaired file) become
   rejects. Items are filtered (``--max-tracks``) and assigned to train/val/test by a seeded hash
   order over every item found (so a subset never reshuffles the split).
2. probe (``probe.py``) - one Ray task per chunk of items reads only the audio headers: missing,
   truncated, wrong sample rate or channel count, different lengths -> the item is rejected with
   the reason.
3. plan (``plan.py``) - items are cut into segments, samples ordered (seeded) and packed into
   shards ``<dataset>-<split>-NNNNNN.tar`` by sample count or by uncompressed PCM bytes.
4. shards (``encode.py``, the writer) - one Ray task per shard reads the segments bit-exactly,
   encodes them losslessly, computes loudness / silence statistics, writes the tar atomically,
   then its manifest part ``.parts/<shard>.json`` atomically.
5. resume (``resume.py``) - which ``--out`` may be used, which finished shards a rerun keeps (a
   part that matches the plan and a file that re-hashes to the recorded sha256), what it may delete.
6. finish (``driver.py``, ``card.py``) - ``shards.parquet``, ``rejects.parquet``,
   ``dataset_card.md`` and, last, ``manifest.parquet`` (its presence marks a complete build).

Options and ``build.json`` are in ``options.py``; the command line's ``main`` in ``cli.py``.
"""

from pipelines.build.card import canonical_command, dataset_card
from pipelines.build.cli import main
from pipelines.build.driver import build, write_reject_table
from pipelines.build.encode import encode_sample, manifest_row, write_shard
from pipelines.build.items import (ITEM_BUILDERS, assign, enst_items, medleydb_items, nothing_found_message, reject,
                                   signaltrain_items, split_counts, stable_order)
from pipelines.build.options import (CONFIG_FILE, DATASETS, EXPECTED_RATE, FINAL_FILES, PARTS_DIR, SPLITS, BuildError,
                                     add_arguments, build_config, check_options, parse_fractions, parse_shard_size)
from pipelines.build.plan import fingerprint, plan_shards
from pipelines.build.probe import channel_problem, probe_chunk, probe_item
from pipelines.build.resume import check_out_folder, clean_stale, load_done_part

__all__ = [
    "BuildError", "CONFIG_FILE", "DATASETS", "EXPECTED_RATE", "FINAL_FILES", "ITEM_BUILDERS", "PARTS_DIR", "SPLITS",
    "add_arguments", "assign", "build", "build_config", "canonical_command", "channel_problem", "check_options",
    "check_out_folder", "clean_stale", "dataset_card", "encode_sample", "enst_items", "fingerprint",
    "load_done_part", "main", "manifest_row", "medleydb_items", "nothing_found_message", "parse_fractions",
    "parse_shard_size", "plan_shards", "probe_chunk", "probe_item", "reject", "signaltrain_items", "split_counts",
    "stable_order", "write_reject_table", "write_shard",
]
