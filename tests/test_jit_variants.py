"""Public functions give the same result jitted and not jitted (every array argument traced).

Each case calls a public function eagerly and under ``jax.jit`` with every array argument
traced (options bound in a closure, as a user would pass them static). Both variants must have
the documented shapes and agree to float32 rounding: XLA may fuse and reorder the jitted
arithmetic, which moves float32 results by a few ulps (relative 1e-5 is ~80 ulps of slack).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import halfspace_depth, lens_depth, mahalanobis_depth, spatial_depth
from edtjax.lattice import (
    HoppingCouplings,
    ising_energy,
    ising_metropolis_kernel,
    phi4_action,
    phi4_logdensity_fn,
    two_point_function,
)
from edtjax.mcmc import gamma_method, split_rhat
from edtjax.sensitivity import hsic_indices, sobol_indices_from_outputs
from edtjax.simulators import borehole, ishigami
from edtjax.surrogates import GPParams, gp_log_marginal_likelihood
from edtjax.transport import sinkhorn_divergence
from edtjax.uq import crps_gaussian, energy_score, gaussian_nll, interval_score

_RTOL, _ATOL = 1e-5, 1e-6


def _normal(key, shape, i=0):
    return jax.random.normal(jax.random.fold_in(key, i), shape)


def _spins(key):
    return jnp.where(jax.random.bernoulli(key, 0.5, (8, 8)), 1, -1).astype(jnp.int8)


_COUPLINGS = HoppingCouplings(kappa=0.2, lam=0.5)

# id -> (function of array arguments, arguments from a key, expected shape of each output leaf)
CASES = {
    "lattice.ising_energy": (ising_energy, lambda k: (_spins(k),), ()),
    "lattice.ising_metropolis_step": (
        lambda k, s: (
            ising_metropolis_kernel(0.4).step(k, ising_metropolis_kernel(0.4).init(s))[0].spins
        ),
        lambda k: (k, _spins(k)),
        (8, 8),
    ),
    "lattice.phi4_action": (
        lambda phi: phi4_action(phi, _COUPLINGS),
        lambda k: (_normal(k, (6, 6)),),
        (),
    ),
    "lattice.phi4_logdensity": (
        phi4_logdensity_fn(_COUPLINGS),
        lambda k: (_normal(k, (6, 6)),),
        (),
    ),
    "lattice.two_point_function": (two_point_function, lambda k: (_normal(k, (6, 6)),), (6, 6)),
    "mcmc.split_rhat": (split_rhat, lambda k: (_normal(k, (4, 200)),), ()),
    "mcmc.gamma_method": (gamma_method, lambda k: (_normal(k, (4, 200)),), ()),
    "depth.mahalanobis_depth": (
        mahalanobis_depth,
        lambda k: (_normal(k, (9, 3)), _normal(k, (50, 3), 1)),
        (9,),
    ),
    "depth.spatial_depth": (
        functools.partial(spatial_depth, whiten=True),
        lambda k: (_normal(k, (9, 3)), _normal(k, (50, 3), 1)),
        (9,),
    ),
    "depth.lens_depth": (lens_depth, lambda k: (_normal(k, (9, 2)), _normal(k, (40, 2), 1)), (9,)),
    "depth.halfspace_depth": (
        functools.partial(halfspace_depth, n_directions=64),
        lambda k: (k, _normal(k, (9, 3)), _normal(k, (50, 3), 1)),
        (9,),
    ),
    "transport.sinkhorn_divergence": (
        functools.partial(sinkhorn_divergence, epsilon=0.1),
        lambda k: (_normal(k, (30, 2)), _normal(k, (40, 2), 1) + 0.5),
        (),
    ),
    "uq.gaussian_nll": (
        gaussian_nll,
        lambda k: (_normal(k, (20,)), _normal(k, (20,), 1), jnp.exp(_normal(k, (20,), 2))),
        (),
    ),
    "uq.crps_gaussian": (
        crps_gaussian,
        lambda k: (_normal(k, (20,)), _normal(k, (20,), 1), jnp.exp(_normal(k, (20,), 2))),
        (),
    ),
    "uq.interval_score": (
        lambda y, lo, width: interval_score(y, lo, lo + width, 0.1),
        lambda k: (_normal(k, (20,)), _normal(k, (20,), 1), jnp.exp(_normal(k, (20,), 2))),
        (),
    ),
    "uq.energy_score": (
        energy_score,
        lambda k: (_normal(k, (20, 2)), _normal(k, (30, 20, 2), 1)),
        (),
    ),
    "sensitivity.sobol_indices_from_outputs": (
        sobol_indices_from_outputs,
        lambda k: (k, _normal(k, (256,)), _normal(k, (256,), 1), _normal(k, (3, 256), 2)),
        None,  # checked field by field below
    ),
    "sensitivity.hsic_indices": (
        functools.partial(hsic_indices, num_permutations=19),
        lambda k: (k, _normal(k, (100, 3)), _normal(k, (100,), 1)),
        None,
    ),
    "simulators.ishigami": (
        ishigami,
        lambda k: (jax.random.uniform(k, (50, 3), minval=-jnp.pi, maxval=jnp.pi),),
        (50,),
    ),
    "simulators.borehole": (borehole, lambda k: (jax.random.uniform(k, (50, 8)),), (50,)),
    "surrogates.gp_log_marginal_likelihood": (
        lambda log_ls, x, y: gp_log_marginal_likelihood(
            GPParams(log_ls, jnp.zeros(()), jnp.log(0.1)), x, y
        ),
        lambda k: (jnp.zeros((2,)), _normal(k, (30, 2)), _normal(k, (30,), 1)),
        (),
    ),
}


# the costliest compiles (Sinkhorn loops, permutations, bootstraps, sorted projections) run
# with the slow selection
_SLOW = {
    "depth.halfspace_depth",
    "sensitivity.hsic_indices",
    "sensitivity.sobol_indices_from_outputs",
    "transport.sinkhorn_divergence",
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.slow] if n in _SLOW else []) for n in sorted(CASES)],
)
def test_jit_and_no_jit_agree(key, name):
    fn, make_args, shape = CASES[name]
    args = make_args(key)
    eager = fn(*args)
    jitted = jax.jit(fn)(*args)
    chex.assert_trees_all_equal_shapes_and_dtypes(jitted, eager)
    chex.assert_tree_all_finite(eager)
    if shape is not None:
        chex.assert_shape(eager, shape)
    chex.assert_trees_all_close(jitted, eager, rtol=_RTOL, atol=_ATOL)


def test_field_shapes_of_estimates(key):
    # the estimators whose outputs are results with several fields
    _, make_args, _ = CASES["sensitivity.sobol_indices_from_outputs"]
    est = sobol_indices_from_outputs(*make_args(key))
    chex.assert_shape([est.first_order, est.total_order, est.first_order_stderr], (3,))
    gamma = gamma_method(np.asarray(_normal(key, (4, 200))))
    chex.assert_shape([gamma.mean, gamma.error, gamma.tau_int, gamma.variance], ())


def _closure_cases():
    # Public functions whose input checks read concrete values: inside a user's jit, closed-over
    # concrete data stay concrete, but jnp reductions of them are traced, so the checks must
    # work on the values themselves (they once raised ConcretizationTypeError here).
    from edtjax.depth import lens_depth_from_distances
    from edtjax.sensitivity import (
        conditional_hsic_indices,
        cramer_von_mises_indices,
        given_data_first_order,
        given_data_shapley_effects,
        target_hsic_indices,
        wasserstein_indices,
    )

    x = jax.random.uniform(jax.random.key(0), (256, 3))
    y = x[:, 0] + 0.5 * x[:, 1] ** 2
    k = jax.random.key(1)
    d = jnp.abs(x[:, :1] - x[:, 0])
    return {
        "target_hsic": lambda: target_hsic_indices(k, x, y, 0.6, num_permutations=9),
        "conditional_hsic": lambda: conditional_hsic_indices(k, x, y, 0.6, num_permutations=9),
        "hsic": lambda: hsic_indices(k, x, y, num_permutations=9),
        "cramer_von_mises": lambda: cramer_von_mises_indices(k, y[:128], jnp.stack([y[128:]] * 3)),
        "given_data_first_order": lambda: given_data_first_order(x, y, num_batches=5),
        "given_data_shapley": lambda: given_data_shapley_effects(k, x, y, num_batches=5),
        "wasserstein": lambda: wasserstein_indices(k, x, y),
        "lens_from_distances": lambda: lens_depth_from_distances(d[:5], d),
    }


@pytest.mark.parametrize("name", sorted(_closure_cases()))
def test_checks_pass_on_concrete_data_closed_over_inside_jit(name):
    fn = _closure_cases()[name]
    eager = jax.tree.map(jnp.asarray, fn())  # Python numbers in a result leave jit as arrays
    jitted = jax.jit(fn)()
    chex.assert_trees_all_equal_shapes_and_dtypes(jitted, eager)
    chex.assert_trees_all_close(jitted, eager, rtol=_RTOL, atol=_ATOL)
