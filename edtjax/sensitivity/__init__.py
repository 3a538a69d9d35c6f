"""Global sensitivity analysis over pytrees: Sobol designs and indices, network-parameter
sensitivity, HSIC and derivative-based measures."""

from edtjax.sensitivity.designs import (
    SaltelliDesign,
    saltelli_design,
    sobol_sequence,
    uniform_sample,
)
from edtjax.sensitivity.dgsm import DGSMResult, dgsm_indices
from edtjax.sensitivity.estimators import (
    IndexEstimates,
    Interval,
    sobol_indices_from_outputs,
)
from edtjax.sensitivity.given_data import GivenDataIndices, given_data_first_order
from edtjax.sensitivity.hsic import HSICResult, hsic_indices
from edtjax.sensitivity.parameters import parameter_sensitivity
from edtjax.sensitivity.sobol import sobol_indices

__all__ = [
    "DGSMResult",
    "GivenDataIndices",
    "HSICResult",
    "IndexEstimates",
    "Interval",
    "SaltelliDesign",
    "dgsm_indices",
    "given_data_first_order",
    "hsic_indices",
    "parameter_sensitivity",
    "saltelli_design",
    "sobol_indices",
    "sobol_indices_from_outputs",
    "sobol_sequence",
    "uniform_sample",
]
