r"""Two-sample distribution-shift tests built on optimal transport, calibrated by permutation.

Given samples :math:`x_1..x_n \sim P` and :math:`y_1..y_m \sim Q`, both tests reject
:math:`H_0: P = Q` for large values of a statistic :math:`T`, with the permutation p-value

.. math::

    p = \frac{1 + \#\{b : T(\pi_b) \ge T_{\mathrm{obs}}\}}{1 + B},

where :math:`\pi_1..\pi_B` are uniform random relabellings of the pooled sample. Under
:math:`H_0` the pooled sample is exchangeable, so :math:`\Pr(p \le \alpha) \le \alpha` exactly,
for any :math:`n, m`. The permutations are ``vmap``-ped inside one ``jit``.

* :func:`sinkhorn_shift_test`: :math:`T = S_\varepsilon(\hat P_n, \hat Q_m)`, the Sinkhorn
  divergence. Cost :math:`O(B (n+m)^2 d)` per Sinkhorn iteration.
* :func:`rank_energy_shift_test`: :math:`T` is the energy distance between the exact
  center-outward ranks (:func:`~edtjax.transport.center_outward_ranks`) of the two groups, ranks
  being computed once on the pooled sample (Deb & Sen 2021). The ranks are distribution-free, so
  the test is consistent against all alternatives and its null law does not depend on :math:`P`.
  Cost: one :math:`(n+m)`-point assignment plus :math:`O(B (n+m)^2)`.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax import _checks
from edtjax._typing import ArrayLike
from edtjax.transport import sinkhorn as _sk
from edtjax.transport.ranks import center_outward_ranks

__all__ = ["PermutationTest", "rank_energy_shift_test", "sinkhorn_shift_test"]


class PermutationTest(NamedTuple):
    """Result of a permutation test.

    Attributes:
        statistic: observed statistic (scalar).
        p_value: permutation p-value in :math:`(0, 1]`.
        null_statistics: statistics of the ``B`` relabelled samples, shape ``(B,)``.
    """

    statistic: jax.Array
    p_value: jax.Array
    null_statistics: jax.Array


def _validate(x: ArrayLike, y: ArrayLike, num_permutations: object) -> tuple[jax.Array, int]:
    x, y = _sk._validate_clouds(x, y)
    _checks.check_int("num_permutations", num_permutations, minimum=1)
    return jnp.concatenate([x, y]), x.shape[0]


def _p_value(statistic: jax.Array, null: jax.Array) -> jax.Array:
    return (1.0 + jnp.sum(null >= statistic)) / (1.0 + null.shape[0])


def _permutations(key: jax.Array, total: int, num: int) -> jax.Array:
    return jax.vmap(lambda k: jax.random.permutation(k, total))(jax.random.split(key, num))


@partial(jax.jit, static_argnames=("n", "num_permutations", "threshold", "max_iterations"))
def _sinkhorn_test(key, z, epsilon, n, num_permutations, threshold, max_iterations):
    total = z.shape[0]
    if epsilon is None:
        # 0.05 std of the pooled cost matrix: invariant under relabelling, so every permuted
        # statistic uses the same epsilon as the observed one (computed without cancellation
        # at large offsets, with the fallback for equal costs, as in entropic_ot).
        epsilon = _sk._default_epsilon(z, z)
    a = jnp.full((n,), 1.0 / n, dtype=z.dtype)
    b = jnp.full((total - n,), 1.0 / (total - n), dtype=z.dtype)

    def stat(order: jax.Array) -> jax.Array:
        zz = z[order]
        return _sk._divergence(zz[:n], zz[n:], a, b, epsilon, threshold, max_iterations)

    observed = stat(jnp.arange(total))
    null = jax.vmap(stat)(_permutations(key, total, num_permutations))
    return PermutationTest(observed, _p_value(observed, null), null)


def sinkhorn_shift_test(
    key: jax.Array,
    x: ArrayLike,
    y: ArrayLike,
    *,
    num_permutations: int = 200,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> PermutationTest:
    r"""Permutation test of :math:`P = Q` with the Sinkhorn divergence as statistic.

    Args:
        key: PRNG key for the permutations.
        x: sample from :math:`P`, shape ``(n, d)``.
        y: sample from :math:`Q`, shape ``(m, d)``.
        num_permutations: number ``B`` of relabellings (static).
        epsilon: entropic regularisation; ``None`` uses :math:`0.05\,\mathrm{std}` of the pooled
            cost matrix, the same for every relabelling.
        threshold: Sinkhorn tolerance; max_iterations: Sinkhorn iteration cap.

    Returns:
        :class:`PermutationTest`. The statistic is differentiable in ``x`` and ``y``.

    Raises:
        ValueError: mismatched dimensions, fewer than 2 points, NaN/inf, ``epsilon <= 0``.

    Example:
        >>> import jax
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> x = jax.random.normal(k1, (40, 2))
        >>> y = jax.random.normal(k2, (40, 2)) + 1.0
        >>> res = sinkhorn_shift_test(k3, x, y, num_permutations=99)
        >>> float(res.p_value) <= 0.05
        True

    References:
        Feydy, J. et al. (2019). Interpolating between optimal transport and MMD using Sinkhorn
        divergences. AISTATS. Ramdas, A., García Trillos, N., Cuturi, M. (2017). On Wasserstein
        two-sample testing and related families of nonparametric tests. Entropy 19(2), 47.
    """
    z, n = _validate(x, y, num_permutations)
    _checks.check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    max_iterations = _checks.check_int("max_iterations", max_iterations, minimum=1)
    if epsilon is not None:
        _checks.check_real("epsilon", epsilon, minimum=0.0, strict_minimum=True)
        epsilon = jnp.asarray(epsilon, dtype=z.dtype)
    return _sinkhorn_test(
        key, z, epsilon, n, int(num_permutations), float(threshold), max_iterations
    )


def _energy(distances: jax.Array, labels: jax.Array) -> jax.Array:
    """Energy distance between the groups ``labels == 1`` and ``labels == 0``."""
    s = labels.astype(distances.dtype)
    t = 1.0 - s
    n, m = jnp.sum(s), jnp.sum(t)
    cross = s @ distances @ t / (n * m)
    within_x = s @ distances @ s / (n * n)
    within_y = t @ distances @ t / (m * m)
    return 2.0 * cross - within_x - within_y


@partial(jax.jit, static_argnames=("n", "num_permutations"))
def _rank_energy_test(key, ranks, n, num_permutations):
    total = ranks.shape[0]
    diff = ranks[:, None, :] - ranks[None, :, :]
    sq = jnp.sum(diff * diff, axis=-1)
    distances = jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)
    labels = jnp.arange(total) < n
    observed = _energy(distances, labels)
    perms = _permutations(key, total, num_permutations)
    null = jax.vmap(lambda p: _energy(distances, labels[p]))(perms)
    return PermutationTest(observed, _p_value(observed, null), null)


def rank_energy_shift_test(
    key: jax.Array, x: ArrayLike, y: ArrayLike, *, num_permutations: int = 200
) -> PermutationTest:
    r"""Distribution-free permutation test of :math:`P = Q` on center-outward ranks.

    The pooled sample :math:`z = (x, y)` gets its exact empirical center-outward distribution
    values :math:`\mathbf{F}_\pm^{(n+m)}(z_k)` (exact assignment, outside ``jit``); the statistic is
    the energy distance between the values of the two groups,

    .. math::

        T = \frac{2}{nm}\sum_{i,j} \|r_i - s_j\| - \frac{1}{n^2}\sum_{i,i'} \|r_i - r_{i'}\|
            - \frac{1}{m^2}\sum_{j,j'} \|s_j - s_{j'}\| .

    Args:
        key: PRNG key for the permutations.
        x: shape ``(n, d)``; y: shape ``(m, d)``.
        num_permutations: number ``B`` of relabellings (static).

    Note:
        The assignment runs in NumPy float64 on ``x`` and ``y`` as given, whatever JAX's x64
        setting (see :func:`~edtjax.transport.center_outward_ranks`).

    Returns:
        :class:`PermutationTest` (the statistic is piecewise constant, not differentiable).

    Raises:
        ValueError: mismatched dimensions, fewer than 2 points, NaN/inf.

    Example:
        >>> import jax
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> x = jax.random.normal(k1, (40, 2))
        >>> y = jax.random.normal(k2, (40, 2)) + 1.0
        >>> float(rank_energy_shift_test(k3, x, y, num_permutations=99).p_value) <= 0.05
        True

    References:
        Deb, N., Sen, B. (2021). Multivariate rank-based distribution-free nonparametric testing
        using measure transportation. J. Amer. Statist. Assoc. 118(541), 192-207. Hallin, M. et
        al. (2021). Ann. Statist. 49(2), 1139-1165.
    """
    z, n = _validate(x, y, num_permutations)
    # the exact assignment sees the inputs as given (float64 on the host), not their JAX copy
    # (float32 when x64 is off)
    z_host = np.concatenate([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    ranks = jnp.asarray(center_outward_ranks(z_host).distribution, dtype=z.dtype)
    return _rank_energy_test(key, ranks, n, int(num_permutations))
