"""Entropic OT wrappers: agreement with POT, closed forms, gradients, retracing, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest

from edtjax.transport import sinkhorn as sk
from edtjax.transport.sinkhorn import (
    EntropicOT,
    apply_entropic_map,
    entropic_map,
    entropic_ot,
    entropic_plan,
    sinkhorn_divergence,
)


def _clouds(key, n=60, m=45, d=3, dtype=jnp.float64):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (n, d), dtype=dtype)
    y = 1.5 * jax.random.normal(k2, (m, d), dtype=dtype) + 0.5
    return x, y


def _pot(x, y, eps):
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    M = ot.dist(np.asarray(x), np.asarray(y))  # squared Euclidean, same as ott's SqEuclidean
    plan = ot.sinkhorn(a, b, M, eps, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
    return plan, float(np.sum(plan * M))


def test_cost_and_plan_agree_with_pot(key, x64):
    x, y = _clouds(key)
    eps = 0.5
    res = entropic_ot(x, y, epsilon=eps, threshold=1e-11, max_iterations=20_000)
    plan = entropic_plan(x, y, epsilon=eps, threshold=1e-11, max_iterations=20_000)
    pot_plan, pot_cost = _pot(x, y, eps)
    assert bool(res.converged)
    # Both solvers converge to the same unique entropic plan; at marginal error 1e-11 in
    # float64 the remaining discrepancy is round-off, far below 1e-8 relative.
    np.testing.assert_allclose(float(res.transport_cost), pot_cost, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(plan), pot_plan, atol=1e-12)
    assert float(res.epsilon) == eps


@pytest.mark.parametrize("dtype", [pytest.param("float32", marks=pytest.mark.slow), "float64"])
def test_transport_cost_equals_ott_primal_cost(key, request, dtype):
    # The cost is read from the potentials in one pass; ott-jax's primal_cost of the same solve
    # is the same sum of n m non-negative terms, reached through the low-rank factorisation of
    # the cost (|x|^2 + |y|^2 - 2<x, y>, terms about twice C here). Both round each term and
    # sum ~ log2(nm) ~ 12 levels, so they agree to a few tens of ulps; 64 eps (0.8e-5 in
    # float32, 1.4e-14 in float64) is that bound, the measured gap is <= 7 eps.
    if dtype == "float64":
        request.getfixturevalue("x64")
    x, y = _clouds(key, n=60, m=45, d=3, dtype=dtype)
    tol = 1e-4 if dtype == "float32" else 1e-9
    res = entropic_ot(x, y, epsilon=0.5, threshold=tol)
    out = jax.jit(sk._solve_centred, static_argnames=("threshold", "max_iterations"))(
        x, y, res.a, res.b, res.epsilon, threshold=tol, max_iterations=2000
    )
    np.testing.assert_array_equal(res.f, out.f)  # the same solve
    chex.assert_type(res.transport_cost, dtype)
    eps = float(jnp.finfo(dtype).eps)
    np.testing.assert_allclose(float(res.transport_cost), float(out.primal_cost), rtol=64 * eps)
    np.testing.assert_allclose(float(res.regularized_cost), float(out.reg_ot_cost), rtol=0)


def test_plan_and_map_are_read_from_the_solve(key, x64):
    # entropic_ot's result carries its inputs: its plan is entropic_plan's (the same solve, the
    # same ops: equal to round-off), and its map at the sample points is the barycentric
    # projection of that plan, an identity of the closed forms (round-off only, ~1e-15).
    x, y = _clouds(key, n=30, m=25, d=2)
    ka, kb = jax.random.split(jax.random.key(3))
    a = jax.random.uniform(ka, (30,), dtype=jnp.float64, minval=0.2, maxval=2.0)
    b = jax.random.uniform(kb, (25,), dtype=jnp.float64, minval=0.2, maxval=2.0)
    a, b = a / a.sum(), b / b.sum()
    kw = dict(a=a, b=b, epsilon=0.5, threshold=1e-10, max_iterations=20_000)
    res = entropic_ot(x + 100.0, y + 100.0, **kw)
    plan = res.plan()
    np.testing.assert_allclose(plan, entropic_plan(x + 100.0, y + 100.0, **kw), atol=1e-14)
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-10)  # marginal error <= threshold
    cost = np.sum(np.asarray(plan) * ot.dist(np.asarray(x), np.asarray(y)))
    np.testing.assert_allclose(float(res.transport_cost), cost, rtol=1e-12)
    tmap = jax.jit(EntropicOT.map)(res)  # a pytree: crosses jit, methods trace
    forward = plan @ (y + 100.0) / plan.sum(1, keepdims=True)
    backward = plan.T @ (x + 100.0) / plan.sum(0)[:, None]
    np.testing.assert_allclose(tmap.apply(x + 100.0), forward, atol=1e-12)
    np.testing.assert_allclose(tmap.apply(y + 100.0, forward=False), backward, atol=1e-12)
    np.testing.assert_allclose(apply_entropic_map(tmap, x[:4] + 100.0), forward[:4], atol=1e-12)


@pytest.mark.slow
def test_transport_cost_gradient_matches_finite_differences(key, x64):
    x, y = _clouds(key, n=20, m=25, d=2)
    kw = dict(epsilon=0.4, threshold=1e-12, max_iterations=50_000)
    direction = jax.random.normal(jax.random.key(7), x.shape, dtype=x.dtype)
    h = 1e-5  # central differences: O(h^2) ~ 1e-10 truncation, solver error 1e-12 / h ~ 1e-7

    fn = lambda z: entropic_ot(z, y, **kw).transport_cost  # noqa: E731
    g = jax.grad(fn)(x)
    fd = (fn(x + h * direction) - fn(x - h * direction)) / (2 * h)
    np.testing.assert_allclose(float(jnp.sum(g * direction)), float(fd), rtol=1e-5)


@pytest.mark.slow
def test_default_epsilon_is_data_scale(key, x64):
    x, y = _clouds(key)
    res = entropic_ot(x, y)
    cost = np.asarray(ot.dist(np.asarray(x), np.asarray(y)))
    np.testing.assert_allclose(float(res.epsilon), 0.05 * cost.std(), rtol=1e-10)


def test_divergence_of_translation_is_squared_shift(key, x64):
    # S_eps(mu, mu + t) = |t|^2 exactly: the linear term of the cost integrates to zero
    # under equal marginals, so only the solver tolerance (1e-10) remains.
    x, _ = _clouds(key, n=80)
    t = jnp.array([0.7, -0.4, 0.2])
    div = sinkhorn_divergence(x, x + t, epsilon=0.3, threshold=1e-10, max_iterations=20_000)
    np.testing.assert_allclose(float(div), float(t @ t), rtol=1e-7)
    same = sinkhorn_divergence(x, x, epsilon=0.3, threshold=1e-10, max_iterations=20_000)
    assert abs(float(same)) < 1e-8


@pytest.mark.slow
def test_entropic_map_is_pot_barycentric_projection(key, x64):
    x, y = _clouds(key)
    eps = 0.5
    tmap = entropic_map(x, y, epsilon=eps, threshold=1e-11, max_iterations=20_000)
    pot_plan, _ = _pot(x, y, eps)
    forward = pot_plan @ np.asarray(y) / pot_plan.sum(1, keepdims=True)
    backward = pot_plan.T @ np.asarray(x) / pot_plan.sum(0)[:, None]
    np.testing.assert_allclose(np.asarray(apply_entropic_map(tmap, x)), forward, atol=1e-8)
    np.testing.assert_allclose(
        np.asarray(apply_entropic_map(tmap, y, forward=False)), backward, atol=1e-8
    )


def test_entropic_map_with_weights_is_pot_barycentric_projection(key, x64):
    # Non-uniform weights on both sides: ott's potentials already carry eps log a, eps log b,
    # so the map must not multiply by the weights again (doing so gave errors ~0.2 here).
    x, y = _clouds(key, n=30, m=25, d=2)
    ka, kb = jax.random.split(jax.random.key(3))
    a = jax.random.uniform(ka, (30,), dtype=jnp.float64, minval=0.2, maxval=2.0)
    b = jax.random.uniform(kb, (25,), dtype=jnp.float64, minval=0.2, maxval=2.0)
    a, b = a / a.sum(), b / b.sum()
    eps = 0.5
    tmap = entropic_map(x, y, a=a, b=b, epsilon=eps, threshold=1e-12, max_iterations=50_000)
    a_np, b_np = np.asarray(a), np.asarray(b)
    M = ot.dist(np.asarray(x), np.asarray(y))
    plan = ot.sinkhorn(a_np, b_np, M, eps, method="sinkhorn_log", stopThr=1e-14, numItermax=200_000)
    forward = plan @ np.asarray(y) / plan.sum(1, keepdims=True)
    backward = plan.T @ np.asarray(x) / plan.sum(0)[:, None]
    # Both solvers at marginal error <= 1e-12 in float64: the projections agree to round-off
    # amplified by 1/min weight (~1e-10); 1e-8 leaves two orders of margin.
    np.testing.assert_allclose(np.asarray(apply_entropic_map(tmap, x)), forward, atol=1e-8)
    np.testing.assert_allclose(
        np.asarray(apply_entropic_map(tmap, y, forward=False)), backward, atol=1e-8
    )


@pytest.mark.slow
def test_entropic_map_matches_ott_dual_potentials(key):
    x, y = _clouds(key, dtype=jnp.float32)
    tmap = entropic_map(x, y, epsilon=0.5)
    # the fit solves on each cloud centred on its mean (same plan, potentials shifted by terms
    # linear in the points); ott's map of that same solve, translated back, is the reference
    cx, cy = tmap.x_center, tmap.y_center
    out = sk._solve(x - cx, y - cy, tmap.a, tmap.b, tmap.epsilon, 1e-3, 2000)
    z = x[:10] + 0.1

    @jax.jit
    def ott_transport(out, z, w):
        pots = out.to_dual_potentials()
        return pots.transport(z - cx) + cy, pots.transport(w - cy, forward=False) + cx

    forward, backward = ott_transport(out, z, y[:10])
    # float32 round-off of the autodiff formula near the data: ~1e-6 relative, 1e-4 is ample
    np.testing.assert_allclose(apply_entropic_map(tmap, z), forward, atol=1e-4)
    np.testing.assert_allclose(apply_entropic_map(tmap, y[:10], forward=False), backward, atol=1e-4)


def test_entropic_map_is_stable_far_from_the_data(key):
    # The map is a convex combination of target points, also for far queries in float32.
    x, y = _clouds(key, dtype=jnp.float32)
    tmap = entropic_map(x, y, epsilon=0.5)
    far = jnp.array([[100.0, 0.0, 0.0], [0.0, -1e4, 0.0]])
    out = apply_entropic_map(tmap, far)
    assert bool(jnp.all(jnp.isfinite(out)))
    # the limit is the target point extreme in the query direction
    np.testing.assert_allclose(out[0], y[jnp.argmax(y[:, 0])], atol=1e-4)
    np.testing.assert_allclose(out[1], y[jnp.argmin(y[:, 1])], atol=1e-4)


@pytest.mark.parametrize("forward", [True, False])
def test_entropic_map_apply_agrees_jitted_and_not_jitted(key, forward):
    # EntropicMap.apply promises to run inside jit as it is, with the map (a pytree) traced.
    # XLA may fuse and reorder the jitted float32 arithmetic by a few ulps: relative 1e-5
    # (~80 ulps) and absolute 1e-6 for coordinates near 0.
    x, y = _clouds(key, dtype=jnp.float32)
    tmap = entropic_map(x, y, epsilon=0.5)
    z = 2.0 * jax.random.normal(jax.random.key(3), (7, 3))
    eager = tmap.apply(z, forward)
    jitted = jax.jit(lambda m, q: m.apply(q, forward))(tmap, z)
    chex.assert_shape(eager, (7, 3))
    chex.assert_trees_all_equal_shapes_and_dtypes(jitted, eager)
    chex.assert_trees_all_close(jitted, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_gradients_match_finite_differences(key, x64):
    x, y = _clouds(key, n=20, m=25, d=2)
    kw = dict(epsilon=0.4, threshold=1e-12, max_iterations=50_000)
    direction = jax.random.normal(jax.random.key(7), x.shape, dtype=x.dtype)
    h = 1e-5  # central differences: O(h^2) ~ 1e-10 truncation, solver error 1e-12 / h ~ 1e-7

    fn = lambda z: sinkhorn_divergence(z, y, **kw)  # noqa: E731
    g = jax.grad(fn)(x)
    fd = (fn(x + h * direction) - fn(x - h * direction)) / (2 * h)
    np.testing.assert_allclose(float(jnp.sum(g * direction)), float(fd), rtol=1e-5)


@pytest.mark.slow
def test_entropic_map_gradient_matches_finite_differences(key, x64):
    x, y = _clouds(key, n=20, m=25, d=2)
    kw = dict(epsilon=0.4, threshold=1e-12, max_iterations=50_000)
    direction = jax.random.normal(jax.random.key(7), x.shape, dtype=x.dtype)
    h = 1e-5
    fn = lambda z: jnp.sum(apply_entropic_map(entropic_map(z, y, **kw), z[:5]) ** 2)  # noqa: E731
    g = jax.grad(fn)(x)
    fd = (fn(x + h * direction) - fn(x - h * direction)) / (2 * h)
    np.testing.assert_allclose(float(jnp.sum(g * direction)), float(fd), rtol=1e-5)


@pytest.mark.slow
def test_jit_and_vmap_compose(key):
    x, y = _clouds(key, dtype=jnp.float32)
    shifts = jnp.linspace(0.0, 1.0, 3)[:, None] * jnp.ones((1, 3))
    divs = jax.jit(jax.vmap(lambda s: sinkhorn_divergence(x, y + s, epsilon=0.5)))(shifts)
    chex.assert_shape(divs, (3,))
    chex.assert_type(divs, jnp.float32)
    assert bool(jnp.all(jnp.isfinite(divs)))


@pytest.mark.slow
def test_respects_float32(key):
    x, y = _clouds(key, dtype=jnp.float32)
    res = entropic_ot(x, y, epsilon=0.5)
    chex.assert_type([res.f, res.transport_cost], jnp.float32)


def test_no_retrace_on_new_data(key):
    x, y = _clouds(key, dtype=jnp.float32)
    entropic_ot(x, y, epsilon=0.5)
    before = sk._entropic_ot._cache_size()
    entropic_ot(x + 1.0, y * 2.0, epsilon=0.7)
    assert sk._entropic_ot._cache_size() == before
    sinkhorn_divergence(x, y, epsilon=0.5)
    before = sk._divergence_jit._cache_size()
    sinkhorn_divergence(y[:40], x[:40] - 1.0, epsilon=0.2)
    sinkhorn_divergence(x, y + 3.0, epsilon=0.2)
    assert sk._divergence_jit._cache_size() == before + 1  # one new shape, one retrace


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, "same number of columns"),
        (np.zeros((1, 2)), np.zeros((5, 2)), {}, "at least 2"),
        (np.zeros((5, 2)), np.zeros((1, 2)), {}, "at least 2"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), np.zeros((5, 2)), {}, "finite"),
        (np.zeros((5, 2)), np.array([[0.0, np.inf], [1.0, 1.0]]), {}, "finite"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"epsilon": 0.0}, "epsilon"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"epsilon": -1.0}, "epsilon"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"a": np.ones(4) / 4}, "one weight per point"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"b": np.ones(5)}, "sum to 1"),
        (np.zeros(5), np.zeros((5, 2)), {}, "dimension"),
    ],
)
def test_bad_input(x, y, kwargs, match):
    for fn in (entropic_ot, entropic_plan, sinkhorn_divergence, entropic_map):
        with pytest.raises(ValueError, match=match):
            fn(x, y, **kwargs)


def test_apply_map_bad_dimension(key):
    x, y = _clouds(key, dtype=jnp.float32)
    tmap = entropic_map(x, y, epsilon=0.5)
    with pytest.raises(ValueError, match="columns"):
        apply_entropic_map(tmap, jnp.zeros((2, 2)))


def _reduced_cost(x, y):
    cost = np.asarray(ot.dist(np.asarray(x), np.asarray(y)))
    cost = cost - cost.min(axis=1, keepdims=True)
    return jnp.asarray(cost - cost.min(axis=0, keepdims=True))


def _kernel_is_safe(x, y, eps):
    return bool(sk._kernel_is_safe(jnp.exp(-_reduced_cost(x, y) / eps)))


def test_kernel_domain_matches_log_domain(key, x64):
    # At eps = 0.5 the largest reduced cost over eps is far below 708 (float64), so "auto" takes
    # the kernel domain (checked). Both solves reach marginal error 1e-10 of the same unique
    # plan; potentials are defined up to f + c, g - c, so they are compared after removing
    # their a-weighted mean. Measured gaps: 2.1e-11 relative on the cost, 2.3e-9 on potentials
    # of size ~10, 6.1e-12 on plan entries of size ~1e-3; the bounds (1e-8 relative, 1e-7, 1e-10
    # absolute) are 16-500x above them, well inside the solver tolerance.
    x, y = _clouds(key)
    eps = 0.5
    assert _kernel_is_safe(x, y, eps)
    kw = dict(epsilon=eps, threshold=1e-10, max_iterations=20_000)
    log, auto = entropic_ot(x, y, **kw), entropic_ot(x, y, domain="auto", **kw)
    assert bool(auto.converged) and bool(log.converged)
    assert not np.array_equal(np.asarray(auto.f), np.asarray(log.f))  # a different solve
    np.testing.assert_allclose(float(auto.transport_cost), float(log.transport_cost), rtol=1e-8)
    np.testing.assert_allclose(float(auto.regularized_cost), float(log.regularized_cost), rtol=1e-8)
    for p, q, w in ((auto.f, log.f, auto.a), (auto.g, log.g, auto.b)):
        np.testing.assert_allclose(p - jnp.dot(w, p), q - jnp.dot(w, q), atol=1e-7)
    np.testing.assert_allclose(auto.plan(), log.plan(), rtol=0, atol=1e-10)


@pytest.mark.slow
def test_kernel_domain_gradient_matches_log_domain(key, x64):
    # Implicit differentiation of the kernel-domain fixed point (same problem as above, kernel
    # domain taken) gives the log-domain gradient; both are exact at the fixed point, and the
    # measured gap at marginal error 1e-10 is 2.1e-11 on gradients of size ~0.1 (bound 1e-7).
    x, y = _clouds(key)
    kw = dict(epsilon=0.5, threshold=1e-10, max_iterations=20_000)

    def grad(domain):
        return jax.grad(lambda z: entropic_ot(z, y, domain=domain, **kw).transport_cost)(x)

    np.testing.assert_allclose(grad("auto"), grad("log"), atol=1e-7)


def test_kernel_domain_falls_back_to_log_domain(key, x64):
    # "auto" must return the log-domain solve itself (bit for bit) when the kernel-domain
    # solve has not converged (3 iterations), whether some kernel entries underflow (eps = 0.01:
    # the largest reduced cost over eps is above 708) or none does (eps = 0.5).
    x, y = _clouds(key)
    assert not _kernel_is_safe(x, y, 0.01)
    assert _kernel_is_safe(x, y, 0.5)
    for kw in (dict(epsilon=0.01, max_iterations=3), dict(epsilon=0.5, max_iterations=3)):
        log, auto = entropic_ot(x, y, **kw), entropic_ot(x, y, domain="auto", **kw)
        assert not bool(auto.converged)
        for field in ("f", "g", "transport_cost", "regularized_cost"):
            np.testing.assert_array_equal(getattr(auto, field), getattr(log, field))


def test_bad_domain():
    with pytest.raises(ValueError, match="domain"):
        entropic_ot(np.zeros((5, 2)), np.ones((5, 2)), domain="kernel")
