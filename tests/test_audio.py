"""Bit-exact reading, lossless encoding and truncation detection (dmcdata.audio)."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from dmcdata import audio
from tests.trees import truncate_file, write_wav

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@pytest.mark.parametrize("subtype", SUBTYPES)
@pytest.mark.parametrize("channels", [1, 2])
def test_roundtrip_is_bit_exact(tmp_path, subtype, channels):
    path = write_wav(tmp_path / "x.wav", 3001, channels, 44100, subtype)
    info = audio.probe(path)
    seg = audio.read_segment(path, 100, 2000, subtype=info.subtype)
    assert seg.dtype == np.dtype(audio.read_dtype(subtype)) and seg.shape == (2000, channels)
    for codec in ("flac", "wav"):
        ext, blob = audio.encode(seg, 44100, info.subtype, codec)
        back, sr = audio.decode(blob)
        assert sr == 44100
        np.testing.assert_array_equal(back, seg)
        # independent reference: soundfile reading the source file in float64 must agree too
        ref = sf.read(str(path), start=100, stop=2100, dtype="float64", always_2d=True)[0]
        got = sf.read(io.BytesIO(blob), dtype="float64", always_2d=True)[0]
        np.testing.assert_array_equal(got, ref)
        if codec == "flac":
            assert ext == ("flac" if subtype in ("PCM_U8", "PCM_16", "PCM_24") else "wav")
        # the output keeps the source's bit depth
        assert sf.info(io.BytesIO(blob)).subtype == {"PCM_U8": "PCM_S8" if ext == "flac" else "PCM_U8"}.get(subtype, subtype)


def test_24bit_reads_as_shifted_int32(tmp_path):
    path = tmp_path / "a.wav"
    ints = np.array([[1], [-1], [8388607], [-8388608]], dtype=np.int32)
    sf.write(str(path), ints << 8, 44100, subtype="PCM_24")
    raw = path.read_bytes()
    data_at = raw.index(b"data") + 8
    assert raw[data_at:data_at + 3] == b"\x01\x00\x00"  # 24-bit little endian on disk
    np.testing.assert_array_equal(audio.read_segment(path), ints << 8)


def test_encoding_is_deterministic(tmp_path):
    path = write_wav(tmp_path / "x.wav", 5000, 2, 44100, "FLOAT")
    seg = audio.read_segment(path)
    assert audio.encode(seg, 44100, "FLOAT") == audio.encode(seg, 44100, "FLOAT")
    seg16 = audio.read_segment(write_wav(tmp_path / "y.wav", 5000, 2, 44100, "PCM_16"))
    assert audio.encode(seg16, 44100, "PCM_16") == audio.encode(seg16, 44100, "PCM_16")


def test_truncated_file_is_detected(tmp_path):
    path = write_wav(tmp_path / "t.wav", 4410, 2, 44100, "PCM_24")
    audio.check_wav_complete(path)  # intact: no error
    truncate_file(path, 0.5)
    # soundfile alone would happily return fewer frames
    assert sf.info(str(path)).frames < 4410
    with pytest.raises(audio.TruncatedAudioError, match="t.wav.*promises"):
        audio.probe(path)


def test_short_but_complete_file_is_not_truncated(tmp_path):
    path = write_wav(tmp_path / "s.wav", 10, 1, 44100, "PCM_16")
    assert audio.probe(path).frames == 10


def test_chunk_after_data_and_odd_padding(tmp_path):
    # a WAV with an odd-sized chunk before 'data' and a LIST chunk after it
    pcm = np.arange(-5, 6, dtype="<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"junk" + struct.pack("<I", 3) + b"abc\0"
    body += b"data" + struct.pack("<I", len(pcm)) + pcm + b"LIST" + struct.pack("<I", 4) + b"INFO"
    path = tmp_path / "c.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    audio.check_wav_complete(path)
    np.testing.assert_array_equal(audio.read_segment(path)[:, 0], np.arange(-5, 6))
    path.write_bytes(path.read_bytes()[: -len(pcm) - 12 + 4])  # cut inside the data chunk
    with pytest.raises(audio.TruncatedAudioError):
        audio.check_wav_complete(path)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(audio.AudioError, match="missing"):
        audio.probe(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(audio.AudioError, match="bad.wav"):
        audio.probe(bad)


def test_read_past_end_raises(tmp_path):
    path = write_wav(tmp_path / "x.wav", 100, 1)
    with pytest.raises(audio.AudioError, match="expected 50 frames"):
        audio.read_segment(path, 80, 50)


def test_wav_bytes_matches_soundfile_reader():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (257, 3)).astype(np.float32)
    back, sr = audio.decode(audio.wav_bytes(x, 22050, "FLOAT"))
    assert sr == 22050
    np.testing.assert_array_equal(back, x)
