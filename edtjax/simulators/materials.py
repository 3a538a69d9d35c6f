"""Material laws of hyperstoichiometric uranium dioxide UO2+x as pluggable pure functions.

A :class:`MaterialLaws` bundles the five constitutive functions the thermodiffusion solver needs,
each a pure, differentiable function of temperature ``T`` (K) and stoichiometry deviation ``x``
(dimensionless, O/U = 2 + x), together with the ranges of ``T`` and ``x`` where the laws hold.
Any law can be replaced by a user function with the same signature (``jnp`` arrays broadcast
elementwise), e.g. to study model-form uncertainty.

The published defaults (:data:`MIHAILA_2009_LAWS`) are the correlations used by Ramirez et al.
(2006) and Mihaila et al. (2009) for coupled heat and oxygen transport in UO2+x fuel:

* thermal conductivity (W m^-1 K^-1), phonon term reduced by oxygen interstitials plus a
  radiative/ambipolar term,
  ``k = lambda0 * arctan(theta) / theta + C T^3``, ``lambda0 = 1 / (A + B T)``,
  ``theta = D exp(E T) sqrt(2 x lambda0)``, with A = 3.24e-2 m K W^-1, B = 2.51e-4 m W^-1,
  C = 5.95e-11 W m^-1 K^-4, D = 3.67, E = -4.73e-4 K^-1;
* molar heat capacity (J mol^-1 K^-1),
  ``c_p = 52.174 + 45.806 x + (87.951e-3 - 7.3461e-2 x) T
  + (1 - x)(-84.241e-6 T^2 + 31.542e-9 T^3 - 2.6334e-12 T^4) + (-713910 - 295090 x) / T^2``,
  turned into a volumetric heat capacity with the theoretical density 10960 kg m^-3 and the
  molar mass (270.03 + 16.00 x) g mol^-1 (thermal expansion neglected);
* oxygen chemical diffusivity,
  ``log10 D = -9.386 - 4.26e3 / T + 1.2e-3 T x + 7.5e-4 T log10((2 + x) / x)``; its value is
  read in m^2 s^-1 here, which puts it at 1e-11 to 1e-10 m^2 s^-1 around 1300-1400 K, the
  range of measured chemical diffusion coefficients of oxygen in UO2+x;
* heat of transport (J mol^-1), ``Q* = -1380.8 - 134435.5 exp(-x / 0.0261)``;
* thermodynamic factor, ``F = (2 + x) / (2 (1 - 3x)(1 - 2x))``.

The ranges checked by the solver are 300 K <= T <= 1800 K and 0 < x <= 0.2: the upper bound on
x is that of the stoichiometry data behind the correlations (``F`` has a pole at x = 1/3 and
``D`` needs x > 0); the temperature bounds are a modelling choice bracketing pellet temperatures
in normal operation, not a published limit of every law.

Cost: every law is elementwise, O(n) in the number of evaluation points.

References:
    J. C. Ramirez, M. Stan, P. Cristea, "Simulations of heat and oxygen diffusion in UO2
    nuclear fuel rods", J. Nucl. Mater. 359 (2006) 174-184.

    B. Mihaila, M. Stan, J. Ramirez, A. Zubelewicz, P. Cristea, "Simulations of coupled heat
    transport, oxygen diffusion, and thermal expansion in UO2 nuclear fuel elements",
    J. Nucl. Mater. 394 (2009) 182-189.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._typing import ArrayLike

__all__ = [
    "GAS_CONSTANT",
    "MIHAILA_2009_LAWS",
    "MaterialLaws",
    "constant_laws",
    "uo2x_heat_of_transport",
    "uo2x_oxygen_diffusivity",
    "uo2x_thermal_conductivity",
    "uo2x_thermodynamic_factor",
    "uo2x_volumetric_heat_capacity",
]

GAS_CONSTANT = 8.314462618
"""Molar gas constant R in J mol^-1 K^-1."""

_THEORETICAL_DENSITY = 10960.0  # kg m^-3
_MOLAR_MASS_UO2 = 270.03e-3  # kg mol^-1
_MOLAR_MASS_O = 16.00e-3  # kg mol^-1

Law = Callable[..., object]


class MaterialLaws(NamedTuple):
    """Constitutive laws of the fuel, each ``law(T, x) -> array`` (``F`` takes ``x`` only).

    Attributes:
        thermal_conductivity: ``k(T, x)`` in W m^-1 K^-1.
        volumetric_heat_capacity: ``rho c_p(T, x)`` in J m^-3 K^-1.
        oxygen_diffusivity: ``D(T, x)`` in m^2 s^-1.
        heat_of_transport: ``Q*(T, x)`` in J mol^-1.
        thermodynamic_factor: ``F(x)``, dimensionless.
        temperature_range: ``(T_min, T_max)`` in K where the laws hold.
        x_range: ``(x_min, x_max)``; ``x_min < x <= x_max`` is required.

    The solver takes the laws as a static argument of ``jit``, so a compiled solver is reused
    for every :class:`MaterialLaws` that compares equal (and hashes equal) to one seen before.
    Equality is field by field: the ranges by value, the laws as the callables compare, which
    for plain functions is identity. Define a user law once (a module-level function, or a
    hashable callable object whose ``__eq__``/``__hash__`` compare its constants, like the
    laws of :func:`constant_laws`) and reuse it: a ``lambda`` or closure created anew on each
    call is a new static argument and compiles the solver again.
    """

    thermal_conductivity: Law
    volumetric_heat_capacity: Law
    oxygen_diffusivity: Law
    heat_of_transport: Law
    thermodynamic_factor: Law
    temperature_range: tuple[float, float]
    x_range: tuple[float, float]


def _arctan_ratio_of_square(theta2):
    """``arctan(theta) / theta`` as a function of ``theta^2 >= 0``, smooth at 0.

    Written in ``theta^2`` so that the conductivity is differentiable in ``x`` at ``x = 0``
    (``theta^2`` is linear in ``x``, ``theta`` is not).
    """
    small = theta2 < 1e-6
    safe = jnp.sqrt(jnp.where(small, 1.0, theta2))
    return jnp.where(small, 1.0 - theta2 / 3.0 + theta2**2 / 5.0, jnp.arctan(safe) / safe)


def uo2x_thermal_conductivity(temperature: ArrayLike, x: ArrayLike) -> jax.Array:
    """Thermal conductivity of UO2+x (Ramirez et al. 2006; Mihaila et al. 2009), W m^-1 K^-1.

    ``k = lambda0 arctan(theta)/theta + C T^3`` with ``lambda0 = 1/(A + B T)`` and
    ``theta = D exp(E T) sqrt(2 x lambda0)``; at x = 0 it reduces to the stoichiometric law
    ``1/(A + B T) + C T^3``.

    Args:
        temperature: temperature in K, any shape.
        x: stoichiometry deviation (>= 0), broadcastable with ``temperature``.

    Returns:
        Conductivity with the broadcast shape.

    Example:
        >>> import jax.numpy as jnp
        >>> k = uo2x_thermal_conductivity(jnp.array(1000.0), jnp.array(0.0))
        >>> bool(jnp.abs(k - (1 / (3.24e-2 + 0.251) + 5.95e-2)) < 1e-4)
        True

    References:
        Ramirez, Stan, Cristea, J. Nucl. Mater. 359 (2006) 174; Mihaila et al., J. Nucl. Mater.
        394 (2009) 182.
    """
    lambda0 = 1.0 / (3.24e-2 + 2.51e-4 * temperature)
    theta2 = 3.67**2 * jnp.exp(-2 * 4.73e-4 * temperature) * 2.0 * x * lambda0
    return lambda0 * _arctan_ratio_of_square(theta2) + 5.95e-11 * temperature**3


def uo2x_volumetric_heat_capacity(temperature: ArrayLike, x: ArrayLike) -> jax.Array:
    """Volumetric heat capacity ``rho c_p`` of UO2+x in J m^-3 K^-1 (Mihaila et al. 2009).

    Molar ``c_p`` of the module docstring times density 10960 kg m^-3 over the molar mass
    (270.03 + 16.00 x) g mol^-1.

    Example:
        >>> import jax.numpy as jnp
        >>> rc = uo2x_volumetric_heat_capacity(jnp.array(1000.0), jnp.array(0.0))
        >>> bool(3.0e6 < rc < 3.9e6)
        True

    References:
        Mihaila et al., J. Nucl. Mater. 394 (2009) 182.
    """
    t = temperature
    cp = (
        52.174
        + 45.806 * x
        + (87.951e-3 - 7.3461e-2 * x) * t
        + (1.0 - x) * (-84.241e-6 * t**2 + 31.542e-9 * t**3 - 2.6334e-12 * t**4)
        + (-713910.0 - 295090.0 * x) / t**2
    )
    return _THEORETICAL_DENSITY * cp / (_MOLAR_MASS_UO2 + _MOLAR_MASS_O * x)


def uo2x_oxygen_diffusivity(temperature: ArrayLike, x: ArrayLike) -> jax.Array:
    """Oxygen chemical diffusivity of UO2+x in m^2 s^-1 (Ramirez et al. 2006).

    ``log10 D = -9.386 - 4.26e3/T + 1.2e-3 T x + 7.5e-4 T log10((2 + x)/x)``; needs ``x > 0``.

    Example:
        >>> import jax.numpy as jnp
        >>> d = uo2x_oxygen_diffusivity(jnp.array(1400.0), jnp.array(0.01))
        >>> bool(1e-11 < d < 1e-9)
        True

    References:
        Ramirez, Stan, Cristea, J. Nucl. Mater. 359 (2006) 174; Mihaila et al., J. Nucl. Mater.
        394 (2009) 182.
    """
    t = temperature
    log10_d = -9.386 - 4.26e3 / t + 1.2e-3 * t * x + 7.5e-4 * t * jnp.log10((2.0 + x) / x)
    return 10.0**log10_d


def uo2x_heat_of_transport(temperature: ArrayLike, x: ArrayLike) -> jax.Array:
    """Heat of transport of oxygen in UO2+x, ``Q* = -1380.8 - 134435.5 exp(-x/0.0261)`` J/mol.

    ``temperature`` only sets the broadcast shape (the law does not depend on it).

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(uo2x_heat_of_transport(jnp.array(1000.0), jnp.array(0.0))), 1)
        -135816.3

    References:
        Ramirez, Stan, Cristea, J. Nucl. Mater. 359 (2006) 174.
    """
    return -1380.8 - 134435.5 * jnp.exp(-x / 0.0261) + 0.0 * temperature


def uo2x_thermodynamic_factor(x: ArrayLike) -> jax.Array:
    """Thermodynamic factor ``F(x) = (2 + x) / (2 (1 - 3x)(1 - 2x))`` of UO2+x.

    Example:
        >>> import jax.numpy as jnp
        >>> float(uo2x_thermodynamic_factor(jnp.array(0.0)))
        1.0

    References:
        Ramirez, Stan, Cristea, J. Nucl. Mater. 359 (2006) 174.
    """
    return (2.0 + x) / (2.0 * (1.0 - 3.0 * x) * (1.0 - 2.0 * x))


MIHAILA_2009_LAWS = MaterialLaws(
    thermal_conductivity=uo2x_thermal_conductivity,
    volumetric_heat_capacity=uo2x_volumetric_heat_capacity,
    oxygen_diffusivity=uo2x_oxygen_diffusivity,
    heat_of_transport=uo2x_heat_of_transport,
    thermodynamic_factor=uo2x_thermodynamic_factor,
    temperature_range=(300.0, 1800.0),
    x_range=(0.0, 0.2),
)
"""Default UO2+x laws of Ramirez et al. (2006) / Mihaila et al. (2009)."""


@dataclasses.dataclass(frozen=True)
class _ConstantLaw:
    """The law ``(T, x) -> value`` broadcast to the shape of ``T`` and ``x``; compares by value."""

    value: float

    def __call__(self, temperature, x):
        return jnp.full(
            jnp.broadcast_shapes(jnp.shape(temperature), jnp.shape(x)),
            self.value,
            dtype=jnp.result_type(temperature, x),
        )


def _unit_thermodynamic_factor(x):
    """``F(x) = 1``."""
    return jnp.ones_like(x)


def constant_laws(
    conductivity: float,
    volumetric_heat_capacity: float,
    diffusivity: float,
    heat_of_transport: float,
    *,
    temperature_range: tuple[float, float] = (1.0, 1e4),
    x_range: tuple[float, float] = (0.0, 1.0),
) -> MaterialLaws:
    """Constant-coefficient laws (``F = 1``), used for closed-form verification.

    Each law is a frozen dataclass holding its constant, so two calls with equal values give
    equal (and equally hashed) :class:`MaterialLaws` and the solver compiled for the first is
    reused by the second.

    With these laws the steady temperature is ``T_s + q (R^2 - r^2) / (4 k)`` and the
    zero-flux steady oxygen profile is ``C exp(Q* / (R_gas T(r)))``.

    Args:
        conductivity: k in W m^-1 K^-1 (> 0).
        volumetric_heat_capacity: rho c_p in J m^-3 K^-1 (> 0).
        diffusivity: D in m^2 s^-1 (> 0).
        heat_of_transport: Q* in J mol^-1 (0 switches the Soret term off).
        temperature_range: validity range reported by the laws.
        x_range: validity range reported by the laws.

    Returns:
        A :class:`MaterialLaws`.

    Example:
        >>> laws = constant_laws(3.0, 3.0e6, 1e-10, 0.0)
        >>> float(laws.thermal_conductivity(1000.0, 0.01))
        3.0
        >>> laws == constant_laws(3.0, 3.0e6, 1e-10, 0.0)
        True

    References:
        Mihaila et al., J. Nucl. Mater. 394 (2009) 182 (the equations these laws close).
    """
    k, rc, d, q = (
        float(v) for v in (conductivity, volumetric_heat_capacity, diffusivity, heat_of_transport)
    )
    if not (k > 0 and rc > 0 and d > 0):
        raise ValueError(
            "conductivity, volumetric_heat_capacity and diffusivity must be > 0, "
            f"got {k}, {rc}, {d}"
        )
    if not math.isfinite(k + rc + d + q):
        raise ValueError(
            "conductivity, volumetric_heat_capacity, diffusivity and heat_of_transport must be "
            f"finite, got {k}, {rc}, {d}, {q}"
        )
    return MaterialLaws(
        thermal_conductivity=_ConstantLaw(k),
        volumetric_heat_capacity=_ConstantLaw(rc),
        oxygen_diffusivity=_ConstantLaw(d),
        heat_of_transport=_ConstantLaw(q),
        thermodynamic_factor=_unit_thermodynamic_factor,
        temperature_range=tuple(float(v) for v in temperature_range),
        x_range=tuple(float(v) for v in x_range),
    )
