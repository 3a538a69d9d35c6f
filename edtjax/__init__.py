"""edtjax: JAX-native functional toolkit for trustworthy machine-learning surrogates.

Subpackages: :mod:`edtjax.lattice`, :mod:`edtjax.mcmc`, :mod:`edtjax.sensitivity`,
:mod:`edtjax.transport`, :mod:`edtjax.depth`, :mod:`edtjax.surrogates`, :mod:`edtjax.uq`,
:mod:`edtjax.simulators`, :mod:`edtjax.reliability`, :mod:`edtjax.hybrid`, :mod:`edtjax.report`,
:mod:`edtjax.audit`; the data-set type shared by them: :mod:`edtjax.datasets`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edtjax")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

SUBPACKAGES = (
    "audit",
    "datasets",
    "depth",
    "hybrid",
    "lattice",
    "mcmc",
    "reliability",
    "report",
    "sensitivity",
    "simulators",
    "surrogates",
    "transport",
    "uq",
)

__all__ = ["SUBPACKAGES", "__version__"]
