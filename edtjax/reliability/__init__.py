"""Reliability indicators: is a surrogate safe to reuse on a new input?"""

from edtjax.reliability.calibration import (
    Calibration,
    calibrate,
    conformal_p_values,
    minimum_calibration_size,
)
from edtjax.reliability.combine import CombinedState, combine
from edtjax.reliability.indicator import (
    Indicator,
    WeightedLensFermatState,
    feature_space_indicator,
    halfspace_indicator,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    predictive_spread_indicator,
    projection_indicator,
    smooth_lens_indicator,
    spatial_indicator,
    weighted_lens_fermat_indicator,
)
from edtjax.reliability.registry import INDICATORS, IndicatorEntry, make_indicator
from edtjax.reliability.report import ValidityReport, spearman_correlation, validity_report
from edtjax.reliability.sensitivity import score_dgsm
from edtjax.reliability.transport_indicators import monge_kantorovich_indicator
from edtjax.reliability.walk import WalkBackResult, score_gradient, walk_back

__all__ = [
    "Calibration",
    "CombinedState",
    "INDICATORS",
    "Indicator",
    "IndicatorEntry",
    "ValidityReport",
    "WalkBackResult",
    "WeightedLensFermatState",
    "calibrate",
    "combine",
    "conformal_p_values",
    "feature_space_indicator",
    "halfspace_indicator",
    "knn_indicator",
    "lens_fermat_indicator",
    "mahalanobis_indicator",
    "make_indicator",
    "minimum_calibration_size",
    "monge_kantorovich_indicator",
    "predictive_spread_indicator",
    "projection_indicator",
    "score_dgsm",
    "score_gradient",
    "smooth_lens_indicator",
    "spatial_indicator",
    "spearman_correlation",
    "validity_report",
    "walk_back",
    "weighted_lens_fermat_indicator",
]
