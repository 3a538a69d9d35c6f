"""The transition-kernel interface shared by every sampler in edtjax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from edtjax._typing import PRNGKey, PyTree

__all__ = ["Kernel"]


class Kernel(NamedTuple):
    """A Markov transition kernel as a pair of pure functions (blackjax's ``SamplingAlgorithm``).

    Attributes:
        init: ``init(position) -> state``; builds the sampler state of one chain from a position
            (a spin or field configuration, or any pytree).
        step: ``step(key, state) -> (state, info)``; one transition of one chain. ``info`` is a
            pytree of per-step diagnostics (acceptance rate, cluster count, ...).

    Any blackjax ``SamplingAlgorithm`` already has this shape and can be passed wherever a
    ``Kernel`` is expected. A ``step`` that depends on data or tuned values is best written as
    a ``jax.tree_util.Partial`` of a module-level function with those arrays as arguments:
    :func:`~edtjax.mcmc.run_chains` then traces them, and a kernel rebuilt for new values of
    the same shapes reuses its compilation (a closure is compiled per function object).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import Kernel
        >>> def step(key, x):
        ...     return 0.5 * x + jax.random.normal(key), {}
        >>> ar1 = Kernel(init=lambda x: x, step=step)
        >>> state, _ = ar1.step(jax.random.key(0), ar1.init(jnp.zeros(())))
    """

    init: Callable[[PyTree], PyTree]
    step: Callable[[PRNGKey, PyTree], tuple[PyTree, PyTree]]


def _split_arrays(tree: Any) -> tuple[Any, list[jax.Array]]:
    """``(static, arrays)``: the array leaves of a pytree of functions and what is left.

    ``static`` (the tree structure and every other leaf, with its type) is hashable and compared
    by value: a static argument of ``jit``; ``arrays`` are its traced arguments. A step function
    or log density written as a pytree (a ``jax.tree_util.Partial`` of a module-level function,
    a registered dataclass) over data or tuned parameters thus compiles once for all values of
    the same shapes and dtypes, while a plain closure is one static leaf (compared by
    identity). :func:`_join_arrays` puts the pieces back together.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    arrays = [leaf for leaf in leaves if _is_array(leaf)]
    static = tuple(None if _is_array(leaf) else (type(leaf), leaf) for leaf in leaves)
    return (treedef, static), arrays


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def _join_arrays(static: Any, arrays: list[jax.Array]) -> Any:
    """The pytree that :func:`_split_arrays` split into ``static`` and ``arrays``."""
    treedef, rest = static
    supply = iter(arrays)
    return jax.tree_util.tree_unflatten(
        treedef, [next(supply) if r is None else r[1] for r in rest]
    )
