"""Print the port's agreement with the original musicnn graphs' reference outputs (max abs differences).

    python -m dmcmodels.judge.agreement tests/data/judge

The folder holds what ``tests/data/judge/make_reference.py`` wrote with TensorFlow: ``clip.flac``,
``reference_frontend.npz`` and ``reference_<model>.npz``. Needs the weights (``dmcmodels weights fetch``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def agreement(folder: str | Path, model: str, cache=None) -> dict[str, float]:
    from dmcmodels.judge import frontend
    from dmcmodels.judge.infer import analyse_file
    from dmcmodels.judge.weights import load_model

    folder = Path(folder)
    ref = np.load(folder / f"reference_{model}.npz")
    mel16 = np.load(folder / "reference_frontend.npz")["mel16"]
    ours16 = frontend.mel_float16(frontend.load_audio(folder / "clip.flac"))
    net, _ = load_model(model, cache)
    with torch.no_grad():
        out = net(torch.from_numpy(frontend.to_patches(frontend.log_compress(mel16))))
    diff = {"front end: float16 mel values differing": float(np.sum(ours16 != mel16)),
            "taggram": np.abs(out["tags"].numpy() - ref["taggram"]).max(),
            "logits": np.abs(out["logits"].numpy() - ref["logits"]).max(),
            "pool5": np.abs(out["pool5"].permute(0, 2, 3, 1).numpy() - ref["pool5"]).max()}
    for i in range(1, 5):
        diff[f"pool{i} channel means"] = np.abs(out[f"pool{i}"].mean(dim=(2, 3)).numpy() - ref[f"pool{i}_mean"]).max()
    diff["file -> taggram vs musicnn extractor()"] = np.abs(analyse_file(net, folder / "clip.flac")["tags"]
                                                           - ref["taggram_extractor"]).max()
    return {k: float(v) for k, v in diff.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="folder with clip.flac and the reference .npz files")
    p.add_argument("--cache", default=None, help="weights cache (default: $DMC_CACHE or the platform cache)")
    args = p.parse_args(argv)
    rows = {m: agreement(args.folder, m, args.cache) for m in ("mtt_vgg", "msd_vgg")}
    print(f"{'max abs difference':<42} {'mtt_vgg':>10} {'msd_vgg':>10}")
    for key in rows["mtt_vgg"]:
        print(f"{key:<42} {rows['mtt_vgg'][key]:>10.2g} {rows['msd_vgg'][key]:>10.2g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
