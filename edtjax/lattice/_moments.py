r"""Derived lattice observables shared by the samplers' summaries.

The connected second moment :math:`\langle x^2\rangle - \langle x\rangle^2` (specific heat and
susceptibility up to a factor) and the Binder cumulant
:math:`U_4 = 1 - \langle m^4\rangle / (3\langle m^2\rangle^2)` are functions of sample means that
:func:`edtjax.mcmc.derived_error` propagates errors through. They live at module level so that
the compiled error analysis, for which they are static arguments, is reused across calls.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from edtjax._typing import ArrayLike
from edtjax.mcmc import GammaResult


def connected_moment(means: dict[str, jax.Array]) -> jax.Array:
    """``<x^2> - <x>^2`` from the means ``{"x": <x>, "x2": <x^2>}``."""
    return means["x2"] - means["x"] ** 2


def binder_cumulant(means: dict[str, jax.Array]) -> jax.Array:
    """``1 - <m^4> / (3 <m^2>^2)`` from the means ``{"m2": <m^2>, "m4": <m^4>}``."""
    return 1.0 - means["m4"] / (3.0 * means["m2"] ** 2)


def scaled(result: GammaResult, factor: ArrayLike) -> GammaResult:
    """The Gamma-method result of ``factor * F`` given that of ``F`` (mean, error, variance)."""
    return result._replace(
        mean=factor * result.mean,
        error=jnp.abs(factor) * result.error,
        variance=factor**2 * result.variance,
    )
