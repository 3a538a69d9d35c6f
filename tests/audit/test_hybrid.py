"""The audit's hybrid stage: the guarded surrogate on the queries, against exact answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.audit import AuditData, UserPredictions, UserSurrogate, audit_preset
from edtjax.audit._hybrid import hybrid_stage
from edtjax.audit._reliability import reliability_stage
from edtjax.audit._surrogates import split_data, user_surrogates
from edtjax.audit.config import config_from_mapping
from edtjax.audit.records import HybridResult, Skipped
from edtjax.surrogates import Predictive

NAMES = ("a", "b")
BIAS = 0.5  # the surrogate's constant error, physical units
CONFIG = config_from_mapping(
    {
        "reliability": {"indicators": ("mahalanobis", "lens_fermat")},
        "maps": {"depth_map_indicators": (), "grid_size": 8},
    },
    audit_preset("quick"),
)


def _model(x):
    return np.stack([np.sin(x[:, 0]) + x[:, 1] ** 2, x[:, 0] * x[:, 1]], axis=1)


def _surrogate(x):  # the simulator's outputs plus a constant error, with a unit variance
    mean = jnp.stack([jnp.sin(x[:, 0]) + x[:, 1] ** 2, x[:, 0] * x[:, 1]], axis=1) + BIAS
    return Predictive(mean=mean, variance=jnp.ones_like(mean))


def _case(simulator=True):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (300, 2))
    q = rng.uniform(0, 1, (60, 2))
    q[30:, 0] += 2.0  # far outside the training box
    data = AuditData("toy", x, _model(x), q, None, NAMES, ("y1", "y2"),
                     _model if simulator else None, None)  # fmt: skip
    split = split_data(jax.random.key(0), data, CONFIG.split)
    return data, split


def test_fallback_rows_are_the_simulators_and_accepted_rows_cost_the_surrogates_error():
    data, split = _case()
    sur = user_surrogates(split, data, UserSurrogate(_surrogate))
    rel = reliability_stage(
        jax.random.key(1), split, sur, (0, 1), NAMES, CONFIG.reliability, CONFIG.maps
    )
    h = hybrid_stage(data, split, sur, rel, alpha=CONFIG.reliability.alpha)
    assert isinstance(h, HybridResult)
    outside = np.asarray(rel.arrays["queries/outside"], bool)
    # the guard decides as the query verdict does: the same conformal test, same calibration
    assert h.n_fallback == int(outside.sum()) and h.n_queries == 60
    assert outside[30:].mean() >= 0.8
    # exact answers: a fallback row has no error, an accepted row the surrogate's BIAS
    accepted = 1.0 - h.fallback_share
    np.testing.assert_allclose(h.mean_abs_error, BIAS * accepted, atol=1e-5)
    np.testing.assert_allclose(h.surrogate_mean_abs_error, BIAS, atol=1e-5)
    np.testing.assert_allclose(h.max_abs_error, BIAS if accepted > 0 else 0.0, atol=1e-5)
    assert 0.0 <= h.fallback_share_in_domain <= 0.5 and h.simulator_seconds > 0
    assert HybridResult.from_json(h.to_json()) == h


@pytest.mark.parametrize("what", ["no simulator", "predictions"])
def test_the_stage_says_why_it_does_not_run(what):
    data, split = _case(simulator=what != "no simulator")
    if what == "predictions":
        z = np.asarray(_surrogate(jnp.asarray(data.x)).mean)
        zq = np.asarray(_surrogate(jnp.asarray(data.queries)).mean)
        user = UserPredictions(z, np.ones_like(z), zq, np.ones_like(zq))
    else:
        user = UserSurrogate(_surrogate)
    sur = user_surrogates(split, data, user)
    h = hybrid_stage(data, split, sur, None, alpha=CONFIG.reliability.alpha)
    assert isinstance(h, Skipped)
    assert ("simulator" if what == "no simulator" else "predictions") in h.reason
