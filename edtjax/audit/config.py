"""Every choice of the audit workflow: :class:`AuditConfig`, its presets and TOML loading.

An :class:`AuditConfig` is a frozen dataclass of plain Python values (ints, floats, strings and
tuples of them), so a configuration is hashable, printable and round-trips through TOML and
JSON. Two presets exist: ``"default"`` (the full built-in audit, a few minutes on a 2-core CPU)
and ``"quick"`` (the same stages at small sizes, under a minute). :func:`load_config` reads a
TOML file whose top-level keys override a preset; unknown keys, wrong types and out-of-range
values raise ``ValueError`` naming the key and what was expected.

Example:
    >>> cfg = audit_preset("quick")
    >>> cfg.members, cfg.alpha
    (3, 0.1)
    >>> config_to_dict(cfg)["indicators"][:2]
    ['lens_fermat', 'mahalanobis']
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from edtjax._io import read_text

__all__ = ["AuditConfig", "audit_preset", "config_to_dict", "load_config"]

MAX_CONFIG_BYTES = 2**20
"""Largest configuration file read (1 MiB): a TOML config is a few hundred bytes."""

INDICATOR_NAMES = ("ensemble_spread", "lens_fermat", "mahalanobis", "monge_kantorovich")
"""Reliability indicators the audit can fit (the combined one is always added).

``mahalanobis`` is the affine-invariant one: ``lens_fermat`` and ``monge_kantorovich`` miss
some extrapolation along directions in which the training inputs are thin (see
:func:`edtjax.reliability.lens_fermat_indicator`), so the default set keeps ``mahalanobis``
and its combination then flags such queries about as often as its best member does.
"""


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """Configuration of one audit run (defaults: the ``"default"`` preset).

    Attributes:
        seed: seed of ``jax.random.key`` for the whole run (every stage splits from it).
        n_design: size of the Sobol' design simulated for the built-in case (before dropping
            non-converged runs).
        n_queries: number of shifted "new context" queries of the built-in case.
        shift_inputs: inputs drawn outside the training box for the shifted queries.
        shift_distance: the shifted interval of each shifted input is
            ``(high, high + shift_distance * (high - low))`` (beyond the box's upper edge).
        solver_cells: radial cells of the pellet solver (built-in case).
        solver_steps: time steps of the pellet solver (built-in case).
        train_fraction: fraction of the labelled rows used for training.
        calibration_fraction: fraction used for conformal calibration (the rest is the
            in-domain test set).
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
        calibration_levels: number of levels of the PIT calibration curve.
        coverage_levels: nominal levels of the coverage curve (each in ``(0, 1)``).
        sobol_samples: base sample size of the Sobol' indices (power of two).
        sobol_confidence: level of the Sobol' confidence intervals.
        gsa_samples: base sample size of the parameter sensitivity analysis.
        gsa_scale: relative (multiplicative) perturbation scale of the parameters.
        gsa_points: number of test inputs at which the parameter sensitivity is taken.
        permutations: permutations of each shift test.
        shift_test_size: at most this many training inputs enter the shift tests (a random
            subset, which keeps the tests' cost bounded).
        alpha: target false-alarm rate of the reliability indicators (also the shift tests'
            level).
        indicators: reliability indicators to fit (subset of ``ensemble_spread``,
            ``lens_fermat``, ``mahalanobis``, ``monge_kantorovich``); they are also combined.
            Keep ``mahalanobis`` (affine invariant) in the set: the lens and transport
            indicators under-detect extrapolation along thin directions of the inputs.
        combine_how: p-value combination of the combined indicator (``fisher``,
            ``bonferroni`` or ``min_p``).
        fermat_alpha: exponent of the sample Fermat distance.
        fermat_neighbors: neighbours of the Fermat kNN graph.
        depth_map_indicators: indicators drawn on the 2-D depth maps (names as in
            ``indicators`` or ``combined``).
        grid_size: resolution ``G = H`` of each depth map.
        contour_levels: probability contents of the center-outward quantile contours.
        contour_points: points on each contour.
        bias_samples: Monte Carlo inputs of the downstream quantity (built-in case).
        bias_credible: credible level of the predicted bias interval.
        devices: how many devices share the independent axes (ensemble members, Sobol'
            rows, indicator queries) through the ``devices=`` option of those functions: 0
            (the default) keeps the single-device path, ``k`` takes the first ``k`` of
            ``jax.devices()``. Every stage gives the single-device result up to rounding on
            the same inputs, but training amplifies rounding over its epochs, so the trained
            networks (and what is computed from them) differ as with another seed.
    """

    seed: int = 0
    n_design: int = 1024
    n_queries: int = 192
    shift_inputs: tuple[str, ...] = ("heat_source",)
    shift_distance: float = 0.4
    solver_cells: int = 16
    solver_steps: int = 60
    train_fraction: float = 0.6
    calibration_fraction: float = 0.2
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
    calibration_levels: int = 19
    coverage_levels: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
    sobol_samples: int = 2048
    sobol_confidence: float = 0.95
    gsa_samples: int = 1024
    gsa_scale: float = 0.1
    gsa_points: int = 64
    permutations: int = 200
    shift_test_size: int = 300
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
    depth_map_indicators: tuple[str, ...] = ("lens_fermat", "monge_kantorovich")
    grid_size: int = 40
    contour_levels: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    contour_points: int = 64
    bias_samples: int = 1024
    bias_credible: float = 0.9
    devices: int = 0

    def __post_init__(self):
        for name, value in dataclasses.asdict(self).items():
            _check_field(name, value)
        if self.train_fraction + self.calibration_fraction >= 1.0:
            raise ValueError(
                "train_fraction + calibration_fraction must be < 1 (the rest is the test set), "
                f"got {self.train_fraction} + {self.calibration_fraction}"
            )
        unknown = set(self.depth_map_indicators) - set(self.indicators) - {"combined"}
        if unknown:
            raise ValueError(
                "depth_map_indicators must be among indicators or 'combined', got "
                f"{sorted(unknown)}"
            )


_QUICK = dict(
    n_design=384,
    n_queries=96,
    solver_cells=8,
    solver_steps=30,
    hidden=(32, 32),
    members=3,
    epochs=150,
    batch_size=32,
    patience=30,
    mbll_iterations=50,
    sobol_samples=512,
    gsa_samples=256,
    gsa_points=32,
    permutations=100,
    shift_test_size=150,
    depth_map_indicators=("lens_fermat",),
    grid_size=24,
    contour_points=32,
    bias_samples=256,
)


def audit_preset(name: str) -> AuditConfig:
    """The preset configuration ``"default"`` or ``"quick"``.

    ``"quick"`` runs every stage of the built-in audit at small sizes (under a minute on an
    idle 2-core CPU, compilation included); ``"default"`` is the full audit (under five
    minutes there).

    Example:
        >>> audit_preset("default").members
        5
    """
    if name not in _PRESETS:
        raise ValueError(f"preset must be one of {sorted(_PRESETS)}, got {name!r}")
    return _PRESETS[name]


def config_to_dict(config: AuditConfig) -> dict[str, Any]:
    """The configuration as a JSON-serialisable dict (tuples become lists).

    Example:
        >>> config_to_dict(audit_preset("quick"))["hidden"]
        [32, 32]
    """
    if not isinstance(config, AuditConfig):
        raise ValueError(f"config must be an AuditConfig, got {type(config).__name__}")
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }


def load_config(path: str | os.PathLike, preset: str = "default") -> AuditConfig:
    """Read a TOML file of overrides over a preset.

    The file holds top-level ``key = value`` pairs named as the fields of
    :class:`AuditConfig` (arrays for tuple fields); an optional ``preset = "quick"`` entry
    picks the preset the overrides apply to (else ``preset``).

    Args:
        path: the TOML file.
        preset: preset name when the file does not name one.

    Returns:
        The :class:`AuditConfig`.

    Raises:
        ValueError: unreadable or malformed TOML, an unknown key, a value of the wrong type or
            out of range (the message names the key and the expectation).

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "audit.toml"
        >>> _ = p.write_text('preset = "quick"\\nmembers = 4\\n')
        >>> load_config(p).members
        4
    """
    try:
        text = read_text(path, max_bytes=MAX_CONFIG_BYTES)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"config file {os.fspath(path)!r} cannot be read: {err}") from err
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {os.fspath(path)!r} is not valid TOML: {err}") from err
    return config_from_mapping(table, preset)


def config_from_mapping(table: Mapping[str, Any], preset: str = "default") -> AuditConfig:
    """Apply a mapping of overrides (as read from TOML) to a preset; see :func:`load_config`."""
    table = dict(table)
    name = table.pop("preset", preset)
    if not isinstance(name, str):
        raise ValueError(f"config key 'preset' must be a string, got {name!r}")
    base = audit_preset(name)
    fields = {f.name: f for f in dataclasses.fields(AuditConfig)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ValueError(f"config has unknown keys {unknown}; expected among {sorted(fields)}")
    values = {}
    for key, value in table.items():
        default = getattr(base, key)
        values[key] = _coerce(key, value, default)
    return dataclasses.replace(base, **values)


def _coerce(key: str, value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise ValueError(f"config key {key!r} must be an array, got {value!r}")
        kind = type(default[0]) if default else str
        return tuple(_scalar(f"{key}[{i}]", v, kind) for i, v in enumerate(value))
    return _scalar(key, value, type(default))


def _scalar(key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ValueError(f"config key {key!r} must be of type {kind.__name__}, got {value!r}")
    return value


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _open_unit(v):
    return isinstance(v, float) and 0.0 < v < 1.0


def _power_of_two(v):
    return _positive_int(v) and v >= 2 and (v & (v - 1)) == 0


_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2**63 - 2,
        "an int in [0, 2**63 - 2] (seed and seed + 1 key 64-bit PRNG streams)",
    ),
    "n_design": (lambda v: _positive_int(v) and v >= 64, "an int >= 64"),
    "n_queries": (lambda v: _positive_int(v) and v >= 10, "an int >= 10"),
    "shift_inputs": (
        lambda v: len(v) >= 1 and all(isinstance(s, str) for s in v) and len(set(v)) == len(v),
        "a non-empty list of distinct input names",
    ),
    "shift_distance": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "solver_cells": (lambda v: _positive_int(v) and v >= 4, "an int >= 4"),
    "solver_steps": (lambda v: _positive_int(v) and v >= 10, "an int >= 10"),
    "train_fraction": (_open_unit, "a float in (0, 1)"),
    "calibration_fraction": (_open_unit, "a float in (0, 1)"),
    "hidden": (lambda v: len(v) >= 1 and all(_positive_int(h) for h in v), "widths >= 1"),
    "activation": (
        lambda v: v in ("tanh", "relu", "gelu", "silu", "softplus"),
        "one of tanh, relu, gelu, silu, softplus",
    ),
    "members": (lambda v: _positive_int(v) and v >= 2, "an int >= 2"),
    "epochs": (_positive_int, "an int >= 1"),
    "batch_size": (_positive_int, "an int >= 1"),
    "learning_rate": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "patience": (_positive_int, "an int >= 1"),
    "bayesian_method": (lambda v: v in ("mbll", "laplace"), "'mbll' or 'laplace'"),
    "mbll_iterations": (_positive_int, "an int >= 1"),
    "laplace_prior_precision": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "calibration_levels": (lambda v: _positive_int(v) and v >= 2, "an int >= 2"),
    "coverage_levels": (
        lambda v: len(v) >= 1 and all(_open_unit(t) for t in v) and list(v) == sorted(set(v)),
        "increasing distinct floats in (0, 1)",
    ),
    "sobol_samples": (_power_of_two, "a power of two >= 2"),
    "sobol_confidence": (_open_unit, "a float in (0, 1)"),
    "gsa_samples": (lambda v: _positive_int(v) and v >= 2, "an int >= 2"),
    "gsa_scale": (lambda v: isinstance(v, float) and v > 0.0, "a float > 0"),
    "gsa_points": (_positive_int, "an int >= 1"),
    "permutations": (lambda v: _positive_int(v) and v >= 19, "an int >= 19"),
    "shift_test_size": (lambda v: _positive_int(v) and v >= 10, "an int >= 10"),
    "alpha": (lambda v: isinstance(v, float) and 0.0 < v < 0.5, "a float in (0, 0.5)"),
    "indicators": (
        lambda v: len(v) >= 1 and set(v) <= set(INDICATOR_NAMES) and len(set(v)) == len(v),
        f"a non-empty list of distinct names among {list(INDICATOR_NAMES)}",
    ),
    "combine_how": (
        lambda v: v in ("fisher", "bonferroni", "min_p"),
        "'fisher', 'bonferroni' or 'min_p'",
    ),
    "fermat_alpha": (lambda v: isinstance(v, float) and v >= 1.0, "a float >= 1"),
    "fermat_neighbors": (_positive_int, "an int >= 1"),
    "depth_map_indicators": (
        lambda v: len(set(v)) == len(v) and all(isinstance(s, str) for s in v),
        "a list of distinct indicator names",
    ),
    "grid_size": (lambda v: _positive_int(v) and v >= 4, "an int >= 4"),
    "contour_levels": (
        lambda v: len(v) >= 1 and all(isinstance(t, float) and 0.0 < t < 1.0 for t in v),
        "floats in (0, 1)",
    ),
    "contour_points": (lambda v: _positive_int(v) and v >= 8, "an int >= 8"),
    "bias_samples": (lambda v: _positive_int(v) and v >= 16, "an int >= 16"),
    "bias_credible": (_open_unit, "a float in (0, 1)"),
    "devices": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0"),
}


def _check_field(name: str, value: Any) -> None:
    rule, expectation = _RULES[name]
    try:
        ok = bool(rule(value))
    except TypeError:
        ok = False
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        raise ValueError(f"config key {name!r} must be {expectation}, got {value!r}")


_PRESETS: dict[str, AuditConfig] = {"default": AuditConfig(), "quick": AuditConfig(**_QUICK)}
