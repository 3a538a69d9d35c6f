"""run_audit end to end on the quick built-in case and on user-style data (Ishigami).

The full runs take about a minute each on a 2-core CPU, so they are marked slow; the bad-input
checks (which fail before any computation) run in the default selection.
"""

import math

import chex
import jax
import numpy as np
import pytest

from edtjax.audit import (
    STAGES,
    AuditData,
    audit_preset,
    check_audit_result,
    config_to_dict,
    format_summary,
    run_audit,
    thermodiffusion_case,
)
from edtjax.audit.config import config_from_mapping
from edtjax.simulators import ishigami

QUICK = audit_preset("quick")


@pytest.fixture(scope="module")
def quick_data():
    return thermodiffusion_case(jax.random.key(QUICK.seed), QUICK, progress=False)


@pytest.fixture(scope="module")
def quick_result(quick_data):
    return run_audit(jax.random.key(1), quick_data, QUICK, progress=False)


def _ishigami_data(key, n=400, m=80):
    """User-style data: Ishigami on (-pi, pi)^3; queries with x1 in (pi, 1.5 pi)."""
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.uniform(k1, (n, 3), minval=-math.pi, maxval=math.pi), np.float64)
    u = np.asarray(jax.random.uniform(k2, (m, 3)), np.float64)
    q = -math.pi + 2 * math.pi * u
    q[:, 0] = math.pi + 0.5 * math.pi * u[:, 0]
    y = np.asarray(ishigami(x), np.float64)[:, None]
    return AuditData("ishigami", x, y, q, None, ("x1", "x2", "x3"), ("f",), None, None)


@pytest.mark.slow
def test_quick_result_follows_the_contract(quick_result, quick_data):
    check_audit_result(quick_result)
    n, a = quick_result.numbers, quick_result.arrays
    assert list(quick_result.timings) == list(STAGES)
    d, o = quick_data.x.shape[1], quick_data.y.shape[1]
    case = n["case"]
    assert case["n_train"] + case["n_calibration"] + case["n_test"] == quick_data.x.shape[0]
    assert case["n_queries_shifted"] == quick_data.queries.shape[0]
    assert case["config"] == config_to_dict(QUICK)  # sectioned, as a TOML file
    assert set(n["surrogates"]) == {"deep_ensemble", QUICK.surrogate.bayesian_method}
    for method, m in n["surrogates"].items():
        assert len(m["rmse"]) == o
        chex.assert_shape(a[f"calibration/{method}"], (QUICK.calibration.calibration_levels,))
        chex.assert_shape(
            [a[f"coverage/{method}"], a[f"coverage/{method}/conformal"]],
            (len(QUICK.calibration.coverage_levels),),
        )
    for who in ("simulator", "surrogate"):
        s = n["sobol"][who]
        assert np.shape(s["first"]) == (d, o) and np.shape(s["total_ci"]) == (d, o, 2)
    g = n["parameter_gsa"]
    assert g["groups"] == ["head", "hidden_0", "hidden_1"]
    assert np.shape(g["first"]) == (3, o) and np.shape(g["total"]) == (3, o)
    assert len(n["transport"]["contour_inputs"]) == 2
    for k in range(len(QUICK.transport.contour_levels)):
        chex.assert_shape(a[f"contour/{k}"], (QUICK.transport.contour_points, 2))
    for entry in n["depth_maps"]:
        key = entry["key"]
        chex.assert_shape(a[f"{key}/score"], (QUICK.maps.grid_size, QUICK.maps.grid_size))
        chex.assert_shape(a[f"{key}/grid_x"], (QUICK.maps.grid_size,))
        assert len(entry["fixed"]) == d - 2
    expected = set(QUICK.reliability.indicators) | {"combined"}
    assert set(n["reliability"]["indicators"]) == expected
    for name in expected:
        chex.assert_shape(a[f"reliability/{name}/scores_in"], (case["n_test"],))
        chex.assert_shape(a[f"reliability/{name}/scores_shifted"], (case["n_queries_shifted"],))
    for test in n["transport"]["shift_tests"]:
        chex.assert_shape(a[f"shift/{test}/null"], (QUICK.transport.permutations,))
    chex.assert_shape(a["inputs/train"], (case["n_train"], d))
    m = quick_data.queries.shape[0]
    np.testing.assert_array_equal(a["inputs/queries"], quick_data.queries)
    q = n["queries"]
    assert q["count"] == m and q["n_inside"] + q["n_outside"] == m
    chex.assert_shape(a["queries/mean"], (m, o))
    chex.assert_shape(a["queries/outside"], (m,))
    assert q["n_outside"] == round(n["reliability"]["indicators"]["combined"]["detection_rate"] * m)
    summary = format_summary(quick_result)
    for word in ("deep_ensemble", "Sobol", "sinkhorn_shifted", "combined", "Bias", "total"):
        assert word in summary


@pytest.mark.slow
def test_quick_shift_tests(quick_result):
    # Train vs in-domain test is a random split of one design, so the permutation p-values are
    # exactly uniform under the null: each in-domain test falsely rejects with probability
    # alpha (fixed seed, deterministic). The shifted queries move the heat source beyond the
    # box, a shift the tests must detect.
    tests = quick_result.numbers["transport"]["shift_tests"]
    for name in ("sinkhorn", "rank_energy"):
        assert not tests[f"{name}_in_domain"]["rejected"], tests[f"{name}_in_domain"]
        assert tests[f"{name}_shifted"]["rejected"], tests[f"{name}_shifted"]
        assert tests[f"{name}_shifted"]["p_value"] <= 1.0 / QUICK.transport.permutations + 1e-9


@pytest.mark.slow
def test_quick_combined_indicator_rates(quick_result):
    rel = quick_result.numbers["reliability"]
    alpha = rel["alpha"]
    m_in = quick_result.numbers["case"]["n_test"]
    combined = rel["indicators"]["combined"]
    # Conformal guarantee: false alarms ~ Binomial(m_in, <= alpha); 5 binomial standard errors
    # above alpha leave a false-failure rate below 1e-6.
    assert combined["false_alarm_rate"] <= alpha + 5 * math.sqrt(alpha * (1 - alpha) / m_in)
    # Detection clearly above the false-alarm level (5 standard errors at the shifted count).
    m_shift = quick_result.numbers["case"]["n_queries_shifted"]
    assert combined["detection_rate"] >= alpha + 5 * math.sqrt(alpha * (1 - alpha) / m_shift)
    assert combined["auroc"] > 0.8


@pytest.mark.slow
def test_quick_sobol_agreement_on_the_dominant_input(quick_result):
    sobol = quick_result.numbers["sobol"]
    sim, sur = sobol["simulator"], sobol["surrogate"]
    total_sim, total_sur = np.asarray(sim["total"]), np.asarray(sur["total"])
    for j in range(total_sim.shape[1]):
        top = int(np.argmax(total_sim[:, j]))
        assert int(np.argmax(total_sur[:, j])) == top
        # 95% intervals give standard errors (half width / 1.96); the two estimates of the
        # dominant total index agree within 5 combined standard errors.
        se = [
            (np.asarray(s["total_ci"])[top, j, 1] - np.asarray(s["total_ci"])[top, j, 0]) / 3.92
            for s in (sim, sur)
        ]
        assert abs(total_sim[top, j] - total_sur[top, j]) <= 5 * math.hypot(*se)
    assert sobol["agreement"]["same_top_input"]


@pytest.mark.slow
def test_quick_bias_and_surrogate_quality(quick_result):
    bias = quick_result.numbers["bias"]
    lo, hi = bias["interval"]
    assert lo <= bias["predicted_bias"] <= hi and bias["level"] == QUICK.bias.bias_credible
    assert math.isclose(bias["true_bias"], bias["surrogate"] - bias["exact"], rel_tol=1e-9)
    assert bias["contains_true"] == (lo <= bias["true_bias"] <= hi)
    # A trained surrogate: test RMSE of the centre temperature well below its spread (~200 K).
    assert quick_result.numbers["surrogates"]["deep_ensemble"]["rmse"][0] < 40.0


def _without_wall_times(numbers):
    """The numbers less the hybrid stage's measured wall-clock times (not deterministic)."""
    numbers = dict(numbers)
    if isinstance(numbers.get("hybrid"), dict):
        timed = ("hybrid_seconds", "simulator_seconds", "speedup")
        numbers["hybrid"] = {k: v for k, v in numbers["hybrid"].items() if k not in timed}
    return numbers


@pytest.mark.slow
def test_same_key_gives_identical_numbers(quick_result, quick_data):
    again = run_audit(jax.random.key(1), quick_data, QUICK, progress=False)
    assert quick_result.hybrid.hybrid_seconds > 0  # the one part measured, not computed
    assert _without_wall_times(again.numbers) == _without_wall_times(quick_result.numbers)
    assert set(again.arrays) == set(quick_result.arrays)
    for name, array in quick_result.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], array, err_msg=name)


@pytest.mark.slow
def test_user_data_without_simulator():
    config = config_from_mapping(
        {
            "reliability": {"indicators": ("mahalanobis", "lens_fermat")},
            "surrogate": {"members": 2},
            "sensitivity": {"sobol_samples": 256, "gsa_samples": 128},
            "transport": {"permutations": 50},
            # the data's real law, declared (without it the Sobol' stage uses the empirical law)
            "inputs": {
                n: {"law": "Uniform", "low": -math.pi, "high": math.pi} for n in ("x1", "x2", "x3")
            },
        },
        QUICK,
    )
    data = _ishigami_data(jax.random.key(3))
    result = run_audit(jax.random.key(4), data, config, progress=False)
    check_audit_result(result)
    n = result.numbers
    assert n["sobol"]["simulator"] is None and n["sobol"]["agreement"] is None
    assert n["bias"] is None  # no simulator and no outputs at the queries
    law = n["sobol"]["law"]
    assert law["kind"] == "declared" and law["source"] == "config [inputs]"
    assert law["inputs"]["x1"] == f"Uniform(low={-math.pi:g}, high={math.pi:g})"
    assert n["sobol"]["total_available"] and n["sobol"]["empirical"] is None
    assert np.shape(n["sobol"]["surrogate"]["total"]) == (3, 1)
    # the declared law is the training law: about alpha = 0.1 of its 256 draws are flagged,
    # the 0.2 threshold is 5 binomial standard errors (0.019) above it
    validity = n["sobol"]["validity"]
    assert validity["num_draws"] == 256 and not validity["describes_extrapolation"]
    # x3 acts only through its interaction with x1: the surrogate finds S3 ~ 0 < T3.
    first, total = (
        np.asarray(n["sobol"]["surrogate"]["first"]),
        np.asarray(n["sobol"]["surrogate"]["total"]),
    )
    assert first[2, 0] < total[2, 0]
    assert n["reliability"]["indicators"]["combined"]["error_spearman"] is None
    # the user's queries are judged, not assumed shifted
    assert n["reliability"]["indicators"]["combined"]["detection_rate"] is None
    assert n["queries"]["count"] == 80 and n["queries"]["labelled"] is None
    shifted = n["transport"]["shift_tests"]["sinkhorn_shifted"]
    assert shifted["rejected"] and shifted["p_value"] <= 1.0 / config.transport.permutations + 1e-9


def _data(**changes):
    base = _ishigami_data(jax.random.key(0), n=60, m=10)
    return base._replace(**changes)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"x": np.zeros((60, 3, 1))}, "data.x and data.y"),
        ({"y": np.zeros((59, 1))}, "data.x and data.y"),
        ({"input_names": ("a", "b")}, "name every column"),
        ({"queries": np.zeros((10, 2))}, "data.queries must have shape"),
        ({"queries": np.full((10, 3), np.nan)}, "data.queries must be finite"),
        ({"queries_y": np.zeros((3, 1))}, "data.queries_y"),
        ({"queries": None, "queries_y": np.zeros((10, 1))}, "without data.queries"),
        ({"box": {"x1": (0.0, 1.0)}}, "data.box lacks"),
        ({"queries_shifted": 1}, "queries_shifted must be a bool"),
    ],
)
def test_bad_data(changes, match):
    with pytest.raises(ValueError, match=match):
        run_audit(jax.random.key(0), _data(**changes), QUICK, progress=False)


def test_bad_data_values_and_config():
    x = _data().x.copy()
    x[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"data\.x must be finite"):
        run_audit(jax.random.key(0), _data(x=x), QUICK, progress=False)
    with pytest.raises(ValueError, match="AuditConfig"):
        run_audit(jax.random.key(0), _data(), {"seed": 0}, progress=False)
    with pytest.raises(ValueError, match="AuditData"):
        run_audit(jax.random.key(0), (1, 2), QUICK, progress=False)
    with pytest.raises(ValueError, match="too few"):
        run_audit(
            jax.random.key(0), _data(x=_data().x[:20], y=_data().y[:20]), QUICK, progress=False
        )


def test_format_summary_of_a_minimal_result():
    from tests.report.test_audit_figures import minimal_result

    result = minimal_result("toy", {"split": 0.5, "surrogates": 1.5})
    text = format_summary(result)
    assert "Stage timings" in text and text.splitlines()[-1].split() == ["total", "2"]
    with pytest.raises(ValueError, match="AuditResult"):
        format_summary(result.numbers)
