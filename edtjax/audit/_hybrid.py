"""Audit stage on the surrogate in the loop: the guarded hybrid on the queries.

When the simulator is available, the queries are evaluated as a hybrid simulation would
evaluate them (:func:`edtjax.hybrid.guarded`): the surrogate's mean where the combined
indicator accepts the query at ``alpha`` (its conformal p-value above ``alpha``, the query
verdict *inside*), the simulator on the rest, through a host callback. The guard is
calibrated on the second half of the calibration split, the half that calibrates the
combined indicator itself, so in-domain inputs fall back with probability at most ``alpha``
(Vovk et al. 2005); the in-domain test split measures that rate. The stage reports the
wall-clock time of the hybrid against the simulator alone on the same queries, the share of
queries that fell back, and the error the hybrid costs against the simulator's outputs (and
that of the surrogate alone, for comparison). Times are of this process on this machine,
compilation excluded (both are run once before timing).

References:
    Vovk, V., Gammerman, A. & Shafer, G. (2005). Algorithmic Learning in a Random World.
    Springer (conformal p-values).
"""

from __future__ import annotations

import time

import jax
import numpy as np

from edtjax._typing import ArrayLike
from edtjax.audit._reliability import ReliabilityOutputs
from edtjax.audit._surrogates import Split, Surrogates
from edtjax.audit.records import HybridResult, Skipped
from edtjax.audit.result import AuditData
from edtjax.hybrid import calibrate_guard, guarded


def _timed(fn, *args):
    start = time.perf_counter()
    value = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, value


def hybrid_stage(
    data: AuditData,
    split: Split,
    surrogates: Surrogates,
    rel: ReliabilityOutputs,
    *,
    alpha: float,
) -> HybridResult | Skipped | None:
    """The guarded hybrid on the queries, or why it was not run (``None``: no queries); the
    guard accepts at the reliability level ``alpha`` (``reliability.alpha``)."""
    if split.x_shift is None:
        return None
    if data.simulator is None:
        return Skipped("no simulator to fall back on (user data): the hybrid needs one")
    if not surrogates.evaluable:
        return Skipped(
            "the surrogate was given as predictions only; the hybrid needs it as a function"
        )
    x_mean, x_scale = split.x_mean, split.x_scale
    y_mean, y_scale = split.y_mean, split.y_scale

    def simulate(z: ArrayLike) -> np.ndarray:  # standardised inputs and outputs, NumPy on the host
        x = np.asarray(z, np.float64) * x_scale + x_mean
        y = np.asarray(data.simulator(x), np.float64)
        return ((y - y_mean) / y_scale).astype(np.float32)

    half = split.x_cal.shape[0] // 2
    calibration = calibrate_guard(
        surrogates.main,
        rel.combined,
        rel.combined_state,
        split.x_cal[half:],
        split.y_cal[half:],
    )
    evaluate = jax.jit(
        guarded(surrogates.main, simulate, calibration, alpha=alpha, host_simulator=True)
    )
    queries = split.x_shift
    z = np.asarray(queries)
    exact = simulate(z).astype(np.float64) * y_scale  # also compiles the simulator's shape
    jax.block_until_ready(evaluate(queries))  # compiles the hybrid, and the fallback shape
    hybrid_s, out = _timed(evaluate, queries)
    simulator_s, _ = _timed(simulate, z)
    hybrid = np.asarray(out.output, np.float64) * y_scale
    alone = np.asarray(surrogates.main(queries).mean, np.float64) * y_scale
    fell_back = ~np.asarray(out.used_surrogate, bool)
    in_domain = ~np.asarray(evaluate(split.x_test).used_surrogate, bool)
    error = np.abs(hybrid - exact)
    return HybridResult(
        alpha=float(alpha),
        n_queries=int(queries.shape[0]),
        n_fallback=int(fell_back.sum()),
        fallback_share=float(fell_back.mean()),
        fallback_share_in_domain=float(in_domain.mean()),
        hybrid_seconds=float(hybrid_s),
        simulator_seconds=float(simulator_s),
        speedup=float(simulator_s / hybrid_s) if hybrid_s > 0 else None,
        mean_abs_error=[float(v) for v in error.mean(0)],
        max_abs_error=[float(v) for v in error.max(0)],
        surrogate_mean_abs_error=[float(v) for v in np.abs(alone - exact).mean(0)],
        description=(
            "the queries evaluated by the surrogate where the combined indicator accepts them "
            f"at alpha = {alpha:g} and by the simulator elsewhere (edtjax.hybrid."
            "guarded); errors against the simulator in physical units; times of this process "
            "on this machine, compilation excluded"
        ),
    )
