"""Property-based checks over the public entry points: offsets, scales, dtypes and bad input.

Shapes are fixed within each property so that one compiled program serves every example; the
values, offsets, scales and levels vary. Offsets and scales are powers of two or data on a
1/16 grid, so float32 holds the shifted or scaled input exactly and any disagreement comes from
the computation, not from rounding the input.
"""

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edtjax import _checks, _conformal
from edtjax.depth import halfspace_depth_planar, mahalanobis_depth, simplicial_depth_planar
from edtjax.sensitivity import sobol_indices_from_outputs
from edtjax.transport import entropic_ot

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.int32, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
        elements={"allow_nan": True, "allow_infinity": True},
    )
)
def test_as_array_accepts_or_names_the_problem(x):
    """Any numeric input either converts unchanged in value or raises a ValueError naming it."""
    try:
        arr = _checks.as_array("x", x)
    except ValueError as err:
        assert str(err).startswith("x ")
        return
    assert not np.iscomplexobj(x)
    assert np.all(np.isfinite(np.asarray(arr, dtype=np.float64)))
    # the value JAX's dtype rules give (float64 -> float32 without x64: rounding, never inf)
    np.testing.assert_array_equal(np.asarray(arr), np.asarray(jnp.asarray(x)))


@SETTINGS
@given(n=st.integers(1, 10**6), num=st.integers(0, 10**4))
def test_conformal_rank_is_the_exact_ceiling(n, num):
    """k = ceil((n+1)(1-alpha)) for alpha written as a decimal level j/10^4."""
    alpha = num / 10**4
    if not 0.0 < alpha < 1.0:
        return
    exact = math.ceil((n + 1) * (1 - Fraction(num, 10**4)))
    assert _conformal.conformal_rank(n, alpha) == exact


_GRID = hnp.arrays(
    np.float64,
    (24, 2),
    elements=st.integers(-64, 64).map(lambda v: v / 16),
    unique=True,
)


@SETTINGS
@given(x=_GRID, shift=st.integers(-(2**16), 2**16), log2_scale=st.integers(-12, 12))
def test_planar_and_moment_depths_are_affine_invariant(x, shift, log2_scale):
    """Halfspace, simplicial and Mahalanobis depths do not move under z -> s (z + c) (float32).

    ``z + c`` stays on the 1/16 grid with at most 21 significant bits and ``s`` is a power of
    two, so float32 holds every moved point exactly: the planar depths must not change at all.
    """
    if np.linalg.matrix_rank(x - x.mean(0)) < 2:
        return
    queries = x[:6] / 2
    scale = float(2.0**log2_scale)
    offset = scale * shift
    for depth in (halfspace_depth_planar, simplicial_depth_planar):
        base = np.asarray(depth(queries.astype(np.float32), x.astype(np.float32)))
        moved = np.asarray(
            depth(
                (scale * queries + offset).astype(np.float32),
                (scale * x + offset).astype(np.float32),
            )
        )
        np.testing.assert_array_equal(moved, base)
    base = np.asarray(mahalanobis_depth(queries.astype(np.float32), x.astype(np.float32)))
    moved = np.asarray(
        mahalanobis_depth(
            (scale * queries + offset).astype(np.float32), (scale * x + offset).astype(np.float32)
        )
    )
    np.testing.assert_allclose(moved, base, rtol=1e-4, atol=1e-6)


@SETTINGS
@given(x=_GRID, y=_GRID, offset=st.sampled_from([0.0, 1e3, 1e4, 1e6]))
def test_entropic_cost_is_offset_invariant_in_float32(x, y, offset):
    """A common shift leaves the squared-Euclidean OT cost unchanged (float32 vs the unshifted)."""
    base = entropic_ot(x.astype(np.float32), y.astype(np.float32), epsilon=0.5)
    moved = entropic_ot(
        (x + offset).astype(np.float32), (y + offset).astype(np.float32), epsilon=0.5
    )
    scale = float(np.max(np.sum((x[:, None] - y[None]) ** 2, -1)))
    assert bool(moved.converged) == bool(base.converged)
    assert abs(float(moved.transport_cost) - float(base.transport_cost)) <= 2e-3 * scale + 1e-5


@SETTINGS
@given(
    log10_scale=st.integers(-30, 30),
    offset=st.sampled_from([0.0, 1.0, 1e6]),
    seed=st.integers(0, 2**16),
)
def test_sobol_indices_ignore_output_scale_and_offset_float32(log10_scale, offset, seed):
    """Pick-freeze indices of a linear model are the same for a y -> s y + c (float32)."""
    rng = np.random.default_rng(seed)
    n, coef = 2048, np.array([1.0, 2.0, 3.0])
    a, b = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    ab = np.stack([np.where(np.arange(3) == i, b, a) for i in range(3)])

    def run(s, c):
        f = lambda z: (s * (z @ coef) + c).astype(np.float32)  # noqa: E731
        return sobol_indices_from_outputs(jax.random.key(0), f(a), f(b), f(ab))

    ref, got = run(1.0, 0.0), run(10.0**log10_scale, offset * 10.0**log10_scale)
    tol = 1e-3 if offset else 1e-4
    np.testing.assert_allclose(np.asarray(got.first_order), np.asarray(ref.first_order), atol=tol)
    np.testing.assert_allclose(np.asarray(got.total_order), np.asarray(ref.total_order), atol=tol)
    assert np.all(np.isfinite(np.asarray(got.first_order)))


@pytest.mark.parametrize("bad", [np.array([[1.0 + 1j, 0.0]]), np.array([[np.nan, 0.0]])])
def test_public_depth_and_transport_refuse_complex_and_nan(bad):
    ref = jnp.zeros((5, 2)) + jnp.arange(5.0)[:, None] * jnp.array([1.0, -0.5])
    for call in (
        lambda: mahalanobis_depth(bad, ref),
        lambda: halfspace_depth_planar(bad, ref),
        lambda: entropic_ot(bad, ref),
    ):
        with pytest.raises(ValueError):
            call()
