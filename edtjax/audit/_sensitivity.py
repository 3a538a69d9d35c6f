"""Audit stages that explain: Sobol' indices of simulator and surrogate, and parameter GSA.

The simulator is a black box on ``(k, d)`` NumPy arrays, so its indices come from a Saltelli
design (:func:`edtjax.sensitivity.saltelli_design`) evaluated in one batch and
:func:`edtjax.sensitivity.sobol_indices_from_outputs`; the surrogate is a JAX function, so its
indices come from :func:`edtjax.sensitivity.sobol_indices` over the same uniform factors.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from edtjax.audit._surrogates import Split, Surrogates
from edtjax.audit.config import AuditConfig
from edtjax.audit.result import AuditData
from edtjax.sensitivity import (
    IndexEstimates,
    parameter_sensitivity,
    saltelli_design,
    sobol_indices,
    sobol_indices_from_outputs,
)


def factor_box(data: AuditData) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the uniform input factors: the data's box, else the labelled inputs' range."""
    if data.box is not None:
        lo = np.array([data.box[name][0] for name in data.input_names], np.float64)
        hi = np.array([data.box[name][1] for name in data.input_names], np.float64)
    else:
        x = np.asarray(data.x, np.float64)
        lo, hi = x.min(axis=0), x.max(axis=0)
    return lo, hi


def _summary(est: IndexEstimates, leaf=None) -> dict[str, Any]:
    def pick(tree):
        return np.asarray(tree if leaf is None else tree[leaf], np.float64)

    first = pick(est.first_order)
    total = pick(est.total_order)
    first_ci = np.stack(
        [pick(est.first_order_interval.low), pick(est.first_order_interval.high)], -1
    )
    total_ci = np.stack(
        [pick(est.total_order_interval.low), pick(est.total_order_interval.high)], -1
    )
    return {
        "first": first.tolist(),
        "first_ci": first_ci.tolist(),
        "total": total.tolist(),
        "total_ci": total_ci.tolist(),
    }


def simulator_sobol(key: jax.Array, data: AuditData, config: AuditConfig) -> dict[str, Any] | None:
    """First/total Sobol' indices ``(d, o)`` of ``data.simulator`` over uniform box factors."""
    if data.simulator is None:
        return None
    lo, hi = factor_box(data)
    d = lo.shape[0]
    k_design, k_boot = jax.random.split(key)
    design = saltelli_design(k_design, config.sobol_samples, d, dtype=jnp.float32)
    n = config.sobol_samples
    unit = np.concatenate(
        [np.asarray(design.a), np.asarray(design.b), np.asarray(design.ab).reshape(-1, d)]
    ).astype(np.float64)
    y = np.asarray(data.simulator(lo + unit * (hi - lo)), np.float64)
    if y.ndim != 2 or y.shape[0] != unit.shape[0] or not np.isfinite(y).all():
        raise ValueError(
            f"data.simulator must return finite outputs of shape ({unit.shape[0]}, o) for "
            f"({unit.shape[0]}, {d}) inputs, got shape {y.shape}"
        )
    y = jnp.asarray(y, jnp.float32)
    est = sobol_indices_from_outputs(
        k_boot,
        y[:n],
        y[n : 2 * n],
        y[2 * n :].reshape(d, n, -1),
        confidence=config.sobol_confidence,
    )
    return {**_summary(est), "num_samples": n}


def surrogate_sobol(
    key: jax.Array, data: AuditData, split: Split, surrogates: Surrogates, config: AuditConfig
) -> tuple[dict[str, Any], np.ndarray]:
    """Sobol' indices of the ensemble mean over the same factors; also the ``(d,)`` aggregated
    total indices (Gamboa et al. 2014) that rank the inputs."""
    lo, hi = factor_box(data)
    factors = {"x": dist.Uniform(jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32))}
    mean = jnp.asarray(split.x_mean, jnp.float32)
    scale = jnp.asarray(split.x_scale, jnp.float32)
    predict = surrogates.predict["deep_ensemble"]

    def model(v):
        return predict(((v["x"] - mean) / scale)[None]).mean[0]

    est = sobol_indices(
        key,
        model,
        factors,
        config.sobol_samples,
        confidence=config.sobol_confidence,
        devices=config.devices or None,
    )
    summary = {**_summary(est, "x"), "num_samples": config.sobol_samples}
    return summary, np.asarray(est.aggregated_total_order["x"], np.float64)


def sobol_agreement(
    simulator: dict | None,
    surrogate: dict,
    input_names: tuple[str, ...],
    output_names: tuple[str, ...],
) -> dict[str, Any] | None:
    """Largest index differences and whether both rank the inputs alike (per output).

    Two inputs whose simulator total-index intervals overlap are not told apart by the
    simulator's own estimate, so only the pairs it separates count: ``same_ranking`` is true
    when the surrogate's total indices order every such pair as the simulator does
    (``ranking_conflicts`` lists the others as ``"output: a > b"``, ``a`` above ``b`` for the
    simulator). ``O(d^2 o)`` work.
    """
    if simulator is None:
        return None
    s_first, g_first = np.asarray(simulator["first"]), np.asarray(surrogate["first"])
    s_total, g_total = np.asarray(simulator["total"]), np.asarray(surrogate["total"])
    s_ci = np.asarray(simulator["total_ci"])  # (d, o, 2)
    d, o = s_total.shape
    conflicts = [
        f"{output_names[j]}: {input_names[i]} > {input_names[k]}"
        for j in range(o)
        for i in range(d)
        for k in range(d)
        if s_ci[i, j, 0] > s_ci[k, j, 1] and g_total[i, j] <= g_total[k, j]
    ]
    same_top = all(int(np.argmax(s_total[:, j])) == int(np.argmax(g_total[:, j])) for j in range(o))
    return {
        "max_abs_diff_first": float(np.max(np.abs(s_first - g_first))),
        "max_abs_diff_total": float(np.max(np.abs(s_total - g_total))),
        "same_ranking": not conflicts,
        "ranking_conflicts": conflicts,
        "same_top_input": bool(same_top),
    }


def layer_sensitivity(
    key: jax.Array, split: Split, surrogates: Surrogates, config: AuditConfig
) -> dict[str, Any]:
    """Group (layer) Sobol' indices of member 0's mean prediction under multiplicative noise.

    The network is evaluated at ``gsa_points`` test inputs; per-point indices are aggregated
    per output with the output variances as weights (the generalised indices of Gamboa et al.
    2014 over the points), giving ``(g, o)`` arrays.
    """
    net = surrogates.net
    x = split.x_test[: config.gsa_points]

    def apply_fn(params, inputs):
        return net.apply(params, inputs).mean

    est = parameter_sensitivity(
        key,
        apply_fn,
        surrogates.member(0),
        x,
        perturbation="multiplicative",
        scale=config.gsa_scale,
        groups="layer",
        num_samples=config.gsa_samples,
        devices=config.devices or None,
    )
    groups = sorted(est.first_order)
    weights = np.asarray(est.variance, np.float64)  # (P, o)

    def aggregate(tree):
        per = np.stack([np.asarray(tree[g], np.float64) for g in groups])  # (g, P, o)
        return (np.sum(per * weights[None], axis=1) / np.sum(weights, axis=0)[None]).tolist()

    return {
        "groups": groups,
        "first": aggregate(est.first_order),
        "total": aggregate(est.total_order),
        "num_samples": config.gsa_samples,
        "perturbation": f"multiplicative, scale {config.gsa_scale}",
        "points": int(x.shape[0]),
    }
