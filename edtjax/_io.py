"""Safe on-disk formats: atomic ``.npz`` + JSON writes, pickle-free bounded reads, no overwrite.

Files are written to a temporary name in the destination folder and moved into place with
:func:`os.replace`, so a crash leaves either the old file or the new one, never a torn file; a
temporary left behind by a killed process is removed by :func:`remove_temporaries`. Written
files get the mode ``0o666`` less the user's umask, as :func:`open` gives.

Reads never trust a file: arrays are read with ``allow_pickle=False``; only regular files are
read (a link to ``/dev/zero`` or a pipe is refused); and at most ``max_bytes`` bytes
(:data:`MAX_READ_BYTES`, 2 GiB, by default) are read or decompressed from one file. For an
``.npz`` archive the sizes its headers declare (the zip entries' uncompressed sizes and every
``.npy`` header's ``shape`` times item size) are checked *before* anything is decompressed or
allocated, so that a small archive declaring terabytes is refused at once. Every refusal is a
``ValueError`` of one line naming the file and the limit.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_READ_BYTES",
    "atomic_write_bytes",
    "check_readable_file",
    "check_writable",
    "load_arrays",
    "load_json",
    "read_text",
    "remove_temporaries",
    "save_arrays",
    "save_json",
]

MAX_READ_BYTES = 2 * 1024**3
"""Default limit on the bytes read (or decompressed) from one file: 2 GiB."""

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]{8,32}\.tmp")
"""Temporary files of :func:`atomic_write_bytes`: ``.<name>.<random>.tmp`` beside ``<name>``."""


def _size(n: int) -> str:
    """``n`` bytes in words: ``"2 GiB"``, ``"1.5 MiB"``, ``"12 bytes"``."""
    if n < 1024:
        return f"{n} bytes"
    exponent = min(int(math.log(n, 1024)), 6)
    return f"{n / 1024**exponent:.3g} {'KMGTPE'[exponent - 1]}iB"


def _check_max_bytes(max_bytes: Any) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be an integer >= 1, got {max_bytes!r}")
    return max_bytes


def _too_large(path: Path, what: str, max_bytes: int) -> ValueError:
    return ValueError(
        f"{path}: {what}, over the limit of {_size(max_bytes)} read from one file (max_bytes)"
    )


def check_readable_file(
    path: str | os.PathLike, *, max_bytes: int = MAX_READ_BYTES
) -> os.stat_result:
    """Refuse anything but an existing regular file of at most ``max_bytes`` bytes.

    Links are followed: a link to a regular file is read, a link to a device (``/dev/zero``,
    ``/dev/urandom``), a pipe, a socket or a folder is refused, before the file is opened.

    Args:
        path: the file.
        max_bytes: largest file size accepted (default :data:`MAX_READ_BYTES`, 2 GiB).

    Returns:
        The file's ``os.stat_result``.

    Raises:
        ValueError: one line naming the file: no such file, not a regular file, or larger
            than ``max_bytes``.
    """
    max_bytes = _check_max_bytes(max_bytes)
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot read it: {err.strerror or err}") from err
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path}: is a folder, expected a file")
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a character device"
            if stat.S_ISCHR(info.st_mode)
            else "a block device"
            if stat.S_ISBLK(info.st_mode)
            else "a pipe"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "not a regular file"
        )
        raise ValueError(f"{path}: {kind}, expected a regular file")
    if info.st_size > max_bytes:
        raise _too_large(path, f"{_size(info.st_size)}", max_bytes)
    return info


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing more than ``max_bytes`` (a file may grow past its size)."""
    check_readable_file(path, max_bytes=max_bytes)
    with open(path, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced since the check
            raise ValueError(f"{path}: not a regular file")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(path, "more bytes than that", max_bytes)
    return data


def read_text(
    path: str | os.PathLike, *, encoding: str = "utf-8", max_bytes: int = MAX_READ_BYTES
) -> str:
    """Read a text file with universal newlines, like ``Path.read_text``, but bounded.

    Args:
        path: a regular file (see :func:`check_readable_file`).
        encoding: its text encoding.
        max_bytes: most bytes read (default :data:`MAX_READ_BYTES`, 2 GiB).

    Returns:
        The text, ``"\\r\\n"`` and ``"\\r"`` line ends turned into ``"\\n"``.

    Raises:
        ValueError: the errors of :func:`check_readable_file`, or more than ``max_bytes``.
        UnicodeDecodeError: the bytes are not text in ``encoding``.
    """
    data = _read_bytes(Path(path), _check_max_bytes(max_bytes))
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def check_writable(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse to replace an existing ``path`` unless ``force``; return it as a ``Path``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    return path


def _create_temporary(path: Path) -> tuple[int, str]:
    """Create ``.<name>.<random>.tmp`` beside ``path`` exclusively, mode ``0o666`` less umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def remove_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writes of ``path`` left beside it.

    A process killed inside :func:`atomic_write_bytes` leaves a hidden ``.<name>.<random>.tmp``
    file in ``path``'s folder. Call this when no other process writes ``path``.

    Args:
        path: the file whose temporaries are removed (it need not exist).

    Returns:
        The removed files.
    """
    path = Path(path)
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or match["name"] != path.name:
            continue
        if entry.is_symlink() or entry.is_file():
            try:
                entry.unlink()
            except FileNotFoundError:
                continue
            removed.append(entry)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename).

    The file gets the mode ``0o666`` less the user's umask, as :func:`open` gives.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any]) -> Path:
    """Atomically save a flat mapping of arrays as an uncompressed ``.npz`` file."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def _npy_header(member: Any) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` from the header of the ``.npy`` stream ``member`` (nothing else read)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        read = getattr(np.lib.format, "_read_array_header", None)
        if read is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = read(member, version)
    return tuple(shape), dtype


def _check_npz_sizes(path: Path, fh: Any, max_bytes: int) -> None:
    """Refuse an archive whose declared sizes exceed ``max_bytes`` or its own contents."""
    with zipfile.ZipFile(fh) as archive:
        members = archive.infolist()
        declared = sum(info.file_size for info in members)
        if declared > max_bytes:
            raise _too_large(path, f"its entries declare {_size(declared)} uncompressed", max_bytes)
        for info in members:
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                shape, dtype = _npy_header(member)
                header = member.tell()
            if dtype.hasobject:
                raise ValueError(
                    f"array {info.filename[:-4]!r} holds Python objects (never unpickled)"
                )
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > info.file_size - header:
                raise ValueError(
                    f"{path}: array {info.filename[:-4]!r} declares shape {shape} of {dtype} "
                    f"({_size(nbytes)}) but its entry holds {_size(info.file_size)}"
                )
    fh.seek(0)


def load_arrays(
    path: str | os.PathLike, *, max_bytes: int = MAX_READ_BYTES
) -> dict[str, np.ndarray]:
    """Load an ``.npz`` file without unpickling, bounded by ``max_bytes``.

    Args:
        path: a regular file (links to devices and pipes are refused).
        max_bytes: most bytes accepted for the file and for its arrays once decompressed
            (default :data:`MAX_READ_BYTES`, 2 GiB); checked from the archive's headers before
            anything is decompressed or allocated.

    Returns:
        ``{name: array}`` in the archive's order.

    Raises:
        ValueError: one line naming the file: not a regular file, a corrupt archive, an
            array of Python objects, sizes over ``max_bytes`` or beyond what the file holds.
    """
    max_bytes = _check_max_bytes(max_bytes)
    path = Path(path)
    check_readable_file(path, max_bytes=max_bytes)
    with open(path, "rb") as fh:  # our own handle: closed even when the archive is corrupt
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced since the check
            raise ValueError(f"{path}: not a regular file")
        try:
            _check_npz_sizes(path, fh, max_bytes)
            with np.load(fh, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            if str(err).startswith(f"{path}: "):
                raise
            raise ValueError(f"{path} is not a readable .npz file: {err}") from err


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def load_json(path: str | os.PathLike, *, max_bytes: int = MAX_READ_BYTES) -> Any:
    """Read JSON (at most ``max_bytes`` bytes); a corrupt file raises ``ValueError`` naming it."""
    path = Path(path)
    try:
        return json.loads(read_text(path, max_bytes=max_bytes))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
