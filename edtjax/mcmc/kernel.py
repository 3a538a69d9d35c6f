"""The transition-kernel interface shared by every sampler in edtjax."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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
