"""dmcmodels: neural audio-effect models and the differentiable mixing console (models, training, evaluation)."""

from __future__ import annotations

import sys

from dmcdata.cli import run

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("dmcmodels.summary", "print each model's parameter count and receptive field"),
    "fit": ("dmcmodels.fit", "recover a mix's console settings from its stems (gradient descent through the exact twin)"),
}


def main(argv: list[str] | None = None) -> int:
    return run(argv, prog="dmcmodels", subcommands=SUBCOMMANDS, description=__doc__.splitlines()[0],
               epilog="'dmcmodels COMMAND --help' explains each command's options.")


if __name__ == "__main__":
    sys.exit(main())
