"""The musicnn VGG music-tagging networks MTT_vgg / MSD_vgg (Pons & Serra 2019) as a torch module.

Layout: TensorFlow ran them NHWC with H = time (187 frames), W = mel (96 bands); here the input is
(batch, 187, 96) and the maps are NCHW (batch, channels, time, mel). Layers (``musicnn.models.vgg``):

    BatchNorm(1 channel)                                      on the log-mel input
    5 x [ Conv 3x3 'same', 128 filters -> ReLU -> BatchNorm(eps 1e-3, moving statistics) -> MaxPool 'valid' ]
        max-pool (kernel / stride): 4x1 / 2x2, 2x2 / 2, 2x2 / 2, 2x2 / 2, 4x4 / 4
        pool1 128x92x48, pool2 128x46x24, pool3 128x23x12, pool4 128x11x6, pool5 128x2x1
    flatten pool5 in TF's (time, mel, channel) order (256) -> Dense 50 -> sigmoid = tag probabilities

``embedding``: pool5 averaged over its 2 x 1 (time x mel) positions, 128 values per 3-s patch. This is
the embedding the Fréchet distance (``dmcmodels.judge.fad``) uses, one per patch, and the one a DMC
encoder initialised from these weights mean-pools per track.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

N_FILTERS = 128
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default
POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))


class MusicnnVGG(nn.Module):
    """VGG tagger; ``forward(x)`` takes log-mel patches (batch, 187, 96) and returns a dict of outputs."""

    def __init__(self, n_tags: int = 50, filters: int = N_FILTERS):
        super().__init__()
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5))
        self.bns = nn.ModuleList(nn.BatchNorm2d(filters, eps=BN_EPS) for _ in range(5))
        self.pools = nn.ModuleList(nn.MaxPool2d(k, s) for k, s in POOLS)
        self.dense = nn.Linear(2 * filters, n_tags) if n_tags else None  # n_tags=0: an embedding network only

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 187, 96) log-mel patches → (batch, filters) embeddings (pool5 averaged)."""
        h = self.bn_input(x.unsqueeze(1))
        for conv, bn, pool in zip(self.convs, self.bns, self.pools):
            h = pool(bn(torch.relu(conv(h))))
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``logits``/``tags`` (batch, n_tags), ``pool1``..``pool5`` (NCHW), ``embedding`` (batch, 128)."""
        if self.dense is None:
            raise ValueError("this MusicnnVGG has no tag layer (n_tags=0): use embed()")
        h = self.bn_input(x.unsqueeze(1))
        out = {}
        for i, (conv, bn, pool) in enumerate(zip(self.convs, self.bns, self.pools), start=1):
            h = pool(bn(torch.relu(conv(h))))
            out[f"pool{i}"] = h
        flat = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # TF flattens NHWC
        logits = self.dense(flat)
        out.update(logits=logits, tags=torch.sigmoid(logits), embedding=h.mean(dim=(2, 3)))
        return out


def state_dict_from_tf(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map musicnn's TF variable names (kernels HWIO, dense [in, out]) to this module's state dict."""
    sd = {}

    def bn(prefix: str, tf_name: str):
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            sd[f"{prefix}.{ours}"] = torch.from_numpy(np.array(tensors[f"{tf_name}/{theirs}"], dtype=np.float32))
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0)

    bn("bn_input", "batch_normalization")
    for i in range(5):
        kernel = np.asarray(tensors[f"{i + 1}CNN/kernel"], dtype=np.float32)  # (3, 3, in, out)
        sd[f"convs.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        sd[f"convs.{i}.bias"] = torch.from_numpy(np.array(tensors[f"{i + 1}CNN/bias"], dtype=np.float32))
        bn(f"bns.{i}", f"batch_normalization_{i + 1}")
    sd["dense.weight"] = torch.from_numpy(np.ascontiguousarray(np.asarray(tensors["dense/kernel"], dtype=np.float32).T))
    sd["dense.bias"] = torch.from_numpy(np.array(tensors["dense/bias"], dtype=np.float32))
    return sd


def tf_variable_names() -> list[str]:
    """The checkpoint variables :func:`state_dict_from_tf` reads (the Adam slots are left out)."""
    names = [f"batch_normalization/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
    for i in range(1, 6):
        names += [f"{i}CNN/kernel", f"{i}CNN/bias"]
        names += [f"batch_normalization_{i}/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
    return names + ["dense/kernel", "dense/bias"]
