"""Tests for edtjax.surrogates.network and edtjax.surrogates.predictive."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.surrogates import Predictive, mlp


def test_shapes_and_positive_variance(key):
    net = mlp((8, 8), 3, heteroscedastic=True)
    x = jax.random.normal(key, (5, 2))
    params = net.init(key, x)
    pred = net.apply(params, x)
    assert isinstance(pred, Predictive)
    assert pred.mean.shape == (5, 3) and pred.variance.shape == (5, 3)
    assert bool(jnp.all(pred.variance > 0))
    assert net.features(params, x).shape == (5, 8)
    assert mlp((4,)).apply(params=mlp((4,)).init(key, x), x=x).variance is None


def test_dropout_is_stochastic_only_with_key(key):
    net = mlp((32,), 1, dropout_rate=0.5)
    x = jax.random.normal(key, (4, 2))
    params = net.init(key, x)
    a = net.apply(params, x, jax.random.key(1)).mean
    b = net.apply(params, x, jax.random.key(2)).mean
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(net.apply(params, x).mean, net.apply(params, x).mean)


def test_head_is_linear_in_features(key):
    """The prediction equals features @ W + b of the head layer (exact decomposition)."""
    net = mlp((6, 5), 2)
    x = jax.random.normal(key, (7, 3))
    params = net.init(key, x)
    phi = net.features(params, x)
    manual = phi @ params["head"]["kernel"] + params["head"]["bias"]
    np.testing.assert_allclose(net.apply(params, x).mean, manual, rtol=1e-5, atol=1e-6)


def test_grad_wrt_input_matches_finite_differences(key, x64):
    net = mlp((8,), 1, heteroscedastic=True)
    x = jax.random.normal(key, (1, 2), dtype=jnp.float64)
    params = net.init(key, x)

    def f(z):
        p = net.apply(params, z)
        return jnp.sum(p.mean) + jnp.sum(jnp.log(p.variance))

    g = jax.grad(f)(x)
    eps = 1e-6
    fd = np.array(
        [(f(x.at[0, i].add(eps)) - f(x.at[0, i].add(-eps))) / (2 * eps) for i in range(2)]
    )
    np.testing.assert_allclose(g[0], fd, rtol=1e-6, atol=1e-8)


def test_respects_dtype(key, x64):
    net = mlp((4,), 1)
    x = jnp.ones((3, 2), jnp.float64)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), net.init(key, x))
    assert net.apply(params, x).mean.dtype == jnp.float64


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden": ()}, "hidden"),
        ({"hidden": (0,)}, "hidden"),
        ({"hidden": (4,), "activation": "sigmoidal"}, "activation"),
        ({"hidden": (4,), "dropout_rate": 1.0}, "dropout_rate"),
        ({"hidden": (4,), "outputs": 0}, "outputs"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp(**kwargs)
