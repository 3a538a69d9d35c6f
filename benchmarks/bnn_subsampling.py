"""Mini-batch BNN sampling: edtjax's penalty method (PBNN) against full-data numpyro NUTS.

A 2x50 tanh network on N = 10^4 points (1-d input, Gaussian likelihood with known noise,
N(0, 1) prior on all weights); both samplers target the same posterior. numpyro NUTS (one
chain) evaluates the full-data gradient; PBNN runs vmapped chains with mini-batches of ``b``
points (Langevin proposals, step size adapted to a mean acceptance of 0.6). Every run starts
from the same point, near a mode found by a short full-batch Adam fit (both samplers then
explore the same local mode instead of burning their budget on the descent). Each
PBNN configuration is run once to compile and once timed (warm-up + sampling); numpyro
compiles inside each run, so its single timed run includes its compilation.

Reported per configuration: wall time, gradient evaluations per second (PBNN: mini-batch
gradients of ``b`` points; also per-example gradients per second, the work measure that
compares across batch sizes), min and median ESS over all parameters and per second; ``ratio`` is
PBNN's min-ESS/s over numpyro's.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

from edtjax.surrogates import bnn_log_density, mlp, pbnn_sample

NOISE = 0.01


def _ess(samples):
    """Min and median ESS over all parameters (numpyro's estimator, chains pooled)."""
    flat = jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))(samples)
    ess = effective_sample_size(np.asarray(flat))
    return float(np.min(ess)), float(np.median(ess))


def _mode(logp, params, steps):
    opt = optax.adam(1e-2)

    @jax.jit
    def step(carry, _):
        params, state = carry
        grads = jax.grad(lambda p: -logp(p))(params)
        updates, state = opt.update(grads, state)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, steps)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--pbnn-warmup", type=int, default=2000)
    parser.add_argument("--pbnn-samples", type=int, default=4000)
    parser.add_argument("--nuts-warmup", type=int, default=100)
    parser.add_argument("--nuts-samples", type=int, default=100)
    parser.add_argument("--nuts-max-tree-depth", type=int, default=6)
    args = parser.parse_args()
    kx, ke = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (args.n, 1), minval=-2, maxval=2)
    y = jnp.sin(2 * x) + jnp.sqrt(NOISE) * jax.random.normal(ke, x.shape)
    net = mlp((50, 50), 1, activation="tanh")
    logp = bnn_log_density(net, x, y, prior_scale=1.0, noise_variance=NOISE)
    start_point = _mode(logp, net.init(jax.random.key(1), x), 2000)

    mcmc = MCMC(
        NUTS(potential_fn=lambda z: -logp(z), max_tree_depth=args.nuts_max_tree_depth),
        num_warmup=args.nuts_warmup,
        num_samples=args.nuts_samples,
        num_chains=1,
        progress_bar=False,
    )
    # numpyro jit-compiles its sampling loop inside every run (``fori_collect`` builds a new
    # loop function per call), so a warm-up call would not take compilation out of the timed
    # run: one run is timed, compilation (seconds) included.
    t0 = time.perf_counter()
    mcmc.run(jax.random.key(3), init_params=start_point, extra_fields=("num_steps",))
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    nuts_s = time.perf_counter() - t0
    nuts_grads = int(jnp.sum(mcmc.get_extra_fields()["num_steps"]))
    nuts_ess, nuts_median = _ess(samples)

    inits = jax.tree.map(lambda a: jnp.broadcast_to(a, (args.chains, *a.shape)), start_point)
    for b in args.batch_sizes:
        kw = dict(
            batch_size=b, prior_scale=1.0, noise_variance=NOISE, step_size=1e-4,
            num_warmup=args.pbnn_warmup, num_samples=args.pbnn_samples,
        )  # fmt: skip
        jax.block_until_ready(pbnn_sample(jax.random.key(4), net, x, y, inits, **kw))
        t0 = time.perf_counter()
        out = jax.block_until_ready(pbnn_sample(jax.random.key(5), net, x, y, inits, **kw))
        pbnn_s = time.perf_counter() - t0
        ess, median = _ess(out.samples)
        grads = int(out.gradient_evaluations)
        print(
            json.dumps(
                {
                    "name": f"pbnn_2x50_tanh_n{args.n}_b{b}",
                    "n": args.n,
                    "batch_size": b,
                    "chains": args.chains,
                    "warmup": args.pbnn_warmup,
                    "samples_per_chain": args.pbnn_samples,
                    "edtjax_s": pbnn_s,
                    "edtjax_grad_evals_per_s": grads / pbnn_s,
                    "edtjax_example_grads_per_s": grads * b / pbnn_s,
                    "edtjax_min_ess": ess,
                    "edtjax_min_ess_per_s": ess / pbnn_s,
                    "edtjax_median_ess": median,
                    "edtjax_median_ess_per_s": median / pbnn_s,
                    "edtjax_mean_acceptance": float(jnp.mean(out.acceptance_rate)),
                    "edtjax_divergences": int(jnp.sum(out.divergences)),
                    "peer": "numpyro NUTS, 1 chain, full data",
                    "peer_warmup": args.nuts_warmup,
                    "peer_samples": args.nuts_samples,
                    "peer_max_tree_depth": args.nuts_max_tree_depth,
                    "peer_s": nuts_s,
                    "peer_grad_evals_per_s": nuts_grads / nuts_s,
                    "peer_example_grads_per_s": nuts_grads * args.n / nuts_s,
                    "peer_min_ess": nuts_ess,
                    "peer_min_ess_per_s": nuts_ess / nuts_s,
                    "peer_median_ess": nuts_median,
                    "peer_median_ess_per_s": nuts_median / nuts_s,
                    "ratio": (ess / pbnn_s) / (nuts_ess / nuts_s),
                    "note": "grad evals counted in the sampling phase only; times include "
                    "warm-up; PBNN gradients are over b points, NUTS gradients over N; "
                    "the NUTS time includes numpyro's compilation",
                    "jax": jax.__version__,
                    "backend": jax.default_backend(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
