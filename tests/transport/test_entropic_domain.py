"""entropic_ot(domain="auto"): the kernel-domain result is kept where it is certified, also
when kernel entries underflow, and the log-domain result is returned otherwise."""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest
from ott.geometry import geometry
from ott.solvers import linear

from edtjax.transport import sinkhorn as sk
from edtjax.transport.sinkhorn import entropic_ot


def _clouds(dtype, n=200):
    # the benchmark's clouds at a smaller size: x ~ N(0, I), y ~ N(0.3, 1.44 I) in d = 2
    k1, k2 = jax.random.split(jax.random.key(1))
    x = jax.random.normal(k1, (n, 2), dtype=dtype)
    return x, 1.2 * jax.random.normal(k2, (n, 2), dtype=dtype) + 0.3


def _reduced_cost(x, y):
    # float64 cost reduced by its row then column minima (translation-invariant)
    cost = ot.dist(np.asarray(x, np.float64), np.asarray(y, np.float64))
    cost = cost - cost.min(axis=1, keepdims=True)
    return cost - cost.min(axis=0, keepdims=True)


@partial(jax.jit, static_argnames=("threshold", "max_iterations"))
def _kernel_attempt(x, y, eps, threshold, max_iterations=20_000):
    """(f, g, regularized_cost, converged, kept) of the kernel-domain attempt of "auto"."""
    a = jnp.full(x.shape[0], 1.0 / x.shape[0], x.dtype)
    b = jnp.full(y.shape[0], 1.0 / y.shape[0], y.dtype)
    c = sk._common_centre(x, y, a, b)
    kwargs = sk._solver_kwargs(x.dtype, threshold, max_iterations)
    return sk._kernel_solve(x - c, y - c, a, b, jnp.asarray(eps, x.dtype), kwargs)


def _underflows(x, y, eps):
    return not bool(sk._kernel_is_safe(jnp.asarray(_reduced_cost(x, y), x.dtype), eps))


def _marginal_error(res):
    """1-norm marginal error (both marginals) of the plan of ``res``, evaluated in float64."""
    f, g = np.asarray(res.f, np.float64), np.asarray(res.g, np.float64)
    cost = ot.dist(np.asarray(res.x, np.float64), np.asarray(res.y, np.float64))
    exponent = (f[:, None] + g[None, :] - cost) / float(res.epsilon)
    plan = np.exp(exponent)
    a, b = np.asarray(res.a, np.float64), np.asarray(res.b, np.float64)
    error = np.abs(plan.sum(1) - a).sum() + np.abs(plan.sum(0) - b).sum()
    size = (np.abs(f)[:, None] + np.abs(g)[None, :] + cost).max() / float(res.epsilon)
    return error, size


@pytest.mark.slow
def test_kernel_domain_kept_with_underflowing_entries_float64(x64):
    # eps = 0.065: the largest reduced cost over eps is 729 > 708.4, so kernel entries underflow
    # in float64 (the former rule ran the log domain here), yet the kernel-domain result is
    # kept: its plan mass held below the smallest normal number is certified negligible. Both
    # solves reach marginal error 1e-9 of the same unique plan; measured gaps: 2.9e-12 relative
    # on the cost, 3.3e-11 in 1-norm on the plan; the bounds (1e-8, and the marginal tolerance
    # 1e-9) are 30-3000x above them.
    x, y = _clouds(jnp.float64)
    eps, threshold = 0.065, 1e-9
    assert _underflows(x, y, eps)
    assert bool(_kernel_attempt(x, y, eps, threshold)[4])
    kw = dict(epsilon=eps, threshold=threshold, max_iterations=20_000)
    log, auto = entropic_ot(x, y, **kw), entropic_ot(x, y, domain="auto", **kw)
    assert bool(auto.converged) and bool(log.converged)
    assert not np.array_equal(np.asarray(auto.f), np.asarray(log.f))  # a different solve
    np.testing.assert_allclose(float(auto.transport_cost), float(log.transport_cost), rtol=1e-8)
    assert float(np.abs(np.asarray(auto.plan()) - np.asarray(log.plan())).sum()) <= threshold


def test_kernel_domain_kept_with_underflowing_entries_float32():
    # eps = 0.065: the largest reduced cost over eps is 844 > 87.3, so kernel entries underflow in
    # float32; the kernel-domain result is kept. Tolerances: each solve stops when the float32
    # marginal error is below delta = 1e-5; evaluated exactly from its float32 potentials, the
    # plan's entries exp((f + g - C)/eps) carry the rounding of f, g and C, at most
    # R eps_32 relatively with R = max (|f| + |g| + C)/eps, so each marginal moves by at most
    # R eps_32 more: 1-norm error <= delta + 2 R eps_32 (measured 1.28e-5 and 1.27e-5 for auto
    # and log, bound 2.2e-4 with R = 867). The two plans lie within delta of each other in
    # 1-norm (measured 1.8e-6), and the transport costs within delta max C (measured 4.6e-7
    # relative).
    x, y = _clouds(jnp.float32)
    eps, delta = 0.065, 1e-5
    assert _underflows(x, y, eps)
    assert bool(_kernel_attempt(x, y, eps, delta)[4])
    kw = dict(epsilon=eps, threshold=delta, max_iterations=20_000)
    log, auto = entropic_ot(x, y, **kw), entropic_ot(x, y, domain="auto", **kw)
    assert bool(auto.converged) and bool(log.converged)
    eps32 = float(jnp.finfo(jnp.float32).eps)
    for res in (auto, log):
        error, size = _marginal_error(res)
        assert error <= delta + 2 * size * eps32
    plans = np.asarray(auto.plan(), np.float64), np.asarray(log.plan(), np.float64)
    assert float(np.abs(plans[0] - plans[1]).sum()) <= delta
    max_cost = float(ot.dist(np.asarray(x, np.float64), np.asarray(y, np.float64)).max())
    assert abs(float(auto.transport_cost) - float(log.transport_cost)) <= delta * max_cost


def test_kernel_domain_falls_back_when_scalings_leave_the_range():
    # The float32 clouds above (same shapes and options, so the same compiled solves).
    # eps = 0.02: the scalings the solve needs exceed float32's range; the kernel attempt stops
    # as soon as one leaves it (NaN; after 120 iterations), where ott-jax's guarded update runs
    # all 1000 allowed, and "auto" returns the log-domain solve bit for bit. eps = 0.03: the kernel
    # attempt converges, but part of its plan lies below float32's smallest normal number: not
    # certified, the log-domain result is returned.
    x, y = _clouds(jnp.float32)
    a = b = jnp.full(x.shape[0], 1.0 / x.shape[0], jnp.float32)
    kernel = jnp.exp(-jnp.asarray(_reduced_cost(x, y) / 0.02, jnp.float32))
    iterations = {
        cls: int(
            linear.solve(
                cls(kernel_matrix=kernel, epsilon=0.02),
                a=a,
                b=b,
                lse_mode=False,
                threshold=1e-5,
                max_iterations=1000,
            ).n_iters
        )
        for cls in (sk._FixedKernel, geometry.Geometry)
    }
    assert iterations[sk._FixedKernel] <= 200 and iterations[geometry.Geometry] == 1000
    for eps, attempt_converged in ((0.02, False), (0.03, True)):
        _, _, _, converged, kept = _kernel_attempt(x, y, eps, 1e-5)
        assert bool(converged) == attempt_converged and not bool(kept)
        kw = dict(epsilon=eps, threshold=1e-5, max_iterations=20_000)
        log, auto = entropic_ot(x, y, **kw), entropic_ot(x, y, domain="auto", **kw)
        assert bool(auto.converged)
        for field in ("f", "g", "transport_cost", "regularized_cost", "converged"):
            np.testing.assert_array_equal(getattr(auto, field), getattr(log, field))


def test_subnormal_mass_bound_and_exact_mass():
    # The certificate against a float64 enumeration of the flagged entries (kernel entry or a
    # product with a scaling below float32's smallest normal number). Small scalings: the
    # O(n + m) bound is returned, below the limit and above the exact mass. Large scalings
    # (e^60, so the bound t e^120 is above the limit): the exact mass is returned, equal to the
    # enumeration up to float32 rounding of its three terms (|log u| + |log v| + r <= 270, so a
    # relative error <= 270 eps_32 / 2 = 1.6e-5 per entry; bound 1e-4).
    rng = np.random.default_rng(0)
    reduced = rng.uniform(0.0, 150.0, (30, 20))
    reduced[np.arange(20), np.arange(20)] = 0.0  # a zero in every column
    reduced[np.arange(20, 30), 0] = 0.0  # and in every row
    log_tiny = math.log(float(jnp.finfo(jnp.float32).tiny))

    def enumerated(log_u, log_v):
        floor = np.minimum(0.0, np.minimum(log_u[:, None], log_v[None, :]))
        flagged = reduced - floor > -log_tiny
        return np.where(flagged, np.exp(log_u[:, None] + log_v[None, :] - reduced), 0.0).sum()

    def certificate(log_u, log_v):
        return sk._subnormal_mass(
            lambda: jnp.asarray(reduced, jnp.float32),
            jnp.asarray(1.0, jnp.float32),
            jnp.asarray(log_u, jnp.float32),
            jnp.asarray(log_v, jnp.float32),
        )

    small = rng.uniform(-5.0, 0.0, 30), rng.uniform(-5.0, 0.0, 20)
    bound, limit = certificate(*small)
    assert enumerated(*small) <= float(bound) <= float(limit)
    large = rng.uniform(55.0, 60.0, 30), rng.uniform(55.0, 60.0, 20)
    mass, limit = certificate(*large)
    assert float(mass) > float(limit)
    np.testing.assert_allclose(float(mass), enumerated(*large), rtol=1e-4)
