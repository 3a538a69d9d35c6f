"""An answer per query: order, verdicts against p-values, attribution, labelled errors, and the
verdict rates on queries drawn from the training law and far outside it.

The fast tests run the reliability stage on a hand-made surrogate (no training), so they take
a few seconds; the end-to-end rate check trains the quick ensemble and is marked slow.
"""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.audit import AuditData, audit_preset, check_audit_result, run_audit
from edtjax.audit._reliability import exact_p_values, reliability_stage
from edtjax.audit._surrogates import ENSEMBLE, Surrogates, split_data
from edtjax.audit.config import config_from_mapping
from edtjax.reliability import conformal_p_values
from edtjax.reliability.calibration import Calibration
from edtjax.report import query_table
from edtjax.surrogates import Predictive

CONFIG = config_from_mapping(
    {"reliability": {"indicators": ("mahalanobis", "lens_fermat")}, "maps": {"grid_size": 4}},
    audit_preset("quick"),
)
NAMES = ("x1", "x2", "x3")


def _model(x):
    """Truth: linear near the origin, with a quadratic term that only matters far out."""
    return (x @ np.array([1.0, -0.5, 0.25]) + 0.02 * x[:, 1] ** 2)[:, None]


def _case(queries_shifted=False, labelled=True):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 3))
    inside = rng.normal(size=(30, 3))
    far = rng.normal(size=(10, 3))
    far[:, 1] += 10.0  # ten training standard deviations along x2
    q = np.concatenate([inside, far])
    order = rng.permutation(40)  # the user's order mixes them
    q = q[order]
    y = _model(x)
    data = AuditData(
        "toy",
        x,
        y,
        q,
        _model(q) if labelled else None,
        NAMES,
        ("y",),
        None,
        None,
        queries_shifted,
    )
    return data, order >= 30


def _linear_surrogate(split):
    """A surrogate exact on the linear part (in standardised units), blind to the x2**2 term."""
    w = jnp.asarray(np.array([1.0, -0.5, 0.25]) * split.x_scale / split.y_scale[0], jnp.float32)
    b = jnp.asarray(
        (split.x_mean @ np.array([1.0, -0.5, 0.25]) - split.y_mean[0]) / split.y_scale[0],
        jnp.float32,
    )

    def predict(z):
        mean = (z @ w + b)[:, None]
        return Predictive(
            mean=mean, variance=jnp.full_like(mean, 0.01), aleatoric=jnp.full_like(mean, 0.01)
        )

    return Surrogates(None, None, {ENSEMBLE: predict})


def _stage(data):
    split = split_data(jax.random.key(0), data, CONFIG.split)
    rel, _, arrays, answers, outside, *_ = reliability_stage(
        jax.random.key(1),
        split,
        _linear_surrogate(split),
        (0, 1),
        NAMES,
        CONFIG.reliability,
        CONFIG.maps,
        queries_shifted=data.queries_shifted,
    )
    # the stage's verdict function (which the Sobol' validity check reuses) is the verdict of
    # every query
    np.testing.assert_array_equal(outside(split.x_shift), arrays["queries/outside"])
    return split, rel.to_json(), arrays, answers.to_json()


@pytest.fixture(scope="module")
def stage():
    data, far = _case()
    return (data, far, *_stage(data))


def test_one_answer_per_query_in_the_users_order(stage):
    data, _far, _split, _rel, arrays, answers = stage
    m = data.queries.shape[0]
    assert answers["count"] == m == answers["n_inside"] + answers["n_outside"]
    np.testing.assert_array_equal(arrays["inputs/queries"], data.queries)
    for name in ("queries/mean", "queries/lower", "queries/upper", "queries/y"):
        chex.assert_shape(arrays[name], (m, 1))
    np.testing.assert_allclose(arrays["queries/y"], data.queries_y)
    # the prediction is the surrogate's, in physical units
    np.testing.assert_allclose(
        arrays["queries/mean"][:, 0], data.queries @ np.array([1.0, -0.5, 0.25]), atol=1e-4
    )
    assert np.all(arrays["queries/lower"] < arrays["queries/mean"])
    assert np.all(arrays["queries/mean"] < arrays["queries/upper"])


def test_verdict_is_the_combined_p_value_at_alpha(stage):
    _, _, _, _rel, arrays, answers = stage
    alpha = answers["alpha"]
    p = arrays["queries/p_value/combined"]
    outside = arrays["queries/outside"]
    # p = (1 + count) / (n + 1) is exact; away from rounding at p == alpha the two rules agree
    assert np.array_equal(outside, p <= alpha + 1e-12)
    assert answers["n_outside"] == int(outside.sum())
    for name in answers["indicators"]:
        assert np.all(
            (0 < arrays[f"queries/p_value/{name}"]) & (arrays[f"queries/p_value/{name}"] <= 1)
        )
    extreme = [e["p_combined"] for e in answers["extreme"]]
    assert extreme == sorted(extreme) and extreme[0] == p.min()


def test_far_queries_are_flagged_and_pushed_out_by_the_shifted_input(stage):
    _, far, _, rel, arrays, answers = stage
    assert arrays["queries/outside"][far].all()
    # the Mahalanobis gradient at a query 10 sd along x2 points along x2
    assert (arrays["queries/pushed_out_by"][far] == 1).all()
    assert answers["attribution"]["indicators"] == ["mahalanobis"]
    assert answers["attribution"]["not_differentiable"] == ["lens_fermat", "combined"]
    # the user's queries are not assumed shifted: no detection rate nor AUROC
    for v in rel["indicators"].values():
        assert v["detection_rate"] is None and v["auroc"] is None


def test_labelled_queries_compare_accepted_and_flagged_errors(stage):
    _, far, _split, _, arrays, answers = stage
    lab = answers["labelled"]
    err = np.abs(arrays["queries/mean"] - arrays["queries/y"])
    np.testing.assert_allclose(arrays["queries/abs_error"], err, rtol=1e-6, atol=1e-9)
    outside = arrays["queries/outside"]
    assert lab["inside"]["count"] + lab["outside"]["count"] == 40
    np.testing.assert_allclose(lab["outside"]["mae"][0], err[outside].mean(), rtol=1e-6)
    # 0.02 * x2**2 is about 2 at x2 = 10: every far query has a large error, and is caught
    assert lab["outside"]["mae"][0] > 10 * lab["inside"]["mae"][0]
    assert arrays["queries/large_error"][far].all()
    assert lab["large_errors_caught"] >= far.sum() / lab["n_large_errors"]
    hits = arrays["queries/in_interval"]
    assert lab["outside"]["coverage"][0] == pytest.approx(hits[outside].mean())


@pytest.mark.slow
def test_shifted_by_construction_adds_detection_and_auroc():
    data, _far = _case(queries_shifted=True, labelled=False)
    _, rel, arrays, answers = _stage(data)
    combined = rel["indicators"]["combined"]
    outside = arrays["queries/outside"]
    assert combined["detection_rate"] == pytest.approx(outside.mean())
    assert combined["auroc"] is not None
    assert answers["labelled"] is None and "queries/y" not in arrays


def test_exact_p_values_match_the_conformal_p_values():
    rng = np.random.default_rng(3)
    cal = rng.normal(size=99).astype(np.float32)
    s = np.concatenate([rng.normal(size=50), cal[:5]]).astype(np.float32)  # ties included
    calibration = Calibration(jnp.sort(cal), jnp.sort(cal)[89], jnp.asarray(0.1), jax.random.key(0))
    np.testing.assert_allclose(
        exact_p_values(cal, s), np.asarray(conformal_p_values(calibration, s)), rtol=1e-6
    )
    # flagged iff score > threshold iff p <= alpha (n = 99, alpha = 0.1: k = 90)
    p = exact_p_values(cal, s)
    assert np.array_equal(s > np.sort(cal)[89], p <= 0.1 + 1e-12)


@pytest.mark.slow
def test_verdict_rates_on_training_law_and_far_queries():
    # End to end on a model the package does not implement: y = exp(x1 / 2) + x2 * x3 with
    # x1 ~ N(0, 1), x2 ~ Gamma(4, 1/2), x3 ~ Uniform(-1, 1), and no simulator.
    rng = np.random.default_rng(11)

    def draw(n):
        return np.stack(
            [rng.normal(size=n), rng.gamma(4.0, 0.5, size=n), rng.uniform(-1, 1, size=n)], 1
        )

    def model(x):
        return (np.exp(x[:, 0] / 2) + x[:, 1] * x[:, 2])[:, None]

    x = draw(800)
    inside = draw(200)
    sd = x.std(0)
    far = draw(100)
    direction = rng.normal(size=(100, 3))
    direction /= np.linalg.norm(direction / sd, axis=1, keepdims=True)  # unit in sd units
    far = x.mean(0) + 10.0 * direction  # 10 training sd away from the centre
    q = np.concatenate([inside, far])
    config = config_from_mapping(
        {
            "reliability": {"indicators": ("mahalanobis", "lens_fermat", "ensemble_spread")},
            "surrogate": {"members": 2},
            "sensitivity": {"sobol_samples": 128, "gsa_samples": 64},
            "transport": {"permutations": 19},
            "maps": {"grid_size": 8},
        },
        audit_preset("quick"),
    )
    data = AuditData("user", x, model(x), q, model(q), ("a", "b", "c"), ("y",), None, None)
    result = run_audit(jax.random.key(5), data, config, progress=False)
    check_audit_result(result)
    _columns, rows = query_table(result)
    assert len(rows) == 300 and [r["query"] for r in rows] == list(range(300))
    np.testing.assert_array_equal([[r[c] for c in "abc"] for r in rows], q)
    alpha = config.reliability.alpha
    outside = np.array([r["verdict"] == "outside" for r in rows])
    assert np.array_equal(outside, np.array([r["p[combined]"] for r in rows]) <= alpha + 1e-12)
    # Queries from the training law: the combined indicator is calibrated on n_c points, so
    # given them its false-alarm rate is ~ Beta with sd sqrt(alpha (1 - alpha) / (n_c + 2)),
    # and the 200 verdicts add binomial noise; 4 standard errors of both above alpha fail with
    # probability about 3e-5 (normal approximation).
    n_c = result.numbers["case"]["n_calibration"] - result.numbers["case"]["n_calibration"] // 2
    se = math.sqrt(alpha * (1 - alpha) * (1 / 200 + 1 / (n_c + 2)))
    assert outside[:200].mean() <= alpha + 4 * se
    assert outside[200:].mean() >= 0.8
    lab = result.numbers["queries"]["labelled"]
    assert lab["outside"]["mae"][0] > lab["inside"]["mae"][0]
