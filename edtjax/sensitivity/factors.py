"""The random factors of a sensitivity analysis: a pytree of univariate distributions."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from numpyro.distributions import Distribution

from edtjax._typing import PyTree

__all__ = ["Factors"]


def _is_distribution(x: object) -> bool:
    return isinstance(x, Distribution)


class Factors(NamedTuple):
    """A pytree of independent univariate numpyro distributions, flattened once.

    Each element of each (batched) distribution is one scalar factor, i.e. one column of a
    design on the unit cube; :meth:`values` maps unit rows through the inverse CDFs to a
    pytree of factor values shaped like the original, :meth:`group_ids` numbers the columns
    by group, and :meth:`split` turns a leading factor (or group) axis back into the pytree.
    Used by :func:`edtjax.sensitivity.sobol_indices`,
    :func:`edtjax.sensitivity.pick_freeze_indices` and :func:`edtjax.sensitivity.dgsm_indices`.

    Attributes:
        leaves: the distributions, in ``jax.tree.leaves`` order.
        treedef: the pytree structure they came from.

    Example:
        >>> import jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> f = Factors.from_tree({"a": dist.Uniform(0.0, 2.0), "b": dist.Normal(jnp.zeros(2))})
        >>> f.num_dims
        3
        >>> v = f.values(jnp.full((1, 3), 0.5))
        >>> float(v["a"][0]), v["b"].shape
        (1.0, (1, 2))
    """

    leaves: tuple[Distribution, ...]
    treedef: jax.tree_util.PyTreeDef

    @classmethod
    def from_tree(cls, factors: PyTree) -> Factors:
        """Flatten ``factors``; each leaf must be a univariate distribution with an ``icdf``.

        Raises:
            ValueError: an empty pytree, a leaf that is not a numpyro distribution (naming its
                path), a multivariate one, or one without an inverse CDF.
        """
        flat, treedef = jax.tree_util.tree_flatten_with_path(factors, is_leaf=_is_distribution)
        if not flat:
            raise ValueError("factors must hold at least one numpyro distribution")
        leaves = []
        for path, leaf in flat:
            where = jax.tree_util.keystr(path) or "<root>"
            if not _is_distribution(leaf):
                raise ValueError(
                    f"factors must be a pytree of numpyro distributions; factors{where} is a "
                    f"{type(leaf).__name__}"
                )
            if leaf.event_shape != ():
                raise ValueError(
                    f"factors{where} must be a univariate (batched) distribution, got event "
                    f"shape {leaf.event_shape}; split it into independent components"
                )
            try:
                leaf.icdf(jnp.full(leaf.batch_shape, 0.5))
            except (NotImplementedError, ImportError) as err:
                raise ValueError(
                    f"factors{where} ({type(leaf).__name__}) has no inverse CDF (icdf); "
                    "designs map uniform points through icdf, so use a distribution that has one"
                ) from err
            leaves.append(leaf)
        return cls(tuple(leaves), treedef)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Scalar factors per distribution (the product of its batch shape)."""
        return tuple(math.prod(leaf.batch_shape) for leaf in self.leaves)

    @property
    def num_dims(self) -> int:
        """``d``, the number of scalar factors (design columns)."""
        return sum(self.sizes)

    def values(self, u: jax.Array) -> PyTree:
        """Map unit rows ``u`` ``(m, d)`` to a pytree of factor values with leading axis ``m``
        (``icdf`` of each distribution, cast to ``u``'s dtype). Cost ``O(m d)``."""
        values, start = [], 0
        for leaf, size in zip(self.leaves, self.sizes, strict=True):
            block = u[:, start : start + size].reshape(u.shape[0], *leaf.batch_shape)
            values.append(leaf.icdf(block).astype(u.dtype))
            start += size
        return jax.tree.unflatten(self.treedef, values)

    def group_ids(self, groups: PyTree = None) -> tuple[tuple[int, ...], list | None]:
        """Column group ids ``(d,)`` and the sorted group labels.

        Args:
            groups: ``None`` (each scalar factor its own group; labels ``None``) or a pytree
                with the structure of the factors holding one sortable label per distribution.

        Raises:
            ValueError: ``groups`` of another structure, or labels that do not sort.
        """
        if groups is None:
            return tuple(range(self.num_dims)), None
        labels, gdef = jax.tree.flatten(groups)
        if gdef != self.treedef:
            raise ValueError(
                f"groups must have the structure of factors ({self.treedef}) with one label "
                f"per distribution, got {gdef}"
            )
        try:
            names = sorted(set(labels))
        except TypeError as err:
            raise ValueError("groups labels must be mutually sortable (e.g. all str)") from err
        ids: list[int] = []
        for label, size in zip(labels, self.sizes, strict=True):
            ids += [names.index(label)] * size
        return tuple(ids), names

    def split(self, x: jax.Array, names: list | None = None) -> PyTree:
        """Split the leading factor axis of ``x`` into a pytree like the factors (leaves
        ``(*batch_shape, *rest)``), or, with group ``names``, into a dict by label."""
        if names is not None:
            return {name: x[i] for i, name in enumerate(names)}
        out, start = [], 0
        for leaf, size in zip(self.leaves, self.sizes, strict=True):
            out.append(x[start : start + size].reshape(*leaf.batch_shape, *x.shape[1:]))
            start += size
        return jax.tree.unflatten(self.treedef, out)
