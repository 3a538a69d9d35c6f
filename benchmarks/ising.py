"""Spin flips per second: jitted checkerboard Metropolis (int8 and multi-spin) against NumPy.

Runs edtjax and a vectorised NumPy checkerboard Metropolis in one process on the same lattice
sizes, compiles outside the timed region (``block_until_ready``), and prints one JSON line per
configuration: ``{"name", "L", "sweeps", "edtjax_s", "peer_s", "ratio", "edtjax_flips_per_s",
"peer_flips_per_s", ...}`` where ``ratio = peer_s / edtjax_s`` (how many times faster edtjax is).

Usage: ``python benchmarks/ising.py --sizes 256 1024 --sweeps 50``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from edtjax.lattice import ising_metropolis_kernel, ising_multispin_kernel

BETA = 0.44


def numpy_sweeps(spins: np.ndarray, beta: float, num_sweeps: int, rng) -> np.ndarray:
    """Vectorised NumPy checkerboard Metropolis (J = 1, h = 0), acceptance from a lookup table."""
    size = spins.shape[0]
    parity = (np.arange(size)[:, None] + np.arange(size)[None, :]) % 2
    masks = (parity == 0, parity == 1)
    # s * (sum of neighbours) in {-4, -2, 0, 2, 4}: accept with min(1, exp(-2 beta s nn)).
    table = np.minimum(1.0, np.exp(-2.0 * beta * np.arange(-4, 5)))
    for _ in range(num_sweeps):
        for mask in masks:
            nn = (np.roll(spins, 1, 0) + np.roll(spins, -1, 0) + np.roll(spins, 1, 1)) + np.roll(
                spins, -1, 1
            )
            local = spins * nn
            flip = mask & (rng.random(spins.shape) < table[local + 4])
            spins = np.where(flip, -spins, spins).astype(np.int8)
    return spins


def edtjax_runner(kernel, num_sweeps: int):
    def run(key, state):
        def sweep(state, k):
            return kernel.step(k, state)[0], None

        return jax.lax.scan(sweep, state, jax.random.split(key, num_sweeps))[0]

    return jax.jit(run)


def time_edtjax(kernel, spins, num_sweeps: int, repeats: int) -> float:
    run = edtjax_runner(kernel, num_sweeps)
    state = kernel.init(spins)
    jax.block_until_ready(run(jax.random.key(0), state))  # compile outside the timed region
    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(jax.random.key(r + 1), state))
        best = min(best, time.perf_counter() - start)
    return best


def time_numpy(spins: np.ndarray, num_sweeps: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        numpy_sweeps(spins.copy(), BETA, num_sweeps, rng)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = jax.devices()[0]
    for size in args.sizes:
        spins_np = np.where(np.random.default_rng(size).random((size, size)) < 0.5, 1, -1).astype(
            np.int8
        )
        peer_s = time_numpy(spins_np, args.sweeps, args.repeats)
        spins = jnp.asarray(spins_np)
        kernels = {
            "ising_metropolis_int8": ising_metropolis_kernel(BETA),
            "ising_metropolis_multispin": ising_multispin_kernel(BETA),
        }
        flips = size * size * args.sweeps
        for name, kernel in kernels.items():
            edtjax_s = time_edtjax(kernel, spins, args.sweeps, args.repeats)
            print(
                json.dumps(
                    {
                        "name": name,
                        "L": size,
                        "sweeps": args.sweeps,
                        "edtjax_s": edtjax_s,
                        "peer_s": peer_s,
                        "ratio": peer_s / edtjax_s,
                        "edtjax_flips_per_s": flips / edtjax_s,
                        "peer_flips_per_s": flips / peer_s,
                        "peer": "numpy checkerboard Metropolis (int8, lookup table)",
                        "device": f"{device.platform}:{device.device_kind}",
                        "jax": jax.__version__,
                        "numpy": np.__version__,
                        "python": platform.python_version(),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
