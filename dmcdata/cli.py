"""dmcdata: multitrack datasets into WebDataset shards and Parquet manifests, and the DSP mixing console.

Every subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
``main(args) -> int``. Modules are imported only when their subcommand runs, so
``dmcdata --help`` stays fast and one broken optional piece never hides the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("dmcdata.demo.cli", "write the built-in demo corpus in the real datasets' layouts"),
    "build": ("pipelines.build", "ingest MedleyDB / ENST-drums / SignalTrain into shards + manifests (Ray)"),
    "verify": ("pipelines.verify", "re-hash every shard of a build against its manifests"),
    "synth-chain": ("pipelines.synth_chain", "write random effect-chain examples (input, target, params) to shards (Ray)"),
    "render": ("dmcdata.console.cli", "render a mix JSON document with the DSP console"),
    "quickstart": ("pipelines.quickstart", "the whole system on the demo corpus: data → models → evaluations → an editable mix"),
}


EPILOG = """typical session:
  dmcdata demo --out demo                                      # a small corpus in the real layouts
  dmcdata build medleydb --data-home demo/medleydb --out shards/medleydb --max-tracks 16
  dmcdata verify shards/medleydb
  dmcdata synth-chain --source shards/medleydb --out shards/chain --shards 10
  dmcdata render demo/medleydb/Audio/<Song>/<Song>_MIX_PARAMS.json --out mix.wav

'dmcdata COMMAND --help' explains each command's options."""


def build_parser(argv: list[str], prog: str = "dmcdata", subcommands: dict | None = None,
                 description: str | None = None, epilog: str | None = EPILOG) -> argparse.ArgumentParser:
    """Build the parser; only the subcommand named in ``argv`` is imported and given its options."""
    subcommands = SUBCOMMANDS if subcommands is None else subcommands
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or __doc__.splitlines()[0],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (_, help_text) in subcommands.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if name == wanted:
            module = importlib.import_module(subcommands[name][0])
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def run(argv: list[str] | None, **parser_kwargs) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv, **parser_kwargs)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line as given, for the records a command writes (dataset cards)
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C: one line; commands leave nothing a rerun takes as complete
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
