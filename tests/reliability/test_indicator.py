"""Tests for edtjax.reliability.indicator: closed forms, peers in edtjax.depth, gradients."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import (
    fermat_fit,
    knn_distance_score,
    lens_depth_fermat,
    projection_depth_from_fit,
    projection_fit,
)
from edtjax.reliability import (
    Indicator,
    feature_space_indicator,
    halfspace_indicator,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    predictive_spread_indicator,
    projection_indicator,
    smooth_lens_indicator,
    spatial_indicator,
)


def _central_difference(f, z, h=1e-6):
    eye = jnp.eye(z.shape[0], dtype=z.dtype)
    return jnp.stack([(f(z + h * e) - f(z - h * e)) / (2 * h) for e in eye])


def _check_grad(ind, state, z):
    """jax.grad of the score of one query against central differences (float64)."""

    def f(v):
        return ind.score(state, v[None, :])[0]

    np.testing.assert_allclose(jax.grad(f)(z), _central_difference(f, z), rtol=1e-5, atol=1e-8)


def _blr_variance_fn(key, x_train, y_train, n_features=50, prior_var=1.0, noise_var=0.01):
    """Closed-form Bayesian linear regression on random Fourier features: predictive variance."""
    kw, kb = jax.random.split(key)
    w = jax.random.normal(kw, (x_train.shape[1], n_features), x_train.dtype)
    b = jax.random.uniform(kb, (n_features,), x_train.dtype, 0.0, 2 * jnp.pi)

    def phi(x):
        return jnp.sqrt(2.0 / n_features) * jnp.cos(x @ w + b)

    f = phi(x_train)
    precision = f.T @ f / noise_var + jnp.eye(n_features, dtype=x_train.dtype) / prior_var
    cov = jnp.linalg.inv(precision)
    mean_w = cov @ f.T @ y_train / noise_var

    def predict(x):
        g = phi(x)
        return g @ mean_w, jnp.einsum("mi,ij,mj->m", g, cov, g)

    return predict, phi, cov


def test_mahalanobis_closed_form(key):
    x = jax.random.normal(key, (300, 3)) * jnp.array([1.0, 2.0, 0.5])
    ind = mahalanobis_indicator()
    state = ind.fit(key, x)
    q = jax.random.normal(jax.random.key(5), (7, 3)) * 3
    xn = np.asarray(x, np.float64)
    mu, cov = xn.mean(0), np.cov(xn, rowvar=False)
    diff = np.asarray(q, np.float64) - mu
    r2 = np.einsum("mi,ij,mj->m", diff, np.linalg.inv(cov), diff)
    np.testing.assert_allclose(ind.score(state, q), np.log1p(r2), rtol=1e-4)


def test_knn_exact_small_case():
    ind = knn_indicator(n_neighbors=2)
    state = ind.fit(None, jnp.array([[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]]))
    # distances from 0: 5, 10, 1 -> second nearest is 5
    assert ind.score(state, jnp.zeros((1, 2))).tolist() == [5.0]


def test_lens_fermat_matches_depth_module(key):
    x = jax.random.normal(key, (60, 2))
    q = jax.random.normal(jax.random.key(3), (5, 2)) * 2
    ind = lens_fermat_indicator(alpha=2.0, n_neighbors=8)
    state = ind.fit(key, x)
    expected = 1.0 - lens_depth_fermat(fermat_fit(x, alpha=2.0, n_neighbors=8), q)
    np.testing.assert_allclose(ind.score(state, q), expected)


def test_projection_matches_depth_module(key):
    x = jax.random.normal(jax.random.key(1), (100, 3))
    q = jax.random.normal(jax.random.key(2), (4, 3))
    ind = projection_indicator(n_directions=64)
    state = ind.fit(key, x)
    expected = -jnp.log(projection_depth_from_fit(projection_fit(key, x, n_directions=64), q))
    np.testing.assert_allclose(ind.score(state, q), expected, rtol=1e-6)


def test_gradients_match_finite_differences(key, x64):
    x = jax.random.normal(key, (80, 2), jnp.float64)
    z = jnp.array([0.7, -1.3], jnp.float64)
    for ind in (
        mahalanobis_indicator(),
        knn_indicator(n_neighbors=3),
        smooth_lens_indicator(temperature=0.3),
        projection_indicator(n_directions=32, temperature=0.2),
        feature_space_indicator(mahalanobis_indicator(), jnp.tanh),
    ):
        _check_grad(ind, ind.fit(jax.random.key(7), x), z)


def test_predictive_spread_closed_form_and_gradient(key, x64):
    x = jax.random.uniform(key, (60, 2), jnp.float64, -1.0, 1.0)
    y = jnp.sin(3 * x[:, 0]) + x[:, 1] ** 2
    predict, phi, cov = _blr_variance_fn(jax.random.key(4), x, y)
    ind = predictive_spread_indicator(lambda q: predict(q)[1])
    state = ind.fit(key, x)
    q = jnp.array([[0.0, 0.0], [3.0, 3.0]], jnp.float64)
    g = np.asarray(phi(q))
    expected = np.einsum("mi,ij,mj->m", g, np.asarray(cov), g)
    np.testing.assert_allclose(ind.score(state, q), expected, rtol=1e-10)
    _check_grad(ind, state, jnp.array([0.2, -0.4], jnp.float64))
    # two outputs: variances add up
    ind2 = predictive_spread_indicator(lambda q: jnp.stack([predict(q)[1], 2 * predict(q)[1]], 1))
    np.testing.assert_allclose(ind2.score(ind2.fit(key, x), q), 3 * expected, rtol=1e-10)


def test_feature_space_is_composition(key):
    x = jax.random.normal(key, (100, 3))
    q = jax.random.normal(jax.random.key(9), (6, 3))

    def feature_fn(v):
        return jnp.tanh(v[:, :2] * 2.0)

    ind = feature_space_indicator(knn_indicator(n_neighbors=2), feature_fn)
    inner = knn_indicator(n_neighbors=2)
    expected = inner.score(inner.fit(key, feature_fn(x)), feature_fn(q))
    np.testing.assert_allclose(ind.score(ind.fit(key, x), q), expected)


def test_scores_compose_with_jit_and_vmap(key):
    x = jax.random.normal(key, (100, 2))
    q = jax.random.normal(jax.random.key(2), (8, 2))
    ind = mahalanobis_indicator()
    state = ind.fit(key, x)
    eager = ind.score(state, q)
    np.testing.assert_allclose(jax.jit(ind.score)(state, q), eager, rtol=1e-6)
    per_row = jax.vmap(lambda z: ind.score(state, z[None])[0])(q)
    np.testing.assert_allclose(per_row, eager, rtol=1e-6)


# the other indicators of this module, small settings (the Mahalanobis one is checked above, the
# weighted lens-Fermat one in test_thin_axis, the Monge-Kantorovich one in its own module)
JIT_CASES = {
    "feature_space": lambda: feature_space_indicator(
        mahalanobis_indicator(shrinkage=0.01), jnp.tanh
    ),
    "halfspace": lambda: halfspace_indicator(n_directions=64),
    "knn": lambda: knn_indicator(n_neighbors=3),
    "lens_fermat": lambda: lens_fermat_indicator(n_neighbors=8),
    "predictive_spread": lambda: predictive_spread_indicator(lambda x: jnp.sum(x**2, axis=1)),
    "projection": lambda: projection_indicator(n_directions=64),
    "projection_smooth": lambda: projection_indicator(n_directions=64, temperature=0.1),
    "smooth_lens": lambda: smooth_lens_indicator(temperature=0.1),
    "spatial": spatial_indicator,
}


def assert_score_agrees_jitted_and_not_jitted(key, ind):
    """``ind.score`` with the fitted state traced equals its eager value. XLA may fuse and
    reorder the jitted float32 arithmetic: a few ulps, so relative 1e-5 (~80 ulps) and
    absolute 1e-6 for scores near 0."""
    state = ind.fit(key, jax.random.normal(key, (120, 2)))
    q = 2.0 * jax.random.normal(jax.random.key(2), (9, 2))
    eager = ind.score(state, q)
    jitted = jax.jit(ind.score)(state, q)
    chex.assert_shape(eager, (9,))
    chex.assert_trees_all_equal_shapes_and_dtypes(jitted, eager)
    chex.assert_trees_all_close(jitted, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(JIT_CASES))
def test_scores_agree_jitted_and_not_jitted(key, name):
    # The module promises ``jit`` through ``score`` with the fitted state traced.
    assert_score_agrees_jitted_and_not_jitted(key, JIT_CASES[name]())


def test_indicator_is_namedtuple_of_functions():
    ind = knn_indicator()
    assert isinstance(ind, Indicator) and callable(ind.fit) and callable(ind.score)


@pytest.mark.parametrize(
    "build",
    [
        lambda: mahalanobis_indicator(shrinkage=1.5),
        lambda: knn_indicator(n_neighbors=0),
        lambda: lens_fermat_indicator(alpha=0.5),
        lambda: smooth_lens_indicator(temperature=0.0),
        lambda: projection_indicator(n_directions=0),
        lambda: projection_indicator(temperature=-1.0),
        lambda: predictive_spread_indicator("not callable"),
        lambda: feature_space_indicator("not an indicator", jnp.tanh),
        lambda: feature_space_indicator(knn_indicator(), None),
    ],
)
def test_bad_construction_raises(build):
    with pytest.raises(ValueError):
        build()


def test_bad_training_data_raises(key):
    with pytest.raises(ValueError, match="n >= n_neighbors"):
        knn_indicator(n_neighbors=5).fit(key, jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        mahalanobis_indicator().fit(key, jnp.array([[0.0, 1.0], [jnp.nan, 0.0], [1.0, 1.0]]))
    ind = predictive_spread_indicator(lambda q: jnp.ones((q.shape[0] + 1,)))
    with pytest.raises(ValueError, match="variance_fn must return shape"):
        ind.fit(key, jnp.zeros((3, 2)))


@pytest.mark.parametrize("k", [1, 4, 20])
def test_knn_matches_depth_module(key, k):
    x = jax.random.normal(key, (300, 4))
    q = jnp.concatenate([jax.random.normal(jax.random.key(1), (700, 4)) * 2, x[:5]])
    ind = knn_indicator(n_neighbors=k)
    expected = knn_distance_score(q, x, n_neighbors=k)
    np.testing.assert_allclose(ind.score(ind.fit(key, x), q), expected, rtol=1e-5, atol=1e-6)
