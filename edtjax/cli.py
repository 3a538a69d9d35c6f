"""The ``edtjax`` command line."""

from __future__ import annotations

import argparse
import sys

import edtjax


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``edtjax`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="edtjax",
        description="Trustworthy machine-learning surrogates of physics simulations.",
    )
    parser.add_argument("--version", action="version", version=f"edtjax {edtjax.__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
