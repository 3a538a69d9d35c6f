"""Lattice field theories: Ising and scalar phi^4 actions, local and cluster updates,
blackjax log-densities, observables and exact small-lattice results."""

from edtjax.lattice.phi4 import (
    HoppingCouplings,
    LocalCoefficients,
    MassCouplings,
    hopping_to_mass,
    local_coefficients,
    mass_to_hopping,
    phi4_action,
    phi4_logdensity_fn,
)
from edtjax.lattice.phi4_metropolis import (
    Phi4MetropolisInfo,
    Phi4MetropolisState,
    phi4_metropolis,
)
from edtjax.lattice.phi4_observables import (
    FreeFieldExact,
    abs_magnetisation,
    action_per_site,
    binder_cumulant,
    connected_two_point,
    free_field_exact,
    magnetisation,
    momentum_two_point,
    susceptibility,
    two_point_function,
)
from edtjax.lattice.phi4_sample import Phi4Result, sample_phi4

__all__ = [
    "FreeFieldExact",
    "HoppingCouplings",
    "LocalCoefficients",
    "MassCouplings",
    "Phi4MetropolisInfo",
    "Phi4MetropolisState",
    "Phi4Result",
    "abs_magnetisation",
    "action_per_site",
    "binder_cumulant",
    "connected_two_point",
    "free_field_exact",
    "hopping_to_mass",
    "local_coefficients",
    "magnetisation",
    "mass_to_hopping",
    "momentum_two_point",
    "phi4_action",
    "phi4_logdensity_fn",
    "phi4_metropolis",
    "sample_phi4",
    "susceptibility",
    "two_point_function",
]
