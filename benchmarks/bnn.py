"""BNN posterior sampling: one numpyro NUTS chain against edtjax's many-chain samplers.

A one-hidden-layer tanh network (``--hidden`` units, default 10) on N = 100 points (1-d input,
Gaussian likelihood with known noise variance 0.01, N(0, 1) prior on all weights). Every sampler
gets the same log-density. The peer is one numpyro NUTS chain (``--peer-warmup`` and
``--peer-samples``). edtjax runs ``--chees-chains`` chains of ChEES-tuned jittered HMC
(``nuts_blackjax(..., sampler="chees")``, diagonal mass matrix) and, with ``--nuts-chains``,
vmapped NUTS; ``--target-acceptance`` sets their step-size adaptation's target (default: each
sampler's own, 0.651 for ChEES's harmonic mean, 0.8 for NUTS). Every sampler is timed on one
call that includes its compilation (the peer is timed the same way so that both figures are
time to a result, and runs again, same key and same draws, after every edtjax configuration:
``peer_s`` is the faster of its runs just before and just after, so that a change of load on a
shared machine does not favour either side); ``edtjax_repeat_s`` times a second call with a new
key, which reuses edtjax's compilation (the data and tuned values are traced, not compiled
in), as a user refitting the same network pays it.

Three efficiency figures, each per second of wall time (warm-up included), all with numpyro's
ESS (Geyer's initial monotone sequence, chains pooled as in Stan):

- ``min_ess_weights``: the minimum ESS over the raw network weights. The posterior is
  invariant under permuting hidden units and flipping the signs of a unit's incoming weights,
  bias and outgoing weight, so chains that sit in different symmetric copies of one mode lower
  the pooled ESS although they agree on every prediction, while a single chain that never
  leaves its copy is not penalised: this figure favours one chain.
- ``min_ess_canonical``: the minimum ESS over the weights mapped to one representative of
  their symmetry orbit (:func:`edtjax.surrogates.canonical_mlp_params`: outgoing weights made
  non-negative, units sorted by them), which measures how well the posterior over functions is
  explored in weight space, for one chain and many alike.
- ``min_ess_predictions``: the minimum ESS over the posterior predictive means f(x*) at 20 grid
  points, invariant under the symmetries.

``max_rhat_*`` is numpyro's split R-hat over the raw and the canonical weights (for the single
peer chain, its two halves): values near 1 after canonicalisation and far above it before say
that the chains differ by a symmetry, not by what they have found. ``ratio_*`` is edtjax's
figure over the single numpyro chain's. One JSON line per configuration; ``--no-repeat`` skips
the second timed call.
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
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import MCMC, NUTS

from edtjax.surrogates import bnn_log_density, canonical_mlp_params, mlp, nuts_blackjax


def _summaries(samples, net, grid):
    """Minimum ESS over the raw weights, the canonical weights and the predictions at ``grid``,
    and the maximum split R-hat over the raw and the canonical weights."""
    canonical = jax.jit(jax.vmap(jax.vmap(lambda p: canonical_mlp_params(net, p))))(samples)
    flat = jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))
    pred = jax.vmap(jax.vmap(lambda p: net.apply(p, grid).mean[:, 0]))(samples)
    raw, canon = np.asarray(flat(samples)), np.asarray(flat(canonical))
    return {
        "min_ess_weights": float(np.min(effective_sample_size(raw))),
        "min_ess_canonical": float(np.min(effective_sample_size(canon))),
        "min_ess_predictions": float(np.min(effective_sample_size(np.asarray(pred)))),
        "max_rhat_weights": float(np.max(split_gelman_rubin(raw))),
        "max_rhat_canonical": float(np.max(split_gelman_rubin(canon))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=10)
    parser.add_argument("--peer-warmup", type=int, default=500)
    parser.add_argument("--peer-samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--chees-chains", type=int, nargs="*", default=[64])
    parser.add_argument("--nuts-chains", type=int, nargs="*", default=[])
    parser.add_argument("--target-acceptance", type=float, default=None)
    parser.add_argument("--no-repeat", action="store_true")
    args = parser.parse_args()
    kx, ke = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (100, 1), minval=-2, maxval=2)
    y = jnp.sin(2 * x) + 0.1 * jax.random.normal(ke, x.shape)
    grid = jnp.linspace(-2, 2, 20)[:, None]
    net = mlp((args.hidden,), 1, activation="tanh")
    logp = bnn_log_density(net, x, y, prior_scale=1.0, noise_variance=0.01)
    init_one = net.init(jax.random.key(1), x)
    load_before = os.getloadavg()[0]

    def run_peer():
        """numpyro, one chain, timed with its compilation (a new potential each call)."""
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
        seconds = time.perf_counter() - start
        return samples, seconds, int(jnp.sum(mcmc.get_extra_fields()["num_steps"]))

    samples, peer_before, peer_grads = run_peer()
    peer = _summaries(samples, net, grid)

    runs = [("chees", c) for c in args.chees_chains] + [("nuts", c) for c in args.nuts_chains]
    for sampler, chains in runs:
        inits = jax.vmap(lambda k: net.init(k, x))(jax.random.split(jax.random.key(4), chains))
        start = time.perf_counter()
        out = jax.block_until_ready(
            nuts_blackjax(
                jax.random.key(6), logp, inits, num_warmup=args.warmup,
                num_samples=args.samples, sampler=sampler,
                target_acceptance_rate=args.target_acceptance,
            )
        )  # fmt: skip
        ours_s = time.perf_counter() - start
        repeat_s = None
        if not args.no_repeat:
            start = time.perf_counter()
            jax.block_until_ready(
                nuts_blackjax(
                    jax.random.key(7), logp, inits, num_warmup=args.warmup,
                    num_samples=args.samples, sampler=sampler,
                    target_acceptance_rate=args.target_acceptance,
                )
            )  # fmt: skip
            repeat_s = time.perf_counter() - start
        ours = _summaries(out.samples, net, grid)
        # the same numpyro run (same key, same draws) before and after: the faster time
        peer_after = run_peer()[1]
        peer_s = min(peer_before, peer_after)
        figures = {}
        for name in ("weights", "canonical", "predictions"):
            figures[f"edtjax_min_ess_{name}"] = ours[f"min_ess_{name}"]
            figures[f"edtjax_min_ess_{name}_per_s"] = ours[f"min_ess_{name}"] / ours_s
        peer_figures = {f"peer_{k}": v for k, v in peer.items()}
        ratios = {
            f"ratio_{name}": (ours[f"min_ess_{name}"] / ours_s) / (peer[f"min_ess_{name}"] / peer_s)
            for name in ("weights", "canonical", "predictions")
        }
        print(
            json.dumps(
                {
                    "name": f"bnn_{sampler}_1x{args.hidden}_tanh_n100",
                    "sampler": sampler,
                    "chains": chains,
                    "warmup": args.warmup,
                    "samples_per_chain": args.samples,
                    "target_acceptance_rate": args.target_acceptance,
                    "edtjax_s": ours_s,
                    "edtjax_repeat_s": repeat_s,
                    "edtjax_grad_evals_per_s": int(out.gradient_evaluations) / ours_s,
                    **figures,
                    "edtjax_max_rhat_weights": ours["max_rhat_weights"],
                    "edtjax_max_rhat_canonical": ours["max_rhat_canonical"],
                    "edtjax_divergences": int(jnp.sum(out.divergences)),
                    "edtjax_acceptance_rate": float(jnp.mean(out.acceptance_rate)),
                    "peer": "numpyro NUTS, 1 chain",
                    "peer_warmup": args.peer_warmup,
                    "peer_samples": args.peer_samples,
                    "peer_s": peer_s,
                    "peer_s_before_after": [peer_before, peer_after],
                    "peer_grad_evals_per_s": peer_grads / peer_s,
                    **peer_figures,
                    **ratios,
                    "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_after": round(os.getloadavg()[0], 2),
                    "load_average_1_5_15min_after": [round(v, 2) for v in os.getloadavg()],
                    "note": "grad evals counted in the sampling phase only; times include "
                    "warm-up and compilation for both",
                    "jax": jax.__version__,
                    "backend": jax.default_backend(),
                }
            ),
            flush=True,
        )
        peer_before, load_before = peer_after, os.getloadavg()[0]


if __name__ == "__main__":
    main()
