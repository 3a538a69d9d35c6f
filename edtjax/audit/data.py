"""Reading the user's own simulation data: tables of named numeric columns and :class:`AuditData`.

Two file formats are read, both by name, both without executing anything from the file:

* ``.csv``: a header row of column names, then one row of numbers per sample, comma-separated;
  blank lines and lines starting with ``#`` are skipped; cells may be quoted; ``nan`` and
  ``inf`` parse but are then rejected as non-finite. Only the columns used are converted to
  numbers: other columns (a label, a comment) may hold any text and are ignored.
* ``.npz``: either one 1-D numeric array per column (the array names are the column names,
  in the archive's order), or a 2-D numeric array ``data`` with a 1-D string array
  ``columns`` naming its columns. Loaded with ``allow_pickle=False``.

Every problem is a :class:`ValueError` of one line that names the file and what is wrong
(and where: the line of a CSV file, the 0-based row of an ``.npz`` array), so that the
command line can print it as is. Reading is ``O(n k)`` in time and memory for ``n`` rows and
``k`` columns.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edtjax._io import load_arrays, read_text
from edtjax.audit.result import AuditData

__all__ = ["load_user_data", "read_table"]

_SHOWN = 5  # how many offending rows or names an error message lists


class _Table:
    """A parsed file: column ``names``, ``where[i]``, how an error message refers to data row
    ``i`` (a CSV line number or an ``.npz`` row index), and the raw columns, converted to
    float64 only when selected (:meth:`column`), so that unused columns may hold anything."""

    def __init__(self, path: Path, names: tuple[str, ...], where: list[str], converters: list):
        self.path, self.names, self.where, self._converters = path, names, where, converters

    @property
    def rows(self) -> int:
        return len(self.where)

    def column(self, j: int) -> np.ndarray:
        """Column ``j`` as ``(n,)`` float64; ValueError naming the first non-numeric cell."""
        return self._converters[j]()


def _check_names(path: Path, names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    if any(not name for name in names):
        empty = [i + 1 for i, name in enumerate(names) if not name]
        raise ValueError(f"{path}: empty column name(s) at position(s) {empty[:_SHOWN]}")
    seen, duplicates = set(), []
    for name in names:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        raise ValueError(f"{path}: duplicate column names {duplicates[:_SHOWN]}")
    return names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> _Table:
    try:
        text = read_text(path, encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})"
        ) from err
    rows: list[tuple[int, list[str]]] = []
    # comment lines become blank (keeping line numbers), so quotes in comments do not matter
    lines = ["\n" if ln.lstrip().startswith("#") else ln for ln in text.splitlines(True)]
    reader = csv.reader(io.StringIO("".join(lines), newline=""), skipinitialspace=True, strict=True)
    try:
        for fields in reader:
            stripped = [f.strip() for f in fields]
            if not any(stripped):
                continue
            rows.append((reader.line_num, stripped))
    except csv.Error as err:
        raise ValueError(f"{path}: malformed CSV: {err}") from err
    if not rows:
        raise ValueError(f"{path}: empty file (no header row and no data)")
    header_line, header = rows[0]
    if all(_is_number(cell) for cell in header):
        raise ValueError(
            f"{path}: no header row: line {header_line} holds numbers; the first row must name "
            "the columns"
        )
    for separator, label in ((";", "semicolons"), ("\t", "tabs")):
        if len(header) == 1 and separator in header[0]:
            raise ValueError(
                f"{path}: the header on line {header_line} is separated by {label}; columns must "
                "be separated by commas"
            )
    names = _check_names(path, header)
    k = len(names)
    for number, fields in rows[1:]:
        if len(fields) != k:
            raise ValueError(
                f"{path}: ragged row at line {number}: {len(fields)} fields, expected {k} "
                f"(one per column of the header)"
            )
    data = rows[1:]

    def converter(j: int) -> Callable[[], np.ndarray]:
        def convert() -> np.ndarray:
            cells = [fields[j] for _, fields in data]
            try:  # one conversion in C; on failure, find the offending cell for the message
                return np.array(cells, dtype=np.float64).reshape(len(cells))
            except ValueError:
                for number, fields in data:
                    try:
                        float(fields[j])
                    except ValueError:
                        cell = fields[j]
                        what = "an empty cell" if cell == "" else f"non-numeric cell {cell!r}"
                        raise ValueError(
                            f"{path}: {what} at line {number}, column {names[j]!r}; every cell "
                            "of a used column must be a number"
                        ) from None
                raise

        return convert

    where = [f"line {number}" for number, _ in data]
    return _Table(path, names, where, [converter(j) for j in range(k)])


def _numeric(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: array {name!r} has dtype {array.dtype}, expected numbers")
    return array.astype(np.float64)


def _read_npz(path: Path) -> _Table:
    arrays = load_arrays(path)
    if not arrays:
        raise ValueError(f"{path}: empty file (the archive holds no arrays)")
    if "data" in arrays or "columns" in arrays:
        if set(arrays) != {"data", "columns"}:
            raise ValueError(
                f"{path}: a table stored as 'data' needs exactly the arrays 'data' (2-D) and "
                f"'columns' (1-D names), got {sorted(arrays)}"
            )
        data, columns = arrays["data"], arrays["columns"]
        if columns.ndim != 1 or columns.dtype.kind not in "US":
            raise ValueError(
                f"{path}: 'columns' must be a 1-D array of strings, got dtype {columns.dtype} and "
                f"shape {columns.shape}"
            )
        names = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in columns.tolist())
        if data.ndim != 2 or data.shape[1] != len(names):
            raise ValueError(
                f"{path}: 'data' must have shape (n, {len(names)}) to match 'columns', got "
                f"{data.shape}"
            )
        converters = [
            (lambda j=j: _numeric(path, f"data[:, {j}] ({names[j]!r})", data[:, j]))
            for j in range(len(names))
        ]
        n = data.shape[0]
    else:
        names = tuple(arrays)
        lengths = {}
        for name, array in arrays.items():
            if array.ndim != 1:
                raise ValueError(
                    f"{path}: column {name!r} must be a 1-D array, got shape {array.shape} (store "
                    "a 2-D table as 'data' with its names in 'columns')"
                )
            lengths[name] = array.shape[0]
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{path}: columns have different lengths {lengths}")
        converters = [
            (lambda name=name, a=a: _numeric(path, name, a)) for name, a in arrays.items()
        ]
        n = next(iter(lengths.values()))
    names = _check_names(path, names)
    return _Table(path, names, [f"row {i}" for i in range(n)], converters)


def _read(path: str | os.PathLike) -> _Table:
    """Parse ``path`` by its extension (no column selection, no finiteness check)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a .csv or .npz file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".npz":
        return _read_npz(path)
    raise ValueError(f"{path}: unknown extension {path.suffix!r}; expected .csv or .npz")


def _select(table: _Table, columns: Sequence[str] | None, min_rows: int):
    """Columns ``columns`` of ``table`` (all without it), checked finite with ``min_rows`` rows."""
    path = table.path
    if columns is None:
        columns = table.names
    missing = [c for c in columns if c not in table.names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the file has {list(table.names)}")
    index = [table.names.index(c) for c in columns]
    values = np.empty((table.rows, len(index)), np.float64)
    for k, j in enumerate(index):
        values[:, k] = table.column(j)
    bad = np.flatnonzero(~np.all(np.isfinite(values), axis=1))
    if bad.size:
        first = ", ".join(table.where[i] for i in bad[:_SHOWN])
        raise ValueError(
            f"{path}: {bad.size} row(s) with NaN or infinite values in the used columns "
            f"(first at {first})"
        )
    if values.shape[0] < min_rows:
        raise ValueError(f"{path}: {values.shape[0]} data row(s), need at least {min_rows}")
    return values, tuple(columns)


def _names(argument: str, value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{argument} must be a list of column names, got {value!r}")
    names = list(value)
    duplicates = sorted({v for v in names if names.count(v) > 1})
    if duplicates:
        raise ValueError(f"{argument} names the same column more than once: {duplicates}")
    return names


def read_table(
    path: str | os.PathLike, columns: Sequence[str] | None = None, *, min_rows: int = 2
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a table of named numeric columns from a ``.csv`` or ``.npz`` file.

    Args:
        path: the file; its extension (``.csv`` or ``.npz``, any case) picks the format (see
            the module docstring).
        columns: names of the columns to return, in this order; ``None`` for all, in file
            order. Only these columns are checked for NaN/inf.
        min_rows: fewest data rows accepted (default 2).

    Returns:
        ``(values, names)``: ``(n, k)`` float64 array and the ``k`` column names. Cost
        ``O(n k)``.

    Raises:
        ValueError: one line naming the file and the problem: no such file, unknown
            extension, empty file, no header row, ragged row (its line), non-numeric or empty
            cell (line and column), duplicate or missing column names (with the available
            ones), NaN/inf values (how many rows and the first ones), fewer than ``min_rows``
            rows, or a malformed ``.npz`` archive.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "runs.csv").write_text("# two runs\\na,b\\n1,2\\n3,4\\n")
        >>> values, names = read_table(folder / "runs.csv", ["b"])
        >>> values.tolist(), names
        ([[2.0], [4.0]], ('b',))

    References:
        Shafranovich, Y. (2005). Common Format and MIME Type for Comma-Separated Values (CSV)
        Files. RFC 4180.
    """
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValueError(f"min_rows must be an integer >= 1, got {min_rows!r}")
    return _select(_read(path), _names("columns", columns), min_rows)


def load_user_data(
    data_path: str | os.PathLike,
    inputs: Sequence[str] | None,
    outputs: Sequence[str],
    queries_path: str | os.PathLike | None = None,
    *,
    min_rows: int | None = None,
) -> AuditData:
    """Load the user's labelled runs (and optional new inputs) as :class:`AuditData`.

    The data file holds one row per simulation run, input and output columns side by side.
    The queries file, the new context to judge, holds at least the input columns; when it
    also holds every output column, they fill ``queries_y`` (other columns are ignored).

    Args:
        data_path: ``.csv`` or ``.npz`` file of labelled runs (see :func:`read_table`).
        inputs: input column names, or ``None`` for every column not in ``outputs``.
        outputs: output column names (at least one).
        queries_path: optional ``.csv``/``.npz`` file of new inputs.
        min_rows: fewest labelled rows accepted; ``None`` for ``d + 2`` with ``d`` inputs
            (a non-singular input covariance needs ``d + 1`` rows, plus one held out).

    Returns:
        :class:`AuditData` with ``name`` the data file's stem, float64 ``x`` ``(n, d)`` and
        ``y`` ``(n, o)``, ``queries`` ``(m, d)`` or ``None``, ``queries_y`` ``(m, o)`` or
        ``None``, ``simulator=None`` and ``box=None``. Cost ``O((n + m) k)``.

    Raises:
        ValueError: the errors of :func:`read_table`; no outputs; a name both input and
            output; no inputs left; a queries file missing input columns or holding only
            part of the outputs; fewer than ``min_rows`` labelled rows.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> rows = "\\n".join(f"{i},{i % 3},{2 * i}" for i in range(6))
        >>> _ = (folder / "runs.csv").write_text("a,b,y\\n" + rows + "\\n")
        >>> data = load_user_data(folder / "runs.csv", None, ["y"])
        >>> data.name, data.x.shape, data.y.shape, data.input_names
        ('runs', (6, 2), (6, 1), ('a', 'b'))

    References:
        Sudret, B. (2008). Global sensitivity analysis using polynomial chaos expansions.
        Reliab. Eng. Syst. Saf. 93(7), 964-979 (the input/output sample layout of a design).
    """
    outputs = _names("outputs", outputs)
    if not outputs:
        raise ValueError("outputs must name at least one output column")
    inputs = _names("inputs", inputs)
    table = _read(data_path)
    if inputs is None:
        inputs = [c for c in table.names if c not in outputs]
        if not inputs:
            raise ValueError(
                f"{table.path}: no input columns left: every column {list(table.names)} is an "
                "output"
            )
    elif not inputs:
        raise ValueError("inputs must name at least one input column (or be None for all)")
    both = [c for c in inputs if c in outputs]
    if both:
        raise ValueError(f"columns {both} are named both as inputs and as outputs")
    if min_rows is None:
        min_rows = len(inputs) + 2
    elif isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 2:
        raise ValueError(f"min_rows must be an integer >= 2, got {min_rows!r}")
    values, _ = _select(table, [*inputs, *outputs], min_rows)
    d = len(inputs)
    queries = queries_y = None
    if queries_path is not None:
        q_table = _read(queries_path)
        absent = [c for c in inputs if c not in q_table.names]
        if absent:
            raise ValueError(
                f"{q_table.path}: queries must have the {d} input column(s) {inputs}; missing "
                f"{absent} (the file has {list(q_table.names)})"
            )
        present = [c for c in outputs if c in q_table.names]
        if present and len(present) != len(outputs):
            lacking = [c for c in outputs if c not in q_table.names]
            raise ValueError(
                f"{q_table.path}: queries hold output column(s) {present} but not {lacking}; "
                "give all outputs or none"
            )
        columns = [*inputs, *present]
        q_values, _ = _select(q_table, columns, 1)
        queries = q_values[:, :d]
        queries_y = q_values[:, d:] if present else None
    return AuditData(
        name=Path(data_path).stem,
        x=values[:, :d],
        y=values[:, d:],
        queries=queries,
        queries_y=queries_y,
        input_names=tuple(inputs),
        output_names=tuple(outputs),
        simulator=None,
        box=None,
    )
