r"""Optimal-transport comparison of neural-network weights, invariant to unit permutations.

*Layers.* A dense layer with kernel :math:`W \in \mathbb{R}^{p \times q}` (flax layout: inputs
by units) and bias :math:`b \in \mathbb{R}^q` is the point cloud of its :math:`q` units
:math:`w_k = (W_{:,k}, b_k) \in \mathbb{R}^{p+1}`. Two layers with the same fan-in are compared
by the Sinkhorn divergence between their unit clouds (uniform weights), which does not change
when the hidden units of either network are permuted — the symmetry that makes parameter-wise
distances between independently trained networks meaningless.

*Parameter distributions.* Ensembles, posterior samples or training snapshots are pytrees whose
leaves share a leading member axis; each member is flattened to a vector
(:func:`jax.flatten_util.ravel_pytree`) and the two member clouds are compared with the Sinkhorn
divergence.

Cost: three Sinkhorn solves, :math:`O((q_a+q_b)^2 p)` per iteration for layers and
:math:`O((k_a+k_b)^2 P)` for :math:`k` members of :math:`P` parameters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from edtjax import _checks
from edtjax._typing import ArrayLike, PyTree
from edtjax.transport.sinkhorn import sinkhorn_divergence

__all__ = ["layer_ot_distance", "layer_units", "parameter_ot_distance", "parameter_point_cloud"]


def layer_units(kernel: ArrayLike, bias: ArrayLike | None = None) -> jax.Array:
    r"""Point cloud of a dense layer's units: rows :math:`(W_{:,k}, b_k)`, shape ``(q, p[+1])``.

    Args:
        kernel: shape ``(p, q)`` (fan-in by units, flax ``Dense`` layout).
        bias: optional shape ``(q,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> layer_units(jnp.ones((3, 4)), jnp.zeros(4)).shape
        (4, 4)

    References:
        Singh, S. P., Jaggi, M. (2020). Model fusion via optimal transport. NeurIPS 33.
    """
    kernel = _checks.as_array("kernel", kernel, ndim=2)
    units = kernel.T
    if bias is None:
        return units
    bias = _checks.as_array("bias", bias, ndim=1)
    if bias.shape[0] != kernel.shape[1]:
        raise ValueError(
            f"bias must have one entry per unit ({kernel.shape[1]}), got {bias.shape[0]}"
        )
    return jnp.concatenate([units, bias[:, None].astype(units.dtype)], axis=1)


def _cloud_divergence(
    cloud_a: jax.Array, cloud_b: jax.Array, requirement: str, **solver: Any
) -> jax.Array:
    """Sinkhorn divergence of two clouds after checking they live in the same dimension."""
    if cloud_a.shape[1] != cloud_b.shape[1]:
        raise ValueError(f"{requirement}, got {cloud_a.shape[1]} and {cloud_b.shape[1]}")
    return sinkhorn_divergence(cloud_a, cloud_b, **solver)


def layer_ot_distance(
    kernel_a: ArrayLike,
    kernel_b: ArrayLike,
    *,
    bias_a: ArrayLike | None = None,
    bias_b: ArrayLike | None = None,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> jax.Array:
    r"""Sinkhorn divergence between the unit clouds of two dense layers (same fan-in).

    Args:
        kernel_a: ``(p, q_a)``; kernel_b: ``(p, q_b)`` (widths may differ).
        bias_a, bias_b: optional biases ``(q_a,)``, ``(q_b,)``; give both or neither.
        epsilon, threshold, max_iterations: see :func:`~edtjax.transport.sinkhorn_divergence`.

    Returns:
        Scalar, :math:`\ge 0`, zero for identical layers up to a permutation of units,
        differentiable in the weights.

    Raises:
        ValueError: different fan-in, only one bias given, NaN/inf, ``epsilon <= 0``.

    Example:
        >>> import jax
        >>> w = jax.random.normal(jax.random.key(0), (5, 16))
        >>> float(layer_ot_distance(w, w[:, ::-1], epsilon=0.1)) < 1e-4
        True

    References:
        Singh, S. P., Jaggi, M. (2020). Model fusion via optimal transport. NeurIPS 33.
        Feydy, J. et al. (2019). Sinkhorn divergences. AISTATS.
    """
    if (bias_a is None) != (bias_b is None):
        raise ValueError("bias_a and bias_b must be given together or both omitted")
    units_a = layer_units(kernel_a, bias_a)
    units_b = layer_units(kernel_b, bias_b)
    return _cloud_divergence(
        units_a,
        units_b,
        "kernel_a and kernel_b must have the same fan-in",
        epsilon=epsilon,
        threshold=threshold,
        max_iterations=max_iterations,
    )


def parameter_point_cloud(params: PyTree) -> jax.Array:
    """Flatten a pytree of stacked parameters (leading member axis) to ``(members, P)``.

    Example:
        >>> import jax.numpy as jnp
        >>> parameter_point_cloud({"w": jnp.zeros((4, 3, 2)), "b": jnp.zeros((4, 2))}).shape
        (4, 8)

    References:
        Lakshminarayanan, B. et al. (2017). Simple and scalable predictive uncertainty
        estimation using deep ensembles. NeurIPS 30.
    """
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array leaf")
    sizes = {int(jnp.shape(leaf)[0]) if jnp.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "params leaves must share a leading member axis, got leading sizes "
            f"{sorted(sizes, key=str)}"
        )
    for i, leaf in enumerate(leaves):
        _checks.check_finite(f"params leaf {i}", leaf)
    return jax.vmap(lambda member: ravel_pytree(member)[0])(params)


def parameter_ot_distance(
    params_a: PyTree,
    params_b: PyTree,
    *,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> jax.Array:
    r"""Sinkhorn divergence between two parameter distributions given as stacked pytrees.

    Args:
        params_a: pytree whose leaves have a leading member axis (``k_a`` members).
        params_b: pytree with the same structure and leaf shapes after the member axis.
        epsilon, threshold, max_iterations: see :func:`~edtjax.transport.sinkhorn_divergence`.

    Returns:
        Scalar divergence between the member clouds in :math:`\mathbb{R}^P`.

    Raises:
        ValueError: different structures or parameter counts, fewer than 2 members, NaN/inf.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> k1, k2 = jax.random.split(jax.random.key(0))
        >>> a = {"w": jax.random.normal(k1, (20, 3))}
        >>> b = {"w": jax.random.normal(k2, (30, 3)) + 2.0}
        >>> float(parameter_ot_distance(a, b, epsilon=0.1)) > 8.0
        True

    References:
        Feydy, J. et al. (2019). Sinkhorn divergences. AISTATS.
    """
    struct_a = jax.tree_util.tree_structure(params_a)
    struct_b = jax.tree_util.tree_structure(params_b)
    if struct_a != struct_b:
        raise ValueError(
            f"params_a and params_b must have the same structure, got {struct_a} and {struct_b}"
        )
    cloud_a = parameter_point_cloud(params_a)
    cloud_b = parameter_point_cloud(params_b)
    return _cloud_divergence(
        cloud_a,
        cloud_b,
        "params_a and params_b must have the same number of parameters per member",
        epsilon=epsilon,
        threshold=threshold,
        max_iterations=max_iterations,
    )
