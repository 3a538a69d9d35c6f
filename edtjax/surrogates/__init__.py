"""Surrogate models as (init, apply) pairs: networks, ensembles, MC dropout, mixture
density networks, Gaussian processes, Bayesian neural networks and Bayesian last layers."""

from edtjax.surrogates.network import Surrogate, mlp
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.training import TrainResult, fit, gaussian_nll_loss, mse_loss

__all__ = [
    "Predictive",
    "Surrogate",
    "TrainResult",
    "fit",
    "gaussian_nll_loss",
    "mlp",
    "mse_loss",
]
