"""Deep-ensemble training: members vmapped in one program vs a Python loop over members.

Both paths run the same jitted training loop (:func:`edtjax.surrogates.fit`) on the same data
with the same member keys; compilation is done before timing. Prints one JSON line per
configuration.
"""

from __future__ import annotations

import argparse
import json
import platform

import jax
import jax.numpy as jnp
from _common import best_of

from edtjax.surrogates import fit, fit_ensemble, mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    kx, ke = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (args.n, 1), minval=-2, maxval=2)
    y = jnp.sin(2 * x) + (0.05 + 0.3 * jnp.abs(x)) * jax.random.normal(ke, x.shape)
    net = mlp((50, 50), 1, heteroscedastic=True)
    kw = {"epochs": args.epochs, "batch_size": 32, "learning_rate": 1e-2, "patience": args.epochs}
    for members in args.members:
        key = jax.random.key(1)
        keys = jax.random.split(key, members)

        def vmapped(key=key, members=members):
            return fit_ensemble(key, net, x, y, members=members, **kw).params

        def looped(keys=keys):
            return [fit(k, net, x, y, **kw).params for k in keys]

        jax.block_until_ready(vmapped())  # compile
        jax.block_until_ready(looped())
        edtjax_s = best_of(vmapped, args.repeats)[0]
        peer_s = best_of(looped, args.repeats)[0]
        print(
            json.dumps(
                {
                    "name": "ensemble_training",
                    "members": members,
                    "n": args.n,
                    "epochs": args.epochs,
                    "network": "2x50 tanh, heteroscedastic",
                    "edtjax_s": edtjax_s,
                    "peer": "python loop over members (same jitted fit)",
                    "peer_s": peer_s,
                    "ratio": peer_s / edtjax_s,
                    "jax": jax.__version__,
                    "backend": jax.default_backend(),
                    "machine": platform.machine(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
