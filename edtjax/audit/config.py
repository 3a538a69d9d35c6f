"""Every choice of the audit workflow: :class:`AuditConfig`, its presets and TOML loading.

An :class:`AuditConfig` is a frozen dataclass of plain Python values (ints, floats, strings and
tuples of them), so a configuration is hashable, printable and round-trips through TOML and
JSON. Two presets exist: ``"default"`` (the full built-in audit, a few minutes on a 2-core CPU)
and ``"quick"`` (the same stages at small sizes, under a minute). :func:`load_config` reads a
TOML file whose top-level keys override a preset; unknown keys, wrong types and out-of-range
values raise ``ValueError`` naming the key and what was expected.

The ``[inputs]`` table declares the input laws of the Sobol' stage, one sub-table per input
(see :data:`INPUT_LAWS`)::

    [inputs.Q]
    law = "Gumbel"
    loc = 1013
    scale = 558
    low = 500        # optional truncation, for every law but Uniform
    high = 3000
    [inputs.Zv]
    law = "Uniform"
    low = 49
    high = 51

Without it the Sobol' stage uses the empirical law of the labelled runs (first-order indices
only); a declaration must name every input of the data.

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
from edtjax.reliability import INDICATORS

__all__ = ["AuditConfig", "audit_preset", "config_to_dict", "load_config"]

MAX_CONFIG_BYTES = 2**20
"""Largest configuration file read (1 MiB): a TOML config is a few hundred bytes."""

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

INPUT_LAWS: dict[str, tuple[str, ...]] = {
    "Beta": ("concentration1", "concentration0"),
    "Exponential": ("rate",),
    "Gamma": ("concentration", "rate"),
    "Gumbel": ("loc", "scale"),
    "LogNormal": ("loc", "scale"),
    "Normal": ("loc", "scale"),
    "Uniform": ("low", "high"),
}
"""Laws an ``[inputs]`` entry may name (numpyro distributions) and their parameters, named as
numpyro's constructor arguments (``LogNormal``'s ``loc``, ``scale`` are those of the log;
``Beta`` lives on ``(0, 1)`` with ``concentration1 = a``, ``concentration0 = b``; ``Gamma``
and ``Exponential`` take a ``rate``). Every law but ``Uniform`` (whose ``low``, ``high`` are
its parameters) takes an optional truncation ``low`` and/or ``high``. numpyro has no
triangular law."""

_LAW_SUPPORT: dict[str, tuple[float, float]] = {
    "Beta": (0.0, 1.0),
    "Exponential": (0.0, math.inf),
    "Gamma": (0.0, math.inf),
    "LogNormal": (0.0, math.inf),
}
"""Support of the laws that do not live on the whole real line (truncations must meet it)."""

_PARAMETER_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "loc": (math.isfinite, "a finite number"),
    "scale": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "rate": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "concentration": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "concentration0": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "concentration1": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "low": (math.isfinite, "a finite number"),
    "high": (math.isfinite, "a finite number"),
}


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
        inputs: declared input laws of the Sobol' stage, ``((name, law, ((parameter, value),
            ...)), ...)`` in the canonical order of :func:`parse_input_laws`; a mapping
            ``{name: {"law": ..., parameter: value}}`` (the TOML ``[inputs]`` table) is accepted
            and converted. Empty (the default): no declared laws, the empirical law of the
            labelled runs is used (data with a ``box``, such as the built-in case, declare
            independent uniform laws on it).
        sobol_extrapolation_share: above this share of draws from the declared laws flagged
            outside the validity domain (combined indicator at ``alpha``), the Sobol' stage
            says that the surrogate's indices describe extrapolation. Draws from the training
            law itself are flagged at a rate of about ``alpha``.
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
    inputs: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = ()
    sobol_extrapolation_share: float = 0.2
    devices: int = 0

    def __post_init__(self):
        object.__setattr__(self, "inputs", parse_input_laws(self.inputs))
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
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    out["inputs"] = input_laws_table(config.inputs)
    return out


def load_config(path: str | os.PathLike, preset: str = "default") -> AuditConfig:
    """Read a TOML file of overrides over a preset.

    The file holds top-level ``key = value`` pairs named as the fields of
    :class:`AuditConfig` (arrays for tuple fields) and an optional ``[inputs]`` table of
    input laws (see the module docstring and :data:`INPUT_LAWS`); an optional
    ``preset = "quick"`` entry picks the preset the overrides apply to (else ``preset``).

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
    if key == "inputs":
        if not isinstance(value, Mapping):
            raise ValueError(
                "config key 'inputs' must be a table of input laws ([inputs.NAME] with law = "
                f"..., parameters), got {value!r}"
            )
        return parse_input_laws(value)
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
    "inputs": (lambda v: parse_input_laws(v) == v, "canonical input laws (parse_input_laws)"),
    "sobol_extrapolation_share": (_open_unit, "a float in (0, 1)"),
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


def _law_number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"config key {where!r} must be a number, got {value!r}")
    return float(value)


def _parse_law(name: str, entry: Any) -> tuple[str, str, tuple[tuple[str, float], ...]]:
    """One input's law: checked, with its parameters in the canonical order."""
    where = f"inputs.{name}"
    if isinstance(entry, tuple) and len(entry) == 3:  # canonical form
        law, params = entry[1], entry[2]
        if not isinstance(params, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 for p in params
        ):
            raise ValueError(f"config key {where!r} has malformed parameters {params!r}")
        entry = {"law": law, **dict(params)}
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"config key {where!r} must be a table with law = ... and its parameters, got {entry!r}"
        )
    law = entry.get("law")
    if law not in INPUT_LAWS:
        raise ValueError(
            f"config key '{where}.law' must be one of {sorted(INPUT_LAWS)}, got {law!r}"
        )
    required = INPUT_LAWS[law]
    optional = () if law == "Uniform" else ("low", "high")
    takes = ", ".join(required)
    if optional:
        takes += " (optional truncation low, high)"
    unknown = sorted(set(entry) - {"law", *required, *optional})
    if unknown:
        raise ValueError(f"config key {where!r} has unknown keys {unknown}; {law} takes {takes}")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ValueError(f"config key '{where}.{missing[0]}' is missing; {law} takes {takes}")
    params = []
    for key in (*required, *(k for k in optional if k in entry)):
        value = _law_number(f"{where}.{key}", entry[key])
        rule, expectation = _PARAMETER_RULES[key]
        if not rule(value):
            raise ValueError(f"config key '{where}.{key}' must be {expectation}, got {value!r}")
        params.append((key, value))
    bounds = dict(params)
    low, high = bounds.get("low", -math.inf), bounds.get("high", math.inf)
    if low >= high:
        raise ValueError(
            f"config key '{where}.low' must be below '{where}.high', got {low!r} >= {high!r}"
        )
    s_low, s_high = _LAW_SUPPORT.get(law, (-math.inf, math.inf))
    if max(low, s_low) >= min(high, s_high):
        raise ValueError(
            f"config key '{where}' truncates {law} to [{low:g}, {high:g}], outside its "
            f"support ({s_low:g}, {s_high:g})"
        )
    return (name, law, tuple(params))


def parse_input_laws(table: Any) -> tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...]:
    """Check a table of input laws and return it in the canonical (hashable) form.

    Args:
        table: ``{input name: {"law": name, parameter: number, ...}}`` as read from the TOML
            ``[inputs]`` table, or the canonical tuple itself (checked again).

    Returns:
        ``((name, law, ((parameter, value), ...)), ...)``: inputs in the table's order,
        parameters as in :data:`INPUT_LAWS` followed by the truncation ``low``, ``high``.

    Raises:
        ValueError: an unknown law, a missing, unknown or out-of-range parameter, an empty or
            inverted truncation; the message names ``inputs.<name>.<key>``.

    Example:
        >>> parse_input_laws({"Ks": {"law": "Normal", "loc": 30, "scale": 8, "low": 15}})
        (('Ks', 'Normal', (('loc', 30.0), ('scale', 8.0), ('low', 15.0))),)
    """
    if isinstance(table, tuple):
        items = []
        for entry in table:
            if not (isinstance(entry, tuple) and len(entry) == 3):
                raise ValueError(f"config key 'inputs' has a malformed entry {entry!r}")
            items.append((entry[0], entry))
    elif isinstance(table, Mapping):
        items = list(table.items())
    else:
        raise ValueError(f"config key 'inputs' must be a table of input laws, got {table!r}")
    out, seen = [], set()
    for name, entry in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"config key 'inputs' has an input name {name!r}, not a string")
        if name in seen:
            raise ValueError(f"config key 'inputs.{name}' is declared twice")
        seen.add(name)
        out.append(_parse_law(name, entry))
    return tuple(out)


def input_laws_table(inputs: tuple) -> dict[str, dict[str, Any]]:
    """The canonical input laws as the TOML/JSON table ``{name: {"law": ..., **parameters}}``.

    Example:
        >>> input_laws_table(parse_input_laws({"Zv": {"law": "Uniform", "low": 49, "high": 51}}))
        {'Zv': {'law': 'Uniform', 'low': 49.0, 'high': 51.0}}
    """
    return {name: {"law": law, **dict(params)} for name, law, params in inputs}


def box_input_laws(box: Mapping[str, tuple[float, float]]) -> tuple:
    """Independent uniform laws on a box ``{name: (low, high)}``, in the canonical form.

    The built-in case declares its inputs' laws this way: its design is uniform on its box.

    Example:
        >>> box_input_laws({"a": (0.0, 2.0)})
        (('a', 'Uniform', (('low', 0.0), ('high', 2.0))),)
    """
    return parse_input_laws(
        {name: {"law": "Uniform", "low": lo, "high": hi} for name, (lo, hi) in box.items()}
    )


def check_input_names(inputs: tuple, input_names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless declared laws name exactly the data's inputs (or none).

    Example:
        >>> check_input_names((), ("a", "b"))  # no declaration: the empirical law
        >>> laws = parse_input_laws({"a": {"law": "Normal", "loc": 0, "scale": 1}})
        >>> try:
        ...     check_input_names(laws, ("a", "b"))
        ... except ValueError as err:
        ...     print(str(err)[:48])
        config [inputs] lacks laws for the inputs ['b']:
    """
    if not inputs:
        return
    declared = [name for name, _, _ in inputs]
    unknown = [n for n in declared if n not in input_names]
    if unknown:
        raise ValueError(
            f"config [inputs] declares laws for unknown inputs {unknown}; the data's inputs "
            f"are {list(input_names)}"
        )
    missing = [n for n in input_names if n not in declared]
    if missing:
        raise ValueError(
            f"config [inputs] lacks laws for the inputs {missing}: declare the law of every "
            "input, or of none (the empirical law of the labelled runs is then used)"
        )


_PRESETS: dict[str, AuditConfig] = {"default": AuditConfig(), "quick": AuditConfig(**_QUICK)}
