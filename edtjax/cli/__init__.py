"""The ``edtjax`` command line.

Subcommands::

    edtjax audit             the whole workflow on the built-in case or the user's data, with a
                             report (HTML, JSON, PNG figures);
    edtjax sample ising      sample the 2-D Ising model and print observables with errors;
    edtjax sample phi4       sample scalar phi^4 theory likewise;
    edtjax sobol             Sobol' indices of a built-in model with intervals and exact values;
    edtjax depth             score new inputs against training data with a calibrated indicator.

User errors (bad arguments, unreadable or oversized files, sizes over the limits of
``edtjax.cli._args.MAX_ELEMENTS``, existing output without ``--force``) print one line on
stderr and exit with status 2; they never print a traceback. Sizes and files are checked before
any computation; a run that still exhausts the memory ends the same way.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

import edtjax
from edtjax.cli import audit, depth, sample, sobol
from edtjax.cli._args import UserError

_SUBCOMMANDS = (audit, sample, sobol, depth)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` reports exhausted host or device memory."""
    if isinstance(err, MemoryError):
        return True
    return type(err).__name__ in ("JaxRuntimeError", "XlaRuntimeError") and (
        "RESOURCE_EXHAUSTED" in str(err) or "Out of memory" in str(err)
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``edtjax`` command and its subcommands."""
    parser = _Parser(
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
    except Exception as err:
        if not _out_of_memory(err):
            raise
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(
            f"edtjax: error: out of memory ({detail}); reduce the sizes of the run",
            file=sys.stderr,
        )
        return 2
