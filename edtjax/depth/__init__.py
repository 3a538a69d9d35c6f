"""Statistical depths and the sample Fermat distance, for out-of-distribution detection."""

from edtjax.depth.fermat import (
    FermatGraph,
    fermat_distance,
    fermat_distance_to_reference,
    fermat_fit,
)
from edtjax.depth.lens import (
    euclidean_distances,
    lens_depth,
    lens_depth_from_distances,
    weighted_lens_depth,
    weighted_lens_depth_from_distances,
)
from edtjax.depth.metrics import aupr, auroc, fpr_at_tpr
from edtjax.depth.moment import (
    MahalanobisFit,
    mahalanobis_depth,
    mahalanobis_fit,
    mahalanobis_score,
    spatial_depth,
)
from edtjax.depth.ood import knn_distance_score, lens_depth_fermat
from edtjax.depth.planar import halfspace_depth_planar, simplicial_depth_planar
from edtjax.depth.projection import (
    HalfspaceFit,
    ProjectionFit,
    halfspace_depth,
    halfspace_fit,
    halfspace_score,
    projection_depth,
    projection_fit,
    projection_score,
    random_directions,
)
from edtjax.depth.simplicial import (
    SimplicialFit,
    simplicial_depth,
    simplicial_fit,
    simplicial_score,
)
from edtjax.depth.smooth import (
    smooth_halfspace_score,
    smooth_lens_depth,
    smooth_projection_score,
)

__all__ = [
    "FermatGraph",
    "HalfspaceFit",
    "MahalanobisFit",
    "ProjectionFit",
    "SimplicialFit",
    "aupr",
    "auroc",
    "euclidean_distances",
    "fermat_distance",
    "fermat_distance_to_reference",
    "fermat_fit",
    "fpr_at_tpr",
    "halfspace_depth",
    "halfspace_depth_planar",
    "halfspace_fit",
    "halfspace_score",
    "knn_distance_score",
    "lens_depth",
    "lens_depth_fermat",
    "lens_depth_from_distances",
    "mahalanobis_depth",
    "mahalanobis_fit",
    "mahalanobis_score",
    "projection_depth",
    "projection_fit",
    "projection_score",
    "random_directions",
    "simplicial_depth",
    "simplicial_depth_planar",
    "simplicial_fit",
    "simplicial_score",
    "smooth_halfspace_score",
    "smooth_lens_depth",
    "smooth_projection_score",
    "spatial_depth",
    "weighted_lens_depth",
    "weighted_lens_depth_from_distances",
]
