"""Audit stage on the inputs: Hallin center-outward description of the training inputs and
optimal-transport shift tests between training inputs and queries (standardised inputs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from edtjax.audit._surrogates import Split
from edtjax.audit.records import MeanDepths, ShiftTest, TransportResult
from edtjax.audit.sections import TransportConfig
from edtjax.transport import (
    center_outward_fit,
    monge_kantorovich_depth,
    quantile_contour,
    rank_energy_shift_test,
    sinkhorn_shift_test,
)


def transport_stage(
    key: jax.Array,
    split: Split,
    contour_inputs: tuple[int, int],
    input_names: tuple[str, ...],
    config: TransportConfig,
    *,
    alpha: float,
    queries_shifted: bool,
) -> tuple[TransportResult, dict[str, np.ndarray]]:
    """MK depths of the queries, quantile contours in two inputs, and four shift tests (each
    rejects at the level ``alpha``, ``reliability.alpha``).

    The queries are called shifted in the tests' descriptions only when ``queries_shifted``
    (by construction): the user's queries are compared, not assumed shifted.
    """
    k_sub, k_tests = jax.random.split(key)
    arrays: dict[str, np.ndarray] = {}
    fit = center_outward_fit(split.x_train)
    depth_in = monge_kantorovich_depth(fit, split.x_test)
    depth_shift = None if split.x_shift is None else monge_kantorovich_depth(fit, split.x_shift)
    mk_depth = MeanDepths(
        in_domain_mean=float(jnp.mean(depth_in)),
        shifted_mean=None if depth_shift is None else float(jnp.mean(depth_shift)),
    )
    i, j = contour_inputs
    fit2 = center_outward_fit(split.x_train[:, jnp.array([i, j])])
    for k, tau in enumerate(config.contour_levels):
        contour = np.asarray(quantile_contour(fit2, tau, config.contour_points), np.float64)
        arrays[f"contour/{k}"] = contour * split.x_scale[[i, j]] + split.x_mean[[i, j]]

    n_train = split.x_train.shape[0]
    size = min(n_train, config.shift_test_size)
    k_sub, k_in, k_shift = jax.random.split(k_sub, 3)
    sub = split.x_train[jax.random.permutation(k_sub, n_train)[:size]]
    # Both comparisons use query sets of the same size, so each test compiles once.
    m = (
        split.x_test.shape[0]
        if split.x_shift is None
        else min(split.x_test.shape[0], split.x_shift.shape[0])
    )
    x_in = split.x_test[jax.random.permutation(k_in, split.x_test.shape[0])[:m]]
    targets = {
        "in_domain": (
            x_in,
            f"training inputs vs in-domain test inputs ({m} of {split.x_test.shape[0]})",
        )
    }
    if split.x_shift is not None:
        x_sh = split.x_shift[jax.random.permutation(k_shift, split.x_shift.shape[0])[:m]]
        targets["shifted"] = (
            x_sh,
            f"training inputs vs {'shifted queries' if queries_shifted else 'the queries'} "
            f"({m} of {split.x_shift.shape[0]})",
        )
    tests: dict[str, ShiftTest] = {}
    keys = iter(jax.random.split(k_tests, 2 * len(targets)))
    for label, (other, compared) in targets.items():
        for name, test in (
            ("sinkhorn", sinkhorn_shift_test),
            ("rank_energy", rank_energy_shift_test),
        ):
            res = test(next(keys), sub, other, num_permutations=config.permutations)
            p = float(res.p_value)
            tests[f"{name}_{label}"] = ShiftTest(
                statistic=float(res.statistic),
                p_value=p,
                rejected=bool(p <= alpha),
                compared=f"{compared} ({size} training points)",
            )
            arrays[f"shift/{name}_{label}/null"] = np.asarray(res.null_statistics, np.float64)
    result = TransportResult(
        mk_depth=mk_depth,
        contour_levels=list(config.contour_levels),
        shift_tests=tests,
        contour_inputs=[input_names[i] for i in contour_inputs],
    )
    return result, arrays
