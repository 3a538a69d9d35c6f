"""Every subpackage's ``__all__`` names real objects, sorted and unique."""

import importlib

import pytest

import edtjax


@pytest.mark.parametrize("name", edtjax.SUBPACKAGES)
def test_all_names_exist_sorted_unique(name):
    module = importlib.import_module(f"edtjax.{name}")
    names = list(module.__all__)
    assert names == sorted(names), f"edtjax.{name}.__all__ is not sorted"
    assert len(names) == len(set(names)), f"edtjax.{name}.__all__ has duplicates"
    for n in names:
        assert hasattr(module, n), f"edtjax.{name}.__all__ names missing object {n}"
        assert getattr(module, n) is not None


def test_import_does_not_touch_global_config():
    import jax

    before = jax.config.read("jax_enable_x64")
    for name in edtjax.SUBPACKAGES:
        importlib.import_module(f"edtjax.{name}")
    assert jax.config.read("jax_enable_x64") == before
