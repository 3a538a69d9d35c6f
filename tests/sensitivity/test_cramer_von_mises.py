"""Cramer-von Mises indices: pick-freeze estimator against quadrature, closed forms and a direct
O(n^2) formula; the rank-based estimator (Chatterjee's xi) against scipy and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from edtjax.sensitivity import (
    cramer_von_mises_indices,
    given_data_first_order,
    saltelli_design,
)

A = np.array([1.0, 2.0, 0.5])


def _linear_gaussian_cvm(a):
    """Closed form for ``Y = a . X``, ``X ~ N(0, I)``: ``S_i = 3 asin(rho_i) / pi - 1/2``.

    ``int E[F^i(t)^2] dF(t) = P(Y <= T, Y^i <= T)`` with ``T`` an independent copy of ``Y``;
    ``(Y - T, Y^i - T)`` is centred Gaussian with correlation ``rho_i = (a_i^2 + s^2) / (2 s^2)``
    (``s^2 = |a|^2``), so the orthant probability is ``1/4 + asin(rho_i) / (2 pi)``, and
    ``S_i = 6 (1/4 + asin(rho_i) / (2 pi) - 1/3)``.
    """
    s2 = np.sum(a**2)
    return 3.0 * np.arcsin((a**2 + s2) / (2 * s2)) / np.pi - 0.5


def _sum_of_uniforms_cvm():
    """``S_1`` of ``Y = X1 + X2``, ``X ~ U(0, 1)^2``, by quadrature of its definition."""

    def cdf(t):
        return t * t / 2 if t < 1 else 1 - (2 - t) ** 2 / 2

    def inner(t):  # E_x1[(F^1(t) - F(t))^2], F^1(t) = clip(t - x1, 0, 1)
        kinks = [min(max(t - 1, 0.0), 1.0), min(t, 1.0)]
        return integrate.quad(lambda x: (np.clip(t - x, 0, 1) - cdf(t)) ** 2, 0, 1, points=kinks)[0]

    density = lambda t: t if t < 1 else 2 - t  # noqa: E731
    return 6 * integrate.quad(lambda t: inner(t) * density(t), 0, 2, points=[1], limit=200)[0]


def _direct(y, z):
    """The estimator written out with O(n^2) indicator sums (float64)."""
    pooled = np.concatenate([y, z])
    f = np.mean(pooled[None, :] <= pooled[:, None], axis=1)
    g = np.mean((y[None, :] <= pooled[:, None]) & (z[None, :] <= pooled[:, None]), axis=1)
    return np.sum(g - f * f) / np.sum(f - f * f)


def _pick_freeze(key, n, model, d):
    design = saltelli_design(key, n, d, sampler="mc")
    return model(design.b), model(design.ab)


def _gaussian_pick_freeze(key, n, model, d):
    """Pick-freeze outputs with standard normal inputs: ``ab[i]`` is ``a`` with column ``i``
    of ``b``."""
    ka, kb = jax.random.split(key)
    a, b = jax.random.normal(ka, (n, d)), jax.random.normal(kb, (n, d))
    ab = jnp.stack([a.at[:, i].set(b[:, i]) for i in range(d)])
    return model(b), model(ab)


def test_quadrature_sum_of_uniforms():
    # Quadrature gives S_1 = S_2 = 0.3. The bias of the pooled evaluation points is O(1/n) =
    # 1e-4; each estimate is within 5 bootstrap standard deviations (normal tail 6e-7).
    exact = _sum_of_uniforms_cvm()
    assert exact == pytest.approx(0.3, abs=1e-8)
    y, yf = _pick_freeze(jax.random.key(0), 2**12, lambda x: x[..., 0] + x[..., 1], 2)
    r = cramer_von_mises_indices(jax.random.key(1), y, yf, num_bootstrap=100)
    se = np.asarray(r.first_order_stderr)
    assert np.all((se > 0) & (se < 0.02))
    assert np.all(np.abs(np.asarray(r.first_order) - exact) < 5 * se + 1e-3)
    lo, hi = (np.asarray(v) for v in r.first_order_bootstrap)
    assert np.all(lo < np.asarray(r.first_order)) and np.all(np.asarray(r.first_order) < hi)


@pytest.mark.slow
def test_closed_form_linear_gaussian_and_monotone_invariance():
    # Vector output (a . x, exp(a . x)): the index sees only the ranks of each component, so
    # both columns give the same numbers; those match the closed form within 5 bootstrap sd.
    def model(x):
        y = x @ jnp.asarray(A, x.dtype)
        return jnp.stack([y, jnp.exp(y)], axis=-1)

    y, yf = _gaussian_pick_freeze(jax.random.key(2), 2**12, model, 3)
    r = cramer_von_mises_indices(jax.random.key(3), y, yf, num_bootstrap=100)
    assert r.first_order.shape == (3, 2) and r.first_order_bootstrap.low.shape == (3, 2)
    np.testing.assert_allclose(r.first_order[:, 0], r.first_order[:, 1], atol=1e-6)
    exact = _linear_gaussian_cvm(A)
    err = np.abs(np.asarray(r.first_order[:, 0]) - exact)
    assert np.all(err < 5 * np.asarray(r.first_order_stderr[:, 0]) + 1e-3), (err, exact)


def test_matches_direct_formula_with_ties(x64):
    # Integer outputs (many ties) on a small sample: the sorted-cumulative-sum evaluation equals
    # the O(n^2) indicator sums to rounding, for the estimate and for one bootstrap replicate
    # (a replicate is the estimator on the resampled pairs).
    from edtjax.sensitivity.cramer_von_mises import _indices, _pair_statistics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 40).astype(np.float64)
    z = np.where(rng.random(40) < 0.5, y, rng.integers(0, 6, 40)).astype(np.float64)
    r = cramer_von_mises_indices(jax.random.key(0), y, z[None])
    assert float(r.first_order[0]) == pytest.approx(_direct(y, z), rel=1e-12)
    rows = rng.integers(0, 40, 40)
    weights = np.bincount(rows, minlength=40) / 40.0
    stats = _pair_statistics(jnp.asarray(y)[None], jnp.asarray(z)[None])
    assert float(_indices(stats, jnp.asarray(weights))[0]) == pytest.approx(
        _direct(y[rows], z[rows]), rel=1e-12
    )


def test_inert_factor_and_function_of_one_factor():
    # Y = X1 exactly: S_1 -> 1 (its pairs are equal, so G = F, F^2 terms cancel: exactly 1)
    # and the inert X2 has S_2 = O(1/sqrt(n)).
    y, yf = _pick_freeze(jax.random.key(4), 4096, lambda x: x[..., 0], 2)
    s = cramer_von_mises_indices(jax.random.key(5), y, yf, num_bootstrap=100).first_order
    assert float(s[0]) == pytest.approx(1.0, abs=1e-6)
    assert abs(float(s[1])) < 0.05  # sd 0.008 over 20 replications at n = 4096: 6 sd


def test_bad_input():
    y = jnp.arange(10.0)
    with pytest.raises(ValueError, match="y_frozen must have shape"):
        cramer_von_mises_indices(jax.random.key(0), y, y)
    with pytest.raises(ValueError, match="constant"):
        cramer_von_mises_indices(jax.random.key(0), jnp.ones(10), jnp.ones((2, 10)))
    with pytest.raises(ValueError, match="num_bootstrap"):
        cramer_von_mises_indices(jax.random.key(0), y, y[None], num_bootstrap=1)
    with pytest.raises(ValueError, match="confidence"):
        cramer_von_mises_indices(jax.random.key(0), y, y[None], confidence=0.0)
    with pytest.raises(ValueError, match="finite"):
        cramer_von_mises_indices(jax.random.key(0), y.at[3].set(jnp.nan), y[None])


@pytest.mark.slow
def test_jit_and_no_retrace_on_new_data():
    from edtjax.sensitivity.cramer_von_mises import _cvm_core

    y, yf = _pick_freeze(jax.random.key(6), 64, lambda x: x[..., 0] * x[..., 1], 2)
    cramer_von_mises_indices(jax.random.key(0), y, yf)
    before = _cvm_core._cache_size()
    r = cramer_von_mises_indices(jax.random.key(1), y + 1.0, yf**2 + 1.0)
    assert _cvm_core._cache_size() == before
    jitted = jax.jit(lambda a, b: cramer_von_mises_indices(jax.random.key(1), a, b).first_order)
    np.testing.assert_allclose(jitted(y + 1.0, yf**2 + 1.0), r.first_order, rtol=1e-6)
    assert r.first_order.shape == (2,) and r.first_order_stderr is None


@pytest.mark.slow
def test_bootstrap_interval_coverage():
    # 200 replications of n = 1000 on the linear Gaussian model: the 95% percentile intervals
    # cover each closed-form index at a rate within 5 binomial sd of 0.95 (> 0.873).
    def model(x):
        return x @ jnp.asarray(A, x.dtype)

    reps, exact = 200, _linear_gaussian_cvm(A)
    hits = []
    for i in range(reps):
        y, yf = _gaussian_pick_freeze(jax.random.key(100 + i), 1000, model, 3)
        lo, hi = cramer_von_mises_indices(
            jax.random.key(i), y, yf, num_bootstrap=200
        ).first_order_bootstrap
        hits.append((np.asarray(lo) <= exact) & (exact <= np.asarray(hi)))
    coverage = np.mean(hits, axis=0)
    assert np.all(coverage > 0.95 - 5 * np.sqrt(0.95 * 0.05 / reps)), coverage


# --- rank-based estimator: Chatterjee's coefficient from one plain sample ---------------------


def test_chatterjee_matches_scipy():
    x = jax.random.normal(jax.random.key(7), (500, 3))
    y = jnp.sin(2 * x[:, 0]) + 0.3 * x[:, 1] ** 2
    r = given_data_first_order(x, y)
    for i in range(3):
        ref = stats.chatterjeexi(np.asarray(x[:, i]), np.asarray(y), y_continuous=True)
        assert float(r.chatterjee[i]) == pytest.approx(ref.statistic, abs=1e-5)
        assert float(r.chatterjee_p_value[i]) == pytest.approx(ref.pvalue, abs=1e-4)


@pytest.mark.slow
def test_chatterjee_closed_form_linear_gaussian():
    # The rank-based estimate of the Cramer-von Mises index is within 5 batch-means standard
    # errors of the closed form (the slow test below checks the interval's coverage).
    x = jax.random.normal(jax.random.key(8), (2**13, 3))
    r = given_data_first_order(x, x @ jnp.asarray(A, x.dtype))
    exact = _linear_gaussian_cvm(A)
    se = np.asarray(r.chatterjee_stderr)
    assert np.all((se > 0) & (se < 0.05))
    assert np.all(np.abs(np.asarray(r.chatterjee) - exact) < 5 * se)
    lo, hi = (np.asarray(v) for v in r.chatterjee_interval)
    np.testing.assert_allclose(hi - lo, 2 * 2.2622 * se, rtol=1e-4)  # Student t_9 at 0.975
    assert np.all(np.asarray(r.chatterjee_p_value[:2]) < 1e-6)


def test_chatterjee_fields_for_vector_outputs_and_small_samples():
    x = jax.random.normal(jax.random.key(9), (130, 2))
    y = jnp.stack([x[:, 0], x[:, 1] ** 2], axis=1)
    r = given_data_first_order(x, y)  # 5 batches of 26 rows
    assert r.chatterjee_p_value.shape == r.chatterjee_stderr.shape == (2, 2)
    assert r.chatterjee_interval.low.shape == (2, 2)
    r = given_data_first_order(x[:100], y[:100])  # no batches below 125 rows
    assert r.chatterjee_stderr is None and r.chatterjee_interval is None
    assert r.chatterjee_p_value.shape == (2, 2)


@pytest.mark.slow
def test_chatterjee_interval_coverage_and_test_size():
    # 300 replications of n = 2000: (i) the 95% batch-means intervals of xi cover the closed-form
    # index within 5 binomial sd of 0.95 (measured 0.95-0.97 over 150 replications); (ii) on an
    # independent fourth input, the asymptotic 5% test rejects at a rate <= 0.05 + 5 binomial sd.
    reps, n, exact = 300, 2000, _linear_gaussian_cvm(A)
    hits, rejections = [], 0
    for i in range(reps):
        x = jax.random.normal(jax.random.key(1000 + i), (n, 4))
        r = given_data_first_order(x, x[:, :3] @ jnp.asarray(A, x.dtype))
        lo, hi = r.chatterjee_interval
        hits.append((np.asarray(lo[:3]) <= exact) & (exact <= np.asarray(hi[:3])))
        rejections += int(r.chatterjee_p_value[3] <= 0.05)
    coverage = np.mean(hits, axis=0)
    assert np.all(coverage > 0.95 - 5 * np.sqrt(0.95 * 0.05 / reps)), coverage
    assert rejections / reps <= 0.05 + 5 * np.sqrt(0.05 * 0.95 / reps), rejections
