"""Argument types, size limits, input-file and output-folder checks shared by the subcommands."""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

MAX_ELEMENTS = 2**28
"""Most elements of one array a command may build (268,435,456: 1 GiB in float32, 2 GiB in
float64): the spins of all chains, the recorded samples, the rows times inputs of a Sobol'
design, the projections of the rows on random directions. Larger requests are refused before
any computation, naming the options to reduce."""


class UserError(Exception):
    """An error caused by the command's arguments or files; reported in one line, exit 2."""


def check_elements(what: str, count: int, reduce: str) -> None:
    """Refuse ``count > MAX_ELEMENTS`` array elements for ``what``, saying what to ``reduce``."""
    if count > MAX_ELEMENTS:
        shown = f"{count:,}" if count < 10**30 else f"about 2**{count.bit_length() - 1}"
        raise UserError(
            f"{what}: {shown} array elements, over the limit of 2**28 = {MAX_ELEMENTS:,} "
            f"(1 GiB in float32); reduce {reduce}"
        )


def check_input_file(flag: str, path: Path | None) -> None:
    """Refuse a ``path`` given to ``flag`` that is not a regular file of at most 2 GiB."""
    from edtjax._io import check_readable_file

    if path is None:
        return
    try:
        check_readable_file(path)
    except ValueError as err:
        raise UserError(f"{flag} {err}") from None


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


def seed(text: str) -> int:
    """argparse type: a PRNG seed, an integer in ``[0, 2**63 - 2]``."""
    from edtjax._checks import check_seed

    value = _integer(text, 0, "a seed >= 0")
    try:
        return check_seed("seed", value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            "expected " + str(err).removeprefix("seed must be ")
        ) from None


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
