"""Command line: ``python -m deblur <command> ...`` (also installed as ``deblur``).

Every pipeline step is one command, so each Snakemake rule can also be run by hand. Command
modules live in :mod:`deblur.commands`; each defines ``HELP``, ``add_arguments(parser)`` and
``run(args)`` and keeps heavy imports (torch, pandas) inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from deblur import __version__
from deblur.errors import DeblurError

# command name -> module in deblur.commands; the order is the order shown in --help
COMMANDS = {
    "synth": "synth",
    "sample": "sample",
    "train": "train",
    "deblur": "deblur",
    "baseline": "baseline",
    "selfdeblur": "selfdeblur",
    "evaluate": "evaluate",
    "aggregate": "aggregate",
    "study": "study",
    "plot": "plot",
    "ladder": "ladder",
}

DESCRIPTION = """\
SinGAN blind motion deblurring, reproduced and measured.

The commands are the pipeline's steps: Snakemake calls exactly these, and each also runs by
hand. `python -m deblur COMMAND --help` explains one.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deblur",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"deblur.commands.{module_name}")
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=(module.__doc__ or module.HELP).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def one_line(message: str) -> str:
    """``message`` on one line: line breaks (from a path or a foreign error text) escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args._run(args) or 0)
    except DeblurError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
