"""Bit-exact audio reading and lossless encoding for the ingest pipeline.

Reading keeps the source's integer samples exactly:

- 16-bit PCM (and 8-bit) -> ``int16``
- 24-bit PCM -> ``int32`` exactly as soundfile returns it (the 24-bit value shifted left by 8)
- 32-bit PCM -> ``int32``
- 32-bit float -> ``float32``; 64-bit float -> ``float64``

Encoding writes the same numbers back without loss: integer PCM of at most 24 bits becomes FLAC
with the source's bit depth; 32-bit integer and float sources become WAV with the source's
subtype (FLAC cannot hold them). WAV files are written by this module directly (no libsndfile
``PEAK`` chunk, whose timestamp would make the bytes differ between runs).

``check_wav_complete`` parses the RIFF/RF64 header: a ``data`` chunk that promises more bytes
than the file holds means the file was truncated (soundfile would silently read fewer frames).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


class AudioError(Exception):
    """An audio file that cannot be ingested; the message names the file and the problem."""


class TruncatedAudioError(AudioError):
    """The file's header promises more audio data than the file holds."""


# source subtype -> (numpy dtype to read, output container, output subtype)
_SUBTYPES: dict[str, tuple[str, str, str]] = {
    "PCM_S8": ("int16", "FLAC", "PCM_S8"),
    "PCM_U8": ("int16", "FLAC", "PCM_S8"),
    "PCM_16": ("int16", "FLAC", "PCM_16"),
    "PCM_24": ("int32", "FLAC", "PCM_24"),
    "PCM_32": ("int32", "WAV", "PCM_32"),
    "FLOAT": ("float32", "WAV", "FLOAT"),
    "DOUBLE": ("float64", "WAV", "DOUBLE"),
}


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of one audio file (no samples read)."""

    path: str
    sample_rate: int  # Hz
    frames: int  # samples per channel
    channels: int
    subtype: str  # soundfile subtype, e.g. PCM_24
    format: str  # soundfile container, e.g. WAV

    @property
    def bytes_per_sample(self) -> int:
        return {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                "FLOAT": 4, "DOUBLE": 8}.get(self.subtype, 4)

    @property
    def pcm_bytes(self) -> int:
        """Size of the uncompressed audio data in bytes (frames x channels x bytes per sample)."""
        return self.frames * self.channels * self.bytes_per_sample

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def read_dtype(subtype: str) -> str:
    """The numpy dtype that holds ``subtype`` samples without loss."""
    try:
        return _SUBTYPES[subtype][0]
    except KeyError:
        raise AudioError(f"unsupported audio subtype {subtype!r}") from None


def check_wav_complete(path: str | os.PathLike) -> None:
    """Raise :class:`TruncatedAudioError` if a RIFF/RF64 WAV file's data chunk runs past its end.

    Non-RIFF files (FLAC, ...) are not checked here. A header that cannot be parsed at all raises
    :class:`AudioError`.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64", b"RIFX"):
            if head[:4] in (b"RIFF", b"RF64", b"RIFX"):
                raise AudioError(f"{path}: RIFF file is not WAVE")
            return
        endian = ">" if head[:4] == b"RIFX" else "<"
        ds64_data = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack(endian + "4sI", f.read(8))
            body = pos + 8
            if cid == b"ds64":
                ds64 = f.read(min(csize, 28))
                if len(ds64) >= 16:  # riff size (8 bytes), data size (8 bytes), ...
                    ds64_data = struct.unpack("<QQ", ds64[:16])[1]
            if cid == b"data":
                promised = ds64_data if (csize == 0xFFFFFFFF and ds64_data is not None) else csize
                available = size - body
                if promised > available:
                    raise TruncatedAudioError(
                        f"{path}: truncated: the WAV data chunk promises {promised} bytes but the file "
                        f"holds only {available} after the header")
                return
            pos = body + csize + (csize & 1)
        raise TruncatedAudioError(f"{path}: truncated: no complete 'data' chunk found in the WAV header")


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a readable regular file, in words (None if it is one): missing, a
    broken symlink, a symlink loop, a folder, not a regular file, or not readable."""
    import errno
    import stat as stat_mod

    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"missing audio file (broken symlink to {os.readlink(path)})"
        return "missing audio file"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop: the path resolves to itself, not to an audio file"
        if e.errno == errno.EACCES:
            return "permission denied: cannot look at the file"
        return f"cannot look at the file ({e.strerror or e})"
    if stat_mod.S_ISDIR(st.st_mode):
        return "is a folder, not an audio file"
    if not stat_mod.S_ISREG(st.st_mode):
        return "not a regular file (a device, socket or pipe), not an audio file"
    if not os.access(path, os.R_OK):
        return "permission denied: the file is not readable"
    return None


def probe(path: str | os.PathLike) -> AudioInfo:
    """Header facts of ``path``; raises :class:`AudioError` if missing, unreadable or truncated."""
    path = Path(path)
    why = file_problem(path)
    if why is not None:
        raise AudioError(f"{path}: {why}")
    try:
        check_wav_complete(path)
    except OSError as e:
        raise AudioError(f"{path}: cannot read the file ({e.strerror or e})") from None
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile's messages vary; name the file
        raise AudioError(f"{path}: unreadable audio: {e}") from None
    if info.subtype not in _SUBTYPES:
        raise AudioError(f"{path}: unsupported audio subtype {info.subtype!r}")
    return AudioInfo(str(path), int(info.samplerate), int(info.frames), int(info.channels), info.subtype, info.format)


def read_segment(path: str | os.PathLike, start: int = 0, frames: int = -1,
                 subtype: str | None = None) -> np.ndarray:
    """Read ``frames`` frames from ``start`` as a ``(frames, channels)`` array, bit-exact.

    The dtype follows the source subtype (see module docstring). Raises :class:`AudioError`
    if fewer frames than asked for come back.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            st = subtype or f.subtype
            f.seek(start)
            data = f.read(frames, dtype=read_dtype(st), always_2d=True)
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(f"{path}: cannot read audio: {e}") from None
    if frames >= 0 and data.shape[0] != frames:
        raise AudioError(f"{path}: expected {frames} frames from frame {start}, got {data.shape[0]}")
    return data


def output_extension(subtype: str, codec: str = "flac") -> str:
    """Member extension (``flac`` or ``wav``) that holds ``subtype`` losslessly with ``codec``."""
    if codec == "wav":
        return "wav"
    return "flac" if _SUBTYPES[subtype][1] == "FLAC" else "wav"


def encode(data: np.ndarray, sample_rate: int, subtype: str, codec: str = "flac") -> tuple[str, bytes]:
    """Encode ``data`` (as returned by :func:`read_segment`) losslessly; returns ``(ext, bytes)``.

    ``codec='flac'`` uses FLAC where the subtype allows (<= 24-bit integer PCM) and WAV otherwise;
    ``codec='wav'`` always writes WAV with the source subtype.
    """
    ext = output_extension(subtype, codec)
    if ext == "flac":
        buf = io.BytesIO()
        sf.write(buf, data, sample_rate, format="FLAC", subtype=_SUBTYPES[subtype][2])
        return ext, buf.getvalue()
    return ext, wav_bytes(data, sample_rate, subtype)


def wav_bytes(data: np.ndarray, sample_rate: int, subtype: str) -> bytes:
    """A minimal, deterministic RIFF/WAVE file holding ``data`` in ``subtype``.

    Integer subtypes are written as PCM (format tag 1; 8-bit as unsigned), floats as IEEE float
    (format tag 3). ``data`` has the dtype :func:`read_dtype` gives for ``subtype``.
    """
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    frames, channels = data.shape
    if subtype in ("PCM_S8", "PCM_U8"):
        raw = ((data.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
        bits, tag = 8, 1
    elif subtype == "PCM_16":
        raw, bits, tag = data.astype("<i2").tobytes(), 16, 1
    elif subtype == "PCM_24":
        v = (data.astype(np.int32) >> 8).astype("<i4")
        raw = v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        bits, tag = 24, 1
    elif subtype == "PCM_32":
        raw, bits, tag = data.astype("<i4").tobytes(), 32, 1
    elif subtype == "FLOAT":
        raw, bits, tag = data.astype("<f4").tobytes(), 32, 3
    elif subtype == "DOUBLE":
        raw, bits, tag = data.astype("<f8").tobytes(), 64, 3
    else:
        raise AudioError(f"cannot write WAV subtype {subtype!r}")
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, sample_rate, sample_rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(raw)) + raw + (b"\0" if len(raw) & 1 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def decode(data: bytes, dtype: str | None = None) -> tuple[np.ndarray, int]:
    """Decode encoded member bytes to ``(frames, channels)`` samples and the sample rate.

    Without ``dtype`` the lossless dtype of the member's subtype is used.
    """
    with sf.SoundFile(io.BytesIO(data)) as f:
        arr = f.read(dtype=dtype or read_dtype(f.subtype), always_2d=True)
        return arr, int(f.samplerate)
