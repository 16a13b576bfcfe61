"""Run the VGG port over audio files: per-patch tag probabilities and embeddings (torch, no grad)."""

from __future__ import annotations

import os

import numpy as np
import torch

from dmcmodels.judge.frontend import file_patches
from dmcmodels.judge.vgg import MusicnnVGG

BATCH_PATCHES = 16  # patches per forward pass (about 0.4 GB of activations at float32)


@torch.no_grad()
def run_patches(net: MusicnnVGG, patches: np.ndarray, batch: int = BATCH_PATCHES) -> dict[str, np.ndarray]:
    """``tags`` (n, n_tags) and ``embedding`` (n, 128) for log-mel patches (n, 187, 96)."""
    tags, emb = [], []
    for i in range(0, len(patches), batch):
        out = net(torch.from_numpy(np.ascontiguousarray(patches[i:i + batch], dtype=np.float32)))
        tags.append(out["tags"].numpy())
        emb.append(out["embedding"].numpy())
    n_tags = net.dense.out_features
    return {"tags": np.concatenate(tags) if tags else np.zeros((0, n_tags), np.float32),
            "embedding": np.concatenate(emb) if emb else np.zeros((0, net.dense.in_features // 2), np.float32)}


def analyse_file(net: MusicnnVGG, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Front end + network for one file (raises ``FrontendError`` for unusable audio)."""
    return run_patches(net, file_patches(path))
