r"""Local (checkerboard) Metropolis kernel for scalar :math:`\phi^4` lattice fields.

One step is one sweep: the sites are split by the parity of :math:`\sum_\mu x_\mu`; every even
site gets an independent proposal :math:`\phi_x' = \phi_x + \delta\,u`, :math:`u \sim U(-1, 1)`,
accepted with probability :math:`\min(1, e^{-\Delta S_x})` where, with the action in the common
form :math:`\sum_x[-c\,\phi_x\sum_\mu\phi_{x+\hat\mu} + a\phi_x^2 + b\phi_x^4]`,

.. math::

    \Delta S_x = -c\,(\phi_x' - \phi_x)\sum_{\pm\mu}\phi_{x\pm\hat\mu}
        + a(\phi_x'^2 - \phi_x^2) + b(\phi_x'^4 - \phi_x^4);

then the odd sites are updated the same way. Sites of one parity do not interact, so each
half-sweep is an exact product of single-site Metropolis updates and the full sweep leaves
:math:`e^{-S}` invariant. Cost :math:`O(dV)` per sweep; every side must be even.

References:
    N. Metropolis, A. W. Rosenbluth, M. N. Rosenbluth, A. H. Teller and E. Teller, J. Chem.
    Phys. 21, 1087 (1953).
    I. Montvay and G. Münster, *Quantum Fields on a Lattice*, Cambridge University Press (1994).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import check_real
from edtjax._typing import ArrayLike
from edtjax.lattice.phi4 import Couplings, check_couplings, local_coefficients, neighbour_sum
from edtjax.mcmc.kernel import Kernel

__all__ = ["Phi4MetropolisInfo", "Phi4MetropolisState", "phi4_metropolis"]


class Phi4MetropolisState(NamedTuple):
    """State of one chain of the local Metropolis kernel.

    Attributes:
        position: the field, shape ``(L_1, ..., L_d)`` with every side even.
    """

    position: jax.Array


class Phi4MetropolisInfo(NamedTuple):
    """Per-sweep diagnostics.

    Attributes:
        acceptance_rate: fraction of accepted site proposals in the sweep.
    """

    acceptance_rate: jax.Array


def _parity(shape: tuple[int, ...]) -> jax.Array:
    grids = jnp.meshgrid(*[jnp.arange(s) for s in shape], indexing="ij")
    return sum(grids) % 2 == 0


def phi4_metropolis(couplings: Couplings, step_size: ArrayLike = 1.0) -> Kernel:
    r"""Checkerboard local Metropolis kernel for :math:`e^{-S[\phi]}`.

    ``init(field) -> Phi4MetropolisState``; ``step(key, state) -> (state, Phi4MetropolisInfo)``
    performs one full sweep (both parities). Pure and jittable; ``vmap`` the step over chains.
    The lattice dimension is the rank of the field.

    Args:
        couplings: :class:`edtjax.lattice.HoppingCouplings` or
            :class:`edtjax.lattice.MassCouplings`.
        step_size: half-width :math:`\delta > 0` of the uniform proposal (may be a traced value,
            e.g. under step-size adaptation).

    Returns:
        :class:`edtjax.mcmc.Kernel`.

    Raises:
        ValueError: bad couplings or step size; (at ``init``) a field with an odd side.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.lattice import HoppingCouplings, phi4_metropolis
        >>> kernel = phi4_metropolis(HoppingCouplings(kappa=0.2, lam=0.1), step_size=1.5)
        >>> state = kernel.init(jnp.zeros((8, 8)))
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), state)

    References:
        Metropolis et al., J. Chem. Phys. 21, 1087 (1953).
    """
    check_real("step_size", step_size, minimum=0.0, strict_minimum=True)

    def init(position: jax.Array) -> Phi4MetropolisState:
        shape = jnp.shape(position)
        if len(shape) < 1 or any(s < 2 or s % 2 for s in shape):
            raise ValueError(
                f"position must have every lattice side even and >= 2 for the checkerboard "
                f"update, got shape {shape}"
            )
        if not jnp.issubdtype(jnp.result_type(position), jnp.floating):
            raise ValueError(f"position must be floating point, got {jnp.result_type(position)}")
        check_couplings(couplings, len(shape))
        return Phi4MetropolisState(jnp.asarray(position))

    def half_sweep(key: jax.Array, phi: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        c, a, b, _ = local_coefficients(couplings, phi.ndim)
        key_prop, key_acc = jax.random.split(key)
        delta = jnp.asarray(step_size, phi.dtype)
        proposal = phi + delta * jax.random.uniform(
            key_prop, phi.shape, phi.dtype, minval=-1.0, maxval=1.0
        )
        old2, new2 = phi * phi, proposal * proposal
        d_action = (
            -c * (proposal - phi) * neighbour_sum(phi)
            + a * (new2 - old2)
            + b * (new2 * new2 - old2 * old2)
        )
        log_u = jnp.log(jax.random.uniform(key_acc, phi.shape, phi.dtype))
        accept = mask & (log_u < -d_action)
        return jnp.where(accept, proposal, phi), jnp.sum(accept)

    def step(
        key: jax.Array, state: Phi4MetropolisState
    ) -> tuple[Phi4MetropolisState, Phi4MetropolisInfo]:
        phi = state.position
        even = _parity(phi.shape)
        key_even, key_odd = jax.random.split(key)
        phi, n_even = half_sweep(key_even, phi, even)
        phi, n_odd = half_sweep(key_odd, phi, ~even)
        rate = ((n_even + n_odd) / phi.size).astype(phi.dtype)
        return Phi4MetropolisState(phi), Phi4MetropolisInfo(rate)

    return Kernel(init=init, step=step)
