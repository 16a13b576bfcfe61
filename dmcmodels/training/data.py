"""DATA → streaming datasets for the effect trainers, and the fixed validation set.

DATA is what the data commands write, in any form the streaming loaders take: a build or
synth-chain folder, a ``manifest.parquet`` (local or http), or shard URLs (brace ranges, http,
``pipe:``). What the shards hold decides how examples are made:

| shards hold                          | ``train effect``                              | ``train la2a``   |
|--------------------------------------|-----------------------------------------------|------------------|
| synth-chain examples (``synth``)     | ``EffectDataset(mode="shards")``              | —                |
| dry audio (multitrack / paired)      | ``EffectDataset(mode="generate")``: on the fly | —                |
| SignalTrain pairs (``paired``)       | (generate, from the inputs)                   | ``PairedDataset`` |

Splits: when DATA has a manifest with a ``split`` column and no selection is given, training
reads ``split == 'train'`` and validation ``split == 'val'``; without ``--val`` the validation set
comes from the training DATA's ``val`` split.

The validation set is *fixed*: its first ``val_examples`` examples are drawn once (rank 0's view of
the whole set, epoch 0, the run's seed) and kept in memory, so every validation of a run — and
of a resumed run — scores the same examples.
"""

from __future__ import annotations

import os
import tarfile

import torch

from dmcdata.streaming.base import sample_kind
from dmcdata.streaming.selection import MANIFEST_NAME, SelectionError, read_manifest
from dmcdata.streaming.urls import close_stream, expand_urls, join_url, local_path, open_url
from dmcmodels.training.config import ConfigError, TrainConfig

PATCH_PRESETS = (0.37, 0.74, 1.48)  # seconds (DESIGN §3)


class DataError(ValueError):
    """DATA that cannot feed this trainer (wrong kind of shards, empty split, unreadable)."""


def source(spec: list[str]):
    """One DATA string as itself (folder / manifest semantics), several as a URL list."""
    return spec[0] if len(spec) == 1 else list(spec)


def manifest_url(spec: list[str]) -> str | None:
    """Where DATA's manifest is: the manifest itself, ``FOLDER/manifest.parquet``, or beside the first shard."""
    first = os.fspath(spec[0])
    if first.endswith(".parquet"):
        return first
    p = local_path(first)
    if p is not None and p.is_dir():
        return str(p / MANIFEST_NAME)
    try:
        urls = expand_urls(source(spec))
    except ValueError:
        return None
    folder = urls[0].rsplit("/", 1)[0] if "/" in urls[0] else "."
    return join_url(folder, MANIFEST_NAME)


def split_selection(spec: list[str], split: str, selection: str | None, strict: bool = True) -> str | None:
    """The selection to use: the user's, else ``split == '<split>'`` when DATA's manifest has splits.

    A manifest without any row of ``split`` raises when ``strict`` (validation data taken from the
    training DATA, test data for an evaluation), else selects everything (DATA given for this role).
    """
    if selection is not None:
        return selection
    url = manifest_url(spec)
    if url is None or (local_path(url) is not None and not local_path(url).is_file()):
        return None
    try:
        df = read_manifest(url)
    except SelectionError:
        return None
    if "split" not in df.columns:
        return None
    if not (df["split"] == split).any():
        if not strict:
            return None
        raise DataError(f"{url}: no sample in split {split!r} (splits: {sorted(df['split'].unique())}); "
                        f"pass other DATA or a selection (--select / --val)")
    return f"split == '{split}'"


def shard_kind(spec: list[str]) -> str:
    """"synth", "multitrack" or "paired": what the first sample of DATA's first shard holds."""
    from dmcdata.streaming.selection import select_samples

    urls, _ = select_samples(source(spec))
    url = urls[0]
    try:
        stream = open_url(url)
    except OSError as e:
        raise DataError(f"cannot open {url}: {e}") from None
    names, key = [], None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                k, _, ext = member.name.partition(".")
                if key is None:
                    key = k
                elif k != key:
                    break
                names.append(ext)
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{url}: not a readable tar shard ({e})") from None
    finally:
        close_stream(stream, check=False)
    kind = sample_kind(names)
    if kind is None:
        raise DataError(f"{url}: sample {key!r} holds {sorted(names)}, not a dmcdata shard sample")
    return kind


def auto_patch_seconds(receptive_field: int, sample_rate: int = 44100) -> float:
    """The shortest DESIGN §3 patch length of at least twice the receptive field (else the longest)."""
    for s in PATCH_PRESETS:
        if s * sample_rate >= 2 * receptive_field:
            return s
    return PATCH_PRESETS[-1]


MIX_PATCH_SECONDS = 5.0  # thesis §5.3


def collate_fn(cfg: TrainConfig):
    """How the trainer batches examples: songs padded to a common track count (mix), else stacked."""
    if cfg.kind == "mix":
        from dmcdata.streaming import pad_tracks

        return pad_tracks
    return None


def make_dataset(cfg: TrainConfig, spec: list[str], selection: str | None, *, train: bool,
                 receptive_field: int | None, rank: int | None = None, world_size: int | None = None):
    """The streaming dataset for ``cfg.kind`` over ``spec`` (training: shuffled; validation: fixed order)."""
    from dmcdata.effects import AugmentConfig, EffectConfig, EffectError
    from dmcdata.streaming import EffectDataset, MultitrackDataset, PairedDataset

    kind = shard_kind(spec)
    common = dict(selection=selection, seed=cfg.seed + (0 if train else 7919), shuffle_shards=train,
                  item_shuffle_buffer=cfg.item_shuffle_buffer if train else 0, rank=rank, world_size=world_size)
    if cfg.kind == "mix":
        if kind != "multitrack":
            raise DataError(f"train mix needs multitrack shards (`dmcdata build medleydb|enst-drums`); {spec[0]} "
                            f"holds {kind} samples")
        # training: a random 5-s crop per segment and epoch, tracks in a random order; validation: fixed crops
        return MultitrackDataset(source(spec), patch_seconds=cfg.patch_seconds or MIX_PATCH_SECONDS, permute=train,
                                 mix=None if cfg.target == "mix" else cfg.target, **common)
    patch = cfg.patch_seconds or auto_patch_seconds(receptive_field, cfg.sample_rate)
    if cfg.kind == "la2a":
        if kind != "paired":
            raise DataError(f"train la2a needs SignalTrain shards (input/target pairs); {spec[0]} holds {kind} samples")
        return PairedDataset(source(spec), patch_seconds=patch, silence_db=-60.0,
                             mixup_alpha=cfg.mixup_alpha if train else None, **common)
    if kind == "synth":
        return EffectDataset(source(spec), mode="shards", **common)
    try:
        econf = EffectConfig(sample_rate=cfg.sample_rate, patch_seconds=patch, order=cfg.order, pan_law=cfg.pan_law,
                             processors=tuple(cfg.processors) if cfg.processors else EffectConfig().processors,
                             augment=AugmentConfig() if train else AugmentConfig(enabled=False))
    except EffectError as e:
        raise ConfigError(str(e)) from None
    return EffectDataset(source(spec), mode="generate", config=econf, patches_per_track=None if train else 2,
                         **common)


def collect(dataset, n: int, batch_size: int = 16, collate=None) -> dict:
    """The first ``n`` examples of ``dataset`` (epoch 0) as one batch of tensors (strings as lists).

    With ``collate`` (e.g. ``pad_tracks``) examples are collated one by one and kept as a list of
    batches of one under ``"examples"`` (songs with different track counts do not stack)."""
    from dmcdata.streaming import StreamingLoader

    if collate is not None:
        loader = StreamingLoader(dataset, batch_size=1, num_workers=0, collate_fn=collate)
        examples = []
        for batch in loader:
            examples.append(batch)
            if len(examples) >= n:
                break
        if not examples:
            raise DataError("the validation data yields no example (every shard skipped, or no sample selected)")
        return {"examples": examples, "key": [e["key"][0] for e in examples]}
    loader = StreamingLoader(dataset, batch_size=batch_size, num_workers=0)
    parts: list[dict] = []
    got = 0
    for batch in loader:
        parts.append(batch)
        got += len(batch["key"])
        if got >= n:
            break
    if not parts:
        raise DataError("the validation data yields no example (every shard skipped, or all audio silent)")
    out = {}
    for k in parts[0]:
        v = [p[k] for p in parts]
        out[k] = torch.cat(v)[:n] if isinstance(v[0], torch.Tensor) else sum((list(x) for x in v), [])[:n]
    return out
