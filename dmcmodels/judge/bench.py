"""Embedding speed of the musicnn VGG port: seconds of audio per second of wall time, one CPU thread.

    flock /tmp/dmc-cpu.lock taskset -c 0 python -m dmcmodels.judge.bench --seconds 120

Writes a synthetic stereo 44.1 kHz WAV of ``--seconds`` (harmonic tones and noise), then times
reading + resampling to 16 kHz (``librosa.load``), the mel front end, and the network (MTT_vgg,
batches of 16 patches), each on its own and once more end to end (``analyse_file``). Best of
``--repeats`` runs. torch is limited to one thread here; pin the process to one core with taskset
so librosa/soxr/numpy do not use more.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    import soundfile as sf
    import torch

    from dmcmodels.judge import frontend
    from dmcmodels.judge.infer import analyse_file, run_patches
    from dmcmodels.judge.weights import load_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0, help="length of the test signal (s)")
    p.add_argument("--repeats", type=int, default=3, help="runs per stage; the best is reported")
    p.add_argument("--model", default="mtt_vgg", choices=("mtt_vgg", "msd_vgg"))
    p.add_argument("--cache", default=None, help="weights cache (default: $DMC_CACHE or the platform cache)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    net, _ = load_model(args.model, args.cache)
    rng = np.random.default_rng(0)
    sr = 44100
    t = np.arange(int(args.seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 331.0, 440.0)) + 0.1 * rng.standard_normal(t.size)
    x = np.stack([x, np.roll(x, 100)], axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.wav"
        sf.write(path, (0.2 * x / np.abs(x).max()).astype(np.float32), sr, subtype="PCM_16")
        audio = frontend.load_audio(path)
        patches = frontend.to_patches(frontend.log_mel(audio))
        audio_s = len(patches) * frontend.PATCH_SECONDS  # audio the network sees
        run_patches(net, patches[:2])  # warm-up
        stages = {
            "read + resample to 16 kHz": _best(lambda: frontend.load_audio(path), args.repeats),
            "mel front end": _best(lambda: frontend.log_mel(audio), args.repeats),
            f"network ({args.model})": _best(lambda: run_patches(net, patches), args.repeats),
            "end to end (analyse_file)": _best(lambda: analyse_file(net, path), args.repeats),
        }
    print(f"{args.seconds:.0f} s of 44.1 kHz stereo audio, {len(patches)} patches, torch threads = {torch.get_num_threads()}")
    for name, sec in stages.items():
        print(f"  {name:<28} {sec:7.3f} s  {audio_s / sec:8.1f} s of audio per second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
