"""Global sensitivity analysis over pytrees: Sobol designs and indices, network-parameter
sensitivity, HSIC and derivative-based measures."""

from edtjax.sensitivity.designs import (
    SaltelliDesign,
    saltelli_design,
    sobol_sequence,
    uniform_sample,
)
from edtjax.sensitivity.estimators import (
    ESTIMATORS,
    IndexEstimates,
    Interval,
    sobol_indices_from_outputs,
)
from edtjax.sensitivity.parameters import parameter_sensitivity
from edtjax.sensitivity.sobol import sobol_indices

__all__ = [
    "ESTIMATORS",
    "IndexEstimates",
    "Interval",
    "SaltelliDesign",
    "parameter_sensitivity",
    "saltelli_design",
    "sobol_indices",
    "sobol_indices_from_outputs",
    "sobol_sequence",
    "uniform_sample",
]
