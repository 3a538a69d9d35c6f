"""Predictive metrics, calibration, conformal prediction and surrogate-induced bias."""

from edtjax.uq.bias import ReweightingBias, SurrogateBias, reweighting_bias, surrogate_bias
from edtjax.uq.calibration import (
    Recalibration,
    calibration_curve,
    calibration_error,
    fit_recalibration,
    gaussian_pit,
    isotonic_regression,
    miscalibration_area,
    recalibrate,
    recalibrated_quantile,
    sample_pit,
)
from edtjax.uq.conformal import (
    conformal_quantile,
    conformalized_quantile_regression,
    normalized_conformal,
    split_conformal,
)
from edtjax.uq.metrics import (
    crps_gaussian,
    crps_samples,
    energy_score,
    gaussian_interval,
    gaussian_nll,
    interval_coverage,
    interval_score,
    interval_width,
    sample_nll,
    sharpness,
)

__all__ = [
    "Recalibration",
    "ReweightingBias",
    "SurrogateBias",
    "calibration_curve",
    "calibration_error",
    "conformal_quantile",
    "conformalized_quantile_regression",
    "crps_gaussian",
    "crps_samples",
    "energy_score",
    "fit_recalibration",
    "gaussian_interval",
    "gaussian_nll",
    "gaussian_pit",
    "interval_coverage",
    "interval_score",
    "interval_width",
    "isotonic_regression",
    "miscalibration_area",
    "normalized_conformal",
    "recalibrate",
    "recalibrated_quantile",
    "reweighting_bias",
    "sample_nll",
    "sample_pit",
    "sharpness",
    "split_conformal",
    "surrogate_bias",
]
