"""Multitrack patches: all tracks + the reference mix of one song segment (DMC training data).

One output sample (numpy, float32 in [-1, 1]):

- ``tracks``  (N, T)  the N input tracks of the segment, each downmixed to mono by averaging its
  channels (``mono=True``; the console channel is mono in), or (N, C, T) with ``mono=False``
  (C = the widest track; narrower tracks are repeated to C channels)
- ``mix``     (2, T)  the stereo reference mix (absent if the dataset has none, e.g. ``mix=None``)
- ``valid``   int      frames of real audio (T unless the segment is shorter than a patch:
  zero-padded)
- ``key``, ``song``, ``start`` (frame of the patch in the segment), ``instruments`` (N names),
  ``n_tracks``, ``sample_rate``

Only the patch's frames are decoded (soundfile seeks inside FLAC/WAV). Two batching styles:
``collate_song`` (batch_size=1: one song, tracks along the batch dimension as DMC wants) and
``pad_tracks`` (B songs padded to the largest N, with a boolean ``track_mask``).
"""

from __future__ import annotations

import io
import json

import numpy as np
import soundfile as sf
import torch

from dmcdata.streaming.base import Item, ShardStream, check_kind, patch_starts
from dmcdata.streaming.reader import SampleDecodeError, SampleShapeError


def read_frames(data: bytes, start: int, frames: int, where: str) -> np.ndarray:
    """Decode frames ``[start, start + frames)`` of a FLAC/WAV member as (frames, channels) float32.

    Fewer frames come back if the member ends earlier.
    """
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if start:
                f.seek(start)
            return f.read(frames, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile/libsndfile raise several types
        raise SampleDecodeError(f"{where}: cannot decode audio: {e}") from None


def _fit(a: np.ndarray, length: int) -> np.ndarray:
    """(frames, C) -> (C, length): transpose, zero-pad or cut."""
    out = np.zeros((a.shape[1], length), dtype=np.float32)
    n = min(length, a.shape[0])
    out[:, :n] = a[:n].T
    return out


class MultitrackDataset(ShardStream):
    """Patches of all tracks + mix of song segments from multitrack shards (MedleyDB, ENST).

    patch_seconds: patch length (default 5 s). patches: ``1`` (default; k random crops per
    segment and epoch) or ``"all"`` (tile the segment). permute: shuffle the track order of
    every patch (seeded). mono: downmix tracks to mono. mix: the reference mix: ``None`` = the
    JSON's ``"mix"`` member; a JSON field naming a member (``"dry_mix"`` for ENST's dry mix); or a
    member name (``"dry_mix.flac"``).
    Plus every :class:`ShardStream` option (``selection="n_tracks <= 8"`` …).
    """

    def __init__(self, urls, *, patch_seconds: float = 5.0, patches: int | str = 1, permute: bool = False,
                 mono: bool = True, mix: str | None = None, **kwargs):
        if not patch_seconds > 0:
            raise ValueError(f"patch_seconds must be > 0, got {patch_seconds!r}")
        if patches != "all" and int(patches) < 1:
            raise ValueError(f"patches must be 'all' or an int >= 1, got {patches!r}")
        super().__init__(urls, **kwargs)  # after the argument checks: they are cheaper
        self.patch_seconds = float(patch_seconds)
        self.patches = patches
        self.permute = permute
        self.mono = mono
        self.mix = mix

    def expand(self, key, members, url):
        check_kind("MultitrackDataset", key, members, url, ("multitrack",))
        if "json" not in members:
            raise SampleDecodeError(f"{key}: no {key}.json member (members: {sorted(members)})")
        try:
            meta = json.loads(members["json"])
            sr = int(meta["sample_rate"])
            frames = int(meta["frames"])
            tracks = meta["tracks"]
            names = [t["member"] for t in tracks]
        except (ValueError, KeyError, TypeError) as e:
            raise SampleDecodeError(f"{key}.json: missing or invalid field ({e!r})") from None
        # mix: a member name, or a JSON field naming one (ENST's "dry_mix"); None: the JSON's "mix"
        mix_name = meta.get("mix") if self.mix is None else meta.get(self.mix, self.mix)
        if mix_name is not None and not isinstance(mix_name, str):
            raise SampleDecodeError(f"{key}.json: field {self.mix!r} does not name a member")
        for m in names + ([mix_name] if mix_name else []):
            if m not in members:
                raise SampleDecodeError(f"{key}: member {m!r} named in the JSON is missing")
        if not names:
            raise SampleDecodeError(f"{key}: the JSON lists no tracks")
        patch = int(round(self.patch_seconds * sr))
        rng = self.item_seed(key, "starts")
        for start in patch_starts(frames, patch, rng, self.patches):
            yield Item(key, f"{start}", lambda start=start: self._patch(key, meta, members, names, mix_name,
                                                                         start, patch, frames))

    def _patch(self, key, meta, members, names, mix_name, start, patch, frames) -> dict:
        instruments = [str(t.get("instrument", "")) for t in meta["tracks"]]
        order = list(range(len(names)))
        if self.permute:
            order = [int(i) for i in self.item_seed(key, ("perm", start)).permutation(len(names))]
            instruments = [instruments[i] for i in order]
        if self.mono:  # decode straight into the output rows
            arr = np.zeros((len(names), patch), dtype=np.float32)
            for row, i in enumerate(order):
                a = read_frames(members[names[i]], start, patch, f"{key}.{names[i]}")
                n = min(patch, a.shape[0])
                arr[row, :n] = a[:n, 0] if a.shape[1] == 1 else a[:n].mean(axis=1)
        else:
            tracks = [_fit(read_frames(members[names[i]], start, patch, f"{key}.{names[i]}"), patch) for i in order]
            c = max(t.shape[0] for t in tracks)
            odd = [(names[i], t.shape[0]) for i, t in zip(order, tracks) if t.shape[0] not in (1, c)]
            if odd:
                raise SampleShapeError(f"{key}: track {odd[0][0]} has {odd[0][1]} channels, which cannot be widened "
                                       f"to the sample's {c} (mono=False needs every track mono or {c}-channel)")
            arr = np.stack([np.repeat(t, c // t.shape[0], axis=0) if t.shape[0] != c else t for t in tracks])
        out = {
            "key": key, "song": str(meta.get("song", "")), "start": start,
            "valid": min(patch, frames - start), "tracks": arr, "instruments": instruments,
            "n_tracks": len(names), "sample_rate": int(meta["sample_rate"]),
        }
        if mix_name:
            mixa = _fit(read_frames(members[mix_name], start, patch, f"{key}.{mix_name}"), patch)
            if mixa.shape[0] not in (1, 2):
                raise SampleShapeError(f"{key}.{mix_name}: the mix has {mixa.shape[0]} channels; MultitrackDataset "
                                       f"gives mix as (2, T): stereo, or mono repeated")
            out["mix"] = np.repeat(mixa, 2, axis=0) if mixa.shape[0] == 1 else mixa
        return out


_LIST_FIELDS = ("key", "song", "instruments")


def pad_tracks(samples: list[dict]) -> dict:
    """Collate songs with different track counts: zero-pad to the largest N and add a mask.

    Returns ``tracks`` (B, N_max, T) (or (B, N_max, C, T)), ``track_mask`` (B, N_max) bool (True =
    real track), ``n_tracks`` (B,), ``sample_rate`` (B,) (when the samples have it), ``mix`` (B, 2, T), ``start``/``valid`` (B,), and lists
    ``key``, ``song``, ``instruments`` (padded entries are "").
    """
    if not samples:
        raise ValueError("pad_tracks got an empty batch")
    _check_batch_shapes(samples)
    n_max = max(s["n_tracks"] for s in samples)
    first = samples[0]["tracks"]
    tracks = torch.zeros((len(samples), n_max) + first.shape[1:], dtype=torch.float32)
    mask = torch.zeros((len(samples), n_max), dtype=torch.bool)
    for b, s in enumerate(samples):
        n = s["n_tracks"]
        tracks[b, :n] = torch.from_numpy(s["tracks"])
        mask[b, :n] = True
    out = {
        "tracks": tracks, "track_mask": mask,
        "n_tracks": torch.tensor([s["n_tracks"] for s in samples]),
        "start": torch.tensor([s["start"] for s in samples]),
        "valid": torch.tensor([s["valid"] for s in samples]),
        "key": [s["key"] for s in samples], "song": [s["song"] for s in samples],
        "instruments": [s["instruments"] + [""] * (n_max - s["n_tracks"]) for s in samples],
    }
    if all("mix" in s for s in samples):
        out["mix"] = torch.from_numpy(np.stack([s["mix"] for s in samples]))
    if all("sample_rate" in s for s in samples):
        out["sample_rate"] = torch.tensor([s["sample_rate"] for s in samples])
    return out


def _check_batch_shapes(samples: list[dict]) -> None:
    """Raise :class:`SampleShapeError` naming the sample whose arrays break the documented shapes:
    ``tracks`` (N, T) or (N, C, T) with N = ``n_tracks`` and T, C as in the batch's first sample;
    ``mix`` (2, T)."""
    first = samples[0]
    ref = np.shape(first.get("tracks"))[1:]
    for s in samples:
        key = s.get("key", "?")
        t = np.shape(s.get("tracks"))
        if len(t) not in (2, 3) or t[0] != s.get("n_tracks") or t[1:] != ref:
            raise SampleShapeError(f"pad_tracks: sample {key!r} has tracks of shape {t} with n_tracks="
                                   f"{s.get('n_tracks')}, the batch's first sample {first.get('key', '?')!r} "
                                   f"(N, {', '.join(map(str, ref))}): every sample needs (n_tracks, "
                                   f"{', '.join(map(str, ref))})")
        if "mix" in s and np.shape(s["mix"]) != (2, ref[-1]):
            raise SampleShapeError(f"pad_tracks: sample {key!r} has a mix of shape {np.shape(s['mix'])}, "
                                   f"expected (2, {ref[-1]})")


def collate_song(samples: list[dict]) -> dict:
    """Collate a batch of exactly one song: ``tracks`` (N, T), ``mix`` (2, T) as tensors."""
    if len(samples) != 1:
        raise ValueError(f"collate_song batches one song at a time (batch_size=1), got {len(samples)}")
    s = dict(samples[0])
    s["tracks"] = torch.from_numpy(s["tracks"])
    if "mix" in s:
        s["mix"] = torch.from_numpy(s["mix"])
    return s
