"""entropic_ot(domain="auto"): the kernel-domain result is kept where it is certified, also
when kernel entries underflow, and the log-domain result is returned otherwise."""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest
from ott.problems.linear import linear_problem
from ott.solvers import linear

from edtjax.transport import _scaling
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
    """(f, g, regularized_cost, transport_cost, converged, kept) of the kernel-domain attempt of
    "auto"."""
    a = jnp.full(x.shape[0], 1.0 / x.shape[0], x.dtype)
    b = jnp.full(y.shape[0], 1.0 / y.shape[0], y.dtype)
    c = sk._common_centre(x, y, a, b)
    kwargs = sk._solver_kwargs(x.dtype, threshold, max_iterations)
    return sk._kernel_solve(x - c, y - c, a, b, jnp.asarray(eps, x.dtype), kwargs)


def _underflows(x, y, eps):
    kernel = jnp.exp(-jnp.asarray(_reduced_cost(x, y) / eps, x.dtype))
    return not bool(sk._kernel_is_safe(kernel))


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
    # solves reach marginal error 1e-9 of the same unique plan; measured gaps: 7.9e-13 relative
    # on the cost, 9.2e-12 in 1-norm on the plan; the bounds (1e-8, and the marginal tolerance
    # 1e-9) are 100-10000x above them.
    x, y = _clouds(jnp.float64)
    eps, threshold = 0.065, 1e-9
    assert _underflows(x, y, eps)
    assert bool(_kernel_attempt(x, y, eps, threshold)[-1])
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
    # R eps_32 more: 1-norm error <= delta + 2 R eps_32 (measured 1.30e-5 and 1.27e-5 for auto
    # and log, bound 2.2e-4 with R = 867). The two plans lie within delta of each other in
    # 1-norm (measured 1.6e-6), and the transport costs within delta max C (measured 1.5e-7
    # relative).
    x, y = _clouds(jnp.float32)
    eps, delta = 0.065, 1e-5
    assert _underflows(x, y, eps)
    assert bool(_kernel_attempt(x, y, eps, delta)[-1])
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
    # eps = 0.02: the scalings the solve needs exceed float32's range; the kernel iterations stop
    # as soon as one leaves it (a NaN error, after 117 iterations of the 1000 allowed), and
    # "auto" returns the log-domain solve bit for bit. eps = 0.03: the kernel attempt converges,
    # but part of its plan lies below float32's smallest normal number: not certified, the
    # log-domain result is returned.
    x, y = _clouds(jnp.float32)
    a = b = jnp.full(x.shape[0], 1.0 / x.shape[0], jnp.float32)
    kernel = jnp.exp(-jnp.asarray(_reduced_cost(x, y) / 0.02, jnp.float32))
    iterations, _, _, error = _scaling.iterate(kernel, a, b, 1e-5, 1000)
    assert int(iterations) <= 200 and math.isnan(float(error))
    for eps, attempt_converged in ((0.02, False), (0.03, True)):
        *_, converged, kept = _kernel_attempt(x, y, eps, 1e-5)
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

    kernel = jnp.exp(-jnp.asarray(reduced, jnp.float32))
    assert not bool(sk._kernel_is_safe(kernel))  # reduced costs up to 150 > 87.3

    def certificate(log_u, log_v):
        return sk._subnormal_mass(
            lambda: jnp.asarray(reduced, jnp.float32),
            jnp.asarray(1.0, jnp.float32),
            jnp.asarray(log_u, jnp.float32),
            jnp.asarray(log_v, jnp.float32),
            lambda: sk._kernel_is_safe(kernel),
        )

    small = rng.uniform(-5.0, 0.0, 30), rng.uniform(-5.0, 0.0, 20)
    bound, limit = certificate(*small)
    assert enumerated(*small) <= float(bound) <= float(limit)
    large = rng.uniform(55.0, 60.0, 30), rng.uniform(55.0, 60.0, 20)
    mass, limit = certificate(*large)
    assert float(mass) > float(limit)
    np.testing.assert_allclose(float(mass), enumerated(*large), rtol=1e-4)
    # A safe kernel (reduced costs below 87.3) with scalings near e^33: the bound with the
    # kernel term (t e^76) is above the limit, the one without it (t e^41) below; it is returned
    # (positive, so not the exact mass, which is 0: no entry is flagged).
    safe = jnp.exp(-jnp.asarray(reduced * (50.0 / 150.0), jnp.float32))
    assert bool(sk._kernel_is_safe(safe))
    mid = rng.uniform(30.0, 35.0, 30), rng.uniform(30.0, 35.0, 20)
    bound, limit = sk._subnormal_mass(
        lambda: jnp.asarray(reduced * (50.0 / 150.0), jnp.float32),
        jnp.asarray(1.0, jnp.float32),
        jnp.asarray(mid[0], jnp.float32),
        jnp.asarray(mid[1], jnp.float32),
        lambda: sk._kernel_is_safe(safe),
    )
    assert 0.0 < float(bound) <= float(limit)


def _small_problem(n=40, m=30):
    k1, k2 = jax.random.split(jax.random.key(5))
    x = jax.random.normal(k1, (n, 3), dtype=jnp.float64)
    y = 1.5 * jax.random.normal(k2, (m, 3), dtype=jnp.float64) + 0.5
    return x, y


def test_scaling_solve_matches_ott_kernel_solve(x64):
    # The kernel-domain loop of "auto" against ott-jax's kernel-domain Sinkhorn on the same
    # kernel (the cost reduced as in "auto"; eps = 0.5, no entry underflows). Both iterate
    # v = b / K^T u, u = a / K v from u = 1, so after the same number of iterations they hold
    # the same scalings up to rounding; the loop checks the marginal error after every
    # iteration, ott-jax every 10, so it stops no later. Both stop at marginal error 1e-10 of
    # the same unique plan (171 and 180 iterations): potentials (compared after removing their
    # a-weighted mean, as they are defined up to f + c, g - c) measured 6.3e-10 apart, plan
    # entries 3.4e-12; bounds 1e-8 and the marginal tolerance 1e-10.
    x, y = _small_problem()
    eps, threshold = 0.5, 1e-10
    a = jnp.full(x.shape[0], 1.0 / x.shape[0])
    b = jnp.full(y.shape[0], 1.0 / y.shape[0])
    kernel = jnp.exp(-jnp.asarray(_reduced_cost(x, y)) / eps)
    geom = sk._FixedKernel(kernel_matrix=kernel, epsilon=eps)
    ott = linear.solve(geom, a=a, b=b, lse_mode=False, threshold=threshold, max_iterations=5000)
    iterations, _, _, error = _scaling.iterate(kernel, a, b, threshold, 5000)
    prob = linear_problem.LinearProblem(geom, a=a, b=b)
    f, g, _ = _scaling.solve(prob, threshold, 5000, None)
    assert bool(ott.converged) and float(error) < threshold
    assert int(iterations) <= int(ott.n_iters)
    for p, q, w in ((f, ott.f, a), (g, ott.g, b)):
        np.testing.assert_allclose(p - jnp.dot(w, p), q - jnp.dot(w, q), rtol=0, atol=1e-8)
    plan = kernel * jnp.exp((f[:, None] + g[None, :]) / eps)
    np.testing.assert_allclose(plan, ott.matrix, rtol=0, atol=threshold)


def test_kernel_domain_two_point_closed_form(x64):
    # Two points against two points on a line, uniform weights, C = [[0, 1], [1, 0]]. The
    # entropic plan is [[p, 1/2 - p], [1/2 - p, p]] with (p / (1/2 - p))^2 = exp(2 / eps), so
    # p = r / (2 (1 + r)), r = exp(1 / eps). "auto" keeps the kernel domain here (checked);
    # at marginal error 1e-13 each entry is within 1e-13 of its value (measured 6e-17, the cost
    # exact); bounds 1e-12 on entries, 1e-11 relative on the cost.
    x = jnp.array([[0.0], [1.0]])
    eps = 0.5
    assert bool(_kernel_attempt(x, x, eps, 1e-13)[-1])
    res = entropic_ot(x, x, epsilon=eps, threshold=1e-13, domain="auto")
    r = math.exp(1.0 / eps)
    p = r / (2.0 * (1.0 + r))
    np.testing.assert_allclose(res.plan(), [[p, 0.5 - p], [0.5 - p, p]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(float(res.transport_cost), 2 * (0.5 - p), rtol=1e-11)


def test_kernel_domain_jit_vmap(x64):
    # vmap over shifts of y and jit give the costs of separate calls: the batched loop freezes
    # each member once it stops, so each reaches marginal error 1e-10 as alone; costs agree to
    # 1e-8 relative (measured 1.3e-15). (Gradients: test_sinkhorn's slow
    # test_kernel_domain_gradient_matches_log_domain.)
    x, y = _small_problem(12, 10)
    kw = dict(epsilon=0.5, threshold=1e-10, max_iterations=5000)
    shifts = jnp.linspace(0.0, 1.0, 3)[:, None] * jnp.ones((1, 3))

    def cost(z, s):
        return entropic_ot(z, y + s, domain="auto", **kw).transport_cost

    batched = jax.jit(jax.vmap(lambda s: cost(x, s)))(shifts)
    np.testing.assert_allclose(batched, [float(cost(x, s)) for s in shifts], rtol=1e-8)


def test_cost_matrix_float32_rounding(x64):
    # The kernel domain's cost matrix (one product of the clouds augmented by their squared
    # norms) in float32 against the direct form in float64, for centred clouds in d = 10. Each
    # entry is a sum of d + 2 products of float32 numbers (the inputs, their squared norms), so
    # it is off by at most (d + 4) eps_32 (|x_i| + |y_j|)^2 (the standard dot-product rounding
    # bound, plus the rounding of the norms): a deterministic bound, checked entrywise (the
    # largest error measured is 7% of it).
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((64, 10)), 1.2 * rng.standard_normal((48, 10)) + 0.3
    x32, y32 = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    x, y = np.asarray(x32, np.float64), np.asarray(y32, np.float64)  # the float32 inputs
    direct = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    cost = np.asarray(sk._cost_matrix(x32, y32), np.float64)
    norms = np.linalg.norm(x, axis=1)[:, None] + np.linalg.norm(y, axis=1)[None, :]
    bound = (10 + 4) * float(jnp.finfo(jnp.float32).eps) * norms**2
    assert np.all(np.abs(cost - direct) <= bound)


def test_fixed_kernel_transposed_product(x64):
    # apply_kernel(w, axis=0) is K^T w, formed as w^T K (the kernel's layout); axis=1 is K w.
    # Both are the same sums as the products with K^T and K, so they agree to rounding (bound
    # 1e-14 on entries of size ~1).
    rng = np.random.default_rng(3)
    kernel = jnp.asarray(rng.uniform(size=(5, 4)))
    geom = sk._FixedKernel(kernel_matrix=kernel, epsilon=1.0)
    for vec in (jnp.asarray(rng.uniform(size=5)), jnp.asarray(rng.uniform(size=(5, 3)))):
        out = geom.apply_kernel(vec, axis=0)
        assert out.shape == (4, *vec.shape[1:])
        np.testing.assert_allclose(out, kernel.T @ vec, rtol=0, atol=1e-14)
    vec = jnp.asarray(rng.uniform(size=4))
    np.testing.assert_allclose(geom.apply_kernel(vec, axis=1), kernel @ vec, rtol=0, atol=1e-14)


@pytest.mark.slow
def test_kernel_domain_gradients_match_log_domain_small(x64):
    # Gradients of both costs in x and y, "auto" (kernel domain kept, checked) against "log"
    # (test_sinkhorn's slow gradient test covers the transport cost in x on a larger problem):
    # both are ott-jax's implicit differentiation of the same fixed point, exact there; at
    # marginal error 1e-12 the measured gaps are below 5e-13 on gradients of size ~0.6 (bound
    # 1e-9).
    x, y = _small_problem(12, 10)
    eps, threshold = 0.5, 1e-12
    assert bool(_kernel_attempt(x, y, eps, threshold)[-1])
    kw = dict(epsilon=eps, threshold=threshold, max_iterations=5000)

    def grads(domain):
        def costs(x, y):
            res = entropic_ot(x, y, domain=domain, **kw)
            return jnp.stack([res.transport_cost, res.regularized_cost])

        return jax.jacrev(costs, argnums=(0, 1))(x, y)

    for auto, log in zip(grads("auto"), grads("log"), strict=True):
        np.testing.assert_allclose(auto, log, rtol=0, atol=1e-9)
