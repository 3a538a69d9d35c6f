"""Functions as pytrees: their array leaves traced by ``jit``, the rest static.

A step function or log density written as a pytree (a ``jax.tree_util.Partial`` of a
module-level function, a registered dataclass) over data or tuned parameters compiles once for
all values of the same shapes and dtypes when its array leaves are passed to ``jit`` as traced
arguments and the rest as a static, hashable argument.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["join_arrays", "split_arrays"]


def split_arrays(tree: Any) -> tuple[Any, list[jax.Array]]:
    """``(static, arrays)``: the array leaves of a pytree of functions and what is left.

    ``static`` (the tree structure and every other leaf, with its type) is hashable and compared
    by value: a static argument of ``jit``; ``arrays`` are its traced arguments. A step function
    or log density written as a pytree (a ``jax.tree_util.Partial`` of a module-level function,
    a registered dataclass) over data or tuned parameters thus compiles once for all values of
    the same shapes and dtypes, while a plain closure is one static leaf (compared by
    identity). :func:`join_arrays` puts the pieces back together.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    arrays = [leaf for leaf in leaves if _is_array(leaf)]
    static = tuple(None if _is_array(leaf) else (type(leaf), leaf) for leaf in leaves)
    return (treedef, static), arrays


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def join_arrays(static: Any, arrays: list[jax.Array]) -> Any:
    """The pytree that :func:`split_arrays` split into ``static`` and ``arrays``."""
    treedef, rest = static
    supply = iter(arrays)
    return jax.tree_util.tree_unflatten(
        treedef, [next(supply) if r is None else r[1] for r in rest]
    )
