"""UO2+x material laws: published formulas at reference points, limits, and gradients."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.simulators import (
    MIHAILA_2009_LAWS,
    constant_laws,
    uo2x_heat_of_transport,
    uo2x_oxygen_diffusivity,
    uo2x_thermal_conductivity,
    uo2x_thermodynamic_factor,
    uo2x_volumetric_heat_capacity,
)


def test_conductivity_limits_and_monotonicity(x64):
    t = jnp.linspace(400.0, 1800.0, 8)
    # x -> 0: stoichiometric phonon law 1/(A + B T) plus C T^3.
    np.testing.assert_allclose(
        uo2x_thermal_conductivity(t, 0.0),
        1 / (3.24e-2 + 2.51e-4 * t) + 5.95e-11 * t**3,
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        uo2x_thermal_conductivity(t, 1e-12), uo2x_thermal_conductivity(t, 0.0), rtol=1e-5
    )
    # Oxygen interstitials scatter phonons: k decreases with x at fixed T.
    ks = [uo2x_thermal_conductivity(1000.0, x) for x in (0.0, 0.01, 0.05, 0.1)]
    assert np.all(np.diff(np.array(ks)) < 0)
    # Reference values computed by hand from the published coefficients (x = 0.01, 1000 K).
    lam0 = 1 / (3.24e-2 + 0.251)
    theta = 3.67 * np.exp(-0.473) * np.sqrt(0.02 * lam0)
    np.testing.assert_allclose(
        uo2x_thermal_conductivity(1000.0, 0.01),
        lam0 * np.arctan(theta) / theta + 0.0595,
        rtol=1e-13,
    )


def test_other_laws_at_reference_points(x64):
    np.testing.assert_allclose(uo2x_thermodynamic_factor(0.0), 1.0)
    np.testing.assert_allclose(uo2x_thermodynamic_factor(0.1), 2.1 / (2 * 0.7 * 0.8))
    np.testing.assert_allclose(uo2x_heat_of_transport(900.0, 0.0), -135816.3)
    np.testing.assert_allclose(
        uo2x_heat_of_transport(900.0, 0.0261), -1380.8 - 134435.5 / np.e, rtol=1e-14
    )
    log10_d = -9.386 - 4.26e3 / 1200 + 1.2e-3 * 1200 * 0.02 + 7.5e-4 * 1200 * np.log10(2.02 / 0.02)
    np.testing.assert_allclose(uo2x_oxygen_diffusivity(1200.0, 0.02), 10**log10_d, rtol=1e-12)
    # rho c_p of stoichiometric UO2 at 1000 K: ~84.1 J/(mol K) -> ~3.41e6 J/(m^3 K).
    rc = float(uo2x_volumetric_heat_capacity(1000.0, 0.0))
    cp_molar = 52.174 + 87.951 - 84.241 + 31.542 - 2.6334 - 0.71391  # each term at T = 1000 K
    np.testing.assert_allclose(rc, 10960 * cp_molar / 0.27003, rtol=1e-12)


@pytest.mark.parametrize(
    "law",
    [
        uo2x_thermal_conductivity,
        uo2x_volumetric_heat_capacity,
        uo2x_oxygen_diffusivity,
        uo2x_heat_of_transport,
    ],
)
def test_law_gradients_match_finite_differences(x64, law):
    t0, x0 = 1100.0, 0.02
    gt, gx = jax.grad(law, argnums=(0, 1))(t0, x0)
    fd_t = (law(t0 + 1e-3, x0) - law(t0 - 1e-3, x0)) / 2e-3
    fd_x = (law(t0, x0 + 1e-7) - law(t0, x0 - 1e-7)) / 2e-7
    # Central differences: relative truncation ~ (step / scale)^2 < 1e-8.
    np.testing.assert_allclose(gt, fd_t, rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(gx, fd_x, rtol=1e-6, atol=1e-14)


def test_conductivity_gradient_at_zero_x(x64):
    """k is linear in x near 0: dk/dx(T, 0) = -lambda0^2 (2/3) 3.67^2 exp(-2 E T)."""
    gt, gx = jax.grad(uo2x_thermal_conductivity, argnums=(0, 1))(1000.0, 0.0)
    lam0 = 1 / (3.24e-2 + 0.251)
    np.testing.assert_allclose(gx, -(lam0**2) * 2 / 3 * 3.67**2 * np.exp(-0.946), rtol=1e-12)
    np.testing.assert_allclose(gt, -2.51e-4 * lam0**2 + 3 * 5.95e-11 * 1e6, rtol=1e-12)


def test_laws_respect_float32():
    k = uo2x_thermal_conductivity(jnp.float32(1000.0), jnp.float32(0.01))
    assert k.dtype == jnp.float32
    assert MIHAILA_2009_LAWS.x_range == (0.0, 0.2)


def test_constant_laws_and_bad_values():
    laws = constant_laws(2.0, 3e6, 1e-9, -5e4)
    assert float(laws.heat_of_transport(jnp.ones(3), 0.1)[0]) == -5e4
    chex.assert_shape(laws.thermodynamic_factor(jnp.ones(2)), (2,))
    with pytest.raises(ValueError, match="must be > 0"):
        constant_laws(-1.0, 3e6, 1e-9, 0.0)
    with pytest.raises(ValueError, match="finite"):
        constant_laws(2.0, 3e6, 1e-9, float("nan"))


def test_constant_laws_compare_and_hash_by_value():
    # Equal values give equal, equally hashed laws (the solver's static argument); different
    # values or ranges do not.
    a = constant_laws(2.0, 3e6, 1e-9, -5e4)
    b = constant_laws(2, 3e6, 1e-9, -5e4)
    assert a == b and hash(a) == hash(b)
    assert a != constant_laws(2.5, 3e6, 1e-9, -5e4)
    assert a != constant_laws(2.0, 3e6, 1e-9, -5e4, x_range=(0.0, 0.5))
    assert MIHAILA_2009_LAWS == MIHAILA_2009_LAWS._replace()
