r"""Euclidean scalar :math:`\phi^4` lattice action in two parameterisations.

The field lives on a periodic hypercubic lattice of any dimension :math:`d` (the rank of the
field array; :math:`d = 2` in most uses). Two standard forms of the same theory are supported.

**Hopping form** (:class:`HoppingCouplings`, parameters :math:`\kappa, \lambda`):

.. math::

    S_\kappa[\phi] = \sum_x \Big[ -2\kappa \sum_{\mu=1}^{d} \phi_x \phi_{x+\hat\mu}
        + \phi_x^2 + \lambda (\phi_x^2 - 1)^2 \Big].

**Mass form** (:class:`MassCouplings`, parameters :math:`m^2, g`), the naive discretisation of the
continuum action with the :math:`g/4!` normalisation of the quartic term:

.. math::

    S_m[\varphi] = \sum_x \Big[ \tfrac12 \sum_{\mu=1}^{d} (\varphi_{x+\hat\mu} - \varphi_x)^2
        + \tfrac{m^2}{2} \varphi_x^2 + \tfrac{g}{4!} \varphi_x^4 \Big].

**The map between them** (Montvay & Münster 1994, the lattice :math:`\phi^4` model): with the
field rescaling :math:`\varphi_x = \sqrt{2\kappa}\,\phi_x` and

.. math::

    m^2 = \frac{1 - 2\lambda}{\kappa} - 2d, \qquad g = \frac{6\lambda}{\kappa^2},

one has :math:`S_\kappa[\phi] = S_m[\sqrt{2\kappa}\,\phi] + \lambda V` exactly, with :math:`V` the
number of sites. The inverse map is the positive root of
:math:`(g/3)\kappa^2 + (m^2 + 2d)\kappa - 1 = 0`,
:math:`\kappa = 2 / \big(m^2 + 2d + \sqrt{(m^2 + 2d)^2 + 4g/3}\big)`, and
:math:`\lambda = g\kappa^2/6`. The two log-densities therefore differ by a constant (the
:math:`\lambda V` term and the Jacobian :math:`(2\kappa)^{V/2}` of the rescaling), so expectation
values agree after rescaling the fields: :math:`\langle \varphi\varphi \rangle = 2\kappa
\langle \phi\phi \rangle`.

Both forms are written internally as
:math:`S = \sum_x [-c\,\phi_x \sum_\mu \phi_{x+\hat\mu} + a\,\phi_x^2 + b\,\phi_x^4] + s_0`
(:func:`local_coefficients`), which the local Metropolis kernel also uses.

Cost: one action evaluation is :math:`O(d V)`; its gradient (by ``jax.grad``) the same.

References:
    I. Montvay and G. Münster, *Quantum Fields on a Lattice*, Cambridge University Press (1994),
    chapter on the scalar :math:`\phi^4` model.
    M. S. Albergo, G. Kanwar and P. E. Shanahan, "Flow-based generative models for Markov chain
    Monte Carlo in lattice field theory", Phys. Rev. D 100, 034515 (2019), arXiv:1904.12072.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import check_int, check_real, is_concrete
from edtjax._typing import ArrayLike

__all__ = [
    "HoppingCouplings",
    "LocalCoefficients",
    "MassCouplings",
    "hopping_to_mass",
    "local_coefficients",
    "mass_to_hopping",
    "phi4_action",
    "phi4_logdensity_fn",
]


class HoppingCouplings(NamedTuple):
    r"""Couplings of the hopping form :math:`(\kappa, \lambda)`; see the module docstring.

    Attributes:
        kappa: hopping parameter :math:`\kappa`.
        lam: quartic coupling :math:`\lambda \ge 0`.
    """

    kappa: ArrayLike
    lam: ArrayLike


class MassCouplings(NamedTuple):
    r"""Couplings of the mass form :math:`(m^2, g)`; see the module docstring.

    Attributes:
        mass_squared: bare mass squared :math:`m^2` (may be negative when :math:`g > 0`).
        g: quartic coupling :math:`g \ge 0` of the :math:`g\varphi^4/4!` term.
    """

    mass_squared: ArrayLike
    g: ArrayLike


class LocalCoefficients(NamedTuple):
    r"""Coefficients of :math:`S = \sum_x [-c\,\phi_x\sum_\mu\phi_{x+\hat\mu} + a\phi_x^2
    + b\phi_x^4] + s_0\,V`.

    Attributes:
        hopping: :math:`c` (``2 kappa`` in the hopping form, ``1`` in the mass form).
        quadratic: :math:`a` (``1 - 2 lam`` or ``d + m^2/2``).
        quartic: :math:`b` (``lam`` or ``g/24``).
        constant: :math:`s_0`, the constant per site (``lam`` or ``0``).
    """

    hopping: ArrayLike
    quadratic: ArrayLike
    quartic: ArrayLike
    constant: ArrayLike


Couplings = HoppingCouplings | MassCouplings


def hopping_to_mass(couplings: HoppingCouplings, ndim: int) -> MassCouplings:
    r"""Map hopping-form couplings :math:`(\kappa, \lambda)` to the mass form :math:`(m^2, g)`.

    :math:`m^2 = (1 - 2\lambda)/\kappa - 2d` and :math:`g = 6\lambda/\kappa^2`; the fields map as
    :math:`\varphi = \sqrt{2\kappa}\,\phi`. Requires :math:`\kappa > 0`. Differentiable in the
    couplings.

    Args:
        couplings: :class:`HoppingCouplings` with ``kappa > 0`` and ``lam >= 0``.
        ndim: lattice dimension :math:`d`.

    Returns:
        The equivalent :class:`MassCouplings`.

    Example:
        >>> from edtjax.lattice import HoppingCouplings, hopping_to_mass
        >>> hopping_to_mass(HoppingCouplings(kappa=0.2, lam=0.0), ndim=2)
        MassCouplings(mass_squared=1.0, g=0.0)

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    ndim = check_int("ndim", ndim, minimum=1)
    kappa = check_real("couplings.kappa", couplings.kappa, minimum=0.0, strict_minimum=True)
    lam = check_real("couplings.lam", couplings.lam, minimum=0.0)
    return MassCouplings(
        mass_squared=(1.0 - 2.0 * lam) / kappa - 2.0 * ndim, g=6.0 * lam / kappa**2
    )


def mass_to_hopping(couplings: MassCouplings, ndim: int) -> HoppingCouplings:
    r"""Map mass-form couplings :math:`(m^2, g)` to the hopping form :math:`(\kappa, \lambda)`.

    :math:`\kappa = 2 / (m^2 + 2d + \sqrt{(m^2 + 2d)^2 + 4g/3})` (the positive root of
    :math:`(g/3)\kappa^2 + (m^2 + 2d)\kappa - 1 = 0`) and :math:`\lambda = g\kappa^2/6`.
    For :math:`g = 0` this needs :math:`m^2 + 2d > 0`. Differentiable in the couplings.

    Args:
        couplings: :class:`MassCouplings` with ``g >= 0``.
        ndim: lattice dimension :math:`d`.

    Returns:
        The equivalent :class:`HoppingCouplings`.

    Example:
        >>> from edtjax.lattice import MassCouplings, mass_to_hopping
        >>> mass_to_hopping(MassCouplings(mass_squared=1.0, g=0.0), ndim=2)
        HoppingCouplings(kappa=0.2, lam=0.0)

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    ndim = check_int("ndim", ndim, minimum=1)
    m2 = check_real("couplings.mass_squared", couplings.mass_squared)
    g = check_real("couplings.g", couplings.g, minimum=0.0)
    if is_concrete(m2) and is_concrete(g) and g == 0.0 and m2 + 2 * ndim <= 0.0:
        raise ValueError(
            f"couplings.mass_squared must be > {-2 * ndim} when g = 0 (no hopping form), got {m2}"
        )
    shifted = m2 + 2.0 * ndim
    if is_concrete(shifted) and is_concrete(g):
        kappa = 2.0 / (shifted + math.sqrt(shifted**2 + 4.0 * g / 3.0))
    else:
        kappa = 2.0 / (shifted + jnp.sqrt(shifted**2 + 4.0 * g / 3.0))
    return HoppingCouplings(kappa=kappa, lam=g * kappa**2 / 6.0)


def local_coefficients(couplings: Couplings, ndim: int) -> LocalCoefficients:
    r"""Coefficients :math:`(c, a, b, s_0)` of the action in the common form (module docstring).

    Args:
        couplings: :class:`HoppingCouplings` or :class:`MassCouplings`.
        ndim: lattice dimension :math:`d`.

    Returns:
        :class:`LocalCoefficients`.

    Example:
        >>> from edtjax.lattice import HoppingCouplings, local_coefficients
        >>> local_coefficients(HoppingCouplings(kappa=0.25, lam=0.5), ndim=2)
        LocalCoefficients(hopping=0.5, quadratic=0.0, quartic=0.5, constant=0.5)

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    if isinstance(couplings, HoppingCouplings):
        kappa, lam = couplings
        return LocalCoefficients(2.0 * kappa, 1.0 - 2.0 * lam, lam, lam)
    if isinstance(couplings, MassCouplings):
        m2, g = couplings
        return LocalCoefficients(1.0, ndim + 0.5 * m2, g / 24.0, 0.0)
    raise ValueError(
        f"couplings must be HoppingCouplings or MassCouplings, got {type(couplings).__name__}"
    )


def check_couplings(couplings: object, ndim: int) -> Couplings:
    """Validate couplings at a public boundary (concrete values only) and return them.

    Rejects NaN/inf, a negative quartic coupling, and free theories (zero quartic coupling) whose
    Gaussian weight is not normalisable (``kappa >= 1/(2d)``, or ``m^2 <= 0``).
    """
    if isinstance(couplings, HoppingCouplings):
        kappa = check_real("couplings.kappa", couplings.kappa)
        lam = check_real("couplings.lam", couplings.lam, minimum=0.0)
        if is_concrete(kappa) and is_concrete(lam) and lam == 0.0 and abs(kappa) >= 0.5 / ndim:
            raise ValueError(
                f"couplings.kappa must satisfy |kappa| < 1/(2d) = {0.5 / ndim} when lam = 0 "
                f"(otherwise the free field is not normalisable), got {kappa}"
            )
        return couplings
    if isinstance(couplings, MassCouplings):
        m2 = check_real("couplings.mass_squared", couplings.mass_squared)
        g = check_real("couplings.g", couplings.g, minimum=0.0)
        if is_concrete(m2) and is_concrete(g) and g == 0.0 and m2 <= 0.0:
            raise ValueError(
                f"couplings.mass_squared must be > 0 when g = 0 (otherwise the free field is "
                f"not normalisable), got {m2}"
            )
        return couplings
    raise ValueError(
        f"couplings must be HoppingCouplings or MassCouplings, got {type(couplings).__name__}"
    )


def neighbour_sum(phi: jax.Array) -> jax.Array:
    r"""Sum of the :math:`2d` nearest neighbours,
    :math:`\sum_\mu(\phi_{x+\hat\mu}+\phi_{x-\hat\mu})`, periodic in every axis."""
    total = jnp.zeros_like(phi)
    for axis in range(phi.ndim):
        total = total + jnp.roll(phi, 1, axis) + jnp.roll(phi, -1, axis)
    return total


def phi4_action(phi: jax.Array, couplings: Couplings) -> jax.Array:
    r"""Euclidean action :math:`S[\phi]` of one field configuration (either parameterisation).

    The field's rank is the lattice dimension :math:`d`; boundaries are periodic. Differentiable in
    the field and in the couplings; ``vmap`` it over a batch of fields. Cost :math:`O(dV)`.

    Args:
        phi: field of shape ``(L_1, ..., L_d)``, floating dtype (kept for the result).
        couplings: :class:`HoppingCouplings` or :class:`MassCouplings`.

    Returns:
        Scalar action, dtype of ``phi``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import HoppingCouplings, phi4_action
        >>> round(float(phi4_action(jnp.ones((4, 4)), HoppingCouplings(kappa=0.1, lam=0.5))), 4)
        9.6

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994); Albergo, Kanwar and Shanahan,
        Phys. Rev. D 100, 034515 (2019).
    """
    c, a, b, s0 = local_coefficients(couplings, phi.ndim)
    forward = jnp.zeros_like(phi)
    for axis in range(phi.ndim):
        forward = forward + jnp.roll(phi, -1, axis)
    phi2 = phi * phi
    density = -c * phi * forward + a * phi2 + b * phi2 * phi2 + s0
    return jnp.sum(density).astype(phi.dtype)


def phi4_logdensity_fn(couplings: Couplings, ndim: int = 2) -> Callable:
    r"""Log-density :math:`\log p(\phi) = -S[\phi]` (unnormalised) for blackjax samplers.

    The returned function takes one field array ``(L_1, ..., L_d)`` with ``d = ndim`` and returns
    a scalar, so it can be passed directly to ``blackjax.hmc``, ``blackjax.nuts``,
    ``blackjax.mala`` or ``blackjax.window_adaptation``. Cost :math:`O(dV)` per evaluation.

    Args:
        couplings: :class:`HoppingCouplings` or :class:`MassCouplings`.
        ndim: lattice dimension :math:`d`; fields of another rank are rejected.

    Returns:
        ``logdensity(phi) -> scalar``.

    Raises:
        ValueError: for NaN/inf or negative quartic couplings, a free theory (zero quartic
            coupling) that is not normalisable, or (when called) a field of the wrong rank.

    Example:
        >>> import jax, jax.numpy as jnp, blackjax
        >>> from edtjax.lattice import HoppingCouplings, phi4_logdensity_fn
        >>> logdensity = phi4_logdensity_fn(HoppingCouplings(kappa=0.2, lam=0.1))
        >>> hmc = blackjax.hmc(logdensity, 0.1, jnp.ones(16), num_integration_steps=10)
        >>> state = hmc.init(jnp.zeros((4, 4)))
        >>> state, info = hmc.step(jax.random.key(0), state)

    References:
        Montvay and Münster, *Quantum Fields on a Lattice* (1994).
    """
    ndim = check_int("ndim", ndim, minimum=1)
    check_couplings(couplings, ndim)

    def logdensity(phi: jax.Array) -> jax.Array:
        if jnp.ndim(phi) != ndim:
            raise ValueError(
                f"phi must have {ndim} dimension(s) (one field configuration), "
                f"got shape {jnp.shape(phi)}"
            )
        return -phi4_action(phi, couplings)

    return logdensity
