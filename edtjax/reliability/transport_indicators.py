r"""Transport-based indicator: the center-outward rank norm (one minus the Monge–Kantorovich depth).

The center-outward distribution function :math:`\mathbf{F}_\pm` of the training inputs pushes
their law to the uniform law on the unit ball (Hallin et al. 2021), so
:math:`\|\mathbf{F}_\pm(x)\|` is a multivariate rank: it is uniform on ``[0, 1]`` for an
in-domain input, whatever the shape of the training distribution, and tends to 1 as ``x``
leaves it (this holds for the population map; for the estimate see
:func:`monge_kantorovich_indicator`). It equals :math:`1 - D_{MK}(x)` with :math:`D_{MK}` the
Monge–Kantorovich depth (Chernozhukov et al. 2017). The smooth entropic estimator of
:func:`edtjax.transport.center_outward_fit` makes the score differentiable in ``x``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from edtjax._checks import check_int, check_real
from edtjax._typing import ArrayLike, PRNGKey, PyTree
from edtjax.reliability.indicator import Indicator
from edtjax.transport import CenterOutwardFit, center_outward_distribution, center_outward_fit

__all__ = ["monge_kantorovich_indicator"]


def _rank_norm(ranks: jax.Array) -> jax.Array:
    # ‖u‖ with a finite gradient at u = 0 (the center-outward median), where it is 0
    sq = jnp.sum(ranks * ranks, axis=-1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def monge_kantorovich_indicator(
    *,
    epsilon: float | None = None,
    n_radii: int | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> Indicator:
    r"""Monge–Kantorovich indicator, score ``‖F̂±(x)‖ = 1 - D_MK(x)``.

    ``fit`` estimates the smooth center-outward distribution function of the ``(n, d)``
    training inputs (:func:`edtjax.transport.center_outward_fit`): the entropic optimal
    transport map from the sample to Hallin's reference grid on the unit ball,

    .. math::

        \hat{\mathbf{F}}_\pm(x) = \sum_j w_j(x)\, u_j, \qquad
        w_j(x) \propto \exp\big((g_j - \|x - u_j\|^2)/\varepsilon\big),

    and ``score`` returns the rank norm :math:`\|\hat{\mathbf{F}}_\pm(x)\| \in [0, 1)`. For an
    in-domain query the *population* rank norm is uniform on ``[0, 1]``; the estimated one is
    not: the entropic map averages grid points over a blur of size about :math:`\varepsilon`,
    which shrinks the ranks towards the centre, and what corrects the radius (the radial
    recalibration of :func:`edtjax.transport.center_outward_fit`, read on the training points
    themselves) is exact only up to finite-sample and in-sample error. So ``1 - α`` is not a
    valid threshold: use the one of :func:`edtjax.reliability.calibrate`, the empirical
    quantile of held-out in-domain scores, which has the finite-sample false-alarm guarantee
    whatever the shrinkage. Measured at ``α = 0.1`` with ``n = 300`` training points in
    ``d = 3``: calibrated thresholds 0.89 to 0.93 with the radial recalibration, 0.62 to 0.83
    for the raw entropic map's norm. Far queries get the largest rank norms. Differentiable
    in ``x`` everywhere (the norm is taken with a finite gradient at the median):
    :math:`\nabla\|\hat{\mathbf F}_\pm\| = J^\top \hat{\mathbf F}_\pm/\|\hat{\mathbf F}_\pm\|`
    with :math:`J = \frac{2}{\varepsilon}\mathrm{Cov}_{w(x)}(u)` the Jacobian of the map. Far
    beyond the sample the weights concentrate on one outer grid point, the score saturates and
    its gradient decays exponentially, so :func:`edtjax.reliability.walk_back` is reliable from
    moderately outlying queries (a few spreads out), not from arbitrarily far ones. The
    ``key`` of ``fit`` is not used.

    Thin directions: the quadratic transport cost, and ``ε`` set by the overall spread, make
    the score equivariant under rotations, translations and global scalings of the inputs but
    not under anisotropic scalings, so a direction along which the training data are thin is
    resolved at the scale of the thick ones and extrapolation along it is under-detected. On
    a rotated 3-D Gaussian with standard deviations ``(3, 1, 0.4)``, ``n = 300`` and
    ``α = 0.1``, queries shifted 6 standard deviations along the thinnest axis were flagged at
    rates 0.91 to 0.98 over four training sets (0.999 to 1.000 by
    :func:`~edtjax.reliability.mahalanobis_indicator`); whitening the inputs with the
    training mean and covariance first (e.g. through
    :func:`~edtjax.reliability.feature_space_indicator`) brought it to 0.999 to 1.000.
    Combine it with an affine-invariant indicator (:func:`~edtjax.reliability.combine`), as the
    audit's default indicator set does. The scores follow the dtype of the training inputs (use
    float64 for tight gradient checks).

    Args:
        epsilon: entropic regularisation ``ε > 0``; ``None`` takes the data spread times the
            grid's radial spacing (see :func:`edtjax.transport.center_outward_fit`).
        n_radii: number of radii ``n_R`` of the reference grid (default ``⌊√n⌋``).
        threshold: Sinkhorn marginal-error tolerance, ``> 0``.
        max_iterations: Sinkhorn iteration cap, ``>= 1``.

    Returns:
        :class:`~edtjax.reliability.Indicator`; fit costs one Sinkhorn solve,
        ``O(n² d)`` per iteration, scoring ``O(m n d)`` for ``m`` queries.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> ind = monge_kantorovich_indicator()
        >>> state = ind.fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (200, 2)))
        >>> s = ind.score(state, jnp.array([[0.0, 0.0], [8.0, 0.0]]))
        >>> bool(s[0] < 0.3), bool(s[1] > 0.8)
        (True, True)

    References:
        Chernozhukov, V., Galichon, A., Hallin, M. & Henry, M. (2017). Monge-Kantorovich depth,
        quantiles, ranks and signs. Ann. Statist. 45(1), 223-256. Hallin, M., del Barrio, E.,
        Cuesta-Albertos, J. & Matrán, C. (2021). Distribution and quantile functions, ranks and
        signs in dimension d: a measure transportation approach. Ann. Statist. 49(2), 1139-1165.
        Pooladian, A.-A. & Niles-Weed, J. (2021). Entropic estimation of optimal transport maps.
        arXiv:2109.12004.
    """
    if epsilon is not None:
        epsilon = check_real("epsilon", epsilon, minimum=0.0, strict_minimum=True)
    if n_radii is not None:
        n_radii = check_int("n_radii", n_radii, minimum=1)
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    max_iterations = check_int("max_iterations", max_iterations, minimum=1)

    def fit(key: PRNGKey, x_train: ArrayLike) -> CenterOutwardFit:
        del key
        return center_outward_fit(
            x_train,
            epsilon=epsilon,
            n_radii=n_radii,
            threshold=threshold,
            max_iterations=max_iterations,
        )

    def score(state: PyTree, x: ArrayLike) -> jax.Array:
        return _rank_norm(center_outward_distribution(state, x))

    return Indicator(fit, score)
