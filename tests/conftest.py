"""Shared fixtures."""

import jax
import pytest


@pytest.fixture
def key():
    """A fixed PRNG key; tests derive what they need with ``jax.random.split``."""
    return jax.random.key(0)


@pytest.fixture
def x64():
    """Enable float64 for one test and restore the previous setting afterwards."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
