"""Tests for edtjax.surrogates.training."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from edtjax.surrogates import fit, gaussian_nll_loss, mlp, mse_loss
from edtjax.surrogates.network import Surrogate


def _data(key, n=64):
    kx, ke = jax.random.split(key)
    x = jax.random.uniform(kx, (n, 1), minval=-1, maxval=1)
    return x, jnp.sin(3 * x) + 0.1 * jax.random.normal(ke, x.shape)


def test_full_batch_sgd_equals_manual_optax_steps(key):
    """With no validation split and one minibatch per epoch, fit is plain gradient descent."""
    x, y = _data(key, 16)
    net = mlp((5,), 1)
    p0 = net.init(jax.random.key(3), x)
    sgd = optax.sgd(0.1)
    res = fit(
        key, net, x, y, loss="mse", epochs=3, batch_size=16, optimizer=sgd,
        validation_fraction=0.0, params=p0,
    )  # fmt: skip
    p = p0
    for _ in range(3):
        # rows are shuffled inside fit; a full-batch mean loss is permutation invariant
        g = jax.grad(lambda q: mse_loss(net.apply(q, x).mean, y))(p)
        p = jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
    for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(p), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(res.epochs_run) == 3 and int(res.best_epoch) == 2
    assert bool(jnp.all(jnp.isnan(res.val_loss)))


def test_early_stopping_keeps_best_epoch(key):
    x, y = _data(key, 48)
    net = mlp((16,), 1, heteroscedastic=True)
    res = fit(key, net, x, y, epochs=400, learning_rate=3e-2, patience=5, batch_size=8)
    run = int(res.epochs_run)
    best = int(res.best_epoch)
    assert run < 400, "training should stop early on a tiny data set"
    assert run == best + 1 + 5  # patience=5: stops after 5 epochs in a row without improvement
    val = np.asarray(res.val_loss[:run])
    assert best == int(np.argmin(val))
    assert np.all(np.isnan(np.asarray(res.val_loss[run:])))
    # Rerunning for exactly best+1 epochs (same key, same stream) gives the kept parameters.
    again = fit(key, net, x, y, epochs=best + 1, learning_rate=3e-2, patience=5, batch_size=8)
    for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.slow
def test_heteroscedastic_fit_learns_noise_level(key):
    """y = sin(3x) + 0.1 eps: the learned variance must be near 0.01 (not 0, not var(y))."""
    x, y = _data(key, 256)
    net = mlp((32, 32), 1, heteroscedastic=True)
    res = fit(jax.random.key(1), net, x, y, epochs=300, learning_rate=1e-2)
    pred = net.apply(res.params, x)
    # Coarse band: var(y) ~ 0.5, noise 0.01; a fit that failed would sit at either end.
    assert 0.005 < float(jnp.mean(pred.variance)) < 0.02
    assert float(jnp.mean((pred.mean - jnp.sin(3 * x)) ** 2)) < 0.01


def test_second_call_does_not_retrace(key):
    traces = []
    net = mlp((4,), 1)

    def counting_apply(params, x, key=None):
        traces.append(1)
        return net.apply(params, x, key)

    counted = Surrogate(net.init, counting_apply)
    x, y = _data(key, 20)
    fit(key, counted, x, y, loss="mse", epochs=2, batch_size=4)
    n_first = len(traces)
    x2, y2 = _data(jax.random.key(9), 20)
    fit(jax.random.key(5), counted, x2, y2, loss="mse", epochs=2, batch_size=4, learning_rate=0.1)
    # neither the loop nor the shape probe of fit's validation (remembered per network and
    # input layout) is traced again
    assert len(traces) == n_first
    # a new input layout is probed (and compiled) anew
    fit(key, counted, jnp.hstack([x, x]), y, loss="mse", epochs=2, batch_size=4)
    assert len(traces) > n_first


def test_vmap_over_keys_trains_members(key):
    x, y = _data(key, 32)
    net = mlp((4,), 1)
    keys = jax.random.split(key, 3)
    res = jax.vmap(lambda k: fit(k, net, x, y, loss="mse", epochs=3, batch_size=8))(keys)
    chex.assert_shape(res.train_loss, (3, 3))
    assert not np.allclose(res.params["head"]["kernel"][0], res.params["head"]["kernel"][1])


def test_loss_gradients_match_finite_differences(x64):
    mu, var, y = jnp.array([0.3, -0.2]), jnp.array([0.5, 1.7]), jnp.array([0.1, 0.4])
    g = jax.grad(gaussian_nll_loss, argnums=(0, 1))(mu, var, y)
    eps = 1e-6
    for arg, grad in ((0, g[0]), (1, g[1])):
        for i in range(2):
            args = [mu, var, y]
            up, dn = list(args), list(args)
            up[arg] = args[arg].at[i].add(eps)
            dn[arg] = args[arg].at[i].add(-eps)
            fd = (gaussian_nll_loss(*up) - gaussian_nll_loss(*dn)) / (2 * eps)
            np.testing.assert_allclose(grad[i], fd, rtol=1e-6)


def test_gaussian_nll_closed_form():
    val = gaussian_nll_loss(jnp.zeros(1), jnp.ones(1), jnp.ones(1))
    np.testing.assert_allclose(val, 0.5 * np.log(2 * np.pi) + 0.5, rtol=1e-6)


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (np.zeros((5, 1)), np.zeros((4, 1)), {}, "same length"),
        (np.zeros((5, 1)), np.array([[0.0], [np.nan], [0], [0], [0]]), {}, "y must be finite"),
        (np.zeros((5, 1)), np.zeros(5), {}, "y must have 2"),
        (np.zeros((5, 1)), np.zeros((5, 1)), {"validation_fraction": 1.0}, "validation_fraction"),
        (np.zeros((5, 1)), np.zeros((5, 1)), {"loss": "l1"}, "loss"),
        (np.zeros((5, 1)), np.zeros((5, 2)), {}, "y must have 1 columns"),
    ],
)
def test_bad_input(key, x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(key, mlp((4,), 1, heteroscedastic=True), x, y, **kwargs)


def test_nll_requires_variance(key):
    with pytest.raises(ValueError, match="gaussian_nll"):
        fit(key, mlp((4,)), np.zeros((5, 1)), np.zeros((5, 1)))
