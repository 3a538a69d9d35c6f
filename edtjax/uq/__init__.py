"""Predictive metrics, calibration, conformal prediction and surrogate-induced bias."""

__all__: list[str] = []
