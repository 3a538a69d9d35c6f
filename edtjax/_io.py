"""Safe on-disk formats: atomic ``.npz`` + JSON writes, pickle-free reads, no silent overwrite.

Files are written to a temporary name in the destination folder and moved into place with
:func:`os.replace`, so a crash leaves either the old file or the new one, never a torn file.
Arrays are always read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "check_writable",
    "load_arrays",
    "load_json",
    "save_arrays",
    "save_json",
]


def check_writable(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse to replace an existing ``path`` unless ``force``; return it as a ``Path``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load an ``.npz`` file without unpickling; a corrupt file raises ``ValueError``."""
    path = Path(path)
    with open(path, "rb") as fh:  # our own handle: closed even when the archive is corrupt
        try:
            with np.load(fh, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise ValueError(f"{path} is not a readable .npz file: {err}") from err


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def load_json(path: str | os.PathLike) -> Any:
    """Read JSON; a corrupt file raises ``ValueError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
