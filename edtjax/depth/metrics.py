"""Out-of-distribution detection metrics (OOD is the positive class; higher score = more OOD)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_real
from edtjax._typing import ArrayLike

__all__ = ["aupr", "auroc", "fpr_at_tpr"]


def _scores(scores_in: ArrayLike, scores_out: ArrayLike) -> tuple[jax.Array, jax.Array]:
    scores_in = as_array("scores_in", scores_in, ndim=1)
    scores_out = as_array("scores_out", scores_out, ndim=1)
    if scores_in.shape[0] == 0:
        raise ValueError("scores_in must not be empty")
    if scores_out.shape[0] == 0:
        raise ValueError("scores_out must not be empty")
    dtype = jnp.promote_types(jnp.result_type(scores_in, scores_out), jnp.float32)
    return scores_in.astype(dtype), scores_out.astype(dtype)


@jax.jit
def _auroc(scores_in: jax.Array, scores_out: jax.Array) -> jax.Array:
    s = jnp.sort(scores_in)
    below = jnp.searchsorted(s, scores_out, side="left")
    ties = jnp.searchsorted(s, scores_out, side="right") - below
    return jnp.mean((below + 0.5 * ties) / s.shape[0])


def auroc(scores_in: ArrayLike, scores_out: ArrayLike) -> jax.Array:
    """Area under the ROC curve, ``P(S_out > S_in) + P(S_out = S_in) / 2``.

    The Mann-Whitney ``U`` statistic divided by ``n_in n_out``, computed by sorting the
    in-distribution scores and one binary search per OOD score: ``O((n_in + n_out) log n_in)``.

    Args:
        scores_in: ``(n_in,)`` scores of in-distribution points.
        scores_out: ``(n_out,)`` scores of OOD points.

    Returns:
        Scalar in ``[0, 1]``; 0.5 is chance.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import auroc
        >>> float(auroc(jnp.array([0.0, 1.0]), jnp.array([2.0, 0.5])))
        0.75

    References:
        Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a receiver
        operating characteristic (ROC) curve. Radiology 143(1), 29-36.
    """
    return _auroc(*_scores(scores_in, scores_out))


@jax.jit
def _aupr(scores_in: jax.Array, scores_out: jax.Array) -> jax.Array:
    s_in = jnp.sort(scores_in)
    s_out = jnp.sort(scores_out)
    tp = s_out.shape[0] - jnp.searchsorted(s_out, scores_out, side="left")
    fp = s_in.shape[0] - jnp.searchsorted(s_in, scores_out, side="left")
    tp = tp.astype(scores_in.dtype)  # int32 / int32 would divide in float32
    return jnp.mean(tp / (tp + fp))


def aupr(scores_in: ArrayLike, scores_out: ArrayLike) -> jax.Array:
    """Area under the precision-recall curve (average precision), OOD as positives.

    ``AP = (1 / n_out) Σ_{OOD points j} precision(s_j)`` with ``precision(t) = TP(t) / (TP(t) +
    FP(t))`` at threshold ``S >= t``: the step-wise integral ``Σ (R_k - R_{k-1}) P_k`` over the
    distinct thresholds. ``O((n_in + n_out) log(n_in + n_out))``.

    Args:
        scores_in: ``(n_in,)`` in-distribution scores.
        scores_out: ``(n_out,)`` OOD scores.

    Returns:
        Scalar in ``(0, 1]``; chance level is ``n_out / (n_in + n_out)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import aupr
        >>> float(aupr(jnp.array([0.0, 1.0]), jnp.array([2.0, 3.0])))
        1.0

    References:
        Davis, J. & Goadrich, M. (2006). The relationship between precision-recall and ROC
        curves. ICML 2006.
    """
    return _aupr(*_scores(scores_in, scores_out))


@functools.partial(jax.jit, static_argnames=("rank",))
def _fpr(scores_in: jax.Array, scores_out: jax.Array, rank: int) -> jax.Array:
    threshold = jnp.sort(scores_out)[::-1][rank]
    return jnp.mean((scores_in >= threshold).astype(scores_in.dtype))


def fpr_at_tpr(scores_in: ArrayLike, scores_out: ArrayLike, *, tpr: float = 0.95) -> jax.Array:
    """False-positive rate at the largest threshold whose true-positive rate is ``>= tpr``.

    With OOD as positives and the rule ``S >= t``, the threshold is the
    ``⌈tpr · n_out⌉``-th largest OOD score, and the result is the fraction of in-distribution
    scores at or above it (FPR at 95 % TPR for the default). ``O(n_out log n_out + n_in)``.

    Args:
        scores_in: ``(n_in,)`` in-distribution scores.
        scores_out: ``(n_out,)`` OOD scores.
        tpr: target true-positive rate in ``(0, 1]``.

    Returns:
        Scalar in ``[0, 1]``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import fpr_at_tpr
        >>> float(fpr_at_tpr(jnp.array([0.0, 1.0, 2.0]), jnp.array([1.5, 3.0])))
        0.3333333432674408

    References:
        Liang, S., Li, Y. & Srikant, R. (2018). Enhancing the reliability of out-of-distribution
        image detection in neural networks. ICLR 2018.
    """
    tpr = check_real("tpr", tpr, minimum=0.0, maximum=1.0, strict_minimum=True)
    scores_in, scores_out = _scores(scores_in, scores_out)
    rank = max(math.ceil(tpr * scores_out.shape[0] - 1e-9), 1) - 1
    return _fpr(scores_in, scores_out, rank)
