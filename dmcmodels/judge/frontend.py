"""The musicnn log-mel front end (Pons & Serra 2019), reproduced exactly; DSP only (numpy + librosa).

For one audio file:

1. ``librosa.load(path, sr=16000)``: channel mean, librosa's default resampler (soxr "HQ");
2. ``librosa.feature.melspectrogram(n_fft=512, hop_length=256, n_mels=96)``: periodic Hann window,
   centred frames with zero padding, power 2 (|STFT|^2), Slaney mel scale and Slaney area norm,
   0-8000 Hz; transposed to frames x mel;
3. rounded to float16 (the precision musicnn's features were trained on);
4. ``log10(10000 * x + 1)`` computed in float32. (musicnn multiplies the float16 array by the
   Python int 10000; under numpy < 2 that promotes to float32, under numpy >= 2 it stays float16
   and overflows to inf above x = 6.55, so here the product is taken explicitly in float32.)
5. patches of ``PATCH_FRAMES = 187`` frames (≈ 3 s) without overlap; an incomplete tail is dropped.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

SAMPLE_RATE = 16000  # Hz
N_FFT = 512  # samples (32 ms)
HOP = 256  # samples (16 ms)
N_MELS = 96
PATCH_FRAMES = 187  # frames per network input (= 1 + 2992 ms / 16 ms)
PATCH_SECONDS = PATCH_FRAMES * HOP / SAMPLE_RATE  # 2.992 s of audio per patch (no overlap)


class FrontendError(ValueError):
    """An audio file the front end cannot use (unreadable, empty, or shorter than one patch)."""


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """Mono float32 samples at 16 kHz, as ``librosa.load(path, sr=16000)`` gives them."""
    import librosa

    if not os.path.isfile(path):
        raise FrontendError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():  # librosa warns before falling back to audioread
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(os.fspath(path), sr=SAMPLE_RATE, mono=True)
    except Exception as exc:  # soundfile/audioread errors vary by format
        raise FrontendError(f"{path}: cannot read audio ({str(exc) or type(exc).__name__})") from None
    if audio.size == 0:
        raise FrontendError(f"{path}: no audio samples")
    if not np.all(np.isfinite(audio)):
        raise FrontendError(f"{path}: audio contains NaN or infinite samples")
    return audio


def mel_float16(audio: np.ndarray) -> np.ndarray:
    """Mel power spectrogram, frames x 96, rounded to float16 (steps 2-3 above)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=SAMPLE_RATE,
                                         n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return mel.T.astype(np.float16)


def log_compress(mel16: np.ndarray) -> np.ndarray:
    """``log10(10000 x + 1)`` in float32 of the float16 mel power (step 4)."""
    return np.log10(np.float32(10000.0) * np.asarray(mel16, dtype=np.float32) + np.float32(1.0))


def log_mel(audio: np.ndarray) -> np.ndarray:
    """musicnn's network input for a whole signal: frames x 96 float32."""
    return log_compress(mel_float16(audio))


def to_patches(logmel: np.ndarray, frames: int = PATCH_FRAMES) -> np.ndarray:
    """Non-overlapping patches (n, frames, 96); the incomplete tail is dropped (n may be 0)."""
    n = logmel.shape[0] // frames
    return np.ascontiguousarray(logmel[:n * frames].reshape(n, frames, logmel.shape[1]))


def audio_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """An in-memory signal as ``librosa.load(path, sr=16000)`` would give it from a float WAV of it:
    ``(samples,)`` or ``(channels, samples)`` float32 at ``sample_rate`` → mono float32 at 16 kHz
    (channel mean, then librosa's default resampler)."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise FrontendError(f"audio must be (samples,) or (channels, samples) with samples > 0, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise FrontendError("audio contains NaN or infinite samples")
    if y.ndim == 2:
        y = librosa.to_mono(y)
    if int(sample_rate) != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=int(sample_rate), target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return y


def audio_patches(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Network input patches (n, 187, 96) of an in-memory signal (:func:`audio_16k`); n may be 0."""
    return to_patches(log_mel(audio_16k(audio, sample_rate)))


def file_patches(path: str | os.PathLike) -> np.ndarray:
    """Network input patches of one audio file; at least one, else :class:`FrontendError`."""
    audio = load_audio(path)
    patches = to_patches(log_mel(audio))
    if len(patches) == 0:
        raise FrontendError(f"{path}: {audio.size / SAMPLE_RATE:.2f} s of audio is shorter than one "
                            f"{PATCH_SECONDS:.2f} s patch")
    return patches
