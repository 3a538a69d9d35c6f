"""Markov chain driver (scan over steps, vmap over chains, checkpoint/resume) and
autocorrelation-aware diagnostics (Gamma method, ESS, R-hat, binning and jackknife)."""

from edtjax.mcmc.kernel import Kernel

__all__ = ["Kernel"]
