"""Streaming torch datasets over shard URLs (local, file://, http(s)://, pipe:).

- :class:`EffectDataset`      effect-chain examples: synth-chain shards or generated on the fly
- :class:`PairedDataset`      SignalTrain input/target patches + knob conditioning, mixup
- :class:`MultitrackDataset`  all tracks + mix of a song segment; :func:`pad_tracks`, :func:`collate_song`
- :class:`StreamingLoader`    DataLoader wrapper with exact resume (``state_dict``) and skip counters

Splitting over ranks and workers, shuffling and resume are described in
:mod:`dmcdata.streaming.shardlist` and :mod:`dmcdata.streaming.base`.
"""

from dmcdata.streaming.base import DatasetKindError, ShardStream
from dmcdata.streaming.effect import EffectDataset
from dmcdata.streaming.loader import LoaderStateError, StreamingLoader, gather_state
from dmcdata.streaming.multitrack import MultitrackDataset, collate_song, pad_tracks
from dmcdata.streaming.paired import PairedDataset, mix_pair, sample_lambda
from dmcdata.streaming.reader import (AllShardsSkippedError, SampleDecodeError, SampleShapeError, ShardReadError,
                                     ShardSkipWarning, SkipLog)
from dmcdata.streaming.selection import SelectionError, select_samples
from dmcdata.streaming.urls import ShardOpenError, ShardTimeoutError, UrlError, expand_urls, open_url

__all__ = [
    "ShardStream", "DatasetKindError", "EffectDataset", "PairedDataset", "MultitrackDataset", "StreamingLoader", "gather_state",
    "LoaderStateError", "collate_song", "pad_tracks", "mix_pair", "sample_lambda", "SampleDecodeError", "SampleShapeError",
    "ShardReadError", "ShardSkipWarning", "SkipLog", "SelectionError", "select_samples", "ShardOpenError",
    "UrlError", "expand_urls", "open_url", "AllShardsSkippedError", "ShardTimeoutError",
]
