"""Audit stage on a downstream quantity: the surrogate-induced bias and its prediction.

The quantity is the mean of the first output over a fixed set of ``M`` inputs: when the
simulator is available, a Monte Carlo sample of the input laws the Sobol' stage uses (the
config's ``[inputs]``, or independent uniforms on the data's box as in the built-in case:
:func:`edtjax.audit._laws.declared_laws`), or, without declared laws, of the empirical law
(the labelled inputs resampled with replacement); else the queries when their outputs are
known. The surrogate's estimate uses the ensemble mean
``f_hat``; its true bias is ``b_M = mean_x (f_hat(x) - f(x))`` over those inputs.

Predicted bias (held-out residuals): the ``n`` labelled runs kept out of training (calibration
and test splits) give residuals ``r_i = f_hat(x_i) - f(x_i)``; with ``r_bar`` their mean and
``s`` their standard deviation, ``b_M`` is predicted as ``r_bar`` with the interval
``r_bar ± t_{n-1} s sqrt(1/n + 1/M)``: the difference of two independent means of ``r``, so
the interval holds at the stated level (to the central-limit approximation) whenever the held-out
inputs and the downstream inputs follow the same distribution (both uniform in the box in the
built-in case; by construction under the empirical law).
Under a shift of the downstream inputs this assumption fails, and the description says so.

Posterior spread (for comparison): treating the ensemble members as posterior draws of the
exact function, the distribution of ``q_hat - q_s`` over members ``s``
(:func:`edtjax.uq.surrogate_bias` with the estimate as reference, sign flipped). It is centred
on zero by construction and, the members sharing the systematic error of their common
training data, it measures epistemic spread rather than bias.

References:
    Lakshminarayanan, B., Pritzel, A. & Blundell, C. (2017). Simple and scalable predictive
    uncertainty estimation using deep ensembles. NeurIPS.
    Angelopoulos, A. N., Bates, S., Fannjiang, C., Jordan, M. I. & Zrnic, T. (2023).
    Prediction-powered inference. Science 382, 669-674 (correcting a model-based mean with
    labelled residuals).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from edtjax._typing import PyTree
from edtjax.audit._laws import declared_laws
from edtjax.audit._surrogates import Split, Surrogates
from edtjax.audit.records import BiasResult, Skipped, Spread
from edtjax.audit.result import AuditData
from edtjax.audit.sections import BiasConfig
from edtjax.uq import surrogate_bias


def bias_stage(
    key: jax.Array,
    data: AuditData,
    split: Split,
    surrogates: Surrogates,
    config: BiasConfig,
    inputs: tuple,
) -> BiasResult | Skipped | None:
    """True and predicted surrogate-induced bias of the mean first output, or ``None``;
    ``inputs`` are the configuration's declared laws (``AuditConfig.inputs``)."""
    output = data.output_names[0]
    assumption = ""
    if data.simulator is not None and surrogates.evaluable:
        x, law = downstream_inputs(key, data, config, inputs)
        exact = float(np.mean(np.asarray(data.simulator(x), np.float64)[:, 0]))
        description = (
            f"mean of {output} over {config.bias_samples} inputs drawn from {law} (the same "
            "sample for simulator and surrogate)"
        )
        if inputs:
            assumption = ", which assumes the declared laws are the labelled runs' distribution"
    elif data.queries is not None and data.queries_y is not None:
        x = np.asarray(data.queries, np.float64)
        exact = float(np.mean(np.asarray(data.queries_y, np.float64)[:, 0]))
        description = f"mean of {output} over the {x.shape[0]} queries"
        assumption = ", which assumes the queries follow the distribution of the labelled runs"
    elif data.simulator is not None:
        return Skipped(
            "the surrogate was given as predictions at the labelled runs and the "
            "queries only: the bias over new inputs needs new evaluations (queries with "
            "outputs would give it over the queries)"
        )
    else:
        return None
    z = split.to_inputs(x)
    scale = float(split.y_scale[0])
    shift = float(split.y_mean[0])
    estimate = float(jnp.mean(surrogates.main(z).mean[:, 0]) * scale + shift)
    spread = None
    if surrogates.net is not None:  # the ensemble members as posterior draws
        net = surrogates.net

        def downstream(member: PyTree) -> jax.Array:
            return jnp.mean(net.apply(member, z).mean[:, 0]) * scale + shift

        posterior = surrogate_bias(
            downstream, surrogates.params, reference=estimate, credible=config.bias_credible
        )
        spread = Spread(  # 0.0 - x: no negative zero
            mean=0.0 - float(posterior.bias_mean),
            interval=[0.0 - float(posterior.bias_upper), 0.0 - float(posterior.bias_lower)],
        )
    held_out = _held_out_bias(split, surrogates, x.shape[0], config.bias_credible)
    true_bias = estimate - exact
    lo_b, hi_b = held_out["interval"]
    return BiasResult(
        quantity=f"mean_{output}",
        description=description
        + f"; predicted bias = mean held-out residual of the {surrogates.name}'s mean "
        f"({held_out['n']} runs not used in training)" + assumption,
        exact=exact,
        surrogate=estimate,
        true_bias=true_bias,
        predicted_bias=held_out["bias"],
        interval=[lo_b, hi_b],
        level=config.bias_credible,
        contains_true=bool(lo_b <= true_bias <= hi_b),
        posterior_spread=spread,
    )


def downstream_inputs(
    key: jax.Array, data: AuditData, config: BiasConfig, inputs: tuple
) -> tuple[np.ndarray, str]:
    """``config.bias_samples`` inputs ``(M, d)`` of the downstream quantity, and their law.

    Drawn from the declared laws (:func:`edtjax.audit._laws.declared_laws`: ``inputs``, the
    config's ``[inputs]``, else uniform on ``data.box``), the laws of the Sobol' stage;
    without declared laws, from the empirical law: the labelled inputs ``data.x`` resampled
    with replacement.
    Returns the inputs (float64) and the law in words.
    """
    m = config.bias_samples
    laws = declared_laws(data, inputs)
    if laws is None:
        x = np.asarray(data.x, np.float64)
        rows = np.asarray(jax.random.randint(key, (m,), 0, x.shape[0]))
        law = f"the empirical law (the {x.shape[0]} labelled inputs resampled with replacement)"
        return x[rows], law
    u = jax.random.uniform(key, (m, len(laws.names)), jnp.float32)
    return np.asarray(laws.icdf(u), np.float64), f"the input laws declared by {laws.source}"


def _interval(r: np.ndarray, m: int, level: float) -> tuple[float, list[float]]:
    """Mean of the held-out residuals ``r`` and the level-``level`` interval for the mean of
    ``m`` new residuals of the same distribution: ``r_bar ± t_{n-1} s sqrt(1/n + 1/m)``."""
    n = r.shape[0]
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * np.std(r, ddof=1) * np.sqrt(1 / n + 1 / m))
    bias = float(np.mean(r))
    return bias, [bias - half, bias + half]


def _held_out_bias(
    split: Split, surrogates: Surrogates, m: int, level: float
) -> dict[str, float | int | list[float]]:
    """Mean held-out residual of the ensemble mean (first output, physical units) and its
    interval for the bias over ``m`` new inputs of the same distribution."""
    x = jnp.concatenate([split.x_cal, split.x_test])
    y = jnp.concatenate([split.y_cal, split.y_test])[:, 0]
    residual = (surrogates.main(x).mean[:, 0] - y) * float(split.y_scale[0])
    r = np.asarray(residual, np.float64)
    bias, interval = _interval(r, m, level)
    return {"bias": bias, "interval": interval, "n": int(r.shape[0])}
