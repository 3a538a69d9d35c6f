"""Surrogate models as (init, apply) pairs: networks, ensembles, MC dropout, mixture
density networks, Gaussian processes, Bayesian neural networks and Bayesian last layers."""

__all__: list[str] = []
