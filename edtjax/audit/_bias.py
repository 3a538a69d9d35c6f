"""Audit stage on a downstream quantity: the surrogate-induced bias and its prediction.

The quantity is the mean of the first output over a fixed set of inputs: a Monte Carlo sample
uniform in the training box when the simulator is available (built-in case), else the queries
when their outputs are known. The surrogate's estimate uses the ensemble mean; treating the
ensemble members as posterior draws of the exact function, the predicted bias of that estimate
is the distribution of ``q_hat - q_s`` over members ``s`` (:func:`edtjax.uq.surrogate_bias` with
the estimate as reference, sign flipped), compared with the true bias ``q_hat - q_exact``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from edtjax.audit._sensitivity import factor_box
from edtjax.audit._surrogates import ENSEMBLE, Split, Surrogates
from edtjax.audit.config import AuditConfig
from edtjax.audit.result import AuditData
from edtjax.uq import surrogate_bias


def bias_stage(
    key: jax.Array, data: AuditData, split: Split, surrogates: Surrogates, config: AuditConfig
) -> dict[str, Any] | None:
    """True and predicted surrogate-induced bias of the mean first output, or ``None``."""
    output = data.output_names[0]
    if data.simulator is not None:
        lo, hi = factor_box(data)
        u = np.asarray(jax.random.uniform(key, (config.bias_samples, lo.shape[0])), np.float64)
        x = lo + u * (hi - lo)
        exact = float(np.mean(np.asarray(data.simulator(x), np.float64)[:, 0]))
        description = (
            f"mean of {output} over {config.bias_samples} inputs drawn uniformly in the training "
            "box (the same sample for simulator and surrogate)"
        )
    elif data.queries is not None and data.queries_y is not None:
        x = np.asarray(data.queries, np.float64)
        exact = float(np.mean(np.asarray(data.queries_y, np.float64)[:, 0]))
        description = f"mean of {output} over the {x.shape[0]} shifted queries"
    else:
        return None
    z = split.to_inputs(x)
    net = surrogates.net
    scale = float(split.y_scale[0])
    shift = float(split.y_mean[0])

    def downstream(member):
        return jnp.mean(net.apply(member, z).mean[:, 0]) * scale + shift

    estimate = float(jnp.mean(surrogates.predict[ENSEMBLE](z).mean[:, 0]) * scale + shift)
    res = surrogate_bias(
        downstream, surrogates.params, reference=estimate, credible=config.bias_credible
    )
    lo_b, hi_b = 0.0 - float(res.bias_upper), 0.0 - float(res.bias_lower)
    true_bias = estimate - exact
    return {
        "quantity": f"mean_{output}",
        "description": description
        + "; predicted bias = ensemble estimate minus member estimates (members as posterior "
        "draws)",
        "exact": exact,
        "surrogate": estimate,
        "true_bias": true_bias,
        "predicted_bias": 0.0 - float(res.bias_mean),  # 0.0 - x: no negative zero
        "interval": [lo_b, hi_b],
        "level": config.bias_credible,
        "contains_true": bool(lo_b <= true_bias <= hi_b),
    }
