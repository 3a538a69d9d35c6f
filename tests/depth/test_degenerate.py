"""Degenerate and non-real input to the depths: clear errors, never silent NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax import depth


def _collinear(n=200, seed=0):
    """Three columns, the third the sum of the first two (to float32 rounding)."""
    a = np.random.default_rng(seed).normal(size=(n, 2))
    return np.c_[a, a[:, 0] + a[:, 1]].astype(np.float32)


def test_collinear_columns_are_refused_with_their_names():
    # Before: the covariance was inverted as it was, the precision had inf/NaN entries, every
    # depth was NaN, and a calibrated threshold was NaN (nothing ever flagged).
    with pytest.raises(ValueError, match=r"singular covariance: its columns \[0, 1, 2\]") as err:
        depth.mahalanobis_fit(_collinear())
    message = str(err.value)
    assert "shrinkage > 0" in message
    assert "Drop a redundant column" in message
    # only the columns in the dependency are named
    x = _collinear()
    other = np.random.default_rng(1).normal(size=(200, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"its columns \[1, 2, 3\]"):
        depth.mahalanobis_fit(np.c_[other, x])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_duplicated_and_constant_columns(x64, dtype):
    x = np.random.default_rng(2).normal(size=(50, 2))
    with pytest.raises(ValueError, match=r"its columns \[0, 2\]"):
        depth.mahalanobis_fit(jnp.asarray(np.c_[x, x[:, 0]], dtype))
    with pytest.raises(ValueError, match=r"constant column\(s\) \[1\]"):
        depth.mahalanobis_fit(jnp.asarray(np.c_[x[:, 0], np.full(50, 3.0), x[:, 1]], dtype))
    with pytest.raises(ValueError, match=r"singular covariance"):
        depth.spatial_depth(
            jnp.zeros((1, 3), dtype), jnp.asarray(np.c_[x, x[:, 1]], dtype), whiten=True
        )


def test_strong_but_genuine_correlation_is_accepted(x64):
    # correlation 1 - 1e-6: singular values of the standardised sample in the ratio ~1e-3,
    # far above the limit 200 sqrt(d) eps (3e-5 in float32), so the depth is computed, and it
    # agrees with float64 to the rounding amplified by the condition number (1e6 * 1e-7).
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 1))
    x = np.c_[a, a + 1e-3 * rng.normal(size=(400, 1))]
    z = x[:5] + np.array([0.0, 1e-3])
    got = depth.mahalanobis_depth(jnp.asarray(z, jnp.float32), jnp.asarray(x, jnp.float32))
    want = depth.mahalanobis_depth(
        z.astype(np.float32).astype(np.float64), x.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_allclose(got, want, rtol=0.05)


def test_shrinkage_handles_collinear_columns_and_flags_the_off_span_direction():
    x = _collinear()
    fit = depth.mahalanobis_fit(x, shrinkage=0.05)
    on_span = _collinear(n=20, seed=5)
    off_span = on_span + np.array([0.0, 0.0, 3.0], np.float32)  # breaks x2 = x0 + x1 by 3
    d_on, d_off = (
        depth.mahalanobis_depth_from_fit(fit, on_span),
        depth.mahalanobis_depth_from_fit(fit, off_span),
    )
    assert np.all(np.isfinite(d_on)) and np.all(np.isfinite(d_off))
    # the shrunk precision along n = (1, 1, -1)/sqrt(3) is 1 / (lambda tr S / d) ~ 15, so the
    # shift adds (3 / sqrt(3))^2 * 15 ~ 45 to r^2; the 20 on-span r^2 are chi2_2-like (the
    # largest above 45 with probability ~20 exp(-22)): every off-span depth is the lower
    assert float(jnp.max(d_off)) < float(jnp.min(d_on))


def test_far_queries_give_zero_depth_not_nan():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(100, 2))
    x = np.c_[a[:, 0], a[:, 0] * 0.9 + 0.1 * a[:, 1]].astype(np.float32)
    fit = depth.mahalanobis_fit(x)
    # r^2 of order 1e40 overflows float32: the quadratic form used to mix +inf and -inf
    far = np.array([[1e20, -1e20], [3e38, 3e38], [-3e38, 1.0]], np.float32)
    got = depth.mahalanobis_depth_from_fit(fit, far)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0])


def test_complex_input_is_refused():
    x = np.random.default_rng(5).normal(size=(30, 2))
    xc = x + 1j * x
    with pytest.raises(ValueError, match="x_ref"):
        depth.mahalanobis_depth(x[:2], xc)
    with pytest.raises(ValueError, match="x_query"):
        depth.lens_depth(xc[:2], x)
    with pytest.raises(ValueError, match="x_ref"):
        depth.fermat_fit(xc)
    with pytest.raises(ValueError, match="x_query"):
        depth.halfspace_depth(jax.random.key(0), xc[:2], x)


def test_projection_fit_refuses_a_zero_mad(key):
    # 40 of 60 rows identical: every projection has MAD 0, and the outlyingness was 0/0 = NaN
    # at the median and inf elsewhere
    x = np.random.default_rng(6).normal(size=(60, 2)).astype(np.float32)
    x[:40] = x[0]
    with pytest.raises(ValueError, match=r"degenerate projections: along 50 of the 50"):
        depth.projection_fit(key, x, n_directions=50)
    with pytest.raises(ValueError, match="MAD = 0"):
        depth.projection_depth(key, x[:3], x, n_directions=50)
