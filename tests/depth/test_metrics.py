"""OOD metrics against a direct Mann-Whitney count, scikit-learn and a threshold scan."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from edtjax.depth import aupr, auroc, fpr_at_tpr, metrics


def _scores(key):
    k1, k2 = jax.random.split(key)
    # integer-valued scores so that ties occur
    s_in = jnp.floor(jax.random.normal(k1, (300,)) * 3)
    s_out = jnp.floor(jax.random.normal(k2, (200,)) * 3 + 2)
    return s_in, s_out


def test_auroc_is_the_mann_whitney_statistic(key):
    s_in, s_out = _scores(key)
    a, b = np.asarray(s_in), np.asarray(s_out)
    u = np.sum(b[:, None] > a[None, :]) + 0.5 * np.sum(b[:, None] == a[None, :])
    np.testing.assert_allclose(auroc(s_in, s_out), u / (a.size * b.size), rtol=1e-6)
    labels = np.r_[np.zeros(a.size), np.ones(b.size)]
    np.testing.assert_allclose(auroc(s_in, s_out), roc_auc_score(labels, np.r_[a, b]), rtol=1e-6)


def test_aupr_is_average_precision(key):
    s_in, s_out = _scores(key)
    a, b = np.asarray(s_in), np.asarray(s_out)
    labels = np.r_[np.zeros(a.size), np.ones(b.size)]
    np.testing.assert_allclose(
        aupr(s_in, s_out), average_precision_score(labels, np.r_[a, b]), rtol=1e-6
    )


def test_float64_aupr_is_exact(x64):
    # ranking 2 (OOD), 1, 0.5 (OOD), 0: precisions 1 and 2/3, AP = 5/6. In float64 the result
    # is within rounding of 5/6 (a float32 detour is off by ~1e-8).
    ap = aupr(jnp.array([0.0, 1.0]), jnp.array([2.0, 0.5]))
    chex.assert_type(ap, jnp.float64)
    assert abs(float(ap) - 5 / 6) <= 1e-15


def test_fpr_at_tpr_matches_a_threshold_scan(key):
    s_in, s_out = _scores(key)
    a, b = np.asarray(s_in), np.asarray(s_out)
    for tpr in (0.95, 0.5, 1.0):
        ok = [t for t in np.unique(np.r_[a, b]) if np.mean(b >= t) >= tpr]
        t = max(ok)
        np.testing.assert_allclose(fpr_at_tpr(s_in, s_out, tpr=tpr), np.mean(a >= t))


def test_perfect_and_reversed_separation():
    lo, hi = jnp.arange(5.0), jnp.arange(5.0) + 10
    assert float(auroc(lo, hi)) == 1.0
    assert float(auroc(hi, lo)) == 0.0
    assert float(aupr(lo, hi)) == 1.0
    assert float(fpr_at_tpr(lo, hi)) == 0.0


def test_does_not_retrace(key):
    s_in, s_out = _scores(key)
    auroc(s_in, s_out)
    before = metrics._auroc._cache_size()
    auroc(s_in + 1, s_out - 1)
    assert metrics._auroc._cache_size() == before


def test_bad_input():
    with pytest.raises(ValueError, match="scores_in"):
        auroc(jnp.zeros((0,)), jnp.ones(3))
    with pytest.raises(ValueError, match="scores_out"):
        aupr(jnp.zeros(3), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="scores_in"):
        auroc(jnp.array([0.0, jnp.nan]), jnp.ones(3))
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr(jnp.zeros(3), jnp.ones(3), tpr=0.0)
