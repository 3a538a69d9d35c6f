"""Transport under offset, scaled and degenerate data: float32 agrees with float64, no NaN.

The offset tests use data quantised to multiples of 1/16 with ``|value| < 8``: such numbers
plus an offset up to 1e6 (< 2^20, where the float32 spacing is 1/16) are exactly representable
in float32, so the float32 inputs at every offset are *exactly* the float64 inputs at offset 0
shifted, and any difference measures the computation, not the rounding of the inputs. The
reference is the float64 computation at offset 0. Before centring, float32 gave a transport
cost off by 25% at offset 1e3 and NaN at 1e4, and Monge-Kantorovich depths off by 0.04 at 1e3
and NaN at 1e5.

Tolerances:

* costs and divergences (exact functions of the inputs, invariant under a common shift): the
  solves stop at marginal error ``TAU`` (1-norm), which moves :math:`\\langle P, C\\rangle` by at
  most ``TAU * max C`` per solve; both precisions stop at that rule, so the bound is
  ``2 * TAU * max C`` per solve (plus float32 rounding, about 1e-6 relative, far below it);
* points in data space (maps, quantiles) at offset ``o``: the result itself is a float32 number
  near ``o``, representable only to half the float32 spacing ``ulp(o)``; the bound is
  ``ulp(o)`` plus 1e-4 for the computation at offset 0 (float32 rounding of the softmax
  barycentre, about 1e-6, and the quantile's Newton residual at the dtype's resolution);
* depths in [0, 1] (translation invariant): 1e-4, two orders above the float32 rounding of the
  calibrated norms and 400 times below the pre-fix error at 1e3.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.transport import (
    _centring,
    _quantile,
    apply_entropic_map,
    center_outward_fit,
    center_outward_quantile,
    entropic_map,
    entropic_ot,
    entropic_plan,
    monge_kantorovich_depth,
    ot_conformal_boundary,
    ot_conformal_calibrate,
    ot_conformal_contains,
    sinkhorn_divergence,
    sinkhorn_shift_test,
)
from edtjax.transport import sinkhorn as sk

OFFSETS = [0.0, 1e3, 1e4, 1e6]
TAU = 1e-5


def _quantised(rng, shape, scale=1.0, shift=0.0):
    """Gaussian data rounded to multiples of 1/16 and clipped to |value| < 8."""
    return np.clip(np.round((scale * rng.normal(size=shape) + shift) * 16) / 16, -7.9, 7.9)


@pytest.fixture(scope="module")
def clouds():
    rng = np.random.default_rng(24)
    x = _quantised(rng, (40, 2))
    y = _quantised(rng, (30, 2), scale=1.5, shift=0.5)
    z = _quantised(rng, (6, 2), scale=1.5)
    return x, y, z


def _float64(fn):
    """Run ``fn`` with float64 enabled and return its results as NumPy arrays."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        return jax.tree.map(np.asarray, fn())
    finally:
        jax.config.update("jax_enable_x64", previous)


def _shifted32(offset, *arrays):
    out = [(np.asarray(a) + offset).astype(np.float32) for a in arrays]
    for a, b in zip(arrays, out, strict=True):  # the premise: float32 holds them exactly
        assert np.array_equal(b.astype(np.float64) - offset, a)
    return out


def _max_cost(x, y):
    return float(np.max(np.sum((x[:, None] - y[None]) ** 2, axis=-1)))


@pytest.mark.parametrize("offset", OFFSETS)
def test_cost_and_divergence_are_offset_invariant_in_float32(clouds, offset):
    x, y, _ = clouds
    ref = _float64(
        lambda: (
            entropic_ot(x, y, threshold=TAU),
            sinkhorn_divergence(x, y, threshold=TAU),
        )
    )
    x32, y32 = _shifted32(offset, x, y)
    res = entropic_ot(x32, y32, threshold=TAU)
    div = sinkhorn_divergence(x32, y32, threshold=TAU)
    chex.assert_type(res.transport_cost, jnp.float32)
    assert bool(res.converged)
    bound = 2 * TAU * _max_cost(x, y)
    np.testing.assert_allclose(float(res.transport_cost), ref[0].transport_cost, atol=bound)
    np.testing.assert_allclose(float(res.regularized_cost), ref[0].regularized_cost, atol=bound)
    # the default epsilon 0.05 std(C) is a smooth function of the inputs: rounding only
    np.testing.assert_allclose(float(res.epsilon), ref[0].epsilon, rtol=1e-5)
    # three solves; the self-costs are at most max C of the pooled sample
    pooled = np.concatenate([x, y])
    np.testing.assert_allclose(float(div), ref[1], atol=4 * TAU * _max_cost(pooled, pooled))


@pytest.mark.parametrize("scale_exponent", [-12, -4, 4, 12])
def test_cost_scales_exactly_with_power_of_two_data(clouds, scale_exponent):
    # Scaling the data by s = 2^k is exact in float32; the default epsilon scales with s^2, so
    # the entropic problem is the same one and the cost is exactly s^2 times the reference.
    x, y, _ = clouds
    ref = _float64(lambda: entropic_ot(x, y, threshold=TAU).transport_cost)
    s = 2.0**scale_exponent
    x32, y32 = (s * v for v in _shifted32(1e3, x, y))  # exact: a power of two times a float32
    res = entropic_ot(x32, y32, threshold=TAU)
    bound = 2 * TAU * _max_cost(x, y)  # in units of s^2
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.transport_cost) / s**2, float(ref), atol=bound)


@pytest.mark.slow
@pytest.mark.parametrize("offset", OFFSETS)
def test_entropic_map_is_translation_equivariant_in_float32(clouds, offset):
    # T_{x+o -> y+o}(z + o) = T_{x -> y}(z) + o, and a translation of one cloud only moves
    # the map by the same vector (the plan is unchanged)
    x, y, z = clouds

    def reference():
        tmap = entropic_map(x, y, threshold=TAU)
        return apply_entropic_map(tmap, z), apply_entropic_map(tmap, y[:5], forward=False), tmap

    forward_ref, backward_ref, tmap_ref = _float64(reference)
    x32, y32, z32 = _shifted32(offset, x, y, z)
    tol = 1e-4 + float(np.spacing(np.float32(max(offset, 1.0))))
    tmap = entropic_map(x32, y32, threshold=TAU)
    forward = np.asarray(apply_entropic_map(tmap, z32), np.float64) - offset
    backward = np.asarray(apply_entropic_map(tmap, y32[:5], forward=False), np.float64) - offset
    np.testing.assert_allclose(forward, forward_ref, atol=tol)
    np.testing.assert_allclose(backward, backward_ref, atol=tol)
    # only the source far away, same epsilon (the default one depends on the distance between
    # the clouds): the map of z + o lands on the unshifted target cloud exactly as before
    (x_far,) = _shifted32(offset, x)
    (z_far,) = _shifted32(offset, z)
    eps = float(tmap_ref.epsilon)
    tmap = entropic_map(x_far, y.astype(np.float32), epsilon=eps, threshold=TAU)
    np.testing.assert_allclose(apply_entropic_map(tmap, z_far), forward_ref, atol=1e-4)


@pytest.mark.parametrize("offset", [0.0, 1e4, 1e6])
def test_monge_kantorovich_depth_is_offset_invariant_in_float32(clouds, offset):
    x, y, z = clouds
    sample = np.concatenate([x, y])
    u = np.array([[0.0, 0.0], [0.3, -0.4], [-0.5, 0.1]])
    ref = _float64(
        lambda: (
            monge_kantorovich_depth(center_outward_fit(sample), z),
            center_outward_quantile(center_outward_fit(sample), u),
        )
    )
    s32, z32 = _shifted32(offset, sample, z)
    fit = center_outward_fit(s32)
    np.testing.assert_allclose(monge_kantorovich_depth(fit, z32), ref[0], atol=1e-4)
    quantiles = np.asarray(center_outward_quantile(fit, u.astype(np.float32)), np.float64)
    tol = 1e-4 + float(np.spacing(np.float32(max(offset, 1.0))))
    np.testing.assert_allclose(quantiles - offset, ref[1], atol=tol)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """Run a test with float32 (x64 off) or float64 (x64 on) and restore the setting."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", request.param == "float64")
    try:
        yield request.param
    finally:
        jax.config.update("jax_enable_x64", previous)


def _point_masses(dtype):
    # the shapes of `clouds`, so the solves compiled by the offset tests are reused
    return np.ones((40, 2), dtype), np.ones((30, 2), dtype)


def _rounding(dtype, epsilon):
    """Regularised costs are sums of potentials of size ~ epsilon log(nm), each rounded to the
    unit roundoff u: 32 u epsilon log(nm) bounds their rounding."""
    return 32 * float(np.finfo(dtype).eps) * float(epsilon) * np.log(40 * 30)


def test_point_masses_give_the_exact_answer(dtype):
    # All costs equal: every coupling costs the same, the entropic plan is a b^T for every
    # epsilon, OT = |p - q|^2 and the divergence is |p - q|^2 (0 for equal masses). epsilon
    # falls back from std(C) = 0 to mean(C) (or 1 when all costs are 0) instead of being 0,
    # which gave NaN before.
    ones_x, ones_y = _point_masses(dtype)
    u = float(np.finfo(dtype).eps)
    res = entropic_ot(ones_x, ones_y, threshold=TAU)
    chex.assert_type(res.transport_cost, dtype)
    assert float(res.transport_cost) == 0.0 and bool(res.converged)
    rounding = _rounding(dtype, res.epsilon)
    assert abs(float(res.regularized_cost)) <= rounding
    assert abs(float(sinkhorn_divergence(ones_x, ones_y, threshold=TAU))) <= 2 * rounding

    p, q = np.array([0.3, -1.7], dtype), np.array([2.1, 0.4], dtype)
    exact = float(np.sum((p.astype(np.float64) - q) ** 2))
    res = entropic_ot(ones_x * p, ones_y * q, threshold=TAU)
    assert np.isfinite(float(res.epsilon)) and float(res.epsilon) > 0
    np.testing.assert_allclose(float(res.transport_cost), exact, rtol=64 * u)
    div = float(sinkhorn_divergence(ones_x * p, ones_y * q, threshold=TAU))
    np.testing.assert_allclose(div, exact, rtol=64 * u)


@pytest.mark.slow
def test_point_masses_plan_user_epsilon_and_shift_test(dtype):
    ones_x, ones_y = _point_masses(dtype)
    u = float(np.finfo(dtype).eps)
    plan = np.asarray(entropic_plan(ones_x, ones_y))
    np.testing.assert_allclose(plan, np.full((40, 30), 1 / 1200), rtol=64 * u)
    assert float(entropic_ot(ones_x, ones_y, epsilon=0.1).transport_cost) == 0.0
    # the permutation test on two equal point masses: statistic 0 up to rounding
    test = sinkhorn_shift_test(jax.random.key(0), ones_x, ones_y, num_permutations=9)
    assert abs(float(test.statistic)) <= 2 * _rounding(dtype, 0.05)
    assert np.isfinite(float(test.p_value))


def test_default_epsilon_of_point_masses_is_exactly_degenerate():
    # a plain mean under jit is off by an ulp and would leave a spurious spread of 1e-15
    x = jnp.full((30, 2), 0.1, dtype=jnp.float32)
    assert float(jax.jit(_centring.row_mean)(x)[0]) == np.float32(0.1)
    assert float(jax.jit(sk._default_epsilon)(x, x)) == pytest.approx(0.05)


@pytest.mark.slow
def test_conformal_boundary_is_the_edge_of_the_region(key):
    """The drawn boundary is where the score |T(r)| equals the threshold t.

    Newton solves T(r) = t s to the float32 resolution, so |T(r)| = t to 1e-4 relative; the
    points are then inside the region of threshold t (1 + 1e-3) and outside that of t (1 - 1e-3).
    """
    k1, k2 = jax.random.split(key)
    mix = jnp.array([[1.0, 0.6], [0.0, 0.5]])
    resid_fit = (jax.random.exponential(k1, (200, 2)) - 1.0) @ mix
    resid_cal = (jax.random.exponential(k2, (200, 2)) - 1.0) @ mix
    region = ot_conformal_calibrate(resid_fit, resid_cal, 0.2)
    t = float(region.threshold)
    centres = jnp.array([[0.0, 0.0], [3.0, -1.0]])
    boundary = ot_conformal_boundary(region, centres, 24)
    chex.assert_shape(boundary, (2, 24, 2))
    chex.assert_tree_all_finite(boundary)
    raw = jnp.linalg.norm(region.fit.transport.apply(boundary[1] - centres[1]), axis=1)
    np.testing.assert_allclose(raw, t, rtol=1e-4)
    for c, b in zip(centres, boundary, strict=True):
        cs = jnp.broadcast_to(c, b.shape)
        wider = region._replace(threshold=jnp.float32(t * (1 + 1e-3)))
        narrower = region._replace(threshold=jnp.float32(t * (1 - 1e-3)))
        assert bool(ot_conformal_contains(wider, cs, b).all())
        assert not bool(ot_conformal_contains(narrower, cs, b).any())


def test_conformal_boundary_of_the_whole_space_is_refused(key):
    k1, k2 = jax.random.split(key)
    region = ot_conformal_calibrate(
        jax.random.normal(k1, (50, 2)), jax.random.normal(k2, (10, 2)), 0.05
    )
    assert float(region.threshold) == 1.0
    with pytest.raises(ValueError, match="whole space"):
        ot_conformal_boundary(region, jnp.zeros((1, 2)), 8)


def test_calibrated_inverse_of_the_raw_level_is_exact(key):
    # G(t) is read off the knots, and Q at level G(t) solves T(r) = t s: the composition
    # G^{-1}(G(t)) of the two piecewise-linear interpolations is t to rounding
    fit = center_outward_fit(jax.random.normal(key, (100, 2)))
    raw, prob = _quantile.knots(fit.levels)
    t = jnp.linspace(0.05, 0.9 * float(raw[-2]), 7)
    back = jnp.interp(jnp.interp(t, raw, prob), prob, raw)
    np.testing.assert_allclose(back, t, rtol=1e-5)
