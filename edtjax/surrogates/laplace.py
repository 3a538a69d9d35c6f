r"""Last-layer Laplace approximation with the generalised Gauss-Newton (GGN) curvature.

For a trained network :math:`f(x) = W^\top\tilde\phi(x)` (``mlp`` head; :math:`\tilde\phi =
(\phi, 1)` includes the bias) and a Gaussian likelihood with variance :math:`\sigma^2_j(x)`
(known, or predicted by a heteroscedastic network), the posterior of the head column
:math:`w_j` of output :math:`j` is approximated by :math:`\mathcal N(\hat w_j,\Sigma_j)` around
the trained (MAP) head, with

.. math::
    \Sigma_j^{-1} = \sum_i \frac{\tilde\phi(x_i)\tilde\phi(x_i)^\top}{\sigma_j^2(x_i)}
    + \delta I,

the GGN :math:`J^\top\Lambda J` plus the prior precision :math:`\delta` of an isotropic Gaussian
prior. For a linear head and Gaussian likelihood the GGN equals the exact Hessian of the
negative log posterior. The predictive is :math:`\mathcal N(f_j(x),\
\tilde\phi(x)^\top\Sigma_j\tilde\phi(x) + \sigma_j^2(x))`. Cost :math:`O(n h^2 d + h^3 d)` to
fit, :math:`O(m h^2 d)` to predict (``h`` features).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_real
from edtjax._typing import ArrayLike, PyTree
from edtjax.surrogates.network import MLP, Surrogate, append_bias
from edtjax.surrogates.predictive import Predictive

__all__ = ["LastLayerLaplace", "last_layer_laplace", "last_layer_laplace_predictive"]


class LastLayerLaplace(NamedTuple):
    """Gaussian approximation of the head weights, one covariance per output.

    Attributes:
        covariance: :math:`\\Sigma_j`, shape ``(d, h + 1, h + 1)`` (last row/column: the bias).
        noise_variance: the known noise variance, or ``None`` when the network predicts it.
    """

    covariance: jax.Array
    noise_variance: jax.Array | None


def last_layer_laplace(
    surrogate: Surrogate | MLP,
    params: PyTree,
    x: ArrayLike,
    *,
    prior_precision: float = 1.0,
    noise_variance: float | None = None,
) -> LastLayerLaplace:
    r"""Fit the last-layer Laplace approximation (GGN) of a trained ``mlp``.

    Args:
        surrogate: a network from :func:`~edtjax.surrogates.mlp` (it must have ``features``).
        params: its trained parameters (the MAP head is the approximation's mean).
        x: training inputs, shape ``(n, p)``.
        prior_precision: :math:`\delta > 0`.
        noise_variance: :math:`\sigma^2` for a point-prediction network; must be ``None`` for a
            heteroscedastic network, whose predicted variances are used.

    Returns:
        A :class:`LastLayerLaplace`.

    Raises:
        ValueError: non-finite ``x``, a bad ``prior_precision``, a missing or superfluous
            ``noise_variance``, or a surrogate without a feature map.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import last_layer_laplace, last_layer_laplace_predictive, mlp
        >>> net = mlp((8,), 1)
        >>> x = jnp.linspace(-1, 1, 20)[:, None]
        >>> params = net.init(jax.random.key(0), x)
        >>> la = last_layer_laplace(net, params, x, noise_variance=0.1)
        >>> pred = last_layer_laplace_predictive(net, params, la, x[:3])

    References:
        Daxberger, E., Kristiadi, A., Immer, A., Eschenhagen, R., Bauer, M. and Hennig, P.
        (2021). Laplace redux - effortless Bayesian deep learning. NeurIPS 34.
        MacKay, D. J. C. (1992). A practical Bayesian framework for backpropagation networks.
        Neural Computation 4(3), 448-472.
    """
    if surrogate.features is None:
        raise ValueError("surrogate must provide a feature map (build it with mlp)")
    x = as_array("x", x, ndim=2)
    delta = check_real("prior_precision", prior_precision, minimum=0.0, strict_minimum=True)
    pred = surrogate.apply(params, x)
    if (pred.variance is None) == (noise_variance is None):
        raise ValueError(
            "noise_variance must be given for a point-prediction network and None for a "
            "heteroscedastic one"
        )
    if noise_variance is not None:
        check_real("noise_variance", noise_variance, minimum=0.0, strict_minimum=True)
        weights = jnp.full_like(pred.mean, 1.0 / noise_variance)
        noise = jnp.asarray(noise_variance, pred.mean.dtype)
    else:
        weights = 1.0 / pred.variance
        noise = None
    phi = append_bias(surrogate.features(params, x))
    eye = jnp.eye(phi.shape[1], dtype=phi.dtype)
    precision = jnp.einsum("nj,np,nq->jpq", weights, phi, phi) + delta * eye
    return LastLayerLaplace(jnp.linalg.inv(precision), noise)


def last_layer_laplace_predictive(
    surrogate: Surrogate | MLP, params: PyTree, laplace: LastLayerLaplace, x: ArrayLike
) -> Predictive:
    r"""Linearised predictive :math:`\mathcal N(f_j(x), \tilde\phi^\top\Sigma_j\tilde\phi +
    \sigma_j^2(x))`, with ``aleatoric`` :math:`\sigma_j^2(x)`.

    Example:
        See :func:`last_layer_laplace`.
    """
    pred = surrogate.apply(params, x)
    phi = append_bias(surrogate.features(params, x))
    epistemic = jnp.einsum("mp,jpq,mq->mj", phi, laplace.covariance, phi)
    noise = pred.variance if laplace.noise_variance is None else laplace.noise_variance
    aleatoric = jnp.broadcast_to(noise, pred.mean.shape)
    return Predictive(mean=pred.mean, variance=epistemic + aleatoric, aleatoric=aleatoric)
