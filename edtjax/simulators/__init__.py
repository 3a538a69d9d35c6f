"""Physics simulators and data sets: thermodiffusion solver, analytic test functions,
dataset builders."""

from edtjax.simulators.materials import (
    GAS_CONSTANT,
    MIHAILA_2009_LAWS,
    MaterialLaws,
    constant_laws,
    uo2x_heat_of_transport,
    uo2x_oxygen_diffusivity,
    uo2x_thermal_conductivity,
    uo2x_thermodynamic_factor,
    uo2x_volumetric_heat_capacity,
)
from edtjax.simulators.thermodiffusion import (
    PelletInputs,
    PelletResult,
    SolverConfig,
    default_pellet_inputs,
    simulate_pellet,
    simulate_pellet_batch,
)

__all__ = [
    "GAS_CONSTANT",
    "MIHAILA_2009_LAWS",
    "MaterialLaws",
    "PelletInputs",
    "PelletResult",
    "SolverConfig",
    "constant_laws",
    "default_pellet_inputs",
    "simulate_pellet",
    "simulate_pellet_batch",
    "uo2x_heat_of_transport",
    "uo2x_oxygen_diffusivity",
    "uo2x_thermal_conductivity",
    "uo2x_thermodynamic_factor",
    "uo2x_volumetric_heat_capacity",
]
