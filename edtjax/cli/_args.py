"""Argument types and output-folder handling shared by the subcommands."""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path


class UserError(Exception):
    """An error caused by the command's arguments or files; reported in one line, exit 2."""


def _integer(text: str, minimum: int, expectation: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from err
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expectation}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _integer(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _integer(text, 0, "an integer >= 0")


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def prepare_out(out: Path | None, force: bool) -> None:
    """Create the output folder ``out``; refuse an existing one unless ``force``."""
    if out is None:
        return
    if out.exists() and not force:
        raise UserError(f"output folder {out} exists; pass --force to overwrite it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create output folder {out}: {err.strerror}") from err


def plain_doc(text: str) -> str:
    """Docstring text without reStructuredText roles and literals, for ``--help``."""
    return re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")


def check_out_dir(out: Path | None, force: bool) -> None:
    """Refuse an existing ``out`` without ``force`` or a place where it cannot be created.

    Called before any long computation, so that a run never ends in an unwritable folder.
    """
    if out is None:
        return
    if out.exists() and not force:
        raise UserError(f"output folder {out} exists; pass --force to overwrite it")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, expected a folder")
    folder = unwritable_parent(out)
    if folder is not None:
        raise UserError(f"cannot create output folder {out}: {folder} is not a writable folder")


def unwritable_parent(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a writable folder, else ``None``
    (``path`` and its missing parents can then be created)."""
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    return None if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK) else folder


def column_names(flag: str, text: str | None) -> list[str] | None:
    """The comma-separated column names given to ``flag``, or ``None`` when not given."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise UserError(f"{flag} must be comma-separated names, got {text!r}")
    return names
