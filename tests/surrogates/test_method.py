"""Tests for the one surrogate interface (edtjax.surrogates.method and the methods built on it).

Every method is fitted once on a small fixed case and compared with the building blocks it is
made of, called directly with the same keys: the predictions must be identical (same compiled
programs, same inputs). ``jax.jit(method.predict)`` must agree to float32 rounding (XLA fuses
differently; 1e-5 relative is ~100 ulps).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.surrogates import (
    DropoutOptions,
    EnsembleOptions,
    GPOptions,
    LaplaceOptions,
    MBLLOptions,
    MixtureOptions,
    NetworkOptions,
    NetworkState,
    NIGOptions,
    NUTSOptions,
    PenaltyOptions,
    Predictive,
    SVIOptions,
    TrainingOptions,
    append_bias,
    bnn_log_density,
    bnn_nuts,
    bnn_penalty,
    bnn_predictive,
    bnn_svi,
    deep_ensemble,
    ensemble_member,
    ensemble_predictive,
    fit,
    fit_ensemble,
    fit_gp,
    fit_last_layer,
    from_apply,
    from_predict,
    gaussian_process,
    gp_kernel,
    gp_predict,
    laplace_last_layer,
    last_layer_laplace,
    last_layer_laplace_predictive,
    mbll_em,
    mbll_last_layer,
    mbll_predictive,
    mc_dropout,
    mc_dropout_predictive,
    mdn,
    mixture_density,
    mixture_nll_loss,
    mlp,
    mse_loss,
    nig_last_layer,
    nig_posterior,
    nig_predictive,
    nuts_blackjax,
    pbnn_sample,
    single_network,
    svi_gaussian,
)
from edtjax.surrogates import training as training_module
from tests.compiles import backend_compiles

X = jnp.linspace(-1.0, 1.0, 32, dtype=jnp.float32)[:, None]
Y1 = jnp.sin(3.0 * X)
Y2 = jnp.hstack([jnp.sin(3.0 * X), jnp.cos(2.0 * X)])
XQ = jnp.linspace(-1.5, 1.5, 7, dtype=jnp.float32)[:, None]
TRAIN = TrainingOptions(epochs=3, batch_size=8)
KEY = jax.random.key(0)
SMALL = NetworkOptions((8,), training=TRAIN)


def _train(key, net, y, training=TRAIN):
    return fit(key, net, X, y, **training._asdict()).params


def _bnn_start(count):
    k_init, k_run = jax.random.split(KEY)
    net = mlp((4,), 1)
    if count is None:
        return net, net.init(k_init, X[:1]), k_run
    keys = jax.random.split(k_init, count)
    return net, jax.vmap(lambda k: net.init(k, X[:1]))(keys), k_run


def _logdensity(net):
    return bnn_log_density(net, X, Y1, prior_scale=1.0, noise_variance=0.01)


# Each case: the method, its options, the targets, and the same prediction from the building
# blocks called directly.
def _single():
    net = mlp((8,), 1, heteroscedastic=True)
    return net.apply(_train(KEY, net, Y1), XQ)


def _ensemble():
    net = mlp((8,), 2, heteroscedastic=True)
    res = fit_ensemble(KEY, net, X, Y2, 2, **TRAIN._asdict())
    return ensemble_predictive(net, res.params, XQ)


def _dropout():
    k_train, k_predict = jax.random.split(KEY)
    net = mlp((8,), 1, heteroscedastic=True, dropout_rate=0.1)
    return mc_dropout_predictive(k_predict, net, _train(k_train, net, Y1), XQ, samples=5)


def _mixture():
    net = mdn((8,), 1, 2)
    return net.apply(_train(KEY, net, Y1, TRAIN._replace(loss=mixture_nll_loss)), XQ)


def _nig():
    net = mlp((8,), 1)
    params = _train(KEY, net, Y1, TRAIN._replace(loss=mse_loss))
    post = nig_posterior(append_bias(net.features(params, X)), Y1[:, 0])
    return nig_predictive(post, append_bias(net.features(params, XQ)))


def _mbll():
    net = mlp((8,), 1, heteroscedastic=True)
    params = _train(KEY, net, Y1)
    post, _ = mbll_em(append_bias(net.features(params, X)), Y1, iterations=10)
    return mbll_predictive(post, append_bias(net.features(params, XQ)))


def _laplace():
    net = mlp((8,), 1, heteroscedastic=True)
    params = _train(KEY, net, Y1)
    fitted = last_layer_laplace(net, params, X, prior_precision=2.0)
    return last_layer_laplace_predictive(net, params, fitted, XQ)


def _nuts():
    net, init, k_run = _bnn_start(2)
    out = nuts_blackjax(k_run, _logdensity(net), init, num_warmup=10, num_samples=5)
    return bnn_predictive(net, out.samples, XQ, noise_variance=0.01)


def _svi():
    net, init, k_run = _bnn_start(None)
    out = svi_gaussian(k_run, _logdensity(net), init, steps=20, num_samples=10)
    return bnn_predictive(net, out.samples, XQ, noise_variance=0.01)


def _penalty():
    net, init, k_run = _bnn_start(2)
    out = pbnn_sample(k_run, net, X, Y1, init, batch_size=8, num_warmup=10, num_samples=5)
    return bnn_predictive(net, out.samples, XQ, noise_variance=0.01)


def _user_apply(w, x):
    return Predictive(mean=x @ w, variance=jnp.ones((x.shape[0], 1)))


W = jnp.full((1, 1), 0.5)

CASES = {
    "single_network": (single_network, NetworkOptions((8,), training=TRAIN), Y1, _single),
    "deep_ensemble": (deep_ensemble, EnsembleOptions(SMALL, members=2), Y2, _ensemble),
    "mc_dropout": (
        mc_dropout,
        DropoutOptions(SMALL._replace(dropout_rate=0.1), samples=5),
        Y1,
        _dropout,
    ),
    "mixture_density": (
        mixture_density,
        MixtureOptions((8,), components=2, training=TRAIN._replace(loss=mixture_nll_loss)),
        Y1,
        _mixture,
    ),
    "nig_last_layer": (
        nig_last_layer,
        NIGOptions(SMALL._replace(heteroscedastic=False, training=TRAIN._replace(loss=mse_loss))),
        Y1,
        _nig,
    ),
    "mbll_last_layer": (mbll_last_layer, MBLLOptions(SMALL, iterations=10), Y1, _mbll),
    "laplace_last_layer": (
        laplace_last_layer,
        LaplaceOptions(SMALL, prior_precision=2.0),
        Y1,
        _laplace,
    ),
    "bnn_nuts": (bnn_nuts, NUTSOptions((4,), chains=2, num_warmup=10, num_samples=5), Y1, _nuts),
    "bnn_svi": (bnn_svi, SVIOptions((4,), steps=20, num_samples=10), Y1, _svi),
    "bnn_penalty": (
        bnn_penalty,
        PenaltyOptions((4,), chains=2, batch_size=8, num_warmup=10, num_samples=5),
        Y1,
        _penalty,
    ),
    "from_apply": (from_apply(_user_apply, W), None, Y1, lambda: _user_apply(W, XQ)),
}


@functools.cache
def _fitted(name):
    method, options, y, _ = CASES[name]
    return method.fit(KEY, X, y, options)


# NUTS and SVI take tens of seconds to compile their samplers on a CPU; the penalty sampler
# several seconds.
SLOW_CASES = ("bnn_nuts", "bnn_penalty", "bnn_svi")


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in sorted(CASES)],
)
def test_method_equals_building_blocks_and_jits(name):
    method, _, _, reference = CASES[name]
    state = _fitted(name)
    pred = method.predict(state, XQ)
    expected = reference()
    chex.assert_trees_all_equal(pred, expected)
    jitted = jax.jit(method.predict)(state, XQ)
    chex.assert_trees_all_close(jitted, pred, rtol=1e-5, atol=1e-6)


def test_from_predict_accepts_mean_variance_pairs():
    method = from_predict(lambda x: (jnp.sin(x), 0.1 * jnp.ones_like(x)))
    pred = method.predict(method.fit(KEY, X, Y1), XQ)
    np.testing.assert_array_equal(pred.mean, jnp.sin(XQ))
    np.testing.assert_array_equal(pred.variance, jnp.full((7, 1), 0.1))


def test_networks_compare_and_hash_by_value():
    assert mlp((64, 64), 1) == mlp((64, 64), 1)
    assert hash(mlp((64, 64), 1)) == hash(mlp([64, 64], 1))
    assert mlp((64, 64), 1) != mlp((64, 64), 1, heteroscedastic=True)
    assert mdn((8,), 2, 3) == mdn((8,), 2, 3) and mdn((8,), 2, 3) != mdn((8,), 2, 4)


@pytest.mark.parametrize(
    "options",
    [
        TrainingOptions(),
        NetworkOptions(),
        EnsembleOptions(),
        DropoutOptions(),
        MixtureOptions(),
        GPOptions(),
        NIGOptions(),
        MBLLOptions(),
        LaplaceOptions(),
        NUTSOptions(),
        SVIOptions(),
        PenaltyOptions(),
    ],
    ids=lambda o: type(o).__name__,
)
def test_options_hashable_by_value(options):
    rebuilt = type(options)(*options)
    assert rebuilt == options and hash(rebuilt) == hash(options)


def test_fitting_twice_compiles_once():
    """Options and networks rebuilt with equal values hit the compilation caches."""
    _fitted("deep_ensemble")  # compiled here (or earlier)
    key, y = jax.random.key(7), 2.0 * Y2
    again = EnsembleOptions(NetworkOptions((8,), training=TrainingOptions(epochs=3, batch_size=8)))
    again = again._replace(members=2)
    assert backend_compiles(lambda: deep_ensemble.fit(key, X, y, again).params) == []
    _fitted("single_network")
    size = training_module._fit._cache_size()
    state = single_network.fit(key, X, y[:, :1], NetworkOptions((8,), training=TRAIN))
    assert training_module._fit._cache_size() == size
    assert state.network == _fitted("single_network").network
    assert len(backend_compiles(lambda: jax.jit(lambda a: a + 1.0)(X))) == 1  # it counts


def test_last_layer_on_an_ensemble_member_equals_direct_calls():
    state = _fitted("deep_ensemble")
    first = ensemble_member(state, 0)
    params = jax.tree.map(lambda p: p[0], state.params)
    mb = fit_last_layer(first, X, Y2, MBLLOptions(iterations=10))
    post, _ = mbll_em(append_bias(state.network.features(params, X)), Y2, iterations=10)
    chex.assert_trees_all_equal(mb.posterior, post)
    la = fit_last_layer(first, X, Y2, LaplaceOptions(prior_precision=3.0))
    want = last_layer_laplace(state.network, params, X, prior_precision=3.0)
    np.testing.assert_array_equal(la.posterior.covariance, want.covariance)
    np.testing.assert_array_equal(
        laplace_last_layer.predict(la, XQ).variance,
        last_layer_laplace_predictive(state.network, params, want, XQ).variance,
    )


def test_gp_posterior_equals_exact_linear_algebra(x64):
    """GP predictive through the interface against the closed form solved with NumPy."""
    x = np.linspace(0.0, 1.0, 12)[:, None]
    y = np.hstack([np.sin(6 * x), np.cos(4 * x)])
    xq = np.linspace(-0.2, 1.2, 5)[:, None]
    state = gaussian_process.fit(KEY, x, y, GPOptions(steps=10))
    pred = jax.jit(gaussian_process.predict)(state, xq)
    for j, params in enumerate(state.params):
        noise = float(np.exp(params.log_noise))
        k = np.asarray(gp_kernel("rbf", params, x, x)) + noise * np.eye(12)
        ks = np.asarray(gp_kernel("rbf", params, x, xq))
        mean = ks.T @ np.linalg.solve(k, y[:, j])
        var = float(np.exp(params.log_variance)) - np.sum(ks * np.linalg.solve(k, ks), 0) + noise
        np.testing.assert_allclose(pred.mean[:, j], mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(pred.variance[:, j], var, rtol=1e-9, atol=1e-12)
        direct = gp_predict(fit_gp(x, y[:, j], steps=10).params, x, y[:, j], xq)
        np.testing.assert_allclose(pred.mean[:, j], direct.mean[:, 0], rtol=1e-12)
    # the predictive mean is differentiable in the query point: central differences in
    # float64 err by O(h^2) ~ 1e-12 (truncation) plus O(eps / h) ~ 1e-10 (rounding)
    grad = jax.grad(lambda q: jnp.sum(gaussian_process.predict(state, q[None, :]).mean))
    h, q = 1e-6, np.array([0.3])
    fd = (
        np.sum(gaussian_process.predict(state, (q + h)[None, :]).mean)
        - np.sum(gaussian_process.predict(state, (q - h)[None, :]).mean)
    ) / (2 * h)
    np.testing.assert_allclose(grad(jnp.asarray(q))[0], fd, rtol=1e-6)


def test_nig_posterior_equals_exact_linear_algebra(x64):
    """Normal-inverse-gamma update through fit_last_layer against the textbook formulas."""
    x = jnp.linspace(-1.0, 1.0, 20, dtype=jnp.float64)[:, None]
    y = np.asarray(jnp.sin(3.0 * x))
    net = mlp((5,), 1)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), net.init(KEY, x))
    options = NIGOptions(prior_precision=2.0, a0=3.0, b0=0.5)
    state = fit_last_layer(NetworkState(net, params), x, y, options)
    phi = np.asarray(append_bias(net.features(params, x)))
    precision = 2.0 * np.eye(6) + phi.T @ phi
    mean = np.linalg.solve(precision, phi.T @ y[:, 0])
    b = 0.5 + 0.5 * (y[:, 0] @ y[:, 0] - mean @ precision @ mean)
    post = state.posterior
    np.testing.assert_allclose(post.mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(post.cov_factor, np.linalg.inv(precision), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(post.a, 3.0 + 10.0, rtol=1e-15)
    np.testing.assert_allclose(post.b, b, rtol=1e-9)


@pytest.mark.parametrize(
    "method, options, match",
    [
        (deep_ensemble, EnsembleOptions(members=0), "members"),
        (deep_ensemble, EnsembleOptions(NetworkOptions(hidden=[8])), "hidden"),
        (deep_ensemble, EnsembleOptions(NetworkOptions(hidden=(0,))), "hidden"),
        (deep_ensemble, EnsembleOptions(NetworkOptions(activation="cubic")), "activation"),
        (
            deep_ensemble,
            EnsembleOptions(NetworkOptions(training=TRAIN._replace(epochs=0))),
            "epochs",
        ),
        (
            deep_ensemble,
            EnsembleOptions(NetworkOptions(training=TRAIN._replace(loss="mse"))),
            "loss",
        ),
        (deep_ensemble, EnsembleOptions(NetworkOptions(training=None)), "training"),
        (deep_ensemble, EnsembleOptions(devices=[0]), "devices"),
        (deep_ensemble, NetworkOptions(), "EnsembleOptions"),
        (single_network, NetworkOptions(heteroscedastic=False, training=TRAIN), "loss"),
        (mc_dropout, DropoutOptions(NetworkOptions(dropout_rate=0.0)), "dropout_rate"),
        (mc_dropout, DropoutOptions(samples=1), "samples"),
        (mixture_density, MixtureOptions(components=0), "components"),
        (gaussian_process, GPOptions(kernel="cubic"), "kernel"),
        (gaussian_process, GPOptions(max_jitter=-1.0), "max_jitter"),
        (nig_last_layer, NIGOptions(a0=0.0), "a0"),
        (mbll_last_layer, MBLLOptions(iterations=0), "iterations"),
        (laplace_last_layer, LaplaceOptions(prior_precision=0.0), "prior_precision"),
        (laplace_last_layer, LaplaceOptions(noise_variance=-1.0), "noise_variance"),
        (bnn_nuts, NUTSOptions(chains=0), "chains"),
        (bnn_nuts, NUTSOptions(num_warmup=0), "num_warmup"),
        (bnn_svi, SVIOptions(family="full"), "family"),
        (bnn_penalty, PenaltyOptions(batch_size=1), "batch_size"),
        (from_apply(_user_apply, W), TRAIN, "options"),
    ],
)
def test_bad_options_name_the_field(method, options, match):
    with pytest.raises(ValueError, match=match):
        method.fit(KEY, X, Y1, options)


def test_bad_data_and_models():
    with pytest.raises(ValueError, match="one column"):
        nig_last_layer.fit(KEY, X, Y2)
    with pytest.raises(ValueError, match="mean"):
        from_apply(_user_apply, jnp.ones((1, 2))).fit(KEY, X, Y1)
    with pytest.raises(ValueError, match="y"):
        deep_ensemble.fit(KEY, X, Y1[:, 0])
    with pytest.raises(ValueError, match="index"):
        ensemble_member(_fitted("deep_ensemble"), 2)
    with pytest.raises(ValueError, match="float64"):
        gaussian_process.fit(KEY, X, Y1)
