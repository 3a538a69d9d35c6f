"""Sphinx configuration of the edtjax documentation (build with ``docs/build.sh``)."""

import sys
from pathlib import Path

import edtjax

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

from edtjax_docs import render_notebooks  # noqa: E402

# The notebooks are jupytext scripts; they are rendered here, before Sphinx looks for sources,
# without running them (see docs/_ext/edtjax_docs.py). docs/.gitignore keeps the output out of git.
render_notebooks(ROOT / "notebooks", DOCS / "notebooks")

project = "edtjax"
author = "the edtjax authors"
copyright = "the edtjax authors"
release = edtjax.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "edtjax_docs",
]

exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints"]

# MyST for the hand-written pages and the notebooks; notebooks are never executed here.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"

# Google-style docstrings; types come from the signatures.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = False  # the class signature shows the field types
autodoc_typehints = "signature"
autodoc_typehints_format = "short"  # Array, not jax.jaxlib._jax.Array
python_use_unqualified_type_names = True
autodoc_class_signature = "mixed"
autodoc_member_order = "groupwise"
autodoc_preserve_defaults = True
autosummary_generate = False
add_module_names = False

# Every cross-reference must resolve (-n with -W in docs/build.sh), except references into other
# packages (jax, numpy, the standard library, ...): the build reads no inventory from the
# network, so those cannot resolve. Every edtjax reference must.
nitpicky = True
_EXTERNAL = (
    "jax jaxlib jnp np numpy numpyro flax optax blackjax ott lineax scipy matplotlib argparse "
    "collections contextlib datetime enum io os pathlib types typing typing_extensions"
).split()
_BUILTINS = (
    "Any Callable Mapping Sequence Iterable Iterator NamedTuple None bool bytes complex dict "
    "float frozenset int list object set slice str tuple type Ellipsis ValueError FileExistsError"
).split()
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_EXTERNAL)})(\..*)?"),
    (r"py:.*", rf"({'|'.join(_BUILTINS)})"),
]
# Targeted exceptions in modules whose docstrings are edited elsewhere; each names a reference
# to a private name or an annotation that Sphinx cannot resolve.
nitpick_ignore = [
    ("py:data", "MULTISPIN_GENERATORS"),  # edtjax.lattice.ising_multispin, a private constant
    ("py:class", "Law"),  # edtjax.simulators.materials, the alias Callable[..., object]
    ("py:class", "Figure"),  # matplotlib.figure.Figure in edtjax.report annotations
    ("py:class", "Mesh"),  # jax.sharding.Mesh in annotations
    ("py:class", "Distribution"),  # numpyro.distributions.Distribution in annotations
    # the annotation aliases of edtjax._typing: PyTree = any pytree (typing.Any), PRNGKey =
    # jax.Array made by jax.random.key, Devices = the devices= argument (None, int, devices, Mesh),
    # ArrayLike and DTypeLike = jax.typing's
    ("py:class", "ArrayLike"),
    ("py:class", "DTypeLike"),
    ("py:class", "PyTree"),
    ("py:class", "PRNGKey"),
    ("py:class", "Devices"),
    ("py:mod", "edtjax.surrogates.method"),  # a submodule the surrogates pages do not document
    ("py:func", "parse_input_laws"),  # edtjax.audit.config, a function outside __all__
    ("py:data", "INPUT_LAWS"),  # edtjax.audit.config, a constant outside __all__
]

html_theme = "furo"
html_title = f"edtjax {release}"
html_static_path = []
