"""Global sensitivity analysis over pytrees: Sobol designs and indices, network-parameter
sensitivity, rank-based (given-data) and Cramer-von Mises indices, HSIC (plain, target and
conditional, with independence tests), Shapley effects, derivative-based measures,
optimal-transport (Wasserstein) indices and index trajectories of time-series outputs."""

from edtjax.sensitivity.cramer_von_mises import (
    CramerVonMisesIndices,
    cramer_von_mises_indices,
)
from edtjax.sensitivity.designs import (
    SaltelliDesign,
    saltelli_design,
    sobol_sequence,
    uniform_sample,
)
from edtjax.sensitivity.dgsm import DGSMResult, dgsm_indices
from edtjax.sensitivity.estimators import (
    Estimate,
    IndexEstimates,
    Interval,
    sobol_indices_from_outputs,
)
from edtjax.sensitivity.factors import Factors
from edtjax.sensitivity.functional import IndexTrajectories, index_trajectories
from edtjax.sensitivity.given_data import GivenDataIndices, given_data_first_order
from edtjax.sensitivity.hsic import (
    HSICResult,
    conditional_hsic_indices,
    hsic_indices,
    target_hsic_indices,
)
from edtjax.sensitivity.parameters import parameter_sensitivity
from edtjax.sensitivity.shapley import (
    ShapleyEffects,
    given_data_shapley_effects,
    shapley_effects,
    shapley_effects_from_distribution,
)
from edtjax.sensitivity.simulator import simulator_sobol_indices
from edtjax.sensitivity.sobol import pick_freeze_indices, sobol_indices
from edtjax.sensitivity.wasserstein import WassersteinIndices, wasserstein_indices

__all__ = [
    "CramerVonMisesIndices",
    "DGSMResult",
    "Estimate",
    "Factors",
    "GivenDataIndices",
    "HSICResult",
    "IndexEstimates",
    "IndexTrajectories",
    "Interval",
    "SaltelliDesign",
    "ShapleyEffects",
    "WassersteinIndices",
    "conditional_hsic_indices",
    "cramer_von_mises_indices",
    "dgsm_indices",
    "given_data_first_order",
    "given_data_shapley_effects",
    "hsic_indices",
    "index_trajectories",
    "parameter_sensitivity",
    "pick_freeze_indices",
    "saltelli_design",
    "shapley_effects",
    "shapley_effects_from_distribution",
    "simulator_sobol_indices",
    "sobol_indices",
    "sobol_indices_from_outputs",
    "sobol_sequence",
    "target_hsic_indices",
    "uniform_sample",
    "wasserstein_indices",
]
