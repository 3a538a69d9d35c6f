"""Deep-ensemble training: members vmapped in one program vs a Python loop over members.

Both sides run the same compiled training loop, :func:`edtjax.surrogates.fit`, on the same data
with the same options and the same member keys (``jax.random.split(key, members)``):

- edtjax: :func:`edtjax.surrogates.fit_ensemble`, i.e. ``jax.vmap`` of ``fit`` over the member
  keys, one compiled program for all members;
- peer: a Python loop calling ``fit`` once per member key (the single-member program, compiled
  once and reused).

Compilation is done before timing. The two sides are timed alternately, ``--repeats`` times
each, and the best time of each is kept, both wall-clock (``edtjax_s``, ``peer_s``, ``ratio``)
and the CPU time of the process (``edtjax_cpu_s``, ``peer_cpu_s``, ``cpu_ratio``): on a shared
machine wall-clock times include time spent descheduled, CPU times do not (the load average is
recorded before and after). ``--sweep`` runs two-layer networks of several widths with several
ensemble sizes, to show where batching the members pays. ``max_param_diff`` is the largest
absolute difference between the members' parameters on the two sides (rounding only: the
batched products round differently).
Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp

from edtjax.surrogates import fit, fit_ensemble, mlp

# (hidden widths, n, epochs, members): the recorded configurations and the largest one checked
_DEFAULT = [((50, 50), 512, 50, 5), ((50, 50), 512, 50, 10)]
_LARGE = [((64, 64, 64), 4096, 20, 10)]
# network width against ensemble size at the recorded data size (--sweep)
_SWEEP = [
    config
    for config in (((w, w), 512, 50, m) for w in (8, 16, 32, 50) for m in (5, 10, 20))
    if config not in _DEFAULT
]


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - start, time.process_time() - cpu


def run(hidden: tuple[int, ...], n: int, epochs: int, members: int, repeats: int) -> dict:
    """Time both sides on one configuration; return the JSON record."""
    kx, ke = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (n, 1), minval=-2, maxval=2)
    y = jnp.sin(2 * x) + (0.05 + 0.3 * jnp.abs(x)) * jax.random.normal(ke, x.shape)
    net = mlp(hidden, 1, heteroscedastic=True)
    kw = {"epochs": epochs, "batch_size": 32, "learning_rate": 1e-2, "patience": epochs}
    key = jax.random.key(1)
    keys = jax.random.split(key, members)

    def vmapped():
        return fit_ensemble(key, net, x, y, members=members, **kw).params

    def looped():
        return [fit(k, net, x, y, **kw).params for k in keys]

    ours = jax.block_until_ready(vmapped())  # compile
    theirs = jax.block_until_ready(looped())
    diff = max(
        float(jnp.max(jnp.abs(a[m] - b)))
        for m, member in enumerate(theirs)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(member), strict=True)
    )
    load_before = os.getloadavg()[0]
    edtjax_s = peer_s = edtjax_cpu_s = peer_cpu_s = float("inf")
    for _ in range(repeats):
        wall, cpu = _timed(vmapped)
        edtjax_s, edtjax_cpu_s = min(edtjax_s, wall), min(edtjax_cpu_s, cpu)
        wall, cpu = _timed(looped)
        peer_s, peer_cpu_s = min(peer_s, wall), min(peer_cpu_s, cpu)
    return {
        "name": "ensemble_training",
        "members": members,
        "n": n,
        "epochs": epochs,
        "network": f"{len(hidden)}x{hidden[0]} tanh, heteroscedastic",
        "steps_per_member": epochs * ((n - n // 5) // kw["batch_size"]),
        "edtjax": "fit_ensemble (jax.vmap of fit over the member keys)",
        "edtjax_s": edtjax_s,
        "peer": "python loop calling fit once per member key (same compiled loop)",
        "peer_s": peer_s,
        "ratio": peer_s / edtjax_s,
        "edtjax_cpu_s": edtjax_cpu_s,
        "peer_cpu_s": peer_cpu_s,
        "cpu_ratio": peer_cpu_s / edtjax_cpu_s,
        "max_param_diff": diff,
        "repeats": repeats,
        "load_average": [load_before, os.getloadavg()[0]],
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--large", action="store_true", help="also run 3x64 networks on n = 4096, 10 members"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also run 2-layer networks of width 8, 16, 32, 50 with 5, 10 and 20 members",
    )
    args = parser.parse_args()
    configs = _DEFAULT + (_LARGE if args.large else []) + (_SWEEP if args.sweep else [])
    for config in configs:
        print(json.dumps(run(*config, repeats=args.repeats)), flush=True)


if __name__ == "__main__":
    main()
