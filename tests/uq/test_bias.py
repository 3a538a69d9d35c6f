"""Tests for edtjax.uq.bias: exact L = 4 Ising proofs, closed forms, transformations, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from edtjax.lattice import ising_enumerate
from edtjax.uq import bias as bias_module
from edtjax.uq import reweighting_bias, surrogate_bias

BETA = 0.4


def _all_l4_configurations():
    """Bond sums b = sum_<ij> s_i s_j and |m| of all 2^16 periodic 4 x 4 configurations."""
    idx = np.arange(2**16)
    spins = (((idx[:, None] >> np.arange(16)) & 1) * 2 - 1).reshape(-1, 4, 4)
    bonds = (spins * np.roll(spins, 1, axis=1) + spins * np.roll(spins, 1, axis=2)).sum((1, 2))
    return bonds.astype(np.float64), np.abs(spins.mean((1, 2)))


def _abs_m(J):
    return ising_enumerate(4, BETA, J=J).abs_magnetisation


def _conjugate_fit(key, bonds, n_obs, noise):
    """Flat-prior posterior of J under E = -J b + N(0, noise^2), from noisy exact energies."""
    k_cfg, k_eps = jax.random.split(key)
    b = jnp.asarray(bonds)[jax.random.randint(k_cfg, (n_obs,), 0, bonds.shape[0])]
    y = -1.0 * b + noise * jax.random.normal(k_eps, (n_obs,), jnp.float64)
    j_hat = -jnp.sum(b * y) / jnp.sum(b**2)
    return j_hat, noise / jnp.sqrt(jnp.sum(b**2))


def test_true_ising_bias_inside_predicted_interval(key, x64):
    # The proof: a surrogate energy E = -J_theta b fitted to 50 noisy exact energies
    # (noise sd 2, conjugate flat-prior posterior over J_theta); <|m|> at beta = 0.4 by exact
    # enumeration under every posterior coupling. The true bias of the fitted surrogate,
    # <|m|>(J_hat) - <|m|>(J = 1), must lie in the predicted 90% bias interval.
    bonds, _ = _all_l4_configurations()
    k_fit, k_post = jax.random.split(key)
    j_hat, j_sd = _conjugate_fit(k_fit, bonds, 50, 2.0)
    thetas = j_hat + j_sd * jax.random.normal(k_post, (400,), jnp.float64)
    exact = _abs_m(1.0)
    res = surrogate_bias(_abs_m, thetas, exact, credible=0.9)
    true_bias = _abs_m(j_hat) - exact
    assert float(res.bias_lower) <= float(true_bias) <= float(res.bias_upper)
    assert float(res.bias_upper) - float(res.bias_lower) > 0.0
    # Exact bookkeeping: per-sample values are the enumeration values, the mean and interval
    # are their sample mean and empirical quantiles.
    direct = jnp.stack([_abs_m(t) for t in thetas[:5]])
    np.testing.assert_allclose(res.quantities[:5], direct, rtol=1e-12)
    np.testing.assert_allclose(res.bias_mean, jnp.mean(res.quantities) - exact, rtol=1e-12)
    lo, hi = np.quantile(np.asarray(res.quantities), [0.05, 0.95])
    np.testing.assert_allclose([res.lower, res.upper], [lo, hi], rtol=1e-12)
    np.testing.assert_allclose(res.bias_lower, lo - exact, rtol=1e-12)


@pytest.mark.slow
def test_bias_interval_frequentist_coverage(key, x64):
    # Over 200 independent noisy fits the 90% bias interval must contain 0 (the exact answer lies
    # inside the predicted spread) in ~90% of cases. With the conjugate posterior, a monotone
    # q(J) and 300 posterior draws the coverage is 0.9 up to O(1/S); the binomial standard error
    # for 200 fits is sqrt(0.09 / 200) = 0.021, tolerance 5 standard errors (false-failure rate
    # below 1e-6).
    bonds, _ = _all_l4_configurations()
    exact = _abs_m(1.0)
    n_rep, n_post = 200, 300
    keys = jax.random.split(key, n_rep)
    hits = 0
    for k in keys:
        k_fit, k_post = jax.random.split(k)
        j_hat, j_sd = _conjugate_fit(k_fit, bonds, 20, 4.0)
        thetas = j_hat + j_sd * jax.random.normal(k_post, (n_post,), jnp.float64)
        res = surrogate_bias(_abs_m, thetas, exact)
        hits += int(res.bias_lower <= 0.0 <= res.bias_upper)
    coverage = hits / n_rep
    assert abs(coverage - 0.9) <= 5 * np.sqrt(0.09 / n_rep)


def test_reference_error_degenerate_closed_form(x64):
    # All samples give the same value c: the bias distribution is exactly N(c - ref, se^2).
    samples = jnp.full((7,), 2.0)
    res = surrogate_bias(lambda a: a * 1.5, samples, 2.5, reference_error=0.2, credible=0.8)
    z = stats.norm.ppf(0.9)
    np.testing.assert_allclose([res.bias_lower, res.bias_upper], [0.5 - 0.2 * z, 0.5 + 0.2 * z])
    np.testing.assert_allclose(res.bias_std, 0.2, rtol=1e-12)


def test_reference_error_mixture_against_monte_carlo(key, x64):
    # Quantiles of the mixture (1/S) sum N(b_s, se^2) against 400k Monte Carlo draws of it; the
    # standard error of an empirical p-quantile is sqrt(p(1-p)/n)/f(x_p), tolerance 5 of them.
    k_s, k_pick, k_eps = jax.random.split(key, 3)
    thetas = jax.random.gamma(k_s, 2.0, (50,), jnp.float64)
    se = 0.3
    res = surrogate_bias(jnp.square, thetas, 1.0, reference_error=se, credible=0.9)
    b = thetas**2 - 1.0
    n = 400_000
    draws = b[jax.random.randint(k_pick, (n,), 0, 50)] + se * jax.random.normal(k_eps, (n,))
    for p, got in ((0.05, res.bias_lower), (0.95, res.bias_upper)):
        want = np.quantile(np.asarray(draws), p)
        density = float(jnp.mean(stats.norm.pdf((want - np.asarray(b)) / se)) / se)
        assert abs(float(got) - want) <= 5 * np.sqrt(p * (1 - p) / n) / density
    np.testing.assert_allclose(res.bias_std, np.sqrt(np.var(np.asarray(b)) + se**2), rtol=1e-12)


def test_pytree_samples_and_outputs(key):
    params = {"w": jnp.array([[1.0, 2.0], [1.5, 2.5], [0.5, 1.0]]), "b": jnp.array([0.1, 0.2, 0.3])}

    def downstream(p):
        return {"sum": jnp.sum(p["w"]) + p["b"], "vec": p["w"] * 2.0}

    ref = {"sum": 3.0, "vec": jnp.array([2.0, 4.0])}
    res = surrogate_bias(downstream, params, ref)
    np.testing.assert_allclose(res.mean["sum"], np.mean([3.1, 4.2, 1.8]), rtol=1e-6)
    np.testing.assert_allclose(res.bias_mean["vec"], np.array([2.0, 3.66666667]) - [2.0, 4.0])
    chex.assert_shape(res.lower["vec"], (2,))
    assert surrogate_bias(downstream, params).bias_mean is None


def test_reweighting_removes_ising_bias(key, x64):
    # Configurations drawn i.i.d. (exactly, from the enumerated Boltzmann weights) under three
    # surrogate couplings; reweighting to the exact J = 1 action must recover <|m|> within 5
    # delta-method standard errors, and the estimated bias must match the exact bias
    # <|m|>(J_p) - <|m|>(1) within 5 of its standard errors.
    bonds, abs_m = _all_l4_configurations()
    couplings = jnp.array([0.85, 0.9, 0.95])
    n = 4000

    def draw(k, j):  # inverse-CDF sampling from the enumerated Boltzmann distribution
        log_w = BETA * j * bonds
        cdf = jnp.cumsum(jnp.exp(log_w - jax.nn.logsumexp(log_w)))
        u = jax.random.uniform(k, (n,), jnp.float64) * cdf[-1]
        return jnp.searchsorted(cdf, u)

    idx = jax.vmap(draw)(jax.random.split(key, 3), couplings)
    b = jnp.asarray(bonds)[idx]
    obs = jnp.asarray(abs_m)[idx]
    res = reweighting_bias(obs, -BETA * b, -BETA * couplings[:, None] * b)
    exact = _abs_m(1.0)
    true_bias = jax.vmap(_abs_m)(couplings) - exact
    assert np.all(np.abs(res.reweighted - exact) <= 5 * res.reweighted_error)
    assert np.all(np.abs(res.bias - true_bias) <= 5 * res.bias_error)
    # the naive surrogate average is visibly biased (|true bias| > 10 naive standard errors)
    assert np.all(np.abs(true_bias) > 10 * res.naive_error)
    assert np.all(res.reliable) and np.all(res.ess > 100)
    assert float(res.bias_lower) <= float(res.bias_mean) <= float(res.bias_upper)


def test_ess_closed_forms_and_log_space():
    n = 10
    obs = jnp.arange(2 * n, dtype=jnp.float32).reshape(2, n)
    s = jnp.zeros((2, n))
    res = reweighting_bias(obs, s, s)
    np.testing.assert_allclose(res.ess, [n, n], rtol=1e-6)
    np.testing.assert_allclose(res.bias, [0.0, 0.0], atol=1e-5)
    # one configuration with weight a, the others 1: ESS = (a + n - 1)^2 / (a^2 + n - 1)
    a = 5.0
    action = s.at[:, 0].set(-np.log(a))
    res = reweighting_bias(obs, action, s)
    want = (a + n - 1) ** 2 / (a**2 + n - 1)
    np.testing.assert_allclose(res.ess, [want, want], rtol=1e-5)
    # huge actions: the log-space weights stay finite and give the same answer
    shifted = reweighting_bias(obs, action + 1e4, s + 1e4)
    np.testing.assert_allclose(shifted.reweighted, res.reweighted, rtol=1e-4)
    # one configuration dominates: ESS ~ 1, flagged unreliable
    tiny = reweighting_bias(obs, s.at[:, 3].set(-200.0), s)
    np.testing.assert_allclose(tiny.ess, [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(tiny.reweighted, obs[:, 3], rtol=1e-5)
    assert not np.any(tiny.reliable)


def test_no_retrace_on_new_data(key):
    f = jnp.sin
    surrogate_bias(f, jnp.linspace(0.0, 1.0, 8), 0.3, reference_error=0.1)
    sizes = (bias_module._quantities._cache_size(), bias_module._summarise._cache_size())
    surrogate_bias(f, jnp.linspace(0.5, 2.0, 8), 0.4, reference_error=0.2)
    assert (bias_module._quantities._cache_size(), bias_module._summarise._cache_size()) == sizes
    obs = jax.random.normal(key, (2, 16))
    reweighting_bias(obs, obs, 0.5 * obs)
    size = bias_module._reweight._cache_size()
    reweighting_bias(obs + 1.0, 2.0 * obs, obs)
    assert bias_module._reweight._cache_size() == size


def test_jit_vmap(key):
    thetas = jax.random.normal(key, (3, 20))

    def upper(th):
        return surrogate_bias(jnp.square, th, 1.0, reference_error=0.5).bias_upper

    batched = jax.vmap(upper)(thetas)
    looped = jnp.stack([upper(t) for t in thetas])
    np.testing.assert_allclose(jax.jit(jax.vmap(upper))(thetas), looped, rtol=1e-5)
    np.testing.assert_allclose(batched, looped, rtol=1e-5)
    rw = jax.jit(lambda o, s: reweighting_bias(o, s, 0.9 * s).reweighted)(thetas, thetas)
    want = reweighting_bias(thetas, thetas, 0.9 * thetas).reweighted
    np.testing.assert_allclose(rw, want, rtol=1e-5)  # float32 rounding of a fused reduction


def test_gradients_match_finite_differences(key, x64):
    thetas = 1.0 + 0.1 * jax.random.normal(key, (30,), jnp.float64)
    direction = jax.random.normal(jax.random.fold_in(key, 1), (30,), jnp.float64)

    def upper(th):
        return surrogate_bias(_abs_m, th, 0.5, reference_error=0.01).bias_upper

    def mean(th):
        return surrogate_bias(_abs_m, th, 0.5).bias_mean

    eps = 1e-5
    for fn in (upper, mean):
        fd = (fn(thetas + eps * direction) - fn(thetas - eps * direction)) / (2 * eps)
        np.testing.assert_allclose(jnp.dot(jax.grad(fn)(thetas), direction), fd, rtol=1e-6)
    obs = jax.random.normal(key, (2, 50), jnp.float64)
    s = jax.random.normal(jax.random.fold_in(key, 2), (2, 50), jnp.float64)
    v = jax.random.normal(jax.random.fold_in(key, 3), (2, 50), jnp.float64)

    def rw(st):
        r = reweighting_bias(obs, s, st)
        return jnp.sum(r.reweighted) + jnp.sum(r.ess) + jnp.sum(r.bias_error)

    fd = (rw(0.5 * s + eps * v) - rw(0.5 * s - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.sum(jax.grad(rw)(0.5 * s) * v), fd, rtol=1e-6)


def test_bad_inputs():
    good = jnp.array([0.5, 1.0, 1.5])
    with pytest.raises(ValueError, match="share one leading"):
        surrogate_bias(lambda p: p["a"] + p["b"][0], {"a": good, "b": jnp.ones((4, 2))})
    with pytest.raises(ValueError, match="at least 2 samples"):
        surrogate_bias(jnp.sin, jnp.array([1.0]))
    for level in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="credible"):
            surrogate_bias(jnp.sin, good, credible=level)
    with pytest.raises(ValueError, match="non-finite values for 2 of 4 surrogate samples"):
        surrogate_bias(jnp.log, jnp.array([1.0, -1.0, 2.0, -3.0]))
    with pytest.raises(ValueError, match="reference must have the structure"):
        surrogate_bias(lambda a: {"x": a}, good, {"y": 1.0})
    with pytest.raises(ValueError, match="broadcast"):
        surrogate_bias(jnp.sin, good, jnp.ones(3))
    with pytest.raises(ValueError, match="reference must be finite"):
        surrogate_bias(jnp.sin, good, jnp.nan)
    with pytest.raises(ValueError, match="needs a reference"):
        surrogate_bias(jnp.sin, good, reference_error=0.1)
    with pytest.raises(ValueError, match="reference_error must be > 0"):
        surrogate_bias(jnp.sin, good, 0.0, reference_error=0.0)
    with pytest.raises(ValueError, match="downstream must be callable"):
        surrogate_bias(3.0, good)
    obs = jnp.ones((2, 5))
    with pytest.raises(ValueError, match="action must have shape"):
        reweighting_bias(obs, jnp.ones((2, 4)), obs)
    with pytest.raises(ValueError, match="surrogate_action must have shape"):
        reweighting_bias(obs, obs, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="observable must have shape"):
        reweighting_bias(jnp.ones(5), jnp.ones(5), jnp.ones(5))
    with pytest.raises(ValueError, match="N >= 2"):
        reweighting_bias(jnp.ones((2, 1)), jnp.ones((2, 1)), jnp.ones((2, 1)))
    with pytest.raises(ValueError, match="action must be finite"):
        reweighting_bias(obs, obs.at[0, 0].set(jnp.inf), obs)
    with pytest.raises(ValueError, match="credible"):
        reweighting_bias(obs, obs, obs, credible=1.0)
    with pytest.raises(ValueError, match="min_ess"):
        reweighting_bias(obs, obs, obs, min_ess=0.5)
