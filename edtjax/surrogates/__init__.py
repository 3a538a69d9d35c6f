"""Surrogate models as (init, apply) pairs: networks, ensembles, MC dropout, mixture
density networks, Gaussian processes, Bayesian neural networks and Bayesian last layers."""

from edtjax.surrogates.bnn import (
    PosteriorSamples,
    SVIResult,
    bnn_log_density,
    bnn_predictive,
    nuts_blackjax,
    nuts_numpyro,
    svi_gaussian,
)
from edtjax.surrogates.ensembles import (
    ensemble_predictive,
    fit_ensemble,
    mc_dropout_predictive,
    mdn,
)
from edtjax.surrogates.gp import (
    GPFit,
    GPParams,
    fit_gp,
    gp_kernel,
    gp_log_marginal_likelihood,
    gp_predict,
)
from edtjax.surrogates.laplace import (
    LastLayerLaplace,
    last_layer_laplace,
    last_layer_laplace_predictive,
)
from edtjax.surrogates.last_layer import (
    EMTrace,
    MatrixNormalPosterior,
    MatrixTPosterior,
    NIGPosterior,
    mbll_em,
    mbll_posterior,
    mbll_predictive,
    mbll_t_posterior,
    mbll_t_predictive,
    nig_posterior,
    nig_predictive,
)
from edtjax.surrogates.network import Surrogate, mlp
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.subsampling import (
    PenaltyInfo,
    PenaltyState,
    pbnn_sample,
    penalty_kernel,
)
from edtjax.surrogates.training import (
    TrainResult,
    fit,
    gaussian_nll_loss,
    mixture_nll_loss,
    mse_loss,
)

__all__ = [
    "EMTrace",
    "GPFit",
    "GPParams",
    "LastLayerLaplace",
    "MatrixNormalPosterior",
    "MatrixTPosterior",
    "NIGPosterior",
    "PenaltyInfo",
    "PenaltyState",
    "PosteriorSamples",
    "Predictive",
    "SVIResult",
    "Surrogate",
    "TrainResult",
    "bnn_log_density",
    "bnn_predictive",
    "ensemble_predictive",
    "fit",
    "fit_ensemble",
    "fit_gp",
    "gaussian_nll_loss",
    "gp_kernel",
    "gp_log_marginal_likelihood",
    "gp_predict",
    "last_layer_laplace",
    "last_layer_laplace_predictive",
    "mbll_em",
    "mbll_posterior",
    "mbll_predictive",
    "mbll_t_posterior",
    "mbll_t_predictive",
    "mc_dropout_predictive",
    "mdn",
    "mixture_nll_loss",
    "mlp",
    "mse_loss",
    "nig_posterior",
    "nig_predictive",
    "nuts_blackjax",
    "nuts_numpyro",
    "pbnn_sample",
    "penalty_kernel",
    "svi_gaussian",
]
