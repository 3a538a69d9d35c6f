"""Sphinx helpers of the edtjax documentation.

* ``edtjax-api``: the API reference of one subpackage: a summary table of the names in its
  ``__all__`` followed by their full documentation, so that a page never drifts from the code.
* reference resolution by the subpackage that exports a name, and two autodoc fixes (NamedTuple
  fields documented once, function defaults shown by name).
* a check that every subpackage of ``edtjax.SUBPACKAGES`` has its page.
* ``edtjax-cli-help``: the ``--help`` text of an ``edtjax`` subcommand, read from the parser.
* :func:`render_notebooks`: the jupytext notebooks of ``notebooks/`` as ``.ipynb`` files,
  rendered without execution, with the figures each cell saves (kept in ``notebooks/figures``)
  attached as that cell's output.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import importlib
import inspect
import io
import pkgutil
import re
from pathlib import Path

import jupytext
import nbformat
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

_SAVEFIG = re.compile(r"savefig\(\s*os\.path\.join\(\s*FIGURES\s*,\s*\"([^\"]+\.png)\"")

_NOTE = (
    "```{{note}}\n"
    "This page shows the notebook `notebooks/{name}` of the repository without running it: "
    "the figures are the ones kept in "
    "`notebooks/figures/` from a full-size run, and printed tables are not shown. Run it "
    "with `python notebooks/{name}` (add `EDTJAX_NOTEBOOK_SMALL=1` for small sizes) to see "
    "every output.\n"
    "```"
)


def render_notebook(source: Path, figures: Path) -> nbformat.NotebookNode:
    """The notebook of the jupytext script ``source``, with its stored figures as outputs."""
    notebook = jupytext.read(source, fmt="py:percent")
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        for name in _SAVEFIG.findall(cell.source):
            png = figures / name
            if not png.is_file():
                raise FileNotFoundError(f"{source.name} saves {name}, which {figures} lacks")
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            cell.outputs.append(
                nbformat.v4.new_output("display_data", data={"image/png": data, "text/plain": name})
            )
    title = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown")
    note = nbformat.v4.new_markdown_cell(_NOTE.format(name=source.name))
    notebook.cells.insert(title + 1, note)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.metadata["language_info"] = {"name": "python", "pygments_lexer": "python3"}
    return notebook


def render_notebooks(notebooks: Path, out: Path) -> None:
    """Write every ``notebooks/*.py`` as ``out/<name>.ipynb`` (only files whose text changed)."""
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted(notebooks.glob("*.py")):
        notebook = render_notebook(source, notebooks / "figures")
        target = out / f"{source.stem}.ipynb"
        text = nbformat.writes(notebook)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)


def _data_docs(package, name: str) -> list[str] | None:
    """The doc comment of the constant ``package.name``, read where it is defined."""
    value = getattr(package, name)
    modules = [package.__name__]
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        modules.append(f"{package.__name__}.{info.name}")
    for module in modules:
        if getattr(importlib.import_module(module), name, None) is not value:
            continue
        docs = ModuleAnalyzer.for_module(module).find_attr_docs()
        if ("", name) in docs:
            return list(docs[("", name)])
    return None


def _value(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 and "\n" not in text else ""


class ApiDirective(SphinxDirective):
    """``.. edtjax-api:: edtjax.depth``: summary table and documentation of ``__all__``.

    The argument is a subpackage (or a module) with an ``__all__``. The names are grouped
    into classes, functions and constants, each in ``__all__`` order. A constant's
    description is the ``#:`` comment (or the string) next to its definition in the
    submodule that defines it; a public constant without one is reported as a warning.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            package = importlib.import_module(name)
        except ImportError as err:
            logger.warning("cannot import %s: %s", name, err, location=self.get_location())
            return []
        public = list(getattr(package, "__all__", ()))
        groups = {"Classes": [], "Functions": [], "Constants": []}
        for member in public:
            obj = getattr(package, member)
            kind = "Classes" if inspect.isclass(obj) else "Functions" if callable(obj) else None
            groups[kind or "Constants"].append(member)
        lines = [f".. automodule:: {name}", "", f".. currentmodule:: {name}", ""]
        # The summary table reads docstrings, which constants do not have (a constant would
        # show its type's): they are named in a line after the table.
        callables = [m for m in public if m not in groups["Constants"]]
        if public:
            lines += [".. rubric:: Summary", ""]
        if callables:
            lines += [".. autosummary::", "   :nosignatures:", ""]
            lines += [f"   {member}" for member in callables] + [""]
        if groups["Constants"]:
            names = ", ".join(f":data:`{member}`" for member in groups["Constants"])
            lines += [f"Constants: {names}.", ""]
        for title, members in groups.items():
            if not members:
                continue
            lines += [f".. rubric:: {title}", ""]
            for member in members:
                if title == "Classes":
                    lines += [f".. autoclass:: {member}", "   :members:", ""]
                elif title == "Functions":
                    lines += [f".. autofunction:: {member}", ""]
                else:
                    lines += self._constant(package, member)
        content = StringList(lines, source=f"<edtjax-api {name}>")
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(content, self.content_offset, node)
        return node.children

    def _constant(self, package, member: str) -> list[str]:
        doc = _data_docs(package, member)
        if doc is None:
            logger.warning(
                "%s.%s is public but has no doc comment (#: or a string after it)",
                package.__name__,
                member,
                location=self.get_location(),
            )
            doc = []
        lines = [f".. py:data:: {member}"]
        value = _value(getattr(package, member))
        if value:
            lines.append(f"   :value: {value}")
        return lines + [""] + [f"   {line}" for line in doc] + [""]


class CliHelpDirective(SphinxDirective):
    """``.. edtjax-cli-help:: sample ising``: the help text of ``edtjax sample ising``."""

    optional_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        from edtjax.cli import build_parser

        parser = build_parser()
        for word in self.arguments[0].split() if self.arguments else ():
            actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            parser = actions[0].choices[word]
        # A fixed width, so that the page does not depend on the terminal that built it.
        parser.formatter_class = functools.partial(parser.formatter_class, width=92)
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            parser.print_help()
        text = buffer.getvalue()
        return [nodes.literal_block(text, text, language="text")]


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    """Skip the fields of NamedTuples: their class docstring's Attributes section documents them."""
    doc = getattr(obj, "__doc__", None) or ""
    if what == "class" and doc.startswith("Alias for field number"):
        return True
    return None


_FUNCTION_REPR = re.compile(r"<function (\w+)(?: at 0x[0-9a-f]+)?>")


def _function_defaults(app, what, name, obj, options, signature, return_annotation):
    """Show a function default by its name, not its repr (which Sphinx cannot parse)."""
    if signature is None:
        return None
    return _FUNCTION_REPR.sub(r"\1", signature), return_annotation


def _lookup(path: str):
    """The object at the dotted ``path`` (a module or an attribute of one), else ``None``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _public_name(app, env, node, contnode):
    """Resolve a reference to a name by the subpackage that exports it in ``__all__``.

    Objects are documented under their subpackage (``edtjax.audit.UserSurrogate``), while
    docstrings may name them from the submodule that defines them (``UserSurrogate`` inside
    ``edtjax.audit.surrogate``, or ``edtjax.audit.surrogate.UserSurrogate``).
    """
    if node.get("refdomain") != "py" or node["reftype"] == "mod":
        return None
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module") or ""
    for path in (target, f"{module}.{target}"):
        if not path.startswith("edtjax."):
            continue
        obj = _lookup(path)
        if obj is None:
            continue
        package = importlib.import_module(".".join(path.split(".")[:2]))
        name = path.rsplit(".", 1)[1]
        if name in getattr(package, "__all__", ()) and getattr(package, name) is obj:
            domain = env.get_domain("py")
            return domain.resolve_xref(
                env,
                node["refdoc"],
                app.builder,
                node["reftype"],
                f"{package.__name__}.{name}",
                node,
                contnode,
            )
    return None


def _check_api_pages(app):
    """Warn (an error under ``-W``) for a subpackage of edtjax without its page in ``api/``."""
    import edtjax

    pages = {page.stem for page in (Path(app.srcdir) / "api").glob("*.md")}
    for name in sorted({*edtjax.SUBPACKAGES, "cli"} - pages):
        logger.warning(
            "edtjax.%s has no page: add docs/api/%s.md and list it in index.md", name, name
        )


def setup(app):
    app.connect("builder-inited", _check_api_pages)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    app.connect("autodoc-process-signature", _function_defaults)
    app.connect("missing-reference", _public_name)
    app.add_directive("edtjax-api", ApiDirective)
    app.add_directive("edtjax-cli-help", CliHelpDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
