"""BNN posterior sampling: one numpyro NUTS chain against edtjax's many-chain samplers.

A one-hidden-layer tanh network (``--hidden`` units, default 10) on N = 100 points (1-d input,
Gaussian likelihood with known noise variance 0.01, N(0, 1) prior on all weights). Every sampler
gets the same log-density. The peer is one numpyro NUTS chain (``--peer-warmup`` and
``--peer-samples``). edtjax runs ``--chees-chains`` chains of ChEES-tuned jittered HMC
(``nuts_blackjax(..., sampler="chees")``, diagonal mass matrix) and, with ``--nuts-chains``,
vmapped NUTS. Every sampler is timed on one call that includes its compilation (the peer is
timed the same way so that both figures are time to a result); ``edtjax_repeat_s`` times a
second call with a new key, which reuses edtjax's compilation (the data and tuned values are
traced, not compiled in), as a user refitting the same network pays it.

Two efficiency figures, each per second of wall time (warm-up included): the minimum ESS over
the network weights, and the minimum ESS over the posterior predictive means f(x*) at 20 grid
points. The weights' posterior is symmetric under permuting hidden units and flipping their
signs, so chains in different symmetric modes lower the many-chain weight ESS without any
error in f; the predictive ESS is invariant. ESS is numpyro's (Geyer's initial monotone
sequence, chains pooled as in Stan). ``ratio_*`` is edtjax's figure over the single numpyro
chain's. One JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

from edtjax.surrogates import bnn_log_density, mlp, nuts_blackjax


def _ess(samples, net, grid):
    """Minimum ESS over the weights and over the predictions at ``grid``."""
    flat = jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))(samples)
    pred = jax.vmap(jax.vmap(lambda p: net.apply(p, grid).mean[:, 0]))(samples)
    weights = float(np.min(effective_sample_size(np.asarray(flat))))
    predictions = float(np.min(effective_sample_size(np.asarray(pred))))
    return weights, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=10)
    parser.add_argument("--peer-warmup", type=int, default=500)
    parser.add_argument("--peer-samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--chees-chains", type=int, nargs="*", default=[64])
    parser.add_argument("--nuts-chains", type=int, nargs="*", default=[])
    args = parser.parse_args()
    kx, ke = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (100, 1), minval=-2, maxval=2)
    y = jnp.sin(2 * x) + 0.1 * jax.random.normal(ke, x.shape)
    grid = jnp.linspace(-2, 2, 20)[:, None]
    net = mlp((args.hidden,), 1, activation="tanh")
    logp = bnn_log_density(net, x, y, prior_scale=1.0, noise_variance=0.01)
    init_one = net.init(jax.random.key(1), x)
    load_before = os.getloadavg()[0]

    # numpyro, one chain, timed with its compilation
    mcmc = MCMC(
        NUTS(potential_fn=lambda z: -logp(z)),
        num_warmup=args.peer_warmup,
        num_samples=args.peer_samples,
        num_chains=1,
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.key(3), init_params=init_one, extra_fields=("num_steps",))
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    peer_s = time.perf_counter() - start
    peer_grads = int(jnp.sum(mcmc.get_extra_fields()["num_steps"]))
    peer_w, peer_f = _ess(samples, net, grid)

    runs = [("chees", c) for c in args.chees_chains] + [("nuts", c) for c in args.nuts_chains]
    for sampler, chains in runs:
        inits = jax.vmap(lambda k: net.init(k, x))(jax.random.split(jax.random.key(4), chains))
        start = time.perf_counter()
        out = jax.block_until_ready(
            nuts_blackjax(
                jax.random.key(6), logp, inits, num_warmup=args.warmup,
                num_samples=args.samples, sampler=sampler,
            )
        )  # fmt: skip
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        jax.block_until_ready(
            nuts_blackjax(
                jax.random.key(7), logp, inits, num_warmup=args.warmup,
                num_samples=args.samples, sampler=sampler,
            )
        )  # fmt: skip
        repeat_s = time.perf_counter() - start
        ours_w, ours_f = _ess(out.samples, net, grid)
        print(
            json.dumps(
                {
                    "name": f"bnn_{sampler}_1x{args.hidden}_tanh_n100",
                    "sampler": sampler,
                    "chains": chains,
                    "warmup": args.warmup,
                    "samples_per_chain": args.samples,
                    "edtjax_s": ours_s,
                    "edtjax_repeat_s": repeat_s,
                    "edtjax_grad_evals_per_s": int(out.gradient_evaluations) / ours_s,
                    "edtjax_min_ess_weights": ours_w,
                    "edtjax_min_ess_predictions": ours_f,
                    "edtjax_min_ess_weights_per_s": ours_w / ours_s,
                    "edtjax_min_ess_predictions_per_s": ours_f / ours_s,
                    "edtjax_divergences": int(jnp.sum(out.divergences)),
                    "edtjax_acceptance_rate": float(jnp.mean(out.acceptance_rate)),
                    "peer": "numpyro NUTS, 1 chain",
                    "peer_warmup": args.peer_warmup,
                    "peer_samples": args.peer_samples,
                    "peer_s": peer_s,
                    "peer_grad_evals_per_s": peer_grads / peer_s,
                    "peer_min_ess_weights": peer_w,
                    "peer_min_ess_predictions": peer_f,
                    "ratio_weights": (ours_w / ours_s) / (peer_w / peer_s),
                    "ratio_predictions": (ours_f / ours_s) / (peer_f / peer_s),
                    "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_after": round(os.getloadavg()[0], 2),
                    "note": "grad evals counted in the sampling phase only; times include "
                    "warm-up and compilation for both",
                    "jax": jax.__version__,
                    "backend": jax.default_backend(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
