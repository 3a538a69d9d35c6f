"""Benchmark: gradient evaluations per second and NUTS ESS per second on 2-d phi^4.

For each lattice size L and number of chains C this prints one JSON line comparing
``edtjax.lattice.sample_phi4(algorithm="nuts")`` (blackjax NUTS with window adaptation, chains
vmapped) with NumPyro's NUTS kernel on the same action (``potential_fn``, chains vmapped), both
in this process, at kappa = 0.25, lambda = 0.5. Compilation happens outside the timed region
(one untimed run with the same shapes first); every timed call ends with
``block_until_ready``. Both timings include the warm-up (adaptation) steps. ESS uses one
estimator for both (``numpyro.diagnostics.effective_sample_size`` on the magnetisation and on
the lattice mean of phi^2; the smaller is reported). ``ratio = peer_s / edtjax_s`` (above 1:
edtjax faster).

Also reported: gradient evaluations per second of the action in a compiled loop (vmapped over
C fields), the gradient evaluations spent in the sampling phase by each sampler, and for C > 1
the speed-up of C vmapped chains over one chain.

Usage (from the repository root, with edtjax importable)::

    python benchmarks/phi4.py --sizes 16 32 --chains 1 8 --steps 500 --warmup 300
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size
from numpyro.infer.hmc import hmc

from edtjax.lattice import HoppingCouplings, phi4_action, sample_phi4

COUPLINGS = HoppingCouplings(kappa=0.25, lam=0.5)


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def _ess(magnetisation: np.ndarray, phi_squared: np.ndarray) -> float:
    """Smaller ESS of two observables; inputs (chains, draws)."""
    return float(min(effective_sample_size(magnetisation), effective_sample_size(phi_squared)))


def grad_evals_per_second(size: int, chains: int, repeats: int) -> float:
    """Gradient evaluations of the action per second, ``chains`` fields at once (vmap), in a
    compiled loop so that dispatch overhead is excluded."""
    grad = jax.vmap(jax.grad(lambda phi: phi4_action(phi, COUPLINGS)))

    @jax.jit
    def loop(fields):
        return jax.lax.fori_loop(0, repeats, lambda i, f: f - 1e-3 * grad(f), fields)

    fields = jax.random.normal(jax.random.key(0), (chains, size, size))
    jax.block_until_ready(loop(fields))
    _, seconds = _timed(lambda: loop(fields))
    return chains * repeats / seconds


def run_edtjax(size, chains, steps, warmup, seed):
    def call(key):
        return sample_phi4(
            key, size, COUPLINGS, steps, num_chains=chains, algorithm="nuts", burn_in=warmup
        )

    call(jax.random.key(seed))  # compile
    result, seconds = _timed(lambda: call(jax.random.key(seed + 1)))
    m = np.asarray(result.traces["magnetisation"])
    p2 = np.asarray(result.traces["phi_squared"])
    grads = float(np.sum(result.info["num_integration_steps"])) * steps
    return seconds, _ess(m, p2), grads, float(np.mean(p2))


def _numpyro_runner(size, chains, steps, warmup):
    """NumPyro's NUTS (``numpyro.infer.hmc.hmc(potential_fn, algo="NUTS")``: Stan-style warm-up
    of step size and diagonal mass matrix), chains vmapped, scanned in one compiled function.

    ``numpyro.infer.MCMC.run`` rebuilds its sampling loop (and recompiles) on every call, so the
    functional kernel is driven directly to keep compilation out of the timed region.
    """
    init_kernel, sample_kernel = hmc(
        potential_fn=lambda phi: phi4_action(phi, COUPLINGS), algo="NUTS"
    )

    def one_chain(key, position):
        state = init_kernel(position, num_warmup=warmup, rng_key=key)

        def body(state, _):
            state = sample_kernel(state)
            z = state.z
            return state, (jnp.mean(z), jnp.mean(z * z), state.num_steps)

        _, out = jax.lax.scan(body, state, None, length=warmup + steps)
        return jax.tree.map(lambda x: x[warmup:], out)

    return jax.jit(jax.vmap(one_chain))


def run_numpyro(size, chains, steps, warmup, seed):
    runner = _numpyro_runner(size, chains, steps, warmup)
    init = 0.1 * jax.random.normal(jax.random.key(seed + 1), (chains, size, size))
    runner(jax.random.split(jax.random.key(seed), chains), init)  # compile
    (m, p2, num_steps), seconds = _timed(
        lambda: runner(jax.random.split(jax.random.key(seed + 2), chains), init)
    )
    m, p2 = np.asarray(m), np.asarray(p2)
    return seconds, _ess(m, p2), float(np.sum(num_steps)), float(np.mean(p2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--grad-repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for size in args.sizes:
        single = None
        for chains in args.chains:
            gps = grad_evals_per_second(size, chains, args.grad_repeats)
            ed_s, ed_ess, ed_grads, ed_p2 = run_edtjax(
                size, chains, args.steps, args.warmup, args.seed
            )
            np_s, np_ess, np_grads, np_p2 = run_numpyro(
                size, chains, args.steps, args.warmup, args.seed
            )
            record = {
                "name": f"phi4_nuts_L{size}_chains{chains}",
                "L": size,
                "chains": chains,
                "steps": args.steps,
                "warmup": args.warmup,
                "edtjax_s": ed_s,
                "peer_s": np_s,
                "ratio": np_s / ed_s,
                "peer": "numpyro.infer.hmc.hmc(algo='NUTS'), chains vmapped",
                "edtjax_ess_per_s": ed_ess / ed_s,
                "peer_ess_per_s": np_ess / np_s,
                "edtjax_sampling_grad_evals": ed_grads,
                "peer_sampling_grad_evals": np_grads,
                "grad_evals_per_s": gps,
                "edtjax_mean_phi_squared": ed_p2,
                "peer_mean_phi_squared": np_p2,
                "device": jax.devices()[0].platform,
            }
            if single is None and chains == 1:
                single = record
            elif single is not None:
                record["grad_evals_per_s_vs_one_chain"] = gps / single["grad_evals_per_s"]
                record["ess_per_s_vs_one_chain"] = (
                    record["edtjax_ess_per_s"] / single["edtjax_ess_per_s"]
                )
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
