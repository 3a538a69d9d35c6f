"""Tests for edtjax.surrogates.bnn_symmetry: canonical tanh-network weights."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from edtjax.surrogates import canonical_mlp_params, mlp

NETS = [mlp((6,), 1), mlp((4, 3), 2, heteroscedastic=True)]


@functools.cache
def _layout(net):
    return jax.tree.flatten(net.init(jax.random.key(0), jnp.ones((1, 2))))


def _random_params(key, net):
    """Weights drawn N(0, 1): larger than net.init's, so units differ clearly."""
    leaves, tree = _layout(net)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [jax.random.normal(k, v.shape, v.dtype) for k, v in zip(keys, leaves, strict=True)]
    )


@functools.partial(jax.jit, static_argnums=1)
def _symmetric_copy(key, net, params):
    """A random signed permutation of every hidden layer's units (the network's symmetries)."""
    out = {name: dict(layer) for name, layer in params.items()}
    names = [f"hidden_{i}" for i in range(len(net.hidden))] + ["head"]
    for name, after, k in zip(
        names[:-1], names[1:], jax.random.split(key, len(net.hidden)), strict=True
    ):
        h = out[name]["bias"].shape[0]
        ks, kp = jax.random.split(k)
        sign = jnp.where(jax.random.bernoulli(ks, 0.5, (h,)), -1.0, 1.0).astype(
            out[name]["bias"].dtype
        )
        perm = jax.random.permutation(kp, h)
        out[name] = {
            "kernel": (out[name]["kernel"] * sign)[:, perm],
            "bias": (out[name]["bias"] * sign)[perm],
        }
        out[after] = dict(out[after], kernel=(out[after]["kernel"] * sign[:, None])[perm])
    return out


# compiled once per network: op-by-op calls dominate these tests' time otherwise (the eager
# path is compared with the compiled one in test_jit_vmap_and_derivative)
_canonical = jax.jit(canonical_mlp_params, static_argnums=0)


def _equal(a, b):
    return all(
        np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


@pytest.mark.parametrize(
    "net", [pytest.param(NETS[0], marks=pytest.mark.slow), NETS[1]], ids=["1x6", "4x3_hetero"]
)
def test_every_symmetric_copy_has_one_representative(key, x64, net):
    params = _random_params(key, net)
    canonical = _canonical(net, params)
    x = jax.random.normal(jax.random.key(1), (50, 2))
    reference = net.apply(params, x)
    for k in jax.random.split(jax.random.key(2), 8):
        copy = _symmetric_copy(k, net, params)
        assert not _equal(copy, params)  # a real change of the weights
        np.testing.assert_allclose(net.apply(copy, x).mean, reference.mean, rtol=0, atol=1e-12)
        # sign flips and permutations are exact in floating point: equal bit for bit
        assert _equal(_canonical(net, copy), canonical)


@pytest.mark.parametrize("net", NETS, ids=["1x6", "4x3_hetero"])
def test_predictions_invariant_and_idempotent(key, x64, net):
    params = _random_params(key, net)
    canonical = _canonical(net, params)
    x = jax.random.normal(jax.random.key(1), (50, 2))
    before, after = net.apply(params, x), net.apply(canonical, x)
    # a reordered sum of at most 6 terms: error below 6 ulp of the sum of |terms| (< 1e-13)
    np.testing.assert_allclose(after.mean, before.mean, rtol=0, atol=1e-12)
    if before.variance is not None:
        np.testing.assert_allclose(after.variance, before.variance, rtol=1e-12)
    assert _equal(_canonical(net, canonical), canonical)
    assert jax.tree.structure(canonical) == jax.tree.structure(params)


def test_one_output_layout(key):
    """One output: outgoing weights non-negative, units in decreasing order of them."""
    net = mlp((8,), 1)
    v = canonical_mlp_params(net, _random_params(key, net))["head"]["kernel"][:, 0]
    assert bool(jnp.all(v >= 0)) and bool(jnp.all(jnp.diff(v) <= 0))


@pytest.mark.slow
def test_jit_vmap_and_derivative(key):
    net = NETS[1]
    batch = jax.vmap(lambda k: _random_params(k, net))(jax.random.split(key, 5))
    canonical = jax.jit(jax.vmap(lambda p: canonical_mlp_params(net, p)))(batch)
    for i in range(2):  # eager calls, op by op
        one, expected = jax.tree.map(lambda a, i=i: a[i], (batch, canonical))
        assert _equal(expected, canonical_mlp_params(net, one))
    # the derivative is the signed permutation itself: entries in {-1, 0, 1}, orthogonal
    one = jax.tree.map(lambda a: a[0], batch)
    flat, unravel = ravel_pytree(one)
    jac = jax.jit(jax.jacobian(lambda z: ravel_pytree(canonical_mlp_params(net, unravel(z)))[0]))(
        flat
    )
    assert set(np.unique(np.asarray(jac)).tolist()) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(jac @ jac.T, np.eye(flat.shape[0]))


def test_bad_input(key):
    params = mlp((3,), 1).init(key, jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="activation"):
        canonical_mlp_params(mlp((3,), 1, activation="relu"), params)
    with pytest.raises(ValueError, match="net"):
        canonical_mlp_params(object(), params)
    with pytest.raises(ValueError, match="layers"):
        canonical_mlp_params(mlp((3, 3), 1), params)
    with pytest.raises(ValueError, match="kernel"):
        canonical_mlp_params(mlp((4,), 1), params)
