"""Markov chain driver (scan over steps, vmap over chains, checkpoint/resume) and
autocorrelation-aware diagnostics (Gamma method, ESS, R-hat, binning and jackknife)."""

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
    "ChainResult",
    "GammaResult",
    "Kernel",
    "binned_error",
    "derived_error",
    "effective_sample_size",
    "gamma_method",
    "integrated_autocorr_time",
    "jackknife",
    "run_chains",
    "split_rhat",
    "to_inference_data",
]
