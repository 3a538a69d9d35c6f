"""Refinement: the inputs the guard sent to the simulator become training data.

Deployed under :func:`edtjax.hybrid.guarded`, a surrogate already pays for a simulation at every
input its indicator rejects; :func:`refine` adds those simulated inputs to the training set,
refits the surrogate and recalibrates the guard, and repeats, recording after every round the
fallback rate and the error on a test set of the deployment law against the number of simulator
calls spent on training data. The same loop with ``selection="random"`` adds the same numbers of
inputs drawn at random from each round's batch, the baseline the fallback strategy is compared
with.

References:
    Settles, B. (2009). Active learning literature survey. Computer Sciences Technical Report
    1648, University of Wisconsin-Madison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array, check_choice
from edtjax._typing import ArrayLike, PRNGKey
from edtjax.hybrid.guard import GuardCalibration, GuardedOutput, guarded

__all__ = ["RefineResult", "refine"]


class RefineResult(NamedTuple):
    """Learning curve of :func:`refine` over ``R`` rounds (entry 0: before any refinement).

    Attributes:
        simulator_calls: ``(R + 1,)`` size of the training set (initial runs plus the simulated
            inputs added so far).
        added: ``(R,)`` inputs added per round.
        fallback_rate: ``(R + 1,)`` share of the test inputs the guard sent to the simulator.
        surrogate_rmse: ``(R + 1, p)`` root mean squared error of the surrogate's mean on the
            test inputs, per output.
        hybrid_rmse: ``(R + 1, p)`` the same for the guarded output (the surrogate's error on
            the accepted test inputs, zero on the fallback ones, averaged over all).
        x_train: ``(n + Σ added, d)`` final training inputs.
        y_train: ``(n + Σ added, p)`` final training outputs.
    """

    simulator_calls: np.ndarray
    added: np.ndarray
    fallback_rate: np.ndarray
    surrogate_rmse: np.ndarray
    hybrid_rmse: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray


def refine(
    key: jax.Array,
    fit: Callable[[jax.Array, np.ndarray, np.ndarray], tuple[Callable, GuardCalibration]],
    simulator: Callable[[jax.Array], ArrayLike],
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_rounds: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    *,
    alpha: float,
    max_interval_width: ArrayLike | None = None,
    host_simulator: bool = False,
    selection: str = "fallback",
    n_added: Sequence[int] | None = None,
) -> RefineResult:
    r"""Refine a guarded surrogate with its own fallback runs (or with random runs).

    Round :math:`r = 1, \dots, R`: fit (``fit(key_r, x, y) -> (surrogate, calibration)``,
    which splits its data into fitting and calibration parts as it sees fit), guard
    (:func:`guarded` at level ``alpha``), evaluate the guard on the ``m`` inputs
    ``x_rounds[r - 1]`` (the inputs met in deployment during round :math:`r`), then add to the
    training set

    * ``selection="fallback"``: the inputs that fell back, with the simulator outputs the guard
      computed for them (no extra simulation);
    * ``selection="random"``: ``n_added[r - 1]`` inputs of ``x_rounds[r - 1]`` drawn without
      replacement (from ``key``), simulated.

    Before the first round and after each, the guard is evaluated on ``x_test`` (fallback rate,
    errors against ``y_test``). Passing ``n_added=result.added`` of a fallback run gives the
    random baseline with the same simulator budget per round. No guarantee of improvement is
    claimed: the fallback inputs are the ones the indicator finds far from the data, which is
    where new data teach the surrogate most when the deployment law has moved, and at level
    ``α`` about an ``α`` share of in-domain inputs is added too.

    Args:
        key: PRNG key (one per refit, and the random draws).
        fit: ``fit(key, x (n, d), y (n, p)) -> (surrogate, GuardCalibration)``.
        simulator: ``x (k, d) -> (k, p)``, as in :func:`guarded`.
        x_train: ``(n, d)`` initial training inputs.
        y_train: ``(n, p)`` their simulator outputs.
        x_rounds: ``(R, m, d)`` deployment inputs, one batch per round.
        x_test: ``(t, d)`` test inputs of the deployment law.
        y_test: ``(t, p)`` their simulator outputs.
        alpha: level of the guard.
        max_interval_width: interval tolerance of the guard (see :func:`guarded`).
        host_simulator: the simulator is a NumPy function (see :func:`guarded`).
        selection: ``"fallback"`` or ``"random"``.
        n_added: ``R`` counts in ``[0, m]``, required for ``"random"``.

    Returns:
        :class:`RefineResult` (NumPy arrays). Cost: ``R + 1`` fits and guard evaluations on
        ``m + t`` inputs (each refit is a new surrogate, so the guard compiles again), plus
        ``Σ n_added`` simulations for ``"random"``.

    Raises:
        ValueError: shapes that disagree, a bad ``selection``, missing or bad ``n_added``.

    Example:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> from edtjax.hybrid import calibrate_guard
        >>> from edtjax.reliability import mahalanobis_indicator
        >>> from edtjax.surrogates import Predictive
        >>> sim = lambda x: jnp.sin(x[:, :1]) + x[:, 1:]
        >>> ind = mahalanobis_indicator()
        >>> def fit(key, x, y):  # linear least squares, calibrated on the last third
        ...     k = 2 * x.shape[0] // 3
        ...     a = jnp.c_[x[:k], jnp.ones(k)]
        ...     w = jnp.linalg.lstsq(a, y[:k])[0]
        ...     f = lambda z: Predictive(mean=jnp.c_[z, jnp.ones(z.shape[0])] @ w)
        ...     return f, calibrate_guard(f, ind, ind.fit(None, x[:k]), x[k:], y[k:])
        >>> x0 = jax.random.normal(jax.random.key(0), (60, 2))
        >>> pool = jax.random.normal(jax.random.key(1), (3, 40, 2)) + jnp.array([2.0, 0.0])
        >>> test = jax.random.normal(jax.random.key(2), (100, 2)) + jnp.array([2.0, 0.0])
        >>> res = refine(jax.random.key(3), fit, sim, x0, sim(x0), pool, test, sim(test),
        ...              alpha=0.1)
        >>> res.fallback_rate.shape, int(res.simulator_calls[-1]) == 60 + int(res.added.sum())
        ((4,), True)

    References:
        Settles, B. (2009). Active learning literature survey. University of
        Wisconsin-Madison, CS Tech. Rep. 1648.
    """
    if not callable(fit):
        raise ValueError(f"fit must be callable, got {type(fit).__name__}")
    selection = check_choice("selection", selection, ("fallback", "random"))
    x = np.asarray(as_array("x_train", x_train, ndim=2))
    y = np.asarray(as_array("y_train", y_train, ndim=2))
    pools = np.asarray(as_array("x_rounds", x_rounds, ndim=3))
    xt = as_array("x_test", x_test, ndim=2)
    yt = np.asarray(as_array("y_test", y_test, ndim=2))
    d, p = x.shape[1], y.shape[1]
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y_train must have {x.shape[0]} rows like x_train, got {y.shape[0]}")
    if pools.shape[2] != d or xt.shape[1] != d:
        raise ValueError(
            f"x_rounds (R, m, d) and x_test (t, d) must have d = {d} columns like x_train, got "
            f"{pools.shape} and {xt.shape}"
        )
    if yt.shape != (xt.shape[0], p):
        raise ValueError(f"y_test must have shape ({xt.shape[0]}, {p}), got {yt.shape}")
    rounds, m = pools.shape[:2]
    if selection == "random":
        if n_added is None or len(n_added) != rounds:
            raise ValueError(f"n_added must give {rounds} counts (one per round) for 'random'")
        counts = [int(c) for c in n_added]
        if any(c < 0 or c > m for c in counts):
            raise ValueError(f"n_added must be counts in [0, {m}], got {counts}")

    keys = jax.random.split(key, 2 * rounds + 1)
    calls, added, rates, s_rmse, h_rmse = [x.shape[0]], [], [], [], []

    def fit_and_test(k: PRNGKey) -> Callable[[jax.Array], GuardedOutput]:
        surrogate, calibration = fit(k, x, y)
        evaluate = guarded(
            surrogate,
            simulator,
            calibration,
            alpha=alpha,
            max_interval_width=max_interval_width,
            host_simulator=host_simulator,
        )
        res = evaluate(xt)
        used = np.asarray(res.used_surrogate)
        err = np.asarray(surrogate(xt).mean, np.float64) - yt
        rates.append(1.0 - used.mean())
        s_rmse.append(np.sqrt(np.mean(err**2, axis=0)))
        h_rmse.append(np.sqrt(np.mean(np.where(used[:, None], err, 0.0) ** 2, axis=0)))
        return evaluate

    for r in range(rounds):
        evaluate = fit_and_test(keys[2 * r])
        pool = pools[r]
        if selection == "fallback":
            res = evaluate(jnp.asarray(pool))
            take = ~np.asarray(res.used_surrogate)
            x_new, y_new = pool[take], np.asarray(res.output)[take]
        else:
            rows = np.asarray(jax.random.permutation(keys[2 * r + 1], m))[: counts[r]]
            x_new = pool[rows]
            y_new = np.asarray(simulator(x_new)) if len(rows) else np.zeros((0, p))
        x = np.concatenate([x, x_new.astype(x.dtype)])
        y = np.concatenate([y, y_new.astype(y.dtype)])
        added.append(x_new.shape[0])
        calls.append(x.shape[0])
    fit_and_test(keys[-1])
    return RefineResult(
        simulator_calls=np.asarray(calls),
        added=np.asarray(added, int),
        fallback_rate=np.asarray(rates),
        surrogate_rmse=np.asarray(s_rmse),
        hybrid_rmse=np.asarray(h_rmse),
        x_train=x,
        y_train=y,
    )
