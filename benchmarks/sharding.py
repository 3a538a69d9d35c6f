"""Benchmark: the ``devices=`` keyword against the same call on one device.

For each function with ``devices=`` (``run_chains``, ``sobol_indices``, ``fit_ensemble``,
``ensemble_predictive``, ``validity_report``), times the call split over all devices
(``devices=len(jax.devices())``) and the default single-device call (the peer) on the same
input, both compiled before timing, and checks that the two results agree. On a CPU host, run
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` to get four host devices (they
share the host's cores, so the speed-up is bounded by the core count); on a multi-accelerator
machine run it as is.

Usage: ``python benchmarks/sharding.py [--repeats 3] [--scale 1.0]``. Prints one JSON line
per function.
"""

from __future__ import annotations

import argparse
import functools
import json

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from _common import best_of

from edtjax.mcmc import run_chains
from edtjax.reliability import calibrate, knn_indicator, validity_report
from edtjax.sensitivity import sobol_indices
from edtjax.surrogates import ensemble_predictive, fit_ensemble, mlp


def _logdensity(x):
    return -0.5 * jnp.sum(x**2)


def _ishigami(v):
    x = v["x"]
    return jnp.sin(x[0]) + 7.0 * jnp.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * jnp.sin(x[0])


def _max_difference(a, b) -> float:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(float(np.nanmax(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in pairs)


def _cases(scale: float):
    """``(name, sizes, call(devices))`` for each function."""
    key = jax.random.key(0)
    chains, steps, dim = 64, int(2000 * scale), 20
    kernel = blackjax.additive_step_random_walk(
        _logdensity, blackjax.mcmc.random_walk.normal(jnp.full(dim, 2.4 / dim**0.5))
    )
    state = jax.vmap(kernel.init)(jnp.zeros((chains, dim)))
    yield (
        "run_chains_rwmh_gaussian",
        {"num_chains": chains, "num_steps": steps, "dim": dim},
        lambda d: run_chains(key, kernel, state, steps, num_chains=chains, devices=d).traces,
    )

    factors = {"x": dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)}
    n = 2 ** int(14 + np.log2(max(scale, 1 / 16)))
    yield (
        "sobol_indices_ishigami",
        {"num_samples": n, "second_order": True, "num_bootstrap": 100},
        lambda d: (
            sobol_indices(
                key, _ishigami, factors, n, second_order=True, num_bootstrap=100, devices=d
            ).first_order
        ),
    )

    x = jnp.linspace(-1.0, 1.0, 256)[:, None]
    y = jnp.sin(3.0 * x)
    net = mlp((32, 32), 1, heteroscedastic=True)
    epochs = int(100 * scale)
    yield (
        "fit_ensemble_mlp",
        {"members": 8, "n": 256, "epochs": epochs, "hidden": [32, 32]},
        lambda d: fit_ensemble(key, net, x, y, members=8, epochs=epochs, devices=d).params,
    )

    params = jax.vmap(lambda k: net.init(k, x))(jax.random.split(key, 8))
    xq = jnp.linspace(-2.0, 2.0, int(200_000 * scale))[:, None]
    yield (
        "ensemble_predictive_mlp",
        {"members": 8, "queries": xq.shape[0]},
        lambda d: ensemble_predictive(net, params, xq, devices=d).mean,
    )

    train = jax.random.normal(jax.random.key(1), (2000, 4))
    queries = 1.5 * jax.random.normal(jax.random.key(2), (int(40_000 * scale), 4))
    ind = knn_indicator(n_neighbors=5)
    ind_state = ind.fit(None, train[:1000])
    cal = calibrate(jax.random.key(3), ind, ind_state, train[1000:], 0.05)
    yield (
        "validity_report_knn",
        {"train": 1000, "queries": queries.shape[0], "dim": 4},
        lambda d: validity_report(ind, ind_state, cal, queries, devices=d).scores,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the problem sizes")
    args = parser.parse_args()
    k = len(jax.devices())
    for name, sizes, call in _cases(args.scale):
        ours = functools.partial(call, k)
        peer = functools.partial(call, None)
        diff = _max_difference(ours(), peer())  # compiles both outside the timed region
        edtjax_s = best_of(ours, args.repeats)[0]
        peer_s = best_of(peer, args.repeats)[0]
        print(
            json.dumps(
                {
                    "name": name,
                    **sizes,
                    "devices": k,
                    "platform": jax.devices()[0].platform,
                    "edtjax_s": edtjax_s,
                    "peer": "the same call with devices=None (one device)",
                    "peer_s": peer_s,
                    "ratio": peer_s / edtjax_s,
                    "max_abs_difference": diff,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
