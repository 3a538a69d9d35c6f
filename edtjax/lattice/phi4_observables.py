r"""Observables of scalar :math:`\phi^4` lattice fields and exact free-field results.

Per-configuration observables act on one field of shape ``(L_1, ..., L_d)`` (``vmap`` them over
chains and samples): the magnetisation :math:`m = V^{-1}\sum_x \phi_x`, :math:`|m|`, the
translation-averaged two-point function :math:`C(x) = V^{-1}\sum_y \phi_y\phi_{y+x}` (by FFT, cost
:math:`O(V\log V)`) and its momentum-space form :math:`\tilde C(p) = |\tilde\phi(p)|^2/V`, and
the action per site. Ensemble estimators act on samples (leading axis): the connected two-point
function :math:`G_c(x) = \langle C(x)\rangle - \langle m\rangle^2`, the zero-momentum
susceptibility :math:`\chi = \sum_x G_c(x) = V(\langle m^2\rangle - \langle m\rangle^2)` (no
factor :math:`\beta`, which the couplings absorb; the Ising convention carries one, see
:func:`susceptibility`) and the Binder cumulant
:math:`U_4 = 1 - \langle m^4\rangle / (3\langle m^2\rangle^2)`.

The free theory (zero quartic coupling) is Gaussian; with the action written as
:math:`\sum_x[-c\,\phi_x\sum_\mu\phi_{x+\hat\mu} + a\phi_x^2]` its exact propagator on the finite
periodic lattice is

.. math::

    G(p) = \frac{1}{2a - 2c\sum_\mu \cos p_\mu}, \qquad p_\mu = \frac{2\pi n_\mu}{L_\mu},

which in the mass form is the familiar :math:`G(p) = 1/(\hat p^2 + m^2)` with
:math:`\hat p^2 = \sum_\mu 4\sin^2(p_\mu/2)`, and :math:`G(p)/(2\kappa)` in the hopping form.
Then :math:`\langle\phi_x^2\rangle = V^{-1}\sum_p G(p)`, :math:`\chi = G(0)`, and
:math:`\langle S\rangle / V = 1/2 + s_0` (equipartition).

References:
    I. Montvay and G. Münster, *Quantum Fields on a Lattice*, Cambridge University Press (1994).
    M. S. Albergo, G. Kanwar and P. E. Shanahan, Phys. Rev. D 100, 034515 (2019),
    arXiv:1904.12072 (two-point function and susceptibility estimators).
    K. Binder, Z. Phys. B 43, 119 (1981) (the cumulant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import check_int
from edtjax._typing import ArrayLike
from edtjax.lattice.phi4 import (
    Couplings,
    HoppingCouplings,
    MassCouplings,
    check_couplings,
    local_coefficients,
    phi4_action,
)

__all__ = [
    "FreeFieldExact",
    "abs_magnetisation",
    "action_per_site",
    "binder_cumulant",
    "connected_two_point",
    "free_field_exact",
    "magnetisation",
    "momentum_two_point",
    "susceptibility",
    "two_point_function",
]


def magnetisation(phi: jax.Array) -> jax.Array:
    r"""Magnetisation :math:`m = V^{-1}\sum_x\phi_x` of one configuration (any shape).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import magnetisation
        >>> float(magnetisation(jnp.array([[1.0, -1.0], [2.0, 2.0]])))
        1.0

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    return jnp.mean(phi)


def abs_magnetisation(phi: jax.Array) -> jax.Array:
    r""":math:`|m|` of one configuration; the order parameter on a finite lattice.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import abs_magnetisation
        >>> float(abs_magnetisation(-jnp.ones((2, 2))))
        1.0

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    return jnp.abs(jnp.mean(phi))


def action_per_site(phi: jax.Array, couplings: Couplings) -> jax.Array:
    r""":math:`S[\phi]/V` of one configuration (see :func:`edtjax.lattice.phi4_action`).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import HoppingCouplings, action_per_site
        >>> round(float(action_per_site(jnp.ones((4, 4)), HoppingCouplings(kappa=0.1, lam=0.5))), 4)
        0.6

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    return phi4_action(phi, couplings) / phi.size


def momentum_two_point(phi: jax.Array) -> jax.Array:
    r"""Momentum-space two-point function :math:`\tilde C(p) = |\tilde\phi(p)|^2 / V` of one
    configuration, on the FFT momentum grid :math:`p_\mu = 2\pi n_\mu / L_\mu`.

    Its ensemble mean is the propagator :math:`G(p)` (for :math:`p \ne 0` in any phase, and at
    :math:`p = 0` when :math:`\langle m\rangle = 0`). Cost :math:`O(V\log V)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import momentum_two_point
        >>> float(momentum_two_point(jnp.ones((4, 4)))[0, 0])
        16.0

    References:
        Albergo, Kanwar and Shanahan, Phys. Rev. D 100, 034515 (2019).
    """
    phi_p = jnp.fft.fftn(phi)
    return (jnp.abs(phi_p) ** 2 / phi.size).astype(phi.dtype)


def two_point_function(phi: jax.Array) -> jax.Array:
    r"""Translation-averaged two-point function :math:`C(x) = V^{-1}\sum_y\phi_y\phi_{y+x}` of one
    configuration, shape of ``phi`` (periodic separations). Cost :math:`O(V\log V)` by FFT.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import two_point_function
        >>> float(two_point_function(2.0 * jnp.ones((4, 4)))[1, 2])
        4.0

    References:
        Albergo, Kanwar and Shanahan, Phys. Rev. D 100, 034515 (2019).
    """
    phi_p = jnp.fft.fftn(phi)
    return (jnp.fft.ifftn(jnp.abs(phi_p) ** 2).real / phi.size).astype(phi.dtype)


def connected_two_point(two_point: jax.Array, magnetisations: jax.Array) -> jax.Array:
    r"""Connected two-point function :math:`G_c(x) = \langle C(x)\rangle - \langle m\rangle^2`.

    Args:
        two_point: samples of :func:`two_point_function`, shape ``(n, L_1, ..., L_d)``.
        magnetisations: matching samples of :func:`magnetisation`, shape ``(n,)``.

    Returns:
        :math:`G_c(x)`, shape ``(L_1, ..., L_d)``; :math:`\sum_x G_c(x) = \chi`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import connected_two_point
        >>> c = jnp.stack([jnp.ones((2, 2)), 3.0 * jnp.ones((2, 2))])
        >>> float(connected_two_point(c, jnp.array([1.0, -1.0]))[0, 0])
        2.0

    References:
        Albergo, Kanwar and Shanahan, Phys. Rev. D 100, 034515 (2019), eq. (20).
    """
    return jnp.mean(two_point, axis=0) - jnp.mean(magnetisations) ** 2


def susceptibility(magnetisations: jax.Array, volume: int, *, beta: ArrayLike) -> jax.Array:
    r"""Susceptibility :math:`\chi = \beta V(\langle m^2\rangle - \langle m\rangle^2)`.

    One definition for both models, :math:`\chi = \partial\langle m\rangle/\partial h`, the linear
    response of the magnetisation per site to a uniform field :math:`h`; the two conventions
    differ only in where :math:`\beta` sits, so ``beta`` has no default and every call says which:

    * :math:`\phi^4` (weight :math:`e^{-S}`, inverse temperature absorbed into the couplings,
      source :math:`-h\sum_x\phi_x` in :math:`S`): ``beta=1``, and
      :math:`\chi = V\operatorname{Var}(m) = \sum_x G_c(x) = \tilde G_c(p=0)`, the
      zero-momentum connected two-point function, as in the ``"susceptibility"`` of
      :func:`edtjax.lattice.sample_phi4` and :attr:`FreeFieldExact.susceptibility` (Montvay and
      Münster 1994; Albergo et al. 2019).
    * Ising (weight :math:`e^{-\beta H}`, field :math:`-h\sum_i s_i` in :math:`H`): the inverse
      temperature, and :math:`\chi = \beta N\operatorname{Var}(m)`, as in the ``"susceptibility"``
      of :func:`edtjax.lattice.ising_summary` and
      :attr:`IsingEnumeration.susceptibility <edtjax.lattice.IsingEnumeration>` (Newman and
      Barkema 1999). The Ising :math:`\chi/\beta` is the quantity comparable to the
      :math:`\phi^4` one.

    Args:
        magnetisations: samples of the magnetisation per site :math:`m`, any shape (all axes
            averaged).
        volume: number of lattice sites :math:`V`.
        beta: keyword-only, required: the factor multiplying the fluctuation, ``1`` for
            :math:`\phi^4`, the inverse temperature for the Ising model.

    Returns:
        Scalar estimate (a ratio-type estimator; get its error with
        :func:`edtjax.mcmc.derived_error`).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import susceptibility
        >>> float(susceptibility(jnp.array([1.0, -1.0]), 4, beta=1.0))  # phi^4 convention
        4.0
        >>> float(susceptibility(jnp.array([1.0, -1.0]), 4, beta=0.5))  # Ising at beta = 0.5
        2.0

    References:
        Albergo, Kanwar and Shanahan, Phys. Rev. D 100, 034515 (2019), eq. (21);
        Montvay and Münster, *Quantum Fields on a Lattice* (1994);
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, eq. (3.16).
    """
    return beta * volume * (jnp.mean(magnetisations**2) - jnp.mean(magnetisations) ** 2)


def binder_cumulant(magnetisations: jax.Array) -> jax.Array:
    r"""Binder cumulant :math:`U_4 = 1 - \langle m^4\rangle / (3\langle m^2\rangle^2)`.

    Zero for a Gaussian magnetisation (free field, symmetric phase at large volume), 2/3 deep in
    the broken phase.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import binder_cumulant
        >>> round(float(binder_cumulant(jnp.array([1.0, -1.0]))), 6)
        0.666667

    References:
        K. Binder, "Finite size scaling analysis of Ising model block distribution functions",
        Z. Phys. B 43, 119 (1981).
    """
    m2 = jnp.mean(magnetisations**2)
    return 1.0 - jnp.mean(magnetisations**4) / (3.0 * m2**2)


class FreeFieldExact(NamedTuple):
    r"""Exact free-field results on a finite periodic lattice (couplings' field normalisation).

    Attributes:
        propagator: :math:`G(p)` on the FFT momentum grid, shape ``(L_1, ..., L_d)``.
        position_propagator: :math:`G(x) = V^{-1}\sum_p e^{ipx} G(p)`, same shape.
        phi_squared: :math:`\langle\phi_x^2\rangle = G(x=0)`.
        susceptibility: :math:`\chi = G(p=0) = V\operatorname{Var}(m)`, the :math:`\phi^4`
            convention without a factor :math:`\beta` (see :func:`susceptibility`).
        action_per_site: :math:`\langle S\rangle / V`.
    """

    propagator: jax.Array
    position_propagator: jax.Array
    phi_squared: jax.Array
    susceptibility: jax.Array
    action_per_site: jax.Array


def free_field_exact(
    shape: Sequence[int], couplings: Couplings, dtype: jnp.dtype | None = None
) -> FreeFieldExact:
    r"""Exact propagator, :math:`\langle\phi^2\rangle`, :math:`\chi` and :math:`\langle S\rangle/V`
    of the free theory (zero quartic coupling) by the Fourier sum over lattice momenta.

    :math:`G(p) = 1/(2a - 2c\sum_\mu\cos p_\mu)`, i.e. :math:`1/(\hat p^2 + m^2)` in the mass form
    and :math:`1/(2(1 - 2\kappa\sum_\mu\cos p_\mu))` in the hopping form. Cost
    :math:`O(V\log V)`. Use float64 (the ``x64`` mode) for reference values to many digits.

    Args:
        shape: lattice shape ``(L_1, ..., L_d)``, every side >= 2.
        couplings: :class:`HoppingCouplings` with ``lam = 0`` and :math:`|\kappa| < 1/(2d)`, or
            :class:`MassCouplings` with ``g = 0`` and :math:`m^2 > 0`.
        dtype: floating dtype of the results (default: JAX's default float).

    Returns:
        :class:`FreeFieldExact`.

    Raises:
        ValueError: bad shape, an interacting theory, or a non-normalisable free theory.

    Example:
        >>> from edtjax.lattice import MassCouplings, free_field_exact
        >>> exact = free_field_exact((8, 8), MassCouplings(mass_squared=0.5, g=0.0))
        >>> float(exact.susceptibility)
        2.0

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    if isinstance(shape, int) or len(shape) < 1:
        raise ValueError(f"shape must be a non-empty sequence of lattice sides, got {shape!r}")
    shape = tuple(check_int(f"shape[{i}]", s, minimum=2) for i, s in enumerate(shape))
    ndim = len(shape)
    check_couplings(couplings, ndim)
    quartic = couplings.lam if isinstance(couplings, HoppingCouplings) else couplings.g
    if float(quartic) != 0.0:
        name = "couplings.lam" if isinstance(couplings, HoppingCouplings) else "couplings.g"
        raise ValueError(f"{name} must be 0 for the exact free-field results, got {quartic}")
    if isinstance(couplings, MassCouplings) and float(couplings.mass_squared) <= 0.0:
        raise ValueError(f"couplings.mass_squared must be > 0, got {couplings.mass_squared}")
    dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
    c, a, _, s0 = local_coefficients(couplings, ndim)
    cos_sum = jnp.zeros(shape, dtype)
    for axis, side in enumerate(shape):
        p = 2.0 * math.pi * jnp.arange(side, dtype=dtype) / side
        cos_sum = cos_sum + jnp.cos(p).reshape([side if i == axis else 1 for i in range(ndim)])
    propagator = 1.0 / (2.0 * a - 2.0 * c * cos_sum)
    position = jnp.fft.ifftn(propagator).real.astype(dtype)
    return FreeFieldExact(
        propagator=propagator,
        position_propagator=position,
        phi_squared=jnp.mean(propagator),
        susceptibility=propagator[(0,) * ndim],
        action_per_site=jnp.asarray(0.5 + s0, dtype),
    )
