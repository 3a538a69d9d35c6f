"""The sections of the audit configuration: one frozen dataclass per stage, one TOML table each.

Each section (:class:`CaseConfig`, :class:`SplitConfig`, :class:`SurrogateConfig`,
:class:`CalibrationConfig`, :class:`SensitivityConfig`, :class:`TransportConfig`,
:class:`ReliabilityConfig`, :class:`MapsConfig`, :class:`BiasConfig`) checks its fields on
construction against one rule per key, and a bad value raises ``ValueError`` naming the key
as ``section.key``. :class:`~edtjax.audit.AuditConfig` holds one of each.

Example:
    >>> SurrogateConfig(members=3).members, SECTIONS["surrogate"] is SurrogateConfig
    (3, True)
    >>> FIELD_TABLES["alpha"]
    'reliability'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

from edtjax.reliability import INDICATORS

__all__ = [
    "BiasConfig",
    "CalibrationConfig",
    "CaseConfig",
    "MapsConfig",
    "ReliabilityConfig",
    "SensitivityConfig",
    "SplitConfig",
    "SurrogateConfig",
    "TransportConfig",
]

INDICATOR_NAMES = tuple(INDICATORS)
"""Reliability indicators the audit can fit (the combined one is always added): every name of
:data:`edtjax.reliability.INDICATORS`.

``ensemble_spread`` reads the surrogate's epistemic variance (its whole predictive variance
when the surrogate does not split it); ``feature_mahalanobis`` is the Mahalanobis indicator on
the surrogate's learned features (the ensemble's first member's last hidden layer, or the
user surrogate's ``features``; Lee et al. 2018), with a little shrinkage.

``mahalanobis`` is the affine-invariant one: ``lens_fermat`` and ``monge_kantorovich`` miss
some extrapolation along directions in which the training inputs are thin (see
:func:`edtjax.reliability.lens_fermat_indicator`), so the default set keeps ``mahalanobis``
and its combination then flags such queries about as often as its best member does.
"""


@dataclasses.dataclass(frozen=True)
class Section:
    """Base of the configuration sections: each field is checked on construction against its
    rule in ``_RULES`` (keyed ``"<table>.<field>"``, the name every error message gives)."""

    table: ClassVar[str]

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check_field(f"{self.table}.{field.name}", getattr(self, field.name))


@dataclasses.dataclass(frozen=True)
class CaseConfig(Section):
    """``[case]``: the built-in thermodiffusion case (:func:`~edtjax.audit.thermodiffusion_case`;
    not read for the user's data).

    Attributes:
        n_design: size of the Sobol' design simulated (before dropping non-converged runs).
        n_queries: number of shifted "new context" queries.
        shift_inputs: inputs drawn outside the training box for the shifted queries.
        shift_distance: the shifted interval of each shifted input is
            ``(high, high + shift_distance * (high - low))`` (beyond the box's upper edge).
        solver_cells: radial cells of the pellet solver.
        solver_steps: time steps of the pellet solver.
    """

    table: ClassVar[str] = "case"
    n_design: int = 1024
    n_queries: int = 192
    shift_inputs: tuple[str, ...] = ("heat_source",)
    shift_distance: float = 0.4
    solver_cells: int = 16
    solver_steps: int = 60


@dataclasses.dataclass(frozen=True)
class SplitConfig(Section):
    """``[split]``: how the labelled rows are split (training, calibration, in-domain test).

    Attributes:
        train_fraction: fraction of the labelled rows used for training.
        calibration_fraction: fraction used for conformal calibration (the rest is the
            in-domain test set; the two fractions add up to less than 1).
    """

    table: ClassVar[str] = "split"
    train_fraction: float = 0.6
    calibration_fraction: float = 0.2

    def __post_init__(self):
        super().__post_init__()
        if self.train_fraction + self.calibration_fraction >= 1.0:
            raise ValueError(
                "config keys 'split.train_fraction' + 'split.calibration_fraction' must be < 1 "
                f"(the rest is the test set), got {self.train_fraction} + "
                f"{self.calibration_fraction}"
            )


@dataclasses.dataclass(frozen=True)
class SurrogateConfig(Section):
    """``[surrogate]``: the deep ensemble and the Bayesian last layer the audit trains.

    Attributes:
        hidden: widths of the hidden layers of the heteroscedastic MLP.
        activation: its activation function.
        members: deep-ensemble size.
        epochs: maximum training epochs (early stopping on a validation split).
        batch_size: minibatch size.
        learning_rate: Adam step size.
        patience: early-stopping patience in epochs.
        bayesian_method: ``"mbll"`` (multivariate Bayesian last layer, EM on the features of
            the first ensemble member) or ``"laplace"`` (last-layer Laplace on that member).
        mbll_iterations: EM iterations of the Bayesian last layer.
        laplace_prior_precision: prior precision of the last-layer Laplace approximation.
    """

    table: ClassVar[str] = "surrogate"
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    members: int = 5
    epochs: int = 600
    batch_size: int = 64
    learning_rate: float = 3e-3
    patience: int = 60
    bayesian_method: str = "mbll"
    mbll_iterations: int = 100
    laplace_prior_precision: float = 1.0


@dataclasses.dataclass(frozen=True)
class CalibrationConfig(Section):
    """``[calibration]``: the surrogates' calibration and coverage on the test split.

    Attributes:
        calibration_levels: number of levels of the PIT calibration curve.
        coverage_levels: nominal levels of the coverage curve (each in ``(0, 1)``).
    """

    table: ClassVar[str] = "calibration"
    calibration_levels: int = 19
    coverage_levels: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclasses.dataclass(frozen=True)
class SensitivityConfig(Section):
    """``[sensitivity]``: Sobol' indices of simulator and surrogate, and the sensitivity of
    the surrogate to its parameters.

    Attributes:
        sobol_samples: base sample size of the Sobol' indices (power of two).
        sobol_confidence: level of the Sobol' confidence intervals.
        sobol_extrapolation_share: above this share of draws from the declared laws flagged
            outside the validity domain (combined indicator at ``reliability.alpha``), the
            Sobol' stage says that the surrogate's indices describe extrapolation. Draws from
            the training law itself are flagged at a rate of about ``alpha``.
        gsa_samples: base sample size of the parameter sensitivity analysis.
        gsa_scale: relative (multiplicative) perturbation scale of the parameters.
        gsa_points: number of test inputs at which the parameter sensitivity is taken.
    """

    table: ClassVar[str] = "sensitivity"
    sobol_samples: int = 2048
    sobol_confidence: float = 0.95
    sobol_extrapolation_share: float = 0.2
    gsa_samples: int = 1024
    gsa_scale: float = 0.1
    gsa_points: int = 64


@dataclasses.dataclass(frozen=True)
class TransportConfig(Section):
    """``[transport]``: center-outward quantile contours and the shift tests (at the level
    ``reliability.alpha``).

    Attributes:
        permutations: permutations of each shift test.
        shift_test_size: at most this many training inputs enter the shift tests (a random
            subset, which keeps the tests' cost bounded).
        contour_levels: probability contents of the center-outward quantile contours.
        contour_points: points on each contour.
    """

    table: ClassVar[str] = "transport"
    permutations: int = 200
    shift_test_size: int = 300
    contour_levels: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    contour_points: int = 64


@dataclasses.dataclass(frozen=True)
class ReliabilityConfig(Section):
    """``[reliability]``: the reliability indicators and their conformal level.

    Attributes:
        alpha: target false-alarm rate of the reliability indicators (also the level of the
            shift tests, of the validity share of the Sobol' stage and of the hybrid stage's
            guard).
        indicators: reliability indicators to fit (names of
            :data:`edtjax.reliability.INDICATORS`); they are also combined. Keep
            ``mahalanobis`` (affine invariant) in the set: the lens and transport indicators
            under-detect extrapolation along thin directions of the inputs.
        combine_how: p-value combination of the combined indicator (``fisher``,
            ``bonferroni`` or ``min_p``).
        fermat_alpha: exponent of the sample Fermat distance.
        fermat_neighbors: neighbours of the Fermat kNN graph.
    """

    table: ClassVar[str] = "reliability"
    alpha: float = 0.1
    indicators: tuple[str, ...] = (
        "lens_fermat",
        "mahalanobis",
        "monge_kantorovich",
        "ensemble_spread",
    )
    combine_how: str = "fisher"
    fermat_alpha: float = 2.0
    fermat_neighbors: int = 10


@dataclasses.dataclass(frozen=True)
class MapsConfig(Section):
    """``[maps]``: the 2-D depth maps of the report.

    Attributes:
        depth_map_indicators: indicators drawn (names among ``reliability.indicators`` or
            ``combined``).
        grid_size: resolution ``G = H`` of each map.
    """

    table: ClassVar[str] = "maps"
    depth_map_indicators: tuple[str, ...] = ("lens_fermat", "monge_kantorovich")
    grid_size: int = 40


@dataclasses.dataclass(frozen=True)
class BiasConfig(Section):
    """``[bias]``: the bias the surrogate introduces into a downstream mean (with a simulator).

    Attributes:
        bias_samples: Monte Carlo inputs of the downstream quantity.
        bias_credible: credible level of the predicted bias interval.
    """

    table: ClassVar[str] = "bias"
    bias_samples: int = 1024
    bias_credible: float = 0.9


SECTIONS: dict[str, type[Section]] = {
    cls.table: cls
    for cls in (
        CaseConfig,
        SplitConfig,
        SurrogateConfig,
        CalibrationConfig,
        SensitivityConfig,
        TransportConfig,
        ReliabilityConfig,
        MapsConfig,
        BiasConfig,
    )
}
"""The configuration's sections by TOML table name, in the order of
:class:`~edtjax.audit.AuditConfig`."""

FIELD_TABLES: dict[str, str] = {
    field.name: table for table, cls in SECTIONS.items() for field in dataclasses.fields(cls)
}
"""The table of every section field (``{"members": "surrogate", ...}``): how a flat key of
an older configuration is placed in its section (``config.sectioned_config``) and what the
refusal of a flat key in a TOML file names."""


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _open_unit(v):
    return isinstance(v, float) and 0.0 < v < 1.0


def _power_of_two(v):
    return _positive_int(v) and v >= 2 and (v & (v - 1)) == 0


_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "seed": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2**63 - 2,
        "an int in [0, 2**63 - 2] (seed and seed + 1 key 64-bit PRNG streams)",
    ),
    "devices": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0"),
    "case.n_design": (lambda v: _positive_int(v) and v >= 64, "an int >= 64"),
    "case.n_queries": (lambda v: _positive_int(v) and v >= 10, "an int >= 10"),
    "case.shift_inputs": (
        lambda v: len(v) >= 1 and all(isinstance(s, str) for s in v) and len(set(v)) == len(v),
        "a non-empty list of distinct input names",
    ),
    "case.shift_distance": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "case.solver_cells": (lambda v: _positive_int(v) and v >= 4, "an int >= 4"),
    "case.solver_steps": (lambda v: _positive_int(v) and v >= 10, "an int >= 10"),
    "split.train_fraction": (_open_unit, "a float in (0, 1)"),
    "split.calibration_fraction": (_open_unit, "a float in (0, 1)"),
    "surrogate.hidden": (
        lambda v: len(v) >= 1 and all(_positive_int(h) for h in v),
        "widths >= 1",
    ),
    "surrogate.activation": (
        lambda v: v in ("tanh", "relu", "gelu", "silu", "softplus"),
        "one of tanh, relu, gelu, silu, softplus",
    ),
    "surrogate.members": (lambda v: _positive_int(v) and v >= 2, "an int >= 2"),
    "surrogate.epochs": (_positive_int, "an int >= 1"),
    "surrogate.batch_size": (_positive_int, "an int >= 1"),
    "surrogate.learning_rate": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "surrogate.patience": (_positive_int, "an int >= 1"),
    "surrogate.bayesian_method": (lambda v: v in ("mbll", "laplace"), "'mbll' or 'laplace'"),
    "surrogate.mbll_iterations": (_positive_int, "an int >= 1"),
    "surrogate.laplace_prior_precision": (
        lambda v: isinstance(v, float) and v > 0.0,
        "a float > 0",
    ),
    "calibration.calibration_levels": (lambda v: _positive_int(v) and v >= 2, "an int >= 2"),
    "calibration.coverage_levels": (
        lambda v: len(v) >= 1 and all(_open_unit(t) for t in v) and list(v) == sorted(set(v)),
        "increasing distinct floats in (0, 1)",
    ),
    "sensitivity.sobol_samples": (_power_of_two, "a power of two >= 2"),
    "sensitivity.sobol_confidence": (_open_unit, "a float in (0, 1)"),
    "sensitivity.sobol_extrapolation_share": (_open_unit, "a float in (0, 1)"),
    "sensitivity.gsa_samples": (lambda v: _positive_int(v) and v >= 2, "an int >= 2"),
    "sensitivity.gsa_scale": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "sensitivity.gsa_points": (_positive_int, "an int >= 1"),
    "transport.permutations": (lambda v: _positive_int(v) and v >= 19, "an int >= 19"),
    "transport.shift_test_size": (lambda v: _positive_int(v) and v >= 10, "an int >= 10"),
    "transport.contour_levels": (
        lambda v: len(v) >= 1 and all(isinstance(t, float) and 0.0 < t < 1.0 for t in v),
        "floats in (0, 1)",
    ),
    "transport.contour_points": (lambda v: _positive_int(v) and v >= 8, "an int >= 8"),
    "reliability.alpha": (
        lambda v: isinstance(v, float) and 0.0 < v < 0.5,
        "a float in (0, 0.5)",
    ),
    "reliability.indicators": (
        lambda v: len(v) >= 1 and set(v) <= set(INDICATOR_NAMES) and len(set(v)) == len(v),
        f"a non-empty list of distinct names among {list(INDICATOR_NAMES)}",
    ),
    "reliability.combine_how": (
        lambda v: v in ("fisher", "bonferroni", "min_p"),
        "'fisher', 'bonferroni' or 'min_p'",
    ),
    "reliability.fermat_alpha": (lambda v: isinstance(v, float) and v >= 1.0, "a float >= 1"),
    "reliability.fermat_neighbors": (_positive_int, "an int >= 1"),
    "maps.depth_map_indicators": (
        lambda v: len(set(v)) == len(v) and all(isinstance(s, str) for s in v),
        "a list of distinct indicator names",
    ),
    "maps.grid_size": (lambda v: _positive_int(v) and v >= 4, "an int >= 4"),
    "bias.bias_samples": (lambda v: _positive_int(v) and v >= 16, "an int >= 16"),
    "bias.bias_credible": (_open_unit, "a float in (0, 1)"),
}


def check_field(name: str, value: object) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` passes its rule in ``_RULES``."""
    rule, expectation = _RULES[name]
    try:
        ok = bool(rule(value))
    except TypeError:
        ok = False
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        raise ValueError(f"config key {name!r} must be {expectation}, got {value!r}")
