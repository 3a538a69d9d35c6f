"""Every docstring example in the package runs and prints what it shows (slow: many compiles)."""

import doctest
import importlib
import pkgutil

import pytest

import edtjax

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(edtjax.__path__, prefix="edtjax.")
    if not info.name.endswith("__main__")
)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    if name == "edtjax.mcmc.inference_data":
        pytest.importorskip("arviz")  # an optional extra
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
