"""Optimal transport with ott-jax: entropic OT, Hallin center-outward distribution and
quantile functions, ranks, contours, shift tests and OT conformal regions."""

__all__: list[str] = []
