"""The ``edtjax`` command line.

Subcommands:
    ``edtjax audit``         the whole workflow on the built-in case or the user's data, with a
                             report (HTML, JSON, PNG figures);
    ``edtjax sample ising``  sample the 2-D Ising model and print observables with errors;
    ``edtjax sample phi4``   sample scalar phi^4 theory likewise;
    ``edtjax sobol``         Sobol' indices of a built-in model with intervals and exact values;
    ``edtjax depth``         score new inputs against training data with a calibrated indicator.

User errors (bad arguments, unreadable files, existing output without ``--force``) print one line
on stderr and exit with status 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import sys

import edtjax
from edtjax.cli import audit, depth, sample, sobol
from edtjax.cli._args import UserError

_SUBCOMMANDS = (audit, sample, sobol, depth)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``edtjax`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="edtjax",
        description="Trustworthy machine-learning surrogates of physics simulations.",
    )
    parser.add_argument("--version", action="version", version=f"edtjax {edtjax.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _SUBCOMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (UserError, ValueError, FileExistsError) as err:
        print(f"edtjax: error: {err}", file=sys.stderr)
        return 2
