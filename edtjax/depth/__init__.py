"""Statistical depths and the sample Fermat distance, for out-of-distribution detection.

A *depth* is higher inside the data; a *score* (``knn_distance_score``, the indicators of
:mod:`edtjax.reliability`) is an outlyingness, higher outside it. Depths that need a costly
preparation come as ``<name>_fit(...)`` and ``<name>_depth_from_fit(fit, x_query)``; the
one-call ``<name>_depth`` does both.
"""

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
    mahalanobis_depth_from_fit,
    mahalanobis_fit,
    spatial_depth,
)
from edtjax.depth.ood import knn_distance_score, lens_depth_fermat
from edtjax.depth.planar import halfspace_depth_planar, simplicial_depth_planar
from edtjax.depth.projection import (
    HalfspaceFit,
    ProjectionFit,
    halfspace_depth,
    halfspace_depth_from_fit,
    halfspace_fit,
    projection_depth,
    projection_depth_from_fit,
    projection_fit,
    random_directions,
)
from edtjax.depth.simplicial import (
    SimplicialFit,
    simplicial_depth,
    simplicial_depth_from_fit,
    simplicial_fit,
)
from edtjax.depth.smooth import (
    smooth_halfspace_depth_from_fit,
    smooth_lens_depth,
    smooth_projection_depth_from_fit,
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
    "halfspace_depth_from_fit",
    "halfspace_depth_planar",
    "halfspace_fit",
    "knn_distance_score",
    "lens_depth",
    "lens_depth_fermat",
    "lens_depth_from_distances",
    "mahalanobis_depth",
    "mahalanobis_depth_from_fit",
    "mahalanobis_fit",
    "projection_depth",
    "projection_depth_from_fit",
    "projection_fit",
    "random_directions",
    "simplicial_depth",
    "simplicial_depth_from_fit",
    "simplicial_depth_planar",
    "simplicial_fit",
    "smooth_halfspace_depth_from_fit",
    "smooth_lens_depth",
    "smooth_projection_depth_from_fit",
    "spatial_depth",
    "weighted_lens_depth",
    "weighted_lens_depth_from_distances",
]
