"""Probe: read only the audio headers of an item's files (one Ray task per chunk of items).

Missing, unreadable or truncated files, another sample rate, an empty file, a wrong channel
count or files of different lengths make the item a reject with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.build.items import reject


def probe_item(item: dict, dataset: str, sample_rate: int) -> tuple[dict | None, dict | None]:
    """Read the headers of an item's files: ``(item with frames/subtypes, None)`` or ``(None, reject)``."""
    from dmcdata import audio

    infos = []
    for s in item["sources"]:
        try:
            info = audio.probe(s["path"])
        except audio.AudioError as e:
            return None, reject(dataset, item["id"], s["path"], str(e))
        if info.sample_rate != sample_rate:
            return None, reject(dataset, item["id"], s["path"],
                                f"wrong sample rate: {info.sample_rate} Hz, expected {sample_rate} Hz")
        if info.frames == 0:
            return None, reject(dataset, item["id"], s["path"], "empty audio file (0 frames)")
        bad_channels = channel_problem(s["role"], info.channels)
        if bad_channels:
            return None, reject(dataset, item["id"], s["path"], bad_channels)
        infos.append(info)
    roles = {s["role"]: i.channels for s, i in zip(item["sources"], infos)}
    if "input" in roles and "target" in roles and roles["input"] != roles["target"]:
        return None, reject(dataset, item["id"], item["sources"][1]["path"],
                            f"input has {roles['input']} channel(s), target {roles['target']}: a pair must match")
    frames = {i.frames for i in infos}
    if len(frames) > 1:
        ref = infos[0]
        odd = next(i for i in infos if i.frames != ref.frames)
        return None, reject(dataset, item["id"], odd.path,
                            f"files of different lengths: {Path(odd.path).name} has {odd.frames} frames, "
                            f"{Path(ref.path).name} has {ref.frames}")
    out = dict(item)
    out["frames"] = infos[0].frames
    out["sample_rate"] = sample_rate
    out["sources"] = [dict(s, subtype=i.subtype, channels=i.channels, bytes_per_frame=i.channels * i.bytes_per_sample,
                           file_size=os.path.getsize(s["path"]), mtime_ns=os.stat(s["path"]).st_mtime_ns)
                      for s, i in zip(item["sources"], infos)]
    return out, None


# channels each role may have (the shapes the streaming datasets document): a mix (and ENST's
# dry mix) is stereo; an input track, a SignalTrain input or target is mono or stereo. Anything
# else is rejected, never converted (a converted file would no longer be bit-exact).
ROLE_CHANNELS = {"mix": (2,), "extra": (2,), "track": (1, 2), "input": (1, 2), "target": (1, 2)}


def channel_problem(role: str, channels: int) -> str | None:
    allowed = ROLE_CHANNELS.get(role, (1, 2))
    if channels in allowed:
        return None
    want = " or ".join({1: "mono", 2: "stereo"}.get(c, str(c)) for c in allowed)
    what = {"mix": "the mix", "extra": "the dry mix", "track": "an input track"}.get(role, f"the {role}")
    return f"wrong channel count: {what} has {channels} channel(s), expected {want} (rejected, not converted)"


def probe_chunk(items: list[dict], dataset: str, sample_rate: int) -> list[tuple]:
    out = [probe_item(it, dataset, sample_rate) for it in items]
    warm_up()
    return out


def warm_up() -> None:
    """Load the numba loudness kernel (from its on-disk cache) while the worker is probing."""
    import numpy as np

    from dmcdata import stats

    for dtype in (np.int16, np.int32, np.float32):
        stats.integrated_loudness(np.zeros((17640, 1), dtype), 44100)
