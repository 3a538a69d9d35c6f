"""Wasserstein indices: the binned Bures estimator against the closed form of a linear Gaussian
model and a direct scipy computation, the Sinkhorn estimator against exact transport (POT),
bootstrap coverage over repeated draws."""

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest
from scipy import linalg, stats

from edtjax.sensitivity import wasserstein_indices
from edtjax.sensitivity.wasserstein import _wasserstein_core

# Y = A X + s E, X ~ N(0, I_3), E ~ N(0, I_2): the third input does not act on Y.
A = np.array([[1.0, 0.5, 0.0], [0.3, -0.8, 0.0]])
NOISE = 0.5
COV = A @ A.T + NOISE**2 * np.eye(2)


def _bures(s1, s2):
    r = linalg.sqrtm(s1).real
    return np.trace(s1) + np.trace(s2) - 2.0 * np.trace(linalg.sqrtm(r @ s2 @ r).real)


def _exact(i):
    """``Y | X_i = x ~ N(a_i x, COV - a_i a_i^T)``: ``E W_2^2 = |a_i|^2 + Bures^2``."""
    a = A[:, i]
    return (a @ a + _bures(COV, COV - np.outer(a, a))) / (2 * np.trace(COV))


def _binned(i, num_bins):
    """The Bures estimator's limit with ``num_bins`` equal-probability bins of ``X_i``.

    In bin ``(q_(b-1), q_b)`` of ``N(0, 1)``, ``X_i`` has mean ``B (phi(q_(b-1)) - phi(q_b))``
    and second moment ``1 + B (q_(b-1) phi(q_(b-1)) - q_b phi(q_b))``; ``Y`` then has mean
    ``a_i mu_b`` and covariance ``COV - (1 - v_b) a_i a_i^T``.
    """
    a = A[:, i]
    q = stats.norm.ppf(np.arange(num_bins + 1) / num_bins)
    finite = np.isfinite(q)
    phi = stats.norm.pdf(q)
    qphi = np.where(finite, np.where(finite, q, 0.0) * phi, 0.0)
    mu = num_bins * (phi[:-1] - phi[1:])
    v = 1.0 + num_bins * (qphi[:-1] - qphi[1:]) - mu**2
    dist = [
        m**2 * (a @ a) + _bures(COV, COV - (1 - w) * np.outer(a, a))
        for m, w in zip(mu, v, strict=True)
    ]
    return np.mean(dist) / (2 * np.trace(COV))


def _sample(key, n):
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (n, 3))
    return x, x @ jnp.asarray(A.T, x.dtype) + NOISE * jax.random.normal(ke, (n, 2), x.dtype)


def _bins(x, num_bins):
    """The estimator's bins: rows at sorted positions floor(b n / B) + 0..m-1."""
    n = x.shape[0]
    m = n // num_bins
    order = np.argsort(x, kind="stable")
    return [order[(b * n) // num_bins :][:m] for b in range(num_bins)]


def test_binned_closed_form_tends_to_the_index():
    # the binning bias quoted in the docstring, and its decrease with the number of bins
    gaps = np.array([[_exact(i) - _binned(i, b) for i in range(2)] for b in (10, 20, 40, 80)])
    rel = gaps / np.array([_exact(0), _exact(1)])
    assert np.all(np.diff(gaps, axis=0) < 0) and np.all(gaps > 0)
    np.testing.assert_allclose(rel[:, 0], [0.059, 0.024, 0.010, 0.0045], atol=1e-3)
    assert _exact(2) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("n", "num_bins", "sd"), [(4096, 10, 0.0065), (65536, 40, 0.0017)])
def test_bures_matches_closed_form(x64, n, num_bins, sd):
    # sd: standard deviation of the estimate over 200 draws (0.0063 at n = 4096; 0.0033 at
    # n = 16384, hence ~0.0017 at 65536); 5 sd: a two-sided false failure rate below 1e-6
    x, y = _sample(jax.random.key(0), n)
    r = wasserstein_indices(None, x, y, num_bins=num_bins)
    for i in range(2):
        assert abs(float(r.first_order[i]) - _binned(i, num_bins)) < 5 * sd
        # the estimate tends to the index itself, up to the binning bias of the closed form
        gap = _exact(i) - _binned(i, num_bins)
        assert abs(float(r.first_order[i]) - _exact(i)) < 5 * sd + gap
    # independent input: mean 0.8 / m, sd 0.19 / m over 200 draws (m = 409); 2 / m is 6 sd up
    m = n // num_bins
    assert 0.0 <= float(r.first_order[2]) < 2.0 / m


def test_bures_equals_direct_computation(x64):
    # exact small case: the same bins, moments and Bures distance written out with scipy
    x, y = _sample(jax.random.key(1), 62)
    x, y = np.asarray(x), np.asarray(y)
    r = wasserstein_indices(None, x, y, num_bins=4)
    z = (y - y.mean(0)) / np.sqrt(np.trace(np.cov(y.T, bias=True)))
    cov = np.cov(z.T, bias=True)
    for i in range(3):
        dists, means = [], []
        for rows in _bins(x[:, i], 4):
            mb = z[rows].mean(0)
            means.append(mb @ mb)
            dists.append(mb @ mb + _bures(cov, np.cov(z[rows].T, bias=True)))
        np.testing.assert_allclose(float(r.first_order[i]), np.mean(dists) / 2, rtol=1e-10)
        np.testing.assert_allclose(float(r.mean_part[i]), np.mean(means) / 2, rtol=1e-10)


def test_sinkhorn_agrees_with_exact_transport(x64):
    # peer: exact W_2^2 between each bin and the whole sample (POT's network simplex) on a
    # non-Gaussian output. 0 <= OT_eps - W_2^2 <= eps log(m) for the uniform weights of the
    # bin (entropy of any plan at most that of its smaller marginal), and the debiasing terms
    # lie between 0 and eps log(m) and eps log(n): |S_eps - W| <= eps (log m + log n) / 2
    # per bin, in the scaled units where tr Cov Y = 1, halved again by the normaliser.
    rng = np.random.default_rng(0)
    n, num_bins, eps = 200, 4, 0.003
    x = rng.standard_normal((n, 3))
    y = np.tanh(x @ A.T) + NOISE * rng.standard_normal((n, 2)) ** 2
    r = wasserstein_indices(None, x, y, num_bins=num_bins, method="sinkhorn", epsilon=eps)
    z = y - y.mean(0)
    z = z / np.sqrt(np.sum(np.mean(z**2, axis=0)))
    m = n // num_bins
    for i in range(3):
        exact = np.mean(
            [
                ot.emd2(np.full(m, 1 / m), np.full(n, 1 / n), ot.dist(z[rows], z))
                for rows in _bins(x[:, i], num_bins)
            ]
        )
        bound = eps * (np.log(m) + np.log(n)) / 4
        assert abs(float(r.first_order[i]) - exact / 2) < bound
    bures = wasserstein_indices(None, x, y, num_bins=num_bins)
    # Gelbrich: the Gaussian distance is a lower bound of W_2 on the same bins
    assert np.all(np.asarray(bures.first_order) <= np.asarray(r.first_order) + 1e-6)


def test_invariances_and_pytree_inputs(x64):
    # the shapes of the direct computation above, so its compiled code is reused
    x, y = _sample(jax.random.key(2), 62)
    r = wasserstein_indices(None, x, y, num_bins=4)
    c, s = np.cos(0.7), np.sin(0.7)
    moved = 3.0 * y @ jnp.asarray([[c, -s], [s, c]]) + 10.0
    np.testing.assert_allclose(
        wasserstein_indices(None, x, moved, num_bins=4).first_order, r.first_order, rtol=1e-9
    )
    tree = wasserstein_indices(None, {"a": x[:, 0], "b": x[:, 1:]}, y, num_bins=4)
    assert tree.first_order["a"].shape == () and tree.first_order["b"].shape == (2,)
    np.testing.assert_allclose(tree.first_order["b"], r.first_order[1:], rtol=1e-12)
    # a scalar output is k = 1
    one = wasserstein_indices(None, x, y[:, 0], num_bins=4)
    np.testing.assert_allclose(
        one.first_order, wasserstein_indices(None, x, y[:, :1], num_bins=4).first_order
    )


def test_grad_wrt_outputs(x64):
    x, y = _sample(jax.random.key(3), 62)

    def f(v):
        return wasserstein_indices(None, x, v, num_bins=4).first_order[0]

    g = jax.grad(f)(y)
    direction = jax.random.normal(jax.random.key(4), y.shape)
    h = 1e-6
    fd = (f(y + h * direction) - f(y - h * direction)) / (2 * h)
    np.testing.assert_allclose(float(jnp.sum(g * direction)), float(fd), rtol=1e-5)


def test_bootstrap_and_no_recompile():
    x, y = _sample(jax.random.key(5), 1024)
    r = wasserstein_indices(jax.random.key(6), x, y, num_bootstrap=20)
    assert r.num_bins == 10 and r.first_order_stderr.shape == (3,)
    assert np.all(r.first_order_bootstrap.low <= r.first_order_bootstrap.high)
    before = _wasserstein_core._cache_size()
    x2, y2 = _sample(jax.random.key(7), 1024)
    wasserstein_indices(jax.random.key(8), x2, y2, num_bootstrap=20)
    assert _wasserstein_core._cache_size() == before
    # traceable under vmap (validation skips tracers)
    keys = jax.random.split(jax.random.key(9), 3)
    batch = jax.vmap(lambda k: wasserstein_indices(None, *_sample(k, 256)).first_order)(keys)
    assert batch.shape == (3, 3) and bool(jnp.all(jnp.isfinite(batch)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "exact"}, "method"),
        ({"num_bins": 1}, "num_bins"),
        ({"num_bins": 40}, "num_bins"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"num_bootstrap": 1}, "num_bootstrap"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_validation(kwargs, match):
    x, y = _sample(jax.random.key(0), 100)
    with pytest.raises(ValueError, match=match):
        wasserstein_indices(None, x, y, **kwargs)


def test_validation_of_data():
    x, y = _sample(jax.random.key(0), 100)
    with pytest.raises(ValueError, match="y must have shape"):
        wasserstein_indices(None, x, y[:50])
    with pytest.raises(ValueError, match="constant"):
        wasserstein_indices(None, x, jnp.ones((100, 2)))
    with pytest.raises(ValueError, match="x leaves"):
        wasserstein_indices(None, {"a": x[:, 0], "b": x[:50, 1]}, y)
    with pytest.raises(ValueError, match="x"):
        wasserstein_indices(None, x.at[0, 0].set(jnp.nan), y)


@pytest.mark.slow
def test_bootstrap_coverage(x64):
    # 100 draws, n = 2048, 8 bins, 100 resamples: the 95% basic intervals must cover the
    # binned index in at least 95% - 3 binomial standard errors (88.5%) of the draws (a false
    # failure rate of about 1e-3 per input), and the 0 of the independent input likewise
    n, num_bins, reps = 2048, 8, 100
    truth = np.array([_binned(0, num_bins), _binned(1, num_bins), 0.0])

    def one(key):
        kd, kb = jax.random.split(key)
        r = wasserstein_indices(kb, *_sample(kd, n), num_bins=num_bins, num_bootstrap=100)
        return r.first_order_bootstrap.low, r.first_order_bootstrap.high

    low, high = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(11), reps))
    covered = (np.asarray(low) <= truth) & (truth <= np.asarray(high))
    floor = 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)
    assert np.all(covered.mean(axis=0) >= floor), covered.mean(axis=0)
