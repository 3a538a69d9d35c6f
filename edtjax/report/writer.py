"""Write an audit report folder (``report.html``, ``report.json``, PNG figures) atomically."""

from __future__ import annotations

import datetime
import io
import json
import os
import secrets
import shutil
from pathlib import Path

from edtjax._io import check_writable, load_json
from edtjax.audit.result import AuditResult, check_audit_result
from edtjax.report._html import render_html
from edtjax.report.audit_figures import audit_figures
from edtjax.report.queries import query_table_csv, query_table_json
from edtjax.report.summary import audit_summary, verdict_records

__all__ = ["check_report_folder", "write_audit_report"]

#: Resolution of the PNG figures (dots per inch).
DPI = 110

_REPORT_KEYS = frozenset({"numbers", "timings", "figures"})
_MAX_REPORT_JSON = 256 * 1024**2  # bytes of report.json read to recognise a report
_QUERY_FILES = ("queries.csv", "queries.json")


def _not_a_report(out: Path) -> str | None:
    """Why the non-empty folder ``out`` is not a report of :func:`write_audit_report`."""
    document = out / "report.json"
    if document.is_symlink() or not document.is_file():
        return "no report.json file"
    try:
        content = load_json(document, max_bytes=_MAX_REPORT_JSON)
    except (ValueError, UnicodeDecodeError, OSError):
        return "its report.json is not an edtjax report"
    figures = content.get("figures") if isinstance(content, dict) else None
    if not (
        _REPORT_KEYS <= set(content if isinstance(content, dict) else ())
        and isinstance(figures, list)
        and all(isinstance(f, str) and f.endswith(".png") for f in figures)
    ):
        return "its report.json is not an edtjax report"
    page = out / "report.html"
    if page.is_symlink() or not page.is_file():
        return "no report.html file"
    expected = {"report.json", "report.html", *_QUERY_FILES, *figures}
    for entry in sorted(out.iterdir()):
        if entry.name not in expected:
            return f"it also holds {entry.name!r}"
        if entry.is_symlink() or not entry.is_file():
            return f"{entry.name!r} is not a regular file"
    return None


def check_report_folder(out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse an ``out_dir`` that :func:`write_audit_report` would not replace; touch nothing.

    Call it before the audit, so that a run never ends in a refusal. ``out_dir`` is accepted
    when it does not exist, or, with ``force``, when it is an empty folder or a report written
    by :func:`write_audit_report`: a folder (not a symbolic link) holding ``report.json``
    (a JSON object with ``numbers``, ``timings`` and ``figures``), ``report.html`` and
    nothing but ``queries.csv``, ``queries.json`` and the PNG figures that ``report.json``
    lists, all regular files. Any other
    folder is refused, so that ``force`` never deletes the user's files. Cost: one listing
    and one read of ``report.json``.

    Args:
        out_dir: the report folder.
        force: whether an existing report may be replaced.

    Returns:
        ``out_dir`` as a ``pathlib.Path``.

    Raises:
        FileExistsError: ``out_dir`` exists and ``force`` is false.
        ValueError: ``out_dir`` is a symbolic link, not a folder, or a non-empty folder that
            is not a report (the message says why).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "notes.txt").write_text("keep me")
        >>> try:
        ...     check_report_folder(folder, force=True)
        ... except ValueError as err:
        ...     print(str(err).split("(")[1])
        no report.json file); not replacing it

    References:
        The POSIX ``rename`` semantics the writer relies on: IEEE Std 1003.1-2017, rename().
    """
    out = Path(out_dir)
    if out.is_symlink():
        raise ValueError(f"out_dir {out} is a symbolic link, not a report folder; not replacing it")
    check_writable(out, force=force)
    if not out.exists():
        return out
    if not out.is_dir():
        raise ValueError(
            f"out_dir {out} exists and is not a report folder (a file); not replacing it"
        )
    if not any(out.iterdir()):
        return out
    reason = _not_a_report(out)
    if reason is not None:
        raise ValueError(
            f"out_dir {out} exists and is not a report folder ({reason}); not replacing it"
        )
    return out


def _sibling(out: Path, tag: str) -> Path:
    return out.parent / f".{out.name}.{tag}-{secrets.token_hex(4)}"


def _write(path: Path, data: bytes) -> None:
    # Plain writes: the whole folder is published atomically by a rename once complete.
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _png(figure) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def write_audit_report(
    out_dir: str | os.PathLike, result: AuditResult, *, force: bool = False
) -> Path:
    """Write the report of an audit into the folder ``out_dir``, all or nothing.

    The folder receives ``report.json`` (``{"numbers": ..., "timings": ..., "figures": [file
    names], "verdicts": [...]}``: every number of the audit, and the four verdicts of
    :func:`audit_summary` as records ``{"topic", "question", "level", "reasons", "answer"}``
    with ``level`` one of ``"ok"``, ``"caution"``, ``"problem"``, ``"n/a"``), one PNG per
    figure of :func:`audit_figures`, ``report.html``, a self-contained page (figures
    embedded as base64 ``data:`` URIs, inline CSS, no script, all text escaped) that opens
    with the verdicts and then shows one section per stage with its numbers and figures, and,
    when the audit judged queries, ``queries.csv`` and ``queries.json``: one row per query
    in the user's order (:func:`edtjax.report.query_table`).

    Everything is written into a hidden temporary sibling folder first, which is renamed to
    ``out_dir`` only when complete: a crash or a bad ``result`` never leaves a partial report
    that looks valid. With ``force`` an existing report is moved aside, the new one renamed into
    place, and only then the old one deleted. Cost is dominated by drawing and encoding the
    figures (about 0.3 s per figure on one CPU core).

    Args:
        out_dir: the report folder to create; its parent is created if needed.
        result: an :class:`edtjax.audit.AuditResult`.
        force: replace an existing ``out_dir``; it must be an empty folder or an earlier
            report (see :func:`check_report_folder`), so that no other folder is wiped.

    Returns:
        ``out_dir`` as a ``pathlib.Path``.

    Raises:
        FileExistsError: if ``out_dir`` exists and ``force`` is false (nothing is touched).
        ValueError: if ``result`` violates the contract of :mod:`edtjax.audit.result`, if
            ``out_dir`` is a symbolic link or exists and is neither empty nor a report, or if
            the location cannot be written.

    Example:
        >>> import tempfile, pathlib
        >>> from edtjax.audit import AuditResult
        >>> from edtjax.audit.records import CaseInfo, SurrogateInfo
        >>> case = CaseInfo("toy", ["a", "b"], ["y"], 8, 4, 4, 4, 0, 0, False, 0, {}, "0",
        ...                 False, SurrogateInfo("trained", "ensemble", "trained"))
        >>> stages = dict.fromkeys(["surrogates", "sobol", "parameter_gsa", "transport",
        ...                         "reliability", "depth_maps", "queries", "bias"])
        >>> result = AuditResult(case, **stages, arrays={}, timings={"fit": 0.5})
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
        >>> path = write_audit_report(out, result)
        >>> sorted(p.name for p in path.iterdir())
        ['report.html', 'report.json', 'stage_timings.png']

    References:
        Gneiting, T., Balabdaoui, F. and Raftery, A. E. (2007). Probabilistic forecasts,
        calibration and sharpness. J. R. Stat. Soc. B 69(2), 243-268 (the summary's reading of
        calibration and coverage).
    """
    check_audit_result(result)
    out = check_report_folder(out_dir, force=force)
    exists = out.exists()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = _sibling(out, "tmp")
        tmp.mkdir()
    except OSError as err:
        raise ValueError(f"cannot write the report to {out}: {err.strerror or err}") from err
    try:
        created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        verdicts = verdict_records(audit_summary(result))
        tables = {}
        if result.queries is not None:  # before the figures: missing arrays fail in ms
            tables = {
                "queries.csv": query_table_csv(result),
                "queries.json": query_table_json(result),
            }
        figures = audit_figures(result)
        images = [(f, _png(f.figure)) for f in figures]
        page = render_html(result, images, created).encode("utf-8")
        document = {
            "numbers": result.numbers,
            "timings": result.timings,
            "figures": [f.file_name for f, _ in images],
            "verdicts": verdicts,
        }
        for figure, png in images:
            _write(tmp / figure.file_name, png)
        for name, text in tables.items():
            _write(tmp / name, text.encode("utf-8"))
        _write(tmp / "report.json", (json.dumps(document, indent=2) + "\n").encode())
        _write(tmp / "report.html", page)
        if exists:
            old = _sibling(out, "old")
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"cannot write the report to {out}: {err.strerror or err}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
