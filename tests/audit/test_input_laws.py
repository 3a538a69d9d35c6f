"""Input laws of the audit's Sobol' stage: declared laws (numpyro, truncated) against scipy and
closed-form indices, the empirical law's rank-based indices, and the share of the declared-law
draws outside the validity domain."""

import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from edtjax.audit import AuditData, audit_preset
from edtjax.audit._laws import declared_laws
from edtjax.audit._sensitivity import LawSample, simulator_sobol, sobol_stage, sobol_validity
from edtjax.audit._surrogates import Surrogates, split_data
from edtjax.audit.config import config_from_mapping
from edtjax.audit.input_laws import parse_input_laws
from edtjax.audit.sections import BiasConfig
from edtjax.sensitivity import uniform_sample
from edtjax.surrogates import Predictive

NAMES = ("x1", "x2", "x3")
A = np.array([1.0, 2.0, 0.5])
QUICK = audit_preset("quick")


def _trunc(law, low=-np.inf, high=np.inf):
    a, b = law.cdf(low), law.cdf(high)
    return lambda u: law.ppf(a + u * (b - a))


LAWS = {
    "gumbel_truncated": (
        {"law": "Gumbel", "loc": 1013, "scale": 558, "low": 500, "high": 3000},
        _trunc(stats.gumbel_r(1013, 558), 500, 3000),
    ),
    "normal_truncated_below": (
        {"law": "Normal", "loc": 30, "scale": 8, "low": 15},
        _trunc(stats.norm(30, 8), 15),
    ),
    "normal": ({"law": "Normal", "loc": -1, "scale": 3}, stats.norm(-1, 3).ppf),
    "uniform": ({"law": "Uniform", "low": 49, "high": 51}, stats.uniform(49, 2).ppf),
    "lognormal_truncated_above": (
        {"law": "LogNormal", "loc": 0.5, "scale": 0.4, "high": 3},
        _trunc(stats.lognorm(0.4, scale=math.exp(0.5)), 0, 3),
    ),
    "beta": ({"law": "Beta", "concentration1": 2, "concentration0": 5}, stats.beta(2, 5).ppf),
    "gamma_truncated_below": (
        {"law": "Gamma", "concentration": 3, "rate": 2, "low": 0.5},
        _trunc(stats.gamma(3, scale=0.5), 0.5),
    ),
    "gamma_small_shape": (
        {"law": "Gamma", "concentration": 0.5, "rate": 1},
        stats.gamma(0.5).ppf,
    ),
    "exponential_truncated": (
        {"law": "Exponential", "rate": 0.7, "low": 1, "high": 4},
        _trunc(stats.expon(scale=1 / 0.7), 1, 4),
    ),
    "exponential": ({"law": "Exponential", "rate": 0.7}, stats.expon(scale=1 / 0.7).ppf),
}


def _data(names, simulator=None, n=3, box=None):
    x = np.zeros((n, len(names)))
    return AuditData("t", x, np.zeros((n, 1)), None, None, names, ("y",), simulator, box)


def test_declared_laws_match_scipy_quantiles():
    # float32 inverse CDFs against scipy's float64 ones, away from the extreme tails where a
    # float32 CDF near 1 has no resolution left: relative error below 1e-4.
    names = tuple(LAWS)
    cfg = dataclasses.replace(QUICK, inputs={k: law for k, (law, _) in LAWS.items()})
    laws = declared_laws(_data(names), cfg.inputs)
    assert laws.names == names and laws.source == "config [inputs]"
    assert laws.descriptions[0] == "Gumbel(loc=1013, scale=558) truncated to [500, 3000]"
    assert laws.descriptions[1] == "Normal(loc=30, scale=8) truncated below 15"
    assert laws.descriptions[4] == "LogNormal(loc=0.5, scale=0.4) truncated above 3"
    u = np.array([1e-3, 0.02, 0.3, 0.5, 0.77, 0.98, 0.999])
    x = np.asarray(laws.icdf(np.tile(u[:, None], (1, len(names)))), np.float64)
    u32 = u.astype(np.float32).astype(np.float64)
    for i, (name, (_, ppf)) in enumerate(LAWS.items()):
        np.testing.assert_allclose(x[:, i], ppf(u32), rtol=1e-4, err_msg=name)
    # every law samples through its inverse CDF, inside its truncation
    draws = laws.laws[0].sample(jax.random.key(0), (1000,))
    assert float(draws.min()) >= 500.0 and float(draws.max()) <= 3000.0


def test_declared_laws_errors_name_the_input():
    cfg = dataclasses.replace(QUICK, inputs={"x1": {"law": "Normal", "loc": 0, "scale": 1}})
    with pytest.raises(ValueError, match=r"lacks laws for the inputs \['x2'\]"):
        declared_laws(_data(("x1", "x2")), cfg.inputs)
    with pytest.raises(ValueError, match=r"unknown inputs \['x1'\]"):
        declared_laws(_data(("a", "b")), cfg.inputs)
    far = {"law": "Gumbel", "loc": 0, "scale": 1, "low": 30, "high": 31}
    cfg = dataclasses.replace(QUICK, inputs={"x1": far, "x2": far})
    with pytest.raises(ValueError, match=r"'inputs\.x1' truncates Gumbel to \[30, 31\]"):
        declared_laws(_data(("x1", "x2")), cfg.inputs)


def test_box_declares_uniform_laws_and_nothing_means_empirical():
    laws = declared_laws(_data(("a", "b"), box={"b": (2.0, 4.0), "a": (0.0, 1.0)}), ())
    assert laws.descriptions == ("Uniform(low=0, high=1)", "Uniform(low=2, high=4)")
    assert "box" in laws.source
    assert declared_laws(_data(("a", "b")), ()) is None
    # declared laws win over the box
    cfg = dataclasses.replace(QUICK, inputs={"a": _U01, "b": _U01})
    assert declared_laws(_data(("a", "b"), box={"a": (5, 6), "b": (5, 6)}), cfg.inputs).source == (
        "config [inputs]"
    )


_U01 = {"law": "Uniform", "low": 0, "high": 1}


def _linear(x):
    return (np.asarray(x, np.float64) @ A)[:, None]


def _exact_surrogate(split):
    """The linear model itself as the 'trained' ensemble (standardised inputs and outputs)."""
    a = jnp.asarray(A, jnp.float32)
    x_mean = jnp.asarray(split.x_mean, jnp.float32)
    x_scale = jnp.asarray(split.x_scale, jnp.float32)

    def predict(z):
        m = (((z * x_scale + x_mean) @ a)[:, None] - split.y_mean[0]) / split.y_scale[0]
        return Predictive(mean=m, variance=jnp.ones_like(m), aleatoric=0.5 * jnp.ones_like(m))

    return Surrogates(None, None, {"deep_ensemble": predict})


def _case(key, x, *, simulator=True, config=QUICK):
    data = AuditData("linear", x, _linear(x), None, None, NAMES, ("y",), None, None)
    if simulator:
        data = data._replace(simulator=_linear)
    split = split_data(key, data, config.split)
    return data, split, _exact_surrogate(split)


def _within(estimate, interval, exact, confidence):
    """|estimate - exact| < 5 standard errors, the standard error read off the interval."""
    estimate, interval = np.asarray(estimate)[:, 0], np.asarray(interval)[:, 0]
    se = (interval[:, 1] - interval[:, 0]) / (2 * stats.norm.ppf(0.5 + confidence / 2))
    return np.all(np.abs(estimate - exact) < 5 * se), (estimate, exact, se)


# y = x @ a with independent x1 ~ Normal(1, 2) truncated below -3, x2 ~ Gumbel(0, 1),
# x3 ~ Uniform(0, 6): S_i = T_i = a_i^2 Var(x_i) / sum (no interactions), with Var Gumbel =
# pi^2 / 6 beta^2 and the truncated normal's variance from scipy.
LINEAR_LAWS = {
    "x1": {"law": "Normal", "loc": 1, "scale": 2, "low": -3},
    "x2": {"law": "Gumbel", "loc": 0, "scale": 1},
    "x3": {"law": "Uniform", "low": 0, "high": 6},
}
_VAR = A**2 * np.array([stats.truncnorm(-2.0, np.inf, 1, 2).var(), math.pi**2 / 6, 3.0])
LINEAR_EXACT = _VAR / _VAR.sum()


def test_declared_laws_give_the_simulator_indices_of_a_linear_model():
    cfg = config_from_mapping(
        {"inputs": LINEAR_LAWS, "sensitivity": {"sobol_samples": 2048}}, QUICK
    ).sensitivity
    x = np.asarray(jax.random.normal(jax.random.key(0), (300, 3)), np.float64)
    data = _case(jax.random.key(1), x)[0]
    laws = declared_laws(data, parse_input_laws(LINEAR_LAWS))
    s = simulator_sobol(jax.random.key(3), data, laws, cfg).to_json()
    for kind in ("first", "total"):
        ok, info = _within(s[kind], s[f"{kind}_ci"], LINEAR_EXACT, cfg.sobol_confidence)
        assert ok, (kind, info)
    assert simulator_sobol(jax.random.key(3), data, None, cfg) is None


@pytest.mark.slow
def test_declared_laws_give_the_linear_model_indices_through_the_stage():
    # The whole stage: the simulator's (NumPy black box) and the surrogate's (JAX) indices,
    # within 5 standard errors of the closed form.
    exact = LINEAR_EXACT
    cfg = config_from_mapping(
        {"inputs": LINEAR_LAWS, "sensitivity": {"sobol_samples": 2048}}, QUICK
    )
    x = np.asarray(jax.random.normal(jax.random.key(0), (300, 3)), np.float64)
    data, split, sur = _case(jax.random.key(1), x, config=cfg)
    numbers, ranking, sample = sobol_stage(
        jax.random.key(2), jax.random.key(3), data, split, sur, cfg.sensitivity, cfg.inputs
    )
    numbers = numbers.to_json()
    assert numbers["law"]["kind"] == "declared" and numbers["total_available"]
    assert numbers["law"]["inputs"]["x2"] == "Gumbel(loc=0, scale=1)"
    assert numbers["law"]["inputs"]["x1"] == "Normal(loc=1, scale=2) truncated below -3"
    assert numbers["empirical"] is None and numbers["validity"] is None
    for who in ("simulator", "surrogate"):
        for kind in ("first", "total"):
            ok, info = _within(
                numbers[who][kind],
                numbers[who][f"{kind}_ci"],
                exact,
                cfg.sensitivity.sobol_confidence,
            )
            assert ok, (who, kind, info)
    assert numbers["agreement"]["same_ranking"]
    assert numbers["ranking_inputs"] == ["x2", "x1", "x3"]
    chex.assert_shape(ranking, (3,))
    # the law sample kept for the validity check: i.i.d. draws of the laws, simulated
    chex.assert_shape(sample.x, (1024, 3))
    chex.assert_shape(sample.simulator_y, (1024, 1))
    assert stats.kstest(sample.x[:, 1], stats.gumbel_r(0, 1).cdf).pvalue > 1e-4


def test_empirical_law_gives_rank_based_first_order_indices_and_no_totals():
    # No declared laws and no box: first-order indices on the labelled runs' own law. With
    # x ~ N(0, I), S = a^2 / sum a^2; within 5 batch-means standard errors.
    x = np.asarray(jax.random.normal(jax.random.key(5), (2000, 3)), np.float64)
    data, split, sur = _case(jax.random.key(6), x, simulator=False)
    numbers, _, sample = sobol_stage(
        jax.random.key(7), jax.random.key(8), data, split, sur, QUICK.sensitivity, QUICK.inputs
    )
    numbers = numbers.to_json()
    exact = A**2 / np.sum(A**2)
    assert sample is None
    assert numbers["law"] == {
        "kind": "empirical",
        "source": "the labelled runs",
        "description": "empirical (2000 runs)",
        "inputs": None,
        "num_runs": 2000,
    }
    assert numbers["simulator"] is None and numbers["surrogate"] is None
    assert (
        not numbers["total_available"] and "total indices need declared" in (numbers["total_note"])
    )
    assert "skipped" in numbers["validity"]
    emp = numbers["empirical"]
    for who in ("data", "surrogate"):
        ok, info = _within(
            emp[who]["first"], emp[who]["first_ci"], exact, QUICK.sensitivity.sobol_confidence
        )
        assert ok, (who, info)
        assert emp[who]["num_samples"] == 2000
    assert emp["agreement"]["same_ranking"] and "max_abs_diff_total" not in emp["agreement"]
    assert numbers["ranking_index"] == "first"
    assert numbers["ranking_inputs"] == ["x2", "x1", "x3"]


def _half_outside_case():
    # Training runs uniform on [0, 1]^3; declared law of x3 uniform on [0, 2]: half of the
    # declared draws lie beyond the training domain.
    x = np.asarray(jax.random.uniform(jax.random.key(9), (2000, 3)), np.float64)
    laws = {"x1": _U01, "x2": _U01, "x3": {"law": "Uniform", "low": 0, "high": 2}}
    cfg = config_from_mapping(
        {
            "inputs": laws,
            "sensitivity": {"sobol_samples": 1024},
            "reliability": {"indicators": ("mahalanobis",)},
            "maps": {"depth_map_indicators": ()},
        },
        QUICK,
    )
    data, split, sur = _case(jax.random.key(10), x, config=cfg)
    # the stage's law sample (checked in the declared-law test): i.i.d. draws, simulated
    draws = np.asarray(
        declared_laws(data, cfg.inputs).icdf(uniform_sample(jax.random.key(11), 1024, 3))
    )
    return cfg, split, sur, LawSample(draws, _linear(draws))


def test_validity_share_with_half_of_the_design_outside():
    cfg, split, sur, sample = _half_outside_case()

    def outside(z):  # the exact domain: x3 <= 1
        return split.to_physical_inputs(z)[:, 2] > 1.0

    v = sobol_validity(
        jax.random.key(13), sample, split, sur, cfg.sensitivity, cfg.reliability, outside=outside
    ).to_json()
    n = v["num_draws"]
    assert n == 1024 and v["indicator"] == "combined" and v["threshold"] == 0.2
    # Binomial(1024, 1/2): 5 standard errors = 0.078
    assert abs(v["share_outside"] - 0.5) < 5 * math.sqrt(0.25 / n)
    assert v["n_outside"] == round(v["share_outside"] * n)
    assert v["describes_extrapolation"] and "extrapolates" in v["statement"]
    # restricted to x3 in [0, 1]: all three inputs U(0, 1), S = a^2 / sum a^2
    r = v["restricted"]
    assert r["num_draws"] == n - v["n_outside"]
    exact = A**2 / np.sum(A**2)
    for who in ("surrogate", "simulator"):
        ok, info = _within(
            r[who]["first"], r[who]["first_ci"], exact, cfg.sensitivity.sobol_confidence
        )
        assert ok, (who, info)


@pytest.mark.slow
def test_validity_share_from_the_fitted_combined_indicator():
    # The indicator the audit fits (here Mahalanobis alone, combined) flags many of the draws
    # with x3 in (1, 2], and about alpha of draws from the training law itself.
    cfg, split, sur, sample = _half_outside_case()
    sections = cfg.sensitivity, cfg.reliability
    v = sobol_validity(jax.random.key(14), sample, split, sur, *sections).to_json()
    assert (
        v["share_outside"] > cfg.sensitivity.sobol_extrapolation_share
        and v["describes_extrapolation"]
    )
    inside = sample._replace(x=sample.x * np.array([1.0, 1.0, 0.5]), simulator_y=None)
    w = sobol_validity(jax.random.key(14), inside, split, sur, *sections).to_json()
    # false alarms at alpha = 0.1 with a threshold from 200 calibration rows: sd ~ 0.025
    assert (
        w["share_outside"] < cfg.sensitivity.sobol_extrapolation_share
        and not w["describes_extrapolation"]
    )
    assert w["restricted"]["simulator"] is None


def test_validity_without_a_sample_or_with_few_accepted_draws():
    cfg, split, sur, sample = _half_outside_case()
    sections = cfg.sensitivity, cfg.reliability
    assert sobol_validity(jax.random.key(0), None, split, sur, *sections) is None
    v = sobol_validity(
        jax.random.key(0),
        sample,
        split,
        sur,
        *sections,
        outside=lambda z: np.ones(z.shape[0], bool),
    ).to_json()
    assert v["share_outside"] == 1.0 and "skipped" in v["restricted"]


def test_comparison_plot_draws_first_order_indices_alone():
    # The empirical law's numbers (first order, an interval or none) draw one panel per output.
    from edtjax.report.sensitivity_plots import plot_sobol_comparison

    first = np.array([[0.6, 0.1], [0.3, 0.8]])
    data = {"first": first, "first_ci": np.stack([first - 0.05, first + 0.05], -1)}
    surrogate = {"first": first + 0.02, "first_ci": None, "total": None}
    fig = plot_sobol_comparison(surrogate, data, input_names=["a", "b"], output_names=["y", "z"])
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 4  # 2 inputs x (reference, surrogate)
    assert "first-order" in fig.axes[1].get_title()


def test_bias_sample_uses_the_sobol_laws_or_the_empirical_law():
    # The downstream bias sample follows the same laws as the Sobol' stage: declared, else the
    # box's uniforms, else the labelled inputs resampled (the empirical law).
    from edtjax.audit._bias import downstream_inputs

    x = np.arange(30.0).reshape(10, 3)
    data = AuditData("t", x, np.zeros((10, 1)), None, None, NAMES, ("y",), _linear, None)
    cfg = BiasConfig(bias_samples=4000)
    draws, law = downstream_inputs(jax.random.key(0), data, cfg, ())
    assert "empirical law" in law
    chex.assert_shape(draws, (4000, 3))
    rows = {tuple(r) for r in x}
    assert all(tuple(r) in rows for r in draws)  # every draw is a labelled input
    # each of the 10 rows with probability 1/10: counts within 5 binomial standard errors
    counts = np.array([np.sum(np.all(draws == r, axis=1)) for r in x])
    assert np.all(np.abs(counts - 400) < 5 * math.sqrt(4000 * 0.1 * 0.9))

    boxed = data._replace(box={"x1": (0.0, 1.0), "x2": (2.0, 4.0), "x3": (-1.0, 0.0)})
    draws, law = downstream_inputs(jax.random.key(0), boxed, cfg, ())
    assert "box" in law
    for i, (lo, hi) in enumerate(boxed.box.values()):  # uniform on the box: KS test
        assert stats.kstest(draws[:, i], stats.uniform(lo, hi - lo).cdf).pvalue > 1e-4

    declared = parse_input_laws(LINEAR_LAWS)  # wins over the box
    draws, law = downstream_inputs(jax.random.key(0), boxed, cfg, declared)
    assert "config [inputs]" in law
    assert stats.kstest(draws[:, 1], stats.gumbel_r(0, 1).cdf).pvalue > 1e-4
    assert draws[:, 0].min() >= -3.0
