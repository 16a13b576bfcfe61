"""dmcmodels: neural audio-effect models and the differentiable mixing console (models, training, evaluation)."""

from __future__ import annotations

import sys

from dmcdata.cli import run

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("dmcmodels.summary", "print each model's parameter count and receptive field"),
    "train": ("dmcmodels.training.cli", "train a model (effect channel, la2a) into a run folder; resumable, torchrun-ready"),
    "eval": ("dmcmodels.evaluation.cli", "evaluate trained effect / la2a models and mixers against baselines: tables, examples, stimuli"),
    "process": ("dmcmodels.process", "run a trained effect model over a whole audio file in blocks"),
    "weights": ("dmcmodels.judge.weights_cli", "fetch the pretrained MTT_vgg / MSD_vgg weights (musicnn 0.1.0 wheel) as torch"),
    "tag": ("dmcmodels.judge.tag_cli", "print the top music tags of audio files (MTT_vgg / MSD_vgg)"),
    "fad": ("dmcmodels.judge.fad_cli", "Fréchet distance (FD, FD-infinity) between two sets of audio files"),
    "listen": ("dmcmodels.judge.listen.cli", "build an APE-style listening-test page; analyse its ratings"),
    "mix": ("dmcmodels.mix", "mix a folder of stems with a trained mixer: mix.wav + the editable mix document mix.json"),
    "fit": ("dmcmodels.fit", "recover a mix's console settings from its stems (gradient descent through the exact twin)"),
}


def main(argv: list[str] | None = None) -> int:
    return run(argv, prog="dmcmodels", subcommands=SUBCOMMANDS, description=__doc__.splitlines()[0],
               epilog="'dmcmodels COMMAND --help' explains each command's options.")


if __name__ == "__main__":
    sys.exit(main())
