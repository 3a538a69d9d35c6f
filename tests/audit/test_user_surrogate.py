"""The audit of a user's own surrogate: as a function and as predictions, on an analytic model
that is not part of the package, with declared non-uniform input laws and closed-form indices."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from edtjax.audit import (
    AuditData,
    UserPredictions,
    UserSurrogate,
    audit_preset,
    load_predictions,
    load_surrogate,
    run_audit,
)
from edtjax.audit._reliability import build_indicators
from edtjax.audit._surrogates import split_data, user_surrogates
from edtjax.audit.config import config_from_mapping
from edtjax.audit.sections import ReliabilityConfig
from edtjax.surrogates import Predictive

NAMES = ("x1", "x2", "x3")
OUTPUTS = ("y1", "y2")
SCALES = np.array([1.0, 0.5, 2.0])  # X_i ~ Normal(0, s_i), independent
A = np.array([[1.0, 2.0, 0.5], [1.0, 0.0, -1.0]])  # y_k = sum_i A[k, i] x_i
M_IN = M_OUT = 60
CONFIG = config_from_mapping(
    {
        "inputs": {
            n: {"law": "Normal", "loc": 0.0, "scale": float(s)}
            for n, s in zip(NAMES, SCALES, strict=True)
        },
        "sensitivity": {"sobol_samples": 512},
        "transport": {"permutations": 20, "shift_test_size": 60, "contour_points": 16},
        "maps": {"grid_size": 12},
        "bias": {"bias_samples": 128},
    },
    audit_preset("quick"),
)


def _model(x):
    return x @ jnp.asarray(A.T, x.dtype)


NOISE = 0.2  # standard deviation of the observation noise on the labelled outputs


def _variance(x):
    return (NOISE**2 + 0.01 * x[:, :1] ** 2) * jnp.ones((1, 2), x.dtype)


def predict(x):
    """The exact mean with the noise variance (plus an input-dependent epistemic part)."""
    return Predictive(mean=_model(x), variance=_variance(x))


def _data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * SCALES
    inside = rng.normal(size=(M_IN, 3)) * SCALES
    outside = rng.normal(size=(M_OUT, 3)) * SCALES
    outside[:, 0] += 8.0 * SCALES[0]  # far beyond the training law in x1
    q = np.vstack([inside, outside])
    return AuditData(
        name="linear",
        x=x,
        y=x @ A.T + NOISE * rng.normal(size=(n, 2)),
        queries=q,
        queries_y=q @ A.T + NOISE * rng.normal(size=(q.shape[0], 2)),
        input_names=NAMES,
        output_names=OUTPUTS,
        simulator=None,
        box=None,
    )


def _predictions(data):
    x = jnp.asarray(data.x, jnp.float32)
    q = jnp.asarray(data.queries, jnp.float32)
    return UserPredictions(
        mean=np.asarray(_model(x), np.float64),
        std=np.sqrt(np.asarray(_variance(x), np.float64)),
        queries_mean=np.asarray(_model(q), np.float64),
        queries_std=np.sqrt(np.asarray(_variance(q), np.float64)),
        name="pred.csv",
    )


@pytest.fixture(scope="module")
def audits():
    """The same surrogate audited as a function and as predictions (about a minute)."""
    data = _data()
    key = jax.random.key(7)
    as_function = run_audit(key, data, CONFIG, surrogate=UserSurrogate(predict), progress=False)
    as_predictions = run_audit(key, data, CONFIG, surrogate=_predictions(data), progress=False)
    return as_function, as_predictions


@pytest.mark.slow
def test_predictions_give_the_numbers_of_the_same_surrogate_as_a_function(audits):
    fn, pr = audits
    a, b = fn.numbers, pr.numbers
    # The function sees inputs mapped back from standardised float32 units, the predictions
    # were made at the float64 inputs: the two agree to float32 rounding.
    for key, value in a["surrogates"]["user_surrogate"].items():
        np.testing.assert_allclose(
            b["surrogates"]["user_surrogate"][key], value, rtol=1e-4, atol=1e-5
        )
    for name, rates in a["reliability"]["indicators"].items():
        other = b["reliability"]["indicators"][name]
        assert other["false_alarm_rate"] == rates["false_alarm_rate"], name
        np.testing.assert_allclose(other["threshold"], rates["threshold"], rtol=1e-4)
    np.testing.assert_array_equal(pr.arrays["queries/outside"], fn.arrays["queries/outside"])
    for name in a["queries"]["indicators"]:
        np.testing.assert_array_equal(
            pr.arrays[f"queries/p_value/{name}"], fn.arrays[f"queries/p_value/{name}"]
        )
    np.testing.assert_allclose(pr.arrays["queries/lower"], fn.arrays["queries/lower"], rtol=1e-4)
    assert a["case"]["surrogate"]["source"] == "function"
    assert b["case"]["surrogate"]["source"] == "predictions"
    assert "optimistic" in b["case"]["surrogate"]["statement"]


@pytest.mark.slow
def test_declared_law_indices_of_the_exact_surrogate_match_the_closed_form(audits):
    """Linear model, independent normal inputs: S_i = T_i = a_i^2 s_i^2 / sum_j a_j^2 s_j^2.

    Each estimate must lie within 4 standard errors (half-width of its 95% interval / 1.96)
    of the truth: a false failure has probability below 1e-4 per index, 12 indices."""
    sobol = audits[0].numbers["sobol"]
    assert sobol["law"]["kind"] == "declared"
    contrib = (A * SCALES) ** 2  # (o, d)
    truth = (contrib / contrib.sum(1, keepdims=True)).T  # (d, o)
    z = stats.norm.ppf(0.975)
    for order in ("first", "total"):
        est = np.asarray(sobol["surrogate"][order])
        ci = np.asarray(sobol["surrogate"][f"{order}_ci"])
        se = (ci[..., 1] - ci[..., 0]) / (2 * z)
        assert np.all(np.abs(est - truth) <= 4 * se + 1e-6), (order, est, truth)


@pytest.mark.slow
def test_each_query_gets_a_verdict_inside_at_alpha_and_outside_when_far(audits):
    outside = audits[0].arrays["queries/outside"]
    alpha = CONFIG.reliability.alpha
    # Inside queries follow the training law: flagged at most at rate alpha (conformal
    # guarantee, marginally); the bound adds 3 binomial standard errors (false failure < 0.2%).
    bound = alpha + 3 * np.sqrt(alpha * (1 - alpha) / M_IN)
    assert outside[:M_IN].mean() <= bound
    assert outside[M_IN:].mean() >= 0.8


@pytest.mark.slow
def test_stages_that_need_new_evaluations_say_why_they_are_skipped(audits):
    fn, pr = audits
    gsa = pr.numbers["parameter_gsa"]
    assert "not known to the audit" in gsa["skipped"]
    assert "not known to the audit" in fn.numbers["parameter_gsa"]["skipped"]
    sobol = pr.numbers["sobol"]
    assert sobol["surrogate"] is None and "skipped" in sobol["surrogate_note"]
    assert "ensemble_spread" in sobol["validity"]["skipped"]
    assert fn.numbers["sobol"]["validity"]["num_draws"] > 0
    # The queries carry outputs: the bias over the queries needs no new evaluation. The
    # surrogate's mean is exact, so its "bias" is minus the mean noise: within 4 standard
    # errors of the noise mean (false failure below 1e-4).
    for result in (fn, pr):
        bias = result.numbers["bias"]
        assert bias["posterior_spread"] is None
        assert abs(bias["true_bias"]) < 4 * NOISE / np.sqrt(M_IN + M_OUT)


def test_bad_user_surrogates_are_refused_by_name():
    data = _data(n=60)
    good = _predictions(data)
    with pytest.raises(ValueError, match=r"surrogate\.mean must be a numeric array of shape"):
        run_audit(jax.random.key(0), data, CONFIG, surrogate=good._replace(mean=good.mean[:-1]))
    with pytest.raises(ValueError, match=r"surrogate\.queries_std must be positive"):
        run_audit(
            jax.random.key(0), data, CONFIG, surrogate=good._replace(queries_std=-good.queries_std)
        )
    with pytest.raises(ValueError, match="surrogate must be None"):
        run_audit(jax.random.key(0), data, CONFIG, surrogate=predict)
    features = config_from_mapping(
        {
            "reliability": {"indicators": ("mahalanobis", "feature_mahalanobis")},
            "maps": {"depth_map_indicators": ()},
        },
        CONFIG,
    )
    with pytest.raises(ValueError, match="feature_mahalanobis"):
        run_audit(jax.random.key(0), data, features, surrogate=UserSurrogate(predict))


def test_a_function_without_uncertainty_is_refused_in_one_line():
    data = _data(n=60)
    split = split_data(jax.random.key(0), data, CONFIG.split)
    point = UserSurrogate(lambda x: Predictive(mean=_model(x)))
    sur = user_surrogates(split, data, point)
    with pytest.raises(ValueError, match="variance or samples"):
        sur.main(split.x_test)
    sampled = UserSurrogate(
        lambda x: Predictive(mean=_model(x), samples=jnp.stack([_model(x), _model(x) + 1.0]))
    )
    p = user_surrogates(split, data, sampled).main(split.x_test)
    expected = np.broadcast_to(0.25 / split.y_scale**2, p.variance.shape)
    np.testing.assert_allclose(p.variance, expected, rtol=1e-5)


def test_predictions_are_known_only_at_the_given_rows():
    data = _data(n=60)
    split = split_data(jax.random.key(0), data, CONFIG.split)
    sur = user_surrogates(split, data, _predictions(data))
    assert not sur.evaluable and not sur.differentiable
    got = sur.main(jnp.concatenate([split.x_cal, split.x_shift]))
    expect = np.asarray(_model(jnp.asarray(data.queries, jnp.float32))) - split.y_mean
    np.testing.assert_allclose(got.mean[-M_IN - M_OUT :], expect / split.y_scale, rtol=1e-5)
    with pytest.raises(Exception, match="cannot be evaluated at other inputs"):
        jax.block_until_ready(sur.main(split.x_test + 0.5))


def test_feature_space_indicator_reads_the_user_features():
    data = _data(n=120)
    split = split_data(jax.random.key(0), data, CONFIG.split)
    config = ReliabilityConfig(indicators=("feature_mahalanobis",))
    user = UserSurrogate(predict, features=lambda x: jnp.concatenate([x, x[:, :1] ** 2], 1))
    ind = build_indicators(user_surrogates(split, data, user), config)["feature_mahalanobis"]
    state = ind.fit(jax.random.key(1), split.x_train)
    s = np.asarray(ind.score(state, jnp.concatenate([split.x_test, split.x_shift])))
    m_test = split.x_test.shape[0]
    assert np.median(s[-M_OUT:]) > np.max(s[:m_test])  # far queries score above the test split


def test_load_predictions_and_surrogate_from_files(tmp_path):
    rows = "\n".join(f"{i},{0.1 * (i + 1)},{-i},{0.2}" for i in range(5))
    (tmp_path / "p.csv").write_text("y1_mean,y1_std,y2_mean,y2_std\n" + rows + "\n")
    p = load_predictions(tmp_path / "p.csv", OUTPUTS, 3, 2)
    chex.assert_shape(p.mean, (3, 2))
    chex.assert_shape(p.queries_std, (2, 2))
    np.testing.assert_array_equal(p.mean[:, 1], [0, -1, -2])
    with pytest.raises(ValueError, match="expected 6"):
        load_predictions(tmp_path / "p.csv", OUTPUTS, 4, 2)
    with pytest.raises(ValueError, match="missing column"):
        load_predictions(tmp_path / "p.csv", ("y1", "y3"), 3, 2)
    (tmp_path / "mine.py").write_text(
        "from edtjax.surrogates import Predictive\n"
        "def predict(x):\n    return Predictive(x[:, :2], 1.0 + 0.0 * x[:, :2])\n"
        "def factory():\n    return predict\n"
    )
    for name in ("predict", "factory"):
        sur = load_surrogate(f"{tmp_path / 'mine.py'}:{name}")
        chex.assert_shape(sur.predict(jnp.ones((4, 3))).mean, (4, 2))
    for bad, match in (
        ("nocolon", "module:function"),
        (f"{tmp_path / 'absent.py'}:f", "no such file"),
        (f"{tmp_path / 'mine.py'}:absent", "no attribute"),
        ("edtjax_no_such_module:f", "cannot be imported"),
    ):
        with pytest.raises(ValueError, match=match):
            load_surrogate(bad)
