"""Benchmark: overhead of ``run_chains`` against blackjax's hand-written multi-chain loop.

The peer is the loop from the blackjax documentation (``jax.lax.scan`` over steps of a
``jax.vmap``-ed kernel, every state kept), jitted as one function. ``run_chains`` adds the
``fold_in`` key stream, thinning, info averaging and segmenting. Both run the same random-walk
Metropolis kernel on a standard Gaussian; both are compiled before timing.

Usage: ``python benchmarks/mcmc_driver.py [--dims 10 100] [--chains 64] [--steps 10000]``.
Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import functools
import json

import blackjax
import jax
import jax.numpy as jnp
from _common import best_of

from edtjax.mcmc import run_chains


def _logdensity(x):
    return -0.5 * jnp.sum(x**2)


@functools.partial(jax.jit, static_argnames=("step", "num_steps"))
def blackjax_loop(key, state, *, step, num_steps):
    """The blackjax documentation's ``inference_loop_multiple_chains``."""
    num_chains = jax.tree_util.tree_leaves(state)[0].shape[0]

    def one_step(state, key):
        state, _ = jax.vmap(step)(jax.random.split(key, num_chains), state)
        return state, state.position

    _, positions = jax.lax.scan(one_step, state, jax.random.split(key, num_steps))
    return positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    key = jax.random.key(0)
    for dim in args.dims:
        kernel = blackjax.additive_step_random_walk(
            _logdensity, blackjax.mcmc.random_walk.normal(jnp.full(dim, 2.4 / dim**0.5))
        )
        state = jax.vmap(kernel.init)(jnp.zeros((args.chains, dim)))
        ours = functools.partial(run_chains, key, kernel, state, args.steps, num_chains=args.chains)
        peer = functools.partial(blackjax_loop, key, state, step=kernel.step, num_steps=args.steps)
        jax.block_until_ready(ours())  # compile outside the timed region
        jax.block_until_ready(peer())
        edtjax_s = best_of(ours, args.repeats)[0]
        peer_s = best_of(peer, args.repeats)[0]
        print(
            json.dumps(
                {
                    "name": "run_chains_rwmh_gaussian",
                    "dim": dim,
                    "num_chains": args.chains,
                    "num_steps": args.steps,
                    "edtjax_s": edtjax_s,
                    "peer": "blackjax scan/vmap loop",
                    "peer_s": peer_s,
                    "ratio": peer_s / edtjax_s,
                    "steps_per_s_edtjax": args.chains * args.steps / edtjax_s,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
