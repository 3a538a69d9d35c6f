"""Markov chain driver (scan over steps, vmap over chains, checkpoint/resume), warm-up
adaptation (window adaptation, dual averaging, ChEES) and autocorrelation-aware diagnostics
(Gamma method, ESS, R-hat, binning and jackknife)."""

from edtjax.mcmc.adaptation import (
    Adapted,
    ChEESAdaptation,
    adapted_kernel,
    chees_adaptation,
    step_size_adaptation,
    window_adaptation,
)
from edtjax.mcmc.diagnostics import (
    GammaResult,
    binned_error,
    derived_error,
    effective_sample_size,
    gamma_method,
    integrated_autocorr_time,
    jackknife,
    split_rhat,
)
from edtjax.mcmc.driver import ChainResult, run_chains
from edtjax.mcmc.inference_data import to_inference_data
from edtjax.mcmc.kernel import Kernel

__all__ = [
    "Adapted",
    "ChEESAdaptation",
    "ChainResult",
    "GammaResult",
    "Kernel",
    "adapted_kernel",
    "binned_error",
    "chees_adaptation",
    "derived_error",
    "effective_sample_size",
    "gamma_method",
    "integrated_autocorr_time",
    "jackknife",
    "run_chains",
    "split_rhat",
    "step_size_adaptation",
    "to_inference_data",
    "window_adaptation",
]
