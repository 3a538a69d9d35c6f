"""Deep-ensemble training: members vmapped in one program vs a Python loop over members.

Both sides run the same compiled training loop, :func:`edtjax.surrogates.fit`, on the same data
with the same options and the same member keys (``jax.random.split(key, members)``):

- edtjax: :func:`edtjax.surrogates.fit_ensemble`, i.e. ``jax.vmap`` of ``fit`` over the member
  keys, one compiled program for all members;
- peer: a Python loop calling ``fit`` once per member key (the single-member program, compiled
  once and reused).

Compilation is done before timing. The two sides are timed alternately, ``--repeats`` times
each, and the best time of each is kept (the machine may be shared: the load average is
recorded before and after). ``max_param_diff`` is the largest absolute difference between the
members' parameters on the two sides (rounding only: the batched products round differently).
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


def _timed(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


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
    edtjax_s = peer_s = float("inf")
    for _ in range(repeats):
        edtjax_s = min(edtjax_s, _timed(vmapped))
        peer_s = min(peer_s, _timed(looped))
    return {
        "name": "ensemble_training",
        "members": members,
        "n": n,
        "epochs": epochs,
        "network": f"{len(hidden)}x{hidden[0]} tanh, heteroscedastic",
        "edtjax": "fit_ensemble (jax.vmap of fit over the member keys)",
        "edtjax_s": edtjax_s,
        "peer": "python loop calling fit once per member key (same compiled loop)",
        "peer_s": peer_s,
        "ratio": peer_s / edtjax_s,
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
    args = parser.parse_args()
    for config in _DEFAULT + (_LARGE if args.large else []):
        print(json.dumps(run(*config, repeats=args.repeats)), flush=True)


if __name__ == "__main__":
    main()
