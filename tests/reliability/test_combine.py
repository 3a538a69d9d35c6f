"""Tests for edtjax.reliability.combine: closed forms against scipy, the two-moons comparison."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from edtjax.reliability import (
    CombinedState,
    Indicator,
    calibrate,
    combine,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    validity_report,
)
from edtjax.reliability.combine import _combined_score
from tests.reliability.test_indicator import assert_score_agrees_jitted_and_not_jitted


def two_moons(key, n, noise=0.1):
    """The two interleaved half circles of radius 1 (centres (0, 0) and (1, 0.5))."""
    k_t, k_lab, k_noise = jax.random.split(key, 3)
    t = jax.random.uniform(k_t, (n,), minval=0.0, maxval=jnp.pi)
    lower = jax.random.bernoulli(k_lab, 0.5, (n,))
    upper_arc = jnp.stack([jnp.cos(t), jnp.sin(t)], 1)
    lower_arc = jnp.stack([1.0 - jnp.cos(t), 0.5 - jnp.sin(t)], 1)
    x = jnp.where(lower[:, None], lower_arc, upper_arc)
    return x + noise * jax.random.normal(k_noise, (n, 2))


def mirrored_moons(key, n):
    """Near shift: the moons flipped upside down, overlapping the training support partly."""
    return two_moons(key, n) * jnp.array([1.0, -1.0]) + jnp.array([0.0, 0.5])


def hanley_mcneil_se(area, n_pos, n_neg):
    """Standard error of an AUROC estimate (Hanley & McNeil 1982)."""
    q1 = area / (2 - area)
    q2 = 2 * area**2 / (1 + area)
    var = area * (1 - area) + (n_pos - 1) * (q1 - area**2) + (n_neg - 1) * (q2 - area**2)
    return float(jnp.sqrt(var / (n_pos * n_neg)))


@pytest.mark.parametrize(("how", "method"), [("fisher", "fisher"), ("min_p", "tippett")])
def test_combined_p_value_matches_scipy(how, method, x64):
    p = np.array(
        [[0.01, 0.5, 0.9, 1.0, 0.2], [0.3, 0.04, 0.9, 1.0, 0.001], [0.7, 0.6, 0.5, 1, 0.3]]
    )
    score = _combined_score(jnp.log(jnp.asarray(p)), how)
    expected = [scipy.stats.combine_pvalues(p[:, j], method=method).pvalue for j in range(5)]
    np.testing.assert_allclose(np.exp(-np.asarray(score)), expected, rtol=1e-10, atol=1e-15)


def test_bonferroni_closed_form(x64):
    p = jnp.array([[0.01, 0.5, 0.2], [0.3, 0.04, 0.9]])
    np.testing.assert_allclose(
        jnp.exp(-_combined_score(jnp.log(p), "bonferroni")), [0.02, 0.08, 0.4]
    )


def test_member_p_values_and_explicit_calibration_set(key):
    first = Indicator(lambda key, x: (), lambda state, x: x[:, 0])
    ind = combine(first, how="bonferroni")
    x_cal = jnp.arange(1.0, 10.0)[:, None]
    state = ind.fit(key, jnp.zeros((5, 1)), x_calibration=x_cal)
    assert isinstance(state, CombinedState)
    # a single member: combined p-value = its conformal p-value (1 + #{cal >= s}) / 10
    p = jnp.exp(-ind.score(state, jnp.array([[0.0], [5.5], [9.5]])))
    np.testing.assert_allclose(p, [1.0, 0.5, 0.1], rtol=1e-6)


def test_split_uses_calibration_fraction(key):
    ind = combine(knn_indicator(n_neighbors=1), calibration_fraction=0.25)
    state = ind.fit(key, jax.random.normal(key, (40, 2)))
    chex.assert_shape(state.states[0], (30, 2))
    chex.assert_shape(state.calibration_scores[0], (10,))


@pytest.mark.parametrize("how", ["bonferroni", "fisher", "min_p"])
def test_combined_score_agrees_jitted_and_not_jitted(key, how):
    # score is a pure function of the state (traced here) and the queries
    ind = combine(mahalanobis_indicator(), knn_indicator(n_neighbors=2), how=how)
    assert_score_agrees_jitted_and_not_jitted(key, ind)


def test_bad_arguments_raise(key):
    with pytest.raises(ValueError, match="at least one"):
        combine()
    with pytest.raises(ValueError, match="how"):
        combine(knn_indicator(), how="mean")
    with pytest.raises(ValueError, match="indicators"):
        combine(knn_indicator(), "knn")
    with pytest.raises(ValueError, match="calibration_fraction"):
        combine(knn_indicator(), calibration_fraction=1.0)
    with pytest.raises(ValueError, match="too few"):
        combine(knn_indicator()).fit(key, jnp.zeros((1, 2)))


@pytest.mark.slow
def test_two_moons_combination_against_its_members(key):
    """Members and combinations fitted on the same 200 points; near shift = mirrored moons."""
    k = jax.random.split(key, 6)
    x_train, x_member_cal, x_cal = (two_moons(k[i], 200) for i in range(3))
    x_in, x_near = two_moons(k[3], 300), mirrored_moons(k[4], 300)
    far = two_moons(k[5], 300) + jnp.array([4.0, 4.0])
    labels = jnp.concatenate([jnp.ones(300, bool), jnp.zeros(300, bool)])
    members = {
        "mahalanobis": mahalanobis_indicator(),
        "knn": knn_indicator(n_neighbors=5),
        "ld_fermat": lens_fermat_indicator(n_neighbors=10),
    }
    area, far_detection = {}, {}
    for name, ind in [*members.items()] + [
        (how, combine(*members.values(), how=how)) for how in ("fisher", "min_p")
    ]:
        if name in members:
            state = ind.fit(k[0], x_train)
        else:
            state = ind.fit(k[0], x_train, x_calibration=x_member_cal)
        cal = calibrate(k[1], ind, state, x_cal, 0.1)
        near_rep = validity_report(
            ind, state, cal, jnp.concatenate([x_in, x_near]), in_domain=labels
        )
        far_rep = validity_report(ind, state, cal, jnp.concatenate([x_in, far]), in_domain=labels)
        area[name], far_detection[name] = near_rep.auroc, far_rep.detection_rate
    # Measured: AUROC mahalanobis 0.65, knn 0.79, ld_fermat 0.68, fisher 0.76, min_p 0.80.
    assert all(rate >= 0.9 for rate in far_detection.values())
    best = max(area[name] for name in members)
    # min-p keeps the strongest member's evidence: not worse than the best member beyond
    # 5 Hanley-McNeil standard errors of an AUROC on 300 + 300 queries.
    assert area["min_p"] >= best - 5 * hanley_mcneil_se(best, 300, 300)
    # Fisher pools all members; a weak member (Mahalanobis on a non-convex support) dilutes it,
    # so it is only required to beat the weakest member.
    assert area["fisher"] >= min(area[name] for name in members)
