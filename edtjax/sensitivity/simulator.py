"""Sobol' indices of a black-box simulator: NumPy in, NumPy out, run batch by batch."""

from __future__ import annotations

import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from edtjax._checks import check_int
from edtjax._typing import ArrayLike, DTypeLike, PRNGKey
from edtjax.sensitivity.designs import saltelli_design
from edtjax.sensitivity.estimators import IndexEstimates, sobol_indices_from_outputs

__all__ = ["simulator_sobol_indices"]


def simulator_sobol_indices(
    key: PRNGKey,
    simulator: Callable[[np.ndarray], ArrayLike],
    num_dims: int,
    num_samples: int,
    *,
    to_inputs: Callable[[jax.Array], ArrayLike] | None = None,
    second_order: bool = False,
    estimator: str = "janon2014",
    num_bootstrap: int = 0,
    confidence: float = 0.95,
    dtype: DTypeLike | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> IndexEstimates:
    r"""First, total (and second) order Sobol' indices of a simulator that is not a JAX function.

    The scrambled Sobol' Saltelli design on the unit cube (:func:`saltelli_design`,
    ``N (d + 2)`` rows, ``N (2d + 2)`` with second order) is mapped to the simulator's inputs by
    ``to_inputs`` (inverse CDFs of independent input laws; the identity, i.e. uniform inputs on
    ``[0, 1]^d``, by default), the simulator runs on float64 NumPy rows ``batch_size`` at a
    time (with a progress bar when ``progress``), and the pick-freeze outputs go to
    :func:`sobol_indices_from_outputs`, the estimators of :func:`sobol_indices`:

    .. math:: S_i = \frac{\operatorname{Var}(E[Y \mid X_i])}{\operatorname{Var}(Y)}, \qquad
        T_i = \frac{E[\operatorname{Var}(Y \mid X_{\sim i})]}{\operatorname{Var}(Y)}.

    Use :func:`sobol_indices` when the model is a JAX function (it is then jitted, vmapped and
    chunked on the device); this entry point is for expensive external codes whose runs should
    be watched, failing loudly on a bad run.

    Args:
        key: PRNG key (design scramble, then bootstrap).
        simulator: ``(b, d)`` float64 NumPy inputs to ``(b,)`` or ``(b, o)`` finite outputs.
        num_dims: ``d``, the number of inputs.
        num_samples: ``N``, a power of two.
        to_inputs: ``(k, d)`` unit-cube rows (``dtype``) to ``(k, d)`` simulator inputs, or
            ``None`` for the identity.
        second_order: also second-order indices (``N d`` more runs).
        estimator: first-order estimator, as in :func:`sobol_indices_from_outputs`.
        num_bootstrap: bootstrap resamples (0: delta-method intervals only).
        confidence: level of the intervals, in ``(0, 1)``.
        dtype: dtype of the design and of the estimator's arithmetic; ``None`` for JAX's
            default float (float64 when x64 is enabled).
        batch_size: rows per simulator call, or ``None`` for one call.
        progress: show a progress bar of the runs on stderr.

    Returns:
        :class:`IndexEstimates` over the ``d`` inputs (output axes after the input axis).
        Cost: the simulator runs plus ``O(N d o)`` (``O(N d^2 o)`` with second order).

    Raises:
        ValueError: a bad ``num_dims``, ``num_samples`` or ``batch_size``, or simulator
            outputs of the wrong shape or not finite (naming the first bad row).

    Example:
        >>> import jax, numpy as np
        >>> est = simulator_sobol_indices(
        ...     jax.random.key(0), lambda x: x[:, 0] + 0.1 * x[:, 1], 2, 1024)
        >>> bool(est.first_order[0] > 0.95)
        True

    References:
        Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output.
        Design and estimator for the total sensitivity index. Comput. Phys. Commun. 181,
        259-270.
    """
    d = check_int("num_dims", num_dims, minimum=1)
    n = check_int("num_samples", num_samples, minimum=2)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1)
    dtype = jnp.result_type(float) if dtype is None else dtype
    k_design, k_boot = jax.random.split(key)
    design = saltelli_design(k_design, n, d, second_order=second_order, dtype=dtype)
    blocks = [design.a, design.b, design.ab.reshape(-1, d)]
    if second_order:
        blocks.append(design.ba.reshape(-1, d))
    units = jnp.concatenate(blocks, axis=0)
    x = np.asarray(units if to_inputs is None else to_inputs(units), np.float64)
    rows = x.shape[0]
    step = rows if batch_size is None else batch_size
    outputs = []
    with tqdm(total=rows, file=sys.stderr, unit="run", disable=not progress) as bar:
        for start in range(0, rows, step):
            block = x[start : start + step]
            y = np.asarray(simulator(block), np.float64)
            if y.ndim not in (1, 2) or y.shape[0] != block.shape[0]:
                raise ValueError(
                    f"simulator must return outputs of shape ({block.shape[0]},) or "
                    f"({block.shape[0]}, o) for {block.shape} inputs, got shape {y.shape}"
                )
            bad = np.flatnonzero(~np.isfinite(y.reshape(y.shape[0], -1)).all(axis=1))
            if bad.size:
                raise ValueError(
                    f"simulator returned non-finite outputs at {bad.size} row(s); the first "
                    f"at inputs {block[bad[0]].tolist()}"
                )
            outputs.append(y)
            bar.update(block.shape[0])
    y = jnp.asarray(np.concatenate(outputs), dtype)
    y_ab = y[2 * n : (d + 2) * n].reshape(d, n, *y.shape[1:])
    y_ba = y[(d + 2) * n :].reshape(d, n, *y.shape[1:]) if second_order else None
    return sobol_indices_from_outputs(
        k_boot,
        y[:n],
        y[n : 2 * n],
        y_ab,
        y_ba,
        estimator=estimator,
        num_bootstrap=num_bootstrap,
        confidence=confidence,
    )
