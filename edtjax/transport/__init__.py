"""Optimal transport with ott-jax: entropic OT, Hallin center-outward distribution and
quantile functions, ranks, contours, shift tests and OT conformal regions."""

from edtjax.transport.center_outward import (
    CenterOutwardFit,
    center_outward_distribution,
    center_outward_fit,
    center_outward_quantile,
    monge_kantorovich_depth,
    quantile_contour,
    quantile_region,
)
from edtjax.transport.conformal import (
    OTConformalRegion,
    ot_conformal_boundary,
    ot_conformal_calibrate,
    ot_conformal_contains,
)
from edtjax.transport.ranks import CenterOutwardRanks, center_outward_ranks
from edtjax.transport.reference import (
    ReferenceGrid,
    grid_factorisation,
    reference_grid,
    reference_points,
    sphere_directions,
)
from edtjax.transport.shift import PermutationTest, rank_energy_shift_test, sinkhorn_shift_test
from edtjax.transport.sinkhorn import (
    EntropicMap,
    EntropicOT,
    apply_entropic_map,
    entropic_map,
    entropic_ot,
    entropic_plan,
    sinkhorn_divergence,
)
from edtjax.transport.weights import (
    layer_ot_distance,
    layer_units,
    parameter_ot_distance,
    parameter_point_cloud,
)

__all__ = [
    "CenterOutwardFit",
    "CenterOutwardRanks",
    "EntropicMap",
    "EntropicOT",
    "OTConformalRegion",
    "PermutationTest",
    "ReferenceGrid",
    "apply_entropic_map",
    "center_outward_distribution",
    "center_outward_fit",
    "center_outward_quantile",
    "center_outward_ranks",
    "entropic_map",
    "entropic_ot",
    "entropic_plan",
    "grid_factorisation",
    "layer_ot_distance",
    "layer_units",
    "monge_kantorovich_depth",
    "ot_conformal_boundary",
    "ot_conformal_calibrate",
    "ot_conformal_contains",
    "parameter_ot_distance",
    "parameter_point_cloud",
    "quantile_contour",
    "quantile_region",
    "rank_energy_shift_test",
    "reference_grid",
    "reference_points",
    "sinkhorn_divergence",
    "sinkhorn_shift_test",
    "sphere_directions",
]
