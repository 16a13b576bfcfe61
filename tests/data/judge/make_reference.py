"""Make the reference outputs of the ORIGINAL musicnn graphs (TensorFlow) that tests/test_judge_vgg.py holds the port to.

Runs only in a scratch environment outside the project (TensorFlow is never a dependency of dmc):

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.*" numpy==1.26.4 librosa
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0
    /tmp/tfenv/bin/python tests/data/judge/make_reference.py tests/data/judge

Writes ``clip.flac`` (a synthetic 9.2 s stereo clip at 22.05 kHz, so the front end's resampling
and channel mean are exercised), ``reference_frontend.npz`` with

- ``mel16``: musicnn's own front end output (``musicnn.extractor.batch_data``: librosa mel
  spectrogram, transposed, rounded to float16) *before* the log, frames x 96, float16;
  The three 187-frame input patches fed to the graph are ``log10(10000 * mel16[:561] + 1)``
  in float32 (what ``batch_data`` returns, checked by an assertion);

and ``reference_<model>.npz`` per model with:

- ``logits``, ``taggram``: the graph's dense output and its sigmoid per patch (3 x 50);
- ``pool5``: the pool5 maps (3 x 2 x 1 x 128, NHWC as TensorFlow returns them);
- ``pool1_mean`` ... ``pool4_mean``: each pool map averaged over time and mel (3 x 128);
- ``taggram_extractor``: ``musicnn.extractor.extractor(clip.flac, model)``'s taggram, the
  original pipeline end to end (numpy 1.26, where its float16 step does not overflow).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import soundfile as sf


def synth_clip(seconds: float = 9.2, sr: int = 22050) -> np.ndarray:
    """A chord of harmonic tones over kick-like pulses, slightly different per channel (frames x 2)."""
    t = np.arange(int(seconds * sr)) / sr
    left = np.zeros_like(t)
    right = np.zeros_like(t)
    for i, f0 in enumerate((196.0, 293.66, 392.0, 493.88)):
        vib = 1.0 + 0.004 * np.sin(2 * np.pi * (5.0 + i) * t)
        phase = 2 * np.pi * f0 * np.cumsum(vib) / sr
        tone = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * (i + 1) * t))
        left += tone * (0.6 + 0.1 * i)
        right += tone * (0.9 - 0.1 * i)
    beat = np.zeros_like(t)
    for start in np.arange(0.0, seconds, 0.5):
        n = int(start * sr)
        m = min(len(t) - n, int(0.15 * sr))
        tt = np.arange(m) / sr
        beat[n:n + m] += np.sin(2 * np.pi * 60.0 * tt * (1 + 2 * np.exp(-tt * 40))) * np.exp(-tt * 25)
    x = np.stack([left + beat, right + beat], axis=1)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def reference(model: str, clip: str) -> dict[str, np.ndarray]:
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    import musicnn
    from musicnn import configuration, extractor, models

    labels = configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS
    n_frames = 187
    batch, mel = extractor.batch_data(clip, n_frames, n_frames)  # float16 mel -> float32 log inside
    # the float16 mel before the log, recomputed exactly as batch_data does it
    import librosa
    audio, sr = librosa.load(clip, sr=configuration.SR)
    mel16 = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=configuration.FFT_HOP,
                                           n_fft=configuration.FFT_SIZE, n_mels=configuration.N_MELS).T.astype(np.float16)
    assert np.array_equal(np.log10(10000 * mel16 + 1), mel), "batch_data changed its front end"
    patches = batch.astype(np.float32)

    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, configuration.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, *pools = models.define_model(x, is_training, model, len(labels))
        prob = tf.nn.sigmoid(y)
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(musicnn.__file__) + "/" + model + "/")
        logits, taggram, *pool_maps = sess.run([y, prob, *pools], feed_dict={x: patches, is_training: False})
    end_to_end, _ = extractor.extractor(clip, model=model, extract_features=False)
    out = {"mel16": mel16, "logits": logits, "taggram": taggram,
           "pool5": pool_maps[4], "taggram_extractor": np.asarray(end_to_end, dtype=np.float32),
           "tf_version": np.array(tf.__version__), "numpy_version": np.array(np.__version__),
           "librosa_version": np.array(librosa.__version__)}
    for i, p in enumerate(pool_maps[:4], start=1):
        out[f"pool{i}_mean"] = p.mean(axis=(1, 2))
    return out


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    clip = os.path.join(out_dir, "clip.flac")
    sf.write(clip, synth_clip(), 22050, subtype="PCM_16")
    for model in ("MTT_vgg", "MSD_vgg"):
        ref = reference(model, clip)
        np.savez_compressed(os.path.join(out_dir, "reference_frontend.npz"), mel16=ref.pop("mel16"),
                            librosa_version=ref["librosa_version"], numpy_version=ref["numpy_version"])
        np.savez_compressed(os.path.join(out_dir, f"reference_{model.lower()}.npz"), **ref)
        print(model, {k: v.shape for k, v in ref.items()})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
