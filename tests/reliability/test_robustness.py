"""Indicators and calibration under offset, degenerate, oversized and non-real input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax import _checks
from edtjax.reliability import (
    Indicator,
    calibrate,
    feature_space_indicator,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    predictive_spread_indicator,
    projection_indicator,
    weighted_lens_fermat_indicator,
)
from edtjax.reliability import calibration as calibration_module

OFFSETS = [0.0, 1e3, 1e5, 1e6]


def _sample():
    rng = np.random.default_rng(20240624)
    x = rng.normal(size=(60, 2)) * np.array([1.0, 0.5])
    z = rng.normal(size=(20, 2)) * 1.5
    return x, z


def _held(a, offset):
    a32 = (a + offset).astype(np.float32)
    return a32, a32.astype(np.float64) - offset


INDICATORS = {
    # tolerances as in tests/depth/test_offsets.py: the scores are formed from centred values
    # of size <= 5 with float32 rounding 1.2e-7; before the centring the kNN indicator picked
    # neighbours 3 units off at an offset of 1e5 and LD-Fermat was off by 0.3
    "knn": (lambda: knn_indicator(n_neighbors=3), 1e-4),
    "mahalanobis": (mahalanobis_indicator, 1e-4),
    "lens_fermat": (lambda: lens_fermat_indicator(n_neighbors=8), 1e-3),
    "weighted_lens_fermat": (lambda: weighted_lens_fermat_indicator(n_neighbors=8), 1e-3),
}


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_float32_scores_at_offset_match_float64_at_zero(x64, key, name):
    """Float32 at offset ``c`` against float64 at offset 0 on the points float32 holds
    (``float64(float32(x + c)) - c``: at ``c = 10^6`` float32 moves each coordinate by up to
    0.031, so the unrounded sample is out of reach; see tests/depth/test_offsets.py)."""
    make, atol = INDICATORS[name]
    ind = make()
    x, z = _sample()
    for offset in OFFSETS:
        x32, x_held = _held(x, offset)
        z32, z_held = _held(z, offset)
        got = ind.score(ind.fit(key, jnp.asarray(x32)), jnp.asarray(z32))
        chex.assert_type(got, jnp.float32)
        want = ind.score(ind.fit(key, x_held), z_held)
        np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5, err_msg=f"offset {offset}")


def test_projection_indicator_is_translation_invariant_in_float32(key):
    # the directions are drawn in the working dtype, so compare float32 with float32 on the
    # held points: at an offset c the fit subtracts a centre equal to c, and the held points
    # moved back to offset 0 are exact in float32, so both see the same numbers
    ind = projection_indicator(n_directions=100)
    x, z = _sample()
    for offset in OFFSETS[1:]:
        x32, x_held = _held(x, offset)
        z32, z_held = _held(z, offset)
        got = ind.score(ind.fit(key, jnp.asarray(x32)), jnp.asarray(z32))
        want = ind.score(
            ind.fit(key, jnp.asarray(x_held, jnp.float32)), jnp.asarray(z_held, jnp.float32)
        )
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"offset {offset}")


def _collinear(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, 2))
    return np.c_[a, a[:, 0] + a[:, 1]].astype(np.float32)


def test_mahalanobis_indicator_on_collinear_columns_raises_at_fit(key):
    # Before: NaN scores, a NaN threshold from calibrate, and nothing ever flagged.
    with pytest.raises(ValueError, match=r"collinear.*shrinkage > 0"):
        mahalanobis_indicator().fit(key, _collinear(200, 0))


def test_shrunk_mahalanobis_indicator_flags_queries_off_the_span(key):
    ind = mahalanobis_indicator(shrinkage=0.05)
    state = ind.fit(key, _collinear(200, 0))
    cal = calibrate(key, ind, state, _collinear(99, 1), 0.05)
    assert np.isfinite(float(cal.threshold))
    on_span = _collinear(400, 2)
    off_span = on_span + np.array([0.0, 0.0, 3.0], np.float32)  # x2 = x0 + x1 broken by 3
    # in domain: false-alarm rate <= alpha on average (Beta(5, 95) + binomial noise; 0.2 is
    # > 5 sd above 0.05). Off the span: the shrunk covariance has the eigenvalue
    # lambda tr(S) / d ~ 0.05 * 4 / 3 along n = (1, 1, -1) / sqrt(3), so the shift adds
    # (3 / sqrt(3))^2 / 0.067 ~ 45 to r^2, far above the threshold (r^2 ~ 6.6): all flagged
    assert float(jnp.mean(ind.score(state, on_span) > cal.threshold)) < 0.2
    assert float(jnp.mean(ind.score(state, off_span) > cal.threshold)) == 1.0


def _nan_indicator(bad_rows):
    def score(state, x):
        s = jnp.sum(x, axis=1)
        return s.at[jnp.asarray(bad_rows, int)].set(jnp.nan if len(bad_rows) else 0.0)

    return Indicator(lambda key, x: (), score)


def test_calibrate_refuses_non_finite_scores(key):
    x = jax.random.normal(key, (50, 2))
    with pytest.raises(ValueError, match=r"3 non-finite .* 50 rows .*\[4, 7, 9\].*degenerate"):
        calibrate(key, _nan_indicator([4, 7, 9]), (), x, 0.1)

    def inf_score(state, x):
        return jnp.where(x[:, 0] > 0, jnp.inf, 0.0)

    with pytest.raises(ValueError, match="non-finite"):
        calibrate(key, Indicator(lambda key, x: (), inf_score), (), x, 0.1)


def test_calibrate_refuses_an_oversized_calibration_set_before_allocating(key, monkeypatch):
    # 3e8 rows: a zero-stride view, so the test allocates nothing; on a machine with 8 GiB
    # (monkeypatched) the 3e8 x (2 + 4) float32 numbers (6.7 GiB) exceed half of it.
    monkeypatch.setattr(_checks, "device_memory_bytes", lambda: 8 * 2**30)
    huge = np.broadcast_to(np.zeros((1, 2), np.float32), (300_000_000, 2))
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (50, 2)))
    with pytest.raises(ValueError, match=r"300000000 rows.*about 6\.7\d* GiB.*random subset"):
        calibrate(key, ind, state, huge, 0.1)


def test_calibrate_in_chunks_equals_one_pass(key, monkeypatch):
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (50, 2)))
    x = jax.random.normal(jax.random.key(1), (103, 2))
    whole = calibrate(key, ind, state, x, 0.1)
    monkeypatch.setattr(calibration_module, "_CHUNK", 16)
    chunked = calibrate(key, ind, state, x, 0.1)
    np.testing.assert_allclose(chunked.scores, whole.scores, rtol=1e-6)
    assert float(chunked.threshold) == pytest.approx(float(whole.threshold), rel=1e-6)


def test_complex_inputs_are_refused(key):
    x = np.random.default_rng(0).normal(size=(50, 2))
    ind = mahalanobis_indicator()
    state = ind.fit(key, x)
    with pytest.raises(ValueError, match=r"x_calibration.*complex"):
        calibrate(key, ind, state, x + 1j, 0.1)
    with pytest.raises(ValueError, match=r"x_train.*complex"):
        predictive_spread_indicator(lambda z: jnp.sum(z**2, axis=1)).fit(key, x + 1j)
    with pytest.raises(ValueError, match=r"x_train.*complex"):
        feature_space_indicator(ind, jnp.tanh).fit(key, x + 1j)
