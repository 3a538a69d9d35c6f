"""Audit stage on reuse: reliability indicators fitted on the training inputs, calibrated on
the calibration split, evaluated on in-domain and shifted queries, and drawn on 2-D slices."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from edtjax.audit._surrogates import ENSEMBLE, Split, Surrogates
from edtjax.audit.config import AuditConfig
from edtjax.reliability import (
    CombinedState,
    Indicator,
    calibrate,
    combine,
    lens_fermat_indicator,
    mahalanobis_indicator,
    monge_kantorovich_indicator,
    predictive_spread_indicator,
    validity_report,
)

COMBINED = "combined"


def build_indicators(surrogates: Surrogates, config: AuditConfig) -> dict[str, Indicator]:
    """The configured indicators, by name (inputs are standardised)."""
    predict = surrogates.predict[ENSEMBLE]

    def epistemic(z):
        pred = predict(z)
        return pred.variance - pred.aleatoric

    makers = {
        "lens_fermat": lambda: lens_fermat_indicator(
            alpha=config.fermat_alpha, n_neighbors=config.fermat_neighbors
        ),
        "mahalanobis": mahalanobis_indicator,
        "monge_kantorovich": monge_kantorovich_indicator,
        "ensemble_spread": lambda: predictive_spread_indicator(epistemic),
    }
    # Scores are jitted (one compilation per query shape); fit stays as the indicator has it.
    indicators = {}
    for name in config.indicators:
        ind = makers[name]()
        indicators[name] = Indicator(ind.fit, jax.jit(ind.score))
    return indicators


def _errors(split: Split, surrogates: Surrogates) -> np.ndarray | None:
    """Mean absolute standardised error of the ensemble mean at test and shifted queries."""
    if split.x_shift is not None and split.y_shift is None:
        return None
    predict = surrogates.predict[ENSEMBLE]
    parts = [jnp.mean(jnp.abs(predict(split.x_test).mean - split.y_test), axis=1)]
    if split.x_shift is not None:
        parts.append(jnp.mean(jnp.abs(predict(split.x_shift).mean - split.y_shift), axis=1))
    return np.asarray(jnp.concatenate(parts))


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def reliability_stage(
    key: jax.Array,
    split: Split,
    surrogates: Surrogates,
    contour_inputs: tuple[int, int],
    input_names: tuple[str, ...],
    config: AuditConfig,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, np.ndarray]]:
    """Fit, calibrate, combine and evaluate the indicators; score the depth-map slices."""
    indicators = build_indicators(surrogates, config)
    devices = config.devices or None
    keys = jax.random.split(key, 2 * len(indicators) + 1)
    states, calibrations = {}, {}
    for k, (name, ind) in enumerate(indicators.items()):
        states[name] = ind.fit(keys[2 * k], split.x_train)
        calibrations[name] = calibrate(
            keys[2 * k + 1], ind, states[name], split.x_cal, config.alpha, devices=devices
        )
    # The combined indicator calibrates its members on one half of the calibration split and
    # is itself calibrated on the other half, so its threshold keeps the conformal guarantee.
    # Its state is what ``combine(...).fit(key, x_train, x_calibration)`` builds, assembled
    # from the members already fitted on the training inputs instead of fitting them again.
    half = split.x_cal.shape[0] // 2
    combined = combine(*indicators.values(), how=config.combine_how)
    combined = Indicator(combined.fit, jax.jit(combined.score))
    members = tuple(states)
    states[COMBINED] = CombinedState(
        tuple(states[n] for n in members),
        tuple(jnp.sort(indicators[n].score(states[n], split.x_cal[:half])) for n in members),
    )
    indicators[COMBINED] = combined
    calibrations[COMBINED] = calibrate(
        keys[-1], combined, states[COMBINED], split.x_cal[half:], config.alpha, devices=devices
    )

    m_in = split.x_test.shape[0]
    if split.x_shift is None:
        queries, labels = split.x_test, np.ones(m_in, bool)
    else:
        queries = jnp.concatenate([split.x_test, split.x_shift])
        labels = np.arange(queries.shape[0]) < m_in
    errors = _errors(split, surrogates)
    results: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, ind in indicators.items():
        rep = validity_report(
            ind,
            states[name],
            calibrations[name],
            queries,
            in_domain=labels,
            errors=errors,
            devices=devices,
        )
        results[name] = {
            "false_alarm_rate": float(rep.false_alarm_rate),
            "detection_rate": _finite_or_none(rep.detection_rate),
            "auroc": _finite_or_none(rep.auroc),
            "error_spearman": _finite_or_none(rep.error_spearman),
            "threshold": float(calibrations[name].threshold),
        }
        scores = np.asarray(rep.scores, np.float64)
        arrays[f"reliability/{name}/scores_in"] = scores[:m_in]
        arrays[f"reliability/{name}/scores_shifted"] = scores[m_in:]
    numbers = {"alpha": config.alpha, "indicators": results, "how_combined": config.combine_how}
    maps, map_arrays = depth_maps(
        split, indicators, states, calibrations, contour_inputs, input_names, config
    )
    arrays.update(map_arrays)
    return numbers, maps, arrays


def depth_maps(split, indicators, states, calibrations, contour_inputs, input_names, config):
    """Indicator scores on a ``G x G`` grid over two inputs, the others at the training median.

    The grid spans the training inputs and the shifted queries in those two inputs, padded by
    5% of the range on each side.
    """
    i, j = contour_inputs
    raw = (
        split.raw_train
        if split.raw_shift is None
        else np.vstack([split.raw_train, split.raw_shift])
    )
    median = np.median(split.raw_train, axis=0)
    axes = []
    for c in (i, j):
        lo, hi = raw[:, c].min(), raw[:, c].max()
        pad = 0.05 * (hi - lo)
        axes.append(np.linspace(lo - pad, hi + pad, config.grid_size))
    gx, gy = axes
    xx, yy = np.meshgrid(gx, gy)  # (H, G): row a is grid_y[a], column b is grid_x[b]
    points = np.tile(median, (xx.size, 1))
    points[:, i], points[:, j] = xx.ravel(), yy.ravel()
    z = split.to_inputs(points)
    maps, arrays = [], {}
    fixed = {input_names[c]: float(median[c]) for c in range(len(input_names)) if c not in (i, j)}
    for k, name in enumerate(config.depth_map_indicators):
        score = np.asarray(indicators[name].score(states[name], z), np.float64).reshape(xx.shape)
        arrays[f"depth_map/{k}/grid_x"] = gx
        arrays[f"depth_map/{k}/grid_y"] = gy
        arrays[f"depth_map/{k}/score"] = score
        maps.append(
            {
                "key": f"depth_map/{k}",
                "inputs": [input_names[i], input_names[j]],
                "indicator": name,
                "threshold": float(calibrations[name].threshold),
                "fixed": fixed,
            }
        )
    return maps, arrays
