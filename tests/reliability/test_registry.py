"""The indicator registry: every entry builds, its flags are true, and the command line and the
audit's config read the same names."""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.audit.config import INDICATOR_NAMES
from edtjax.cli.depth import _METHODS
from edtjax.depth import halfspace_depth_planar, spatial_depth
from edtjax.reliability import (
    INDICATORS,
    halfspace_indicator,
    make_indicator,
    spatial_indicator,
)

X = jax.random.normal(jax.random.key(0), (120, 2))
Q = jnp.array([[0.1, -0.2], [2.5, 0.3], [8.0, 8.0]])
SURROGATE_OPTIONS = {
    "ensemble_spread": {"variance_fn": lambda x: jnp.sum(x**2, axis=1)},
    "feature_mahalanobis": {"feature_fn": lambda x: jnp.tanh(x)},
}


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_every_entry_builds_scores_and_keeps_its_differentiability_promise(name):
    entry = INDICATORS[name]
    assert entry.reads_surrogate == (name in SURROGATE_OPTIONS)
    params = inspect.signature(entry.make).parameters
    assert set(entry.options) == set(params), name  # the options are exactly its keywords
    ind = make_indicator(name, **SURROGATE_OPTIONS.get(name, {}))
    state = ind.fit(jax.random.key(1), X)
    s = np.asarray(ind.score(state, Q))
    chex.assert_shape(s, (3,))
    chex.assert_tree_all_finite(s)
    assert s[2] > s[0]  # far from the data scores higher
    if entry.differentiable:
        g = jax.grad(lambda q: ind.score(state, q[None])[0])(Q[1])
        assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0.0), name


def test_unknown_names_and_options_are_refused_by_name():
    with pytest.raises(ValueError, match="indicator must be one of"):
        make_indicator("lens")
    with pytest.raises(ValueError, match=r"takes the options \['n_neighbors'\]"):
        make_indicator("knn", n_directions=3)
    assert make_indicator("knn", n_neighbors=None) is not None  # None means "the default"


def test_the_command_line_and_the_audit_read_the_registry():
    assert set(_METHODS) == {n for n, e in INDICATORS.items() if not e.reads_surrogate}
    assert INDICATOR_NAMES == tuple(INDICATORS)


def test_spatial_and_halfspace_scores_are_one_minus_their_depths(x64):
    x = jax.random.normal(jax.random.key(2), (60, 2), dtype=jnp.float64)
    q = jnp.asarray(np.random.default_rng(0).normal(size=(25, 2)))
    sp = spatial_indicator()
    np.testing.assert_allclose(
        sp.score(sp.fit(None, x), q), 1.0 - spatial_depth(q, x), rtol=0, atol=1e-15
    )
    # Random directions bound the exact Tukey depth from above (a guarantee); with 4000
    # directions on 60 points the bound misses the minimising arc by at most a point or two.
    hs = halfspace_indicator(n_directions=4000)
    approx = 1.0 - np.asarray(hs.score(hs.fit(jax.random.key(3), x), q))
    exact = np.asarray(halfspace_depth_planar(q, x))
    assert np.all(approx >= exact - 1e-12)
    assert np.max(approx - exact) <= 2 / 60 + 1e-12
