"""Figures of an audit report from a synthetic result that follows the contract."""

import numpy as np
import pytest

from edtjax.audit import AuditResult
from edtjax.audit.records import CaseInfo, Skipped, SurrogateInfo
from edtjax.report import audit_figures

INPUTS = ["conductivity", "porosity", "source"]
OUTPUTS = ["T_max", "c_mean"]
METHODS = ["deep_ensemble", "bnn"]
INDICATORS = ["lens_depth", "mk_depth", "spread", "combined"]


def _indices(rng, d, o):
    first = rng.uniform(0.05, 0.6, size=(d, o))
    total = first + rng.uniform(0.0, 0.1, size=(d, o))
    half = rng.uniform(0.01, 0.05, size=(d, o, 1))
    return {
        "first": first.tolist(),
        "first_ci": np.concatenate([first[..., None] - half, first[..., None] + half], -1).tolist(),
        "total": total.tolist(),
        "total_ci": np.concatenate([total[..., None] - half, total[..., None] + half], -1).tolist(),
        "num_samples": 1024,
    }


def _queries(rng, x, d, o):
    """The per-query part: 10 labelled queries, the last 6 judged outside."""
    m = x.shape[0]
    names = [*INDICATORS]
    outside = np.arange(m) >= 4
    p = {n: np.where(outside, 0.01, 0.5) + 0.005 * np.arange(m) for n in names}
    mean = rng.normal(size=(m, o))
    y = mean + np.where(outside[:, None], 2.0, 0.1)
    arrays = {
        "inputs/queries": x,
        "queries/mean": mean,
        "queries/lower": mean - 1.0,
        "queries/upper": mean + 1.0,
        "queries/outside": outside,
        "queries/pushed_out_by": np.where(outside, 0, -1),
        "queries/attribution_indicator": np.where(outside, 0, -1),
        "queries/attribution_share": np.where(outside, 0.8, 0.0),
        "queries/y": y,
        "queries/abs_error": np.abs(y - mean),
        "queries/in_interval": np.abs(y - mean) <= 1.0,
        "queries/large_error": outside.copy(),
    }
    for n in names:
        arrays[f"queries/score/{n}"] = -np.log(p[n])
        arrays[f"queries/p_value/{n}"] = p[n]
    order = np.argsort(p["combined"], kind="stable")[:5]
    group = {
        "inside": {"count": 4, "mae": [0.1] * o, "coverage": [1.0] * o, "n_large_errors": 0},
        "outside": {"count": 6, "mae": [2.0] * o, "coverage": [0.0] * o, "n_large_errors": 6},
    }
    numbers = {
        "count": m,
        "alpha": 0.1,
        "verdict_indicator": "combined",
        "n_inside": 4,
        "n_outside": 6,
        "shifted_by_construction": True,
        "interval_level": 0.9,
        "indicators": names,
        "attribution": {
            "indicators": ["lens_depth"],
            "not_differentiable": names[1:],
            "method": "largest |d score / d input|",
        },
        "extreme": [
            {
                "query": int(q),
                "p_combined": float(p["combined"][q]),
                "verdict": "outside" if outside[q] else "inside",
                "pushed_out_by": INPUTS[0] if outside[q] else None,
                "inputs": dict(zip(INPUTS, x[q].tolist(), strict=True)),
                "mean": mean[q].tolist(),
                "interval": [[a - 1.0, a + 1.0] for a in mean[q].tolist()],
            }
            for q in order
        ],
        "labelled": {
            "large_error_quantile": 0.9,
            "large_error_threshold": 1.5,
            "large_error_definition": "mean absolute error above 1.5 <sd>",
            **group,
            "n_large_errors": 6,
            "large_errors_caught": 1.0,
            "flagged_with_large_error": 1.0,
            "error_spearman": 0.9,
        },
    }
    return numbers, arrays


def _first_order(first, half=0.05, n=500):
    first = np.asarray(first, np.float64)
    ci = np.stack([first - half, first + half], -1)
    return {"first": first.tolist(), "first_ci": ci.tolist(), "num_samples": n, "method": "rank"}


TOTAL_NOTE = "total indices need declared input laws (an [inputs] table in the config)"


def empirical_sobol(surrogate_first, data_first, *, same_ranking=True):
    """``numbers["sobol"]`` on the empirical law (no declared laws): first order only."""
    data, sur = _first_order(data_first), _first_order(surrogate_first)
    diff = float(np.max(np.abs(np.asarray(data["first"]) - np.asarray(sur["first"]))))
    agreement = {"max_abs_diff_first": diff, "same_ranking": same_ranking}
    agreement |= {"ranking_conflicts": [], "same_top_input": same_ranking}
    return {
        "law": {
            "kind": "empirical",
            "source": "the labelled runs",
            "description": "empirical (120 runs)",
            "inputs": None,
            "num_runs": 120,
        },
        "simulator": None,
        "surrogate": None,
        "surrogate_note": None,
        "agreement": None,
        "empirical": {
            "data": data,
            "surrogate": sur,
            "agreement": agreement,
            "num_runs": 120,
            "method": "rank-based first-order estimator",
        },
        "total_available": False,
        "total_note": TOTAL_NOTE,
        "validity": {"skipped": "the indices are taken on the labelled runs' own law"},
        "ranking_index": "first",
        "ranking_inputs": list(INPUTS),
    }


def declared_validity(share, *, threshold=0.2, n=1000, restricted=True):
    """``numbers["sobol"]["validity"]`` of declared laws with ``share`` of draws outside."""
    n_out = round(share * n)
    v = {
        "indicator": "combined",
        "alpha": 0.1,
        "num_draws": n,
        "n_outside": n_out,
        "share_outside": n_out / n,
        "threshold": threshold,
        "describes_extrapolation": n_out / n > threshold,
        "statement": f"{n_out / n:.0%} of {n} draws from the declared input laws lie outside",
    }
    d, o = len(INPUTS), len(OUTPUTS)
    v["restricted"] = (
        {
            "num_draws": n - n_out,
            "surrogate": _first_order(np.full((d, o), 0.3), n=n - n_out),
            "simulator": None,
            "note": "first-order indices restricted to the validity domain",
        }
        if restricted
        else {"skipped": f"only 12 of {n} draws are inside the validity domain"}
    )
    return v


def synthetic_result(*, with_optional=True, seed=0):
    """A small AuditResult with every part of the contract (or the optional parts None)."""
    rng = np.random.default_rng(seed)
    d, o = len(INPUTS), len(OUTPUTS)
    train = rng.uniform(0.0, 1.0, size=(60, d))
    queries_in = rng.uniform(0.0, 1.0, size=(12, d))
    queries_shifted = rng.uniform(0.0, 1.0, size=(10, d)) + np.array([0.8, 0.3, 0.0])
    numbers = {
        "case": {
            "name": "thermodiffusion <test> & co",
            "input_names": INPUTS,
            "output_names": OUTPUTS,
            "n_train": 60,
            "n_calibration": 20,
            "n_test": 40,
            "n_queries_in": 12,
            "n_queries": 10,
            "n_queries_shifted": 10,
            "queries_shifted_by_construction": True,
            "seed": 0,
            "config": {"quick": True, "methods": METHODS, "note": "<script>alert(1)</script>"},
            "edtjax_version": "0.1.0",
            "has_simulator": True,
            "surrogate": {"source": "trained", "name": "deep ensemble", "statement": "trained"},
        },
        "surrogates": {
            m: {
                "rmse": rng.uniform(0.01, 0.1, size=o).tolist(),
                "nll": float(rng.normal()),
                "crps": float(rng.uniform(0.05, 0.2)),
                "coverage_90": cov,
                "width_90": float(rng.uniform(0.5, 1.0)),
                "calibration_error": float(rng.uniform(0.0, 0.1)),
                "conformal_coverage_90": 0.9,
                "conformal_width_90": float(rng.uniform(0.5, 1.0)),
            }
            for m, cov in zip(METHODS, (0.8, 0.9), strict=True)
        },
        "sobol": {
            "law": {
                "kind": "declared",
                "source": "the data's input box (independent uniforms)",
                "description": "declared by the data's input box (independent uniforms): "
                "conductivity ~ Uniform(low=1, high=3); porosity ~ Uniform(low=0, high=1); "
                "source ~ Uniform(low=0, high=5)",
                "inputs": {
                    "conductivity": "Uniform(low=1, high=3)",
                    "porosity": "Uniform(low=0, high=1)",
                    "source": "Uniform(low=0, high=5)",
                },
                "num_runs": None,
            },
            "total_available": True,
            "total_note": None,
            "empirical": None,
            "validity": declared_validity(0.08),
            "simulator": _indices(rng, d, o) if with_optional else None,
            "surrogate": _indices(rng, d, o),
            "surrogate_note": None,
            "agreement": (
                {
                    "max_abs_diff_first": 0.04,
                    "max_abs_diff_total": 0.06,
                    "same_ranking": True,
                    "ranking_conflicts": [],
                    "same_top_input": True,
                }
                if with_optional
                else None
            ),
            "ranking_index": "total",
            "ranking_inputs": list(INPUTS),
        },
        "parameter_gsa": {
            "groups": ["Dense_0", "Dense_1", "Dense_2"],
            "first": rng.uniform(0.0, 0.5, size=(3, o)).tolist(),
            "total": rng.uniform(0.5, 0.9, size=(3, o)).tolist(),
            "num_samples": 256,
            "perturbation": "multiplicative, scale 0.1",
            "points": 64,
        },
        "transport": {
            "shift_tests": {
                "sinkhorn": {
                    "statistic": 4.0,
                    "p_value": 0.01,
                    "rejected": True,
                    "compared": "train vs queries_shifted",
                },
                "sinkhorn_in_domain": {
                    "statistic": 0.5,
                    "p_value": 0.6,
                    "rejected": False,
                    "compared": "train vs queries_in",
                },
            },
            "contour_inputs": ["conductivity", "porosity"],
            "contour_levels": [0.25, 0.5, 0.9],
            "mk_depth": {"in_domain_mean": 0.4, "shifted_mean": 0.1},
        },
        "reliability": {
            "alpha": 0.1,
            "indicators": {
                n: {
                    "false_alarm_rate": 0.08,
                    "detection_rate": 0.9,
                    "auroc": 0.95,
                    "error_spearman": 0.5,
                    "threshold": 1.0,
                }
                for n in INDICATORS
            },
            "how_combined": "fisher",
            "evaluated_on": "the in-domain test split and the queries, shifted by construction",
        },
        "depth_maps": [
            {
                "key": "depth_map/0",
                "inputs": ["conductivity", "porosity"],
                "indicator": "combined",
                "threshold": 1.0,
                "fixed": {"source": 0.5},
            },
            {
                "key": "depth_map/1",
                "inputs": ["porosity", "source"],
                "indicator": "lens_depth",
                "threshold": 1.0,
                "fixed": {"conductivity": 0.5},
            },
        ],
        "bias": (
            {
                "quantity": "mean T_max",
                "description": "Expected peak temperature <K>.",
                "exact": 1.0,
                "surrogate": 1.02,
                "true_bias": 0.02,
                "predicted_bias": 0.018,
                "interval": [0.01, 0.03],
                "level": 0.9,
                "contains_true": True,
                "posterior_spread": {"mean": 0.019, "interval": [0.012, 0.025]},
            }
            if with_optional
            else None
        ),
        "hybrid": (
            {
                "alpha": 0.1,
                "n_queries": 10,
                "n_fallback": 7,
                "fallback_share": 0.7,
                "fallback_share_in_domain": 0.08,
                "hybrid_seconds": 0.4,
                "simulator_seconds": 1.2,
                "speedup": 3.0,
                "mean_abs_error": [0.01, 0.02],
                "max_abs_error": [0.05, 0.06],
                "surrogate_mean_abs_error": [0.03, 0.05],
                "description": "the queries in the loop <guarded>",
            }
            if with_optional
            else None
        ),
    }
    levels = np.linspace(0.0, 1.0, 11)
    arrays = {
        "calibration/expected": levels,
        "coverage/nominal": np.linspace(0.1, 0.9, 9),
        "inputs/train": train,
        "inputs/queries_in": queries_in,
    }
    numbers["queries"], more = _queries(rng, queries_shifted, d, o)
    arrays.update(more)
    for m, p in zip(METHODS, (1.4, 1.0), strict=True):
        arrays[f"calibration/{m}"] = levels**p
        arrays[f"coverage/{m}"] = np.linspace(0.1, 0.9, 9) ** p
        arrays[f"coverage/{m}/conformal"] = np.linspace(0.12, 0.91, 9)
    for k in range(2):
        gx, gy = np.linspace(-0.2, 2.0, 24), np.linspace(-0.2, 1.5, 20)
        xx, yy = np.meshgrid(gx, gy)
        arrays[f"depth_map/{k}/grid_x"] = gx
        arrays[f"depth_map/{k}/grid_y"] = gy
        arrays[f"depth_map/{k}/score"] = np.hypot(xx - 0.5, yy - 0.5) / 0.6
    angles = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    for k, tau in enumerate((0.25, 0.5, 0.9)):
        r = 0.5 * tau
        arrays[f"contour/{k}"] = 0.5 + r * np.stack([np.cos(angles), np.sin(angles)], -1)
    for t in ("sinkhorn", "sinkhorn_in_domain"):
        arrays[f"shift/{t}/null"] = rng.gamma(2.0, 0.5, size=99)
    for n in INDICATORS:
        arrays[f"reliability/{n}/scores_in"] = rng.uniform(0.0, 1.1, size=12)
        arrays[f"reliability/{n}/scores_shifted"] = rng.uniform(0.8, 2.5, size=10)
    timings = {"simulate": 1.5, "train": 20.0, "uq": 0.7, "sobol": 6.2, "report": 2.0}
    return AuditResult.from_json(numbers, arrays, timings)


def minimal_result(name, timings):
    """A result whose stages all did not run."""
    case = CaseInfo(
        name, ["a", "b"], ["y"], 8, 4, 4, 4, 0, 0, False, 0, {}, "0.1.0", False,
        SurrogateInfo("trained", "deep ensemble", "trained by the audit"),
    )  # fmt: skip
    stages = ("surrogates", "sobol", "parameter_gsa", "transport", "reliability")
    stages += ("depth_maps", "queries", "bias")
    return AuditResult(case=case, **dict.fromkeys(stages), arrays={}, timings=timings)


def edit_numbers(result, edit):
    """``result`` with ``edit(numbers)`` applied to its JSON numbers, read back."""
    numbers = result.numbers
    edit(numbers)
    return AuditResult.from_json(numbers, result.arrays, result.timings)


EXPECTED_FILES = [
    "calibration.png",
    "coverage.png",
    "sobol_indices.png",
    "parameter_gsa.png",
    "quantile_contours.png",
    "shift_tests.png",
    "indicator_scores.png",
    "depth_map_0.png",
    "depth_map_1.png",
    "stage_timings.png",
]


def test_every_figure_is_drawn_in_section_order():
    figures = audit_figures(synthetic_result())
    assert [f.file_name for f in figures] == EXPECTED_FILES
    sobol = next(f for f in figures if f.file_name == "sobol_indices.png").figure
    assert len(sobol.axes) == 2 * len(OUTPUTS)
    # 3 inputs x (simulator, surrogate) bars per panel
    assert len(sobol.axes[0].patches) == 6
    for f in figures:
        assert f.caption and f.title


def test_optional_parts_none_give_fewer_figures():
    figures = audit_figures(synthetic_result(with_optional=False))
    names = [f.file_name for f in figures]
    assert names == EXPECTED_FILES  # bias has no figure; Sobol shows the surrogate only
    sobol = next(f for f in figures if f.file_name == "sobol_indices.png").figure
    assert len(sobol.axes[0].patches) == 3


def test_skipped_section_gives_no_figure():
    r = synthetic_result()._replace(transport=Skipped("no queries"))
    names = [f.file_name for f in audit_figures(r)]
    assert "shift_tests.png" not in names and "quantile_contours.png" not in names


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r.arrays.pop("calibration/bnn") is not None and r, "calibration/bnn"),
        (lambda r: r.arrays.update({"depth_map/1/score": np.ones((3, 3))}) or r, "score"),
        (
            lambda r: edit_numbers(r, lambda n: n["depth_maps"][0].update(inputs=["x", "y"])),
            "inputs",
        ),
        (lambda r: edit_numbers(r, lambda n: n["case"].pop("input_names")), "input_names"),
        (lambda r: edit_numbers(r, lambda n: n.pop("bias")), "lacks the keys"),
    ],
)
def test_contract_violations_raise(edit, match):
    with pytest.raises(ValueError, match=match):
        audit_figures(edit(synthetic_result()))


def test_empirical_law_draws_first_order_bars_of_data_and_surrogate():
    d, o = len(INPUTS), len(OUTPUTS)
    sobol = empirical_sobol(np.full((d, o), 0.3), np.full((d, o), 0.25))
    r = edit_numbers(synthetic_result(), lambda n: n.update(sobol=sobol))
    figures = audit_figures(r)
    sobol = next(f for f in figures if f.file_name == "sobol_indices.png")
    assert len(sobol.figure.axes) == o  # first-order panels only
    assert len(sobol.figure.axes[0].patches) == 2 * d  # labelled outputs and surrogate
    assert "first-order" in sobol.title.lower() and "declared input laws" in sobol.caption
    labels = sobol.figure.legends[0].get_texts()
    assert [t.get_text() for t in labels] == ["labelled outputs", "surrogate"]
