"""Extrapolation along a thin direction of the training data: detection per indicator and for
the audit's default combination, false alarms, and the weighted LD-Fermat indicator."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.audit.config import INDICATOR_NAMES, audit_preset
from edtjax.depth import fermat_distance_to_reference, fermat_fit
from edtjax.reliability import (
    WeightedLensFermatState,
    calibrate,
    combine,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    monge_kantorovich_indicator,
    projection_indicator,
    weighted_lens_fermat_indicator,
)

ALPHA = 0.1
SD = np.array([3.0, 1.0, 0.4])  # the thinnest axis is the last one
N_TRAIN, N_MEMBER_CAL, N_CAL, M = 300, 500, 1000, 2000


def thin_axis_case(seed):
    """Rotated 3-D Gaussian with sd (3, 1, 0.4): training, member-calibration, calibration and
    in-distribution query sets, and queries shifted by 6 sd (2.4) along the thinnest axis, to
    either side at random."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))

    def draw(k):
        return rng.normal(size=(k, 3)) * SD

    x_train, x_member_cal, x_cal, x_in = (
        draw(k) @ rotation.T for k in (N_TRAIN, N_MEMBER_CAL, N_CAL, M)
    )
    shifted = draw(M)
    shifted[:, 2] += 6 * SD[2] * rng.choice([-1.0, 1.0], M)
    x_out = shifted @ rotation.T
    return [jnp.asarray(a, jnp.float32) for a in (x_train, x_member_cal, x_cal, x_in, x_out)]


@pytest.mark.slow
def test_thin_axis_detection_and_false_alarms():
    """Flag rates at alpha = 0.1 on 2000 shifted and 2000 in-distribution queries.

    Detection floors: the lowest rate measured over four training sets (seeds 0-3) minus five
    binomial standard deviations of a 2000-query rate, rounded down (Mahalanobis and
    projection 0.999, kNN 0.995, weighted LD-Fermat 0.994, the combinations 0.998: floor 0.98;
    LD-Fermat 0.950: floor 0.92; Monge-Kantorovich 0.912: floor 0.87; thin directions are the
    weakness of those two). The combination must stay within 0.02 of its best member, more
    than five standard deviations (0.016) of the difference of two rates near 0.99.
    False alarms: at most alpha + 4 sd, sd**2 = a(1-a)/(n_cal + 2) (the conformal coverage
    given the calibration set) + a(1-a)/m (the queries), i.e. 0.1 + 0.046.
    """
    x_train, x_member_cal, x_cal, x_in, x_out = thin_axis_case(0)
    key = jax.random.key(0)
    members = {
        "lens_fermat": lens_fermat_indicator(),
        "mahalanobis": mahalanobis_indicator(),
        "monge_kantorovich": monge_kantorovich_indicator(),
    }
    others = {
        "projection": projection_indicator(),
        "knn": knn_indicator(n_neighbors=5),
        "weighted_lens_fermat": weighted_lens_fermat_indicator(),
    }
    how = audit_preset("default").reliability.combine_how
    combined = {
        f"combined_{how}": combine(*members.values(), how=how),
        "combined_min_p": combine(*members.values(), how="min_p"),
    }
    detection, false_alarm = {}, {}
    for name, ind in itertools.chain(members.items(), others.items(), combined.items()):
        if name.startswith("combined"):
            state = ind.fit(key, x_train, x_member_cal)
        else:
            state = ind.fit(key, x_train)
        cal = calibrate(key, ind, state, x_cal, ALPHA)
        score = jax.jit(ind.score)
        detection[name] = float(jnp.mean(score(state, x_out) > cal.threshold))
        false_alarm[name] = float(jnp.mean(score(state, x_in) > cal.threshold))
    floors = {"lens_fermat": 0.92, "monge_kantorovich": 0.87}
    for name, rate in detection.items():
        assert rate >= floors.get(name, 0.98), (name, detection)
    best_member = max(detection[name] for name in members)
    for name in combined:
        assert detection[name] >= best_member - 0.02, (name, detection)
    margin = 4 * np.sqrt(ALPHA * (1 - ALPHA) * (1 / (N_CAL + 2) + 1 / M))
    for name, rate in false_alarm.items():
        assert rate <= ALPHA + margin, (name, false_alarm)


def test_audit_default_indicators_include_an_affine_invariant_one():
    # lens_fermat and monge_kantorovich under-detect extrapolation along thin directions; the
    # default combination keeps Mahalanobis (affine invariant) among its members.
    for preset in ("default", "quick"):
        indicators = audit_preset(preset).reliability.indicators
        assert "mahalanobis" in indicators
        assert set(indicators) <= set(INDICATOR_NAMES)


def _brute_weighted_lens_depth(d_query, d_ref, h):
    n = d_ref.shape[0]
    out = []
    for a in d_query:
        num = den = 0.0
        for i in range(n):
            for j in range(i + 1, n):
                w = np.exp(-((d_ref[i, j] / h) ** 2))
                den += w
                num += w * (max(a[i], a[j]) <= d_ref[i, j])
        out.append(num / den)
    return np.array(out)


def test_weighted_lens_fermat_matches_brute_force(x64):
    # Same Fermat distances, the lens sum written out pair by pair (float64).
    x = jax.random.normal(jax.random.key(1), (25, 2), jnp.float64) * jnp.array([2.0, 0.5])
    queries = jax.random.normal(jax.random.key(2), (7, 2), jnp.float64) * 1.5
    ind = weighted_lens_fermat_indicator(n_neighbors=6, bandwidth_quantile=0.3)
    state = ind.fit(None, x)
    assert isinstance(state, WeightedLensFermatState)
    graph = fermat_fit(x, n_neighbors=6)
    d = np.asarray(graph.distances)
    h = np.quantile(d[np.triu_indices(25, 1)], 0.3)
    assert float(state.bandwidth) == pytest.approx(h, rel=1e-12)
    d_query = np.asarray(fermat_distance_to_reference(graph, queries))
    expected = 1.0 - _brute_weighted_lens_depth(d_query, d, h)
    np.testing.assert_allclose(ind.score(state, queries), expected, rtol=1e-12, atol=1e-14)
    # the state crosses jit (the bandwidth is traced)
    np.testing.assert_allclose(jax.jit(ind.score)(state, queries), expected, atol=1e-12)


def test_weighted_lens_fermat_bad_arguments():
    for q in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="bandwidth_quantile"):
            weighted_lens_fermat_indicator(bandwidth_quantile=q)
    with pytest.raises(ValueError, match="alpha"):
        weighted_lens_fermat_indicator(alpha=0.5)
    with pytest.raises(ValueError, match="n_neighbors"):
        weighted_lens_fermat_indicator(n_neighbors=0)
    duplicated = jnp.repeat(jax.random.normal(jax.random.key(0), (5, 2)), 4, axis=0)
    with pytest.raises(ValueError, match="zero bandwidth"):
        weighted_lens_fermat_indicator(n_neighbors=3, bandwidth_quantile=0.05).fit(None, duplicated)
