"""Benchmark: gradient evaluations per second and NUTS ESS per second on 2-d phi^4.

For each lattice size L and number of chains C this prints one JSON line comparing
``edtjax.lattice.sample_phi4(algorithm="nuts")`` (blackjax NUTS with window adaptation, chains
vmapped) with NumPyro's NUTS on the same action (``potential_fn``, chains vectorised), both in
this process. Compilation happens outside the timed region (one untimed run with the same shapes
first); every timed call ends with ``block_until_ready``. ESS uses one estimator for both
(``numpyro.diagnostics.effective_sample_size`` on the magnetisation and on the mean of phi^2,
the smaller of the two is reported). ``ratio = edtjax_s / peer_s`` (below 1: edtjax faster).

Also reported: raw gradient evaluations per second of the action (jitted, vmapped over C
fields), and for C > 1 the speed-up of C vmapped chains over one chain.

Usage::

    python benchmarks/phi4.py --sizes 16 32 --chains 1 8 --steps 500 --warmup 300
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

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
    grad = jax.jit(jax.vmap(jax.grad(lambda phi: phi4_action(phi, COUPLINGS))))
    fields = jax.random.normal(jax.random.key(0), (chains, size, size))

    def loop():
        out = fields
        for _ in range(repeats):
            out = grad(out) * 1e-3 + fields
        return out

    jax.block_until_ready(grad(fields))
    _, seconds = _timed(loop)
    return chains * repeats / seconds


def run_edtjax(size, chains, steps, warmup, seed):
    def call():
        return sample_phi4(
            jax.random.key(seed),
            size,
            COUPLINGS,
            steps,
            num_chains=chains,
            algorithm="nuts",
            burn_in=warmup,
        )

    call()  # compile
    result, seconds = _timed(call)
    m = np.asarray(result.traces["magnetisation"])
    p2 = np.asarray(result.traces["phi_squared"])
    grads = float(np.sum(result.info["num_integration_steps"])) * steps
    return seconds, _ess(m, p2), grads, float(np.mean(p2))


def run_numpyro(size, chains, steps, warmup, seed):
    def potential(phi):
        return phi4_action(phi, COUPLINGS)

    mcmc = MCMC(
        NUTS(potential_fn=potential),
        num_warmup=warmup,
        num_samples=steps,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    init = 0.1 * jax.random.normal(jax.random.key(seed + 1), (chains, size, size))
    mcmc.run(jax.random.key(seed), init_params=init)  # compile
    _, seconds = _timed(
        lambda: (mcmc.run(jax.random.key(seed + 2), init_params=init), mcmc.get_samples())[1]
    )
    samples = np.asarray(mcmc.get_samples(group_by_chain=True))
    m = samples.mean(axis=(2, 3))
    p2 = (samples**2).mean(axis=(2, 3))
    return seconds, _ess(m, p2), float(np.mean(p2))


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
            np_s, np_ess, np_p2 = run_numpyro(size, chains, args.steps, args.warmup, args.seed)
            record = {
                "name": f"phi4_nuts_L{size}_chains{chains}",
                "L": size,
                "chains": chains,
                "steps": args.steps,
                "warmup": args.warmup,
                "edtjax_s": ed_s,
                "peer_s": np_s,
                "ratio": ed_s / np_s,
                "peer": "numpyro.infer.NUTS (chain_method='vectorized')",
                "edtjax_ess_per_s": ed_ess / ed_s,
                "peer_ess_per_s": np_ess / np_s,
                "edtjax_sampling_grad_evals": ed_grads,
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
