"""BNN posterior sampling: numpyro NUTS against edtjax's vmapped blackjax NUTS chains.

A 2x50 tanh network on N = 100 points (1-d input, Gaussian likelihood with known noise,
N(0, 1) prior on all weights). Both samplers get the same log-density. Each configuration is
run once to compile and once timed (warm-up + sampling). Prints one JSON line per
configuration with gradient evaluations per second and min ESS per second; ``ratio`` is
edtjax's min-ESS/s over that of a single numpyro chain.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

from edtjax.surrogates import bnn_log_density, mlp, nuts_blackjax


def _min_ess(samples):
    flat = jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))(samples)
    return float(np.min(effective_sample_size(np.asarray(flat))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    kx, ke = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (100, 1), minval=-2, maxval=2)
    y = jnp.sin(2 * x) + 0.1 * jax.random.normal(ke, x.shape)
    net = mlp((50, 50), 1, activation="tanh")
    logp = bnn_log_density(net, x, y, prior_scale=1.0, noise_variance=0.01)
    init_one = net.init(jax.random.key(1), x)

    # numpyro, one chain, warm then timed
    mcmc = MCMC(
        NUTS(potential_fn=lambda z: -logp(z)),
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=1,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2), init_params=init_one, extra_fields=("num_steps",))
    jax.block_until_ready(mcmc.get_samples())
    start = time.perf_counter()
    mcmc.run(jax.random.key(3), init_params=init_one, extra_fields=("num_steps",))
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    numpyro_s = time.perf_counter() - start
    numpyro_grads = int(jnp.sum(mcmc.get_extra_fields()["num_steps"]))
    numpyro_ess = _min_ess(samples)
    numpyro_ess_s = numpyro_ess / numpyro_s

    for chains in args.chains:
        inits = jax.vmap(lambda k: net.init(k, x))(jax.random.split(jax.random.key(4), chains))
        kw = {"num_warmup": args.warmup, "num_samples": args.samples}
        jax.block_until_ready(nuts_blackjax(jax.random.key(5), logp, inits, **kw))
        start = time.perf_counter()
        out = jax.block_until_ready(nuts_blackjax(jax.random.key(6), logp, inits, **kw))
        edtjax_s = time.perf_counter() - start
        ess = _min_ess(out.samples)
        print(
            json.dumps(
                {
                    "name": "bnn_nuts_2x50_tanh_n100",
                    "chains": chains,
                    "warmup": args.warmup,
                    "samples_per_chain": args.samples,
                    "edtjax_s": edtjax_s,
                    "edtjax_grad_evals_per_s": int(out.gradient_evaluations) / edtjax_s,
                    "edtjax_min_ess": ess,
                    "edtjax_min_ess_per_s": ess / edtjax_s,
                    "edtjax_divergences": int(jnp.sum(out.divergences)),
                    "peer": "numpyro NUTS, 1 chain",
                    "peer_s": numpyro_s,
                    "peer_grad_evals_per_s": numpyro_grads / numpyro_s,
                    "peer_min_ess": numpyro_ess,
                    "peer_min_ess_per_s": numpyro_ess_s,
                    "ratio": (ess / edtjax_s) / numpyro_ess_s,
                    "note": "grad evals counted in the sampling phase only; times include warm-up",
                    "jax": jax.__version__,
                    "backend": jax.default_backend(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
