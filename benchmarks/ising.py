"""Spin flips per second: jitted checkerboard Metropolis (int8 and multi-spin) against NumPy.

Runs edtjax and a vectorised NumPy checkerboard Metropolis in one process on the same lattice
sizes, compiles outside the timed region (``block_until_ready``), times edtjax and the peer in
turns (best of ``--repeats`` rounds, so both see the same background load), and prints one JSON
line per configuration: ``{"name", "L", "sweeps", "edtjax_s", "peer_s", "ratio",
"edtjax_flips_per_s", "edtjax_flips_per_ns", "peer_flips_per_s", ...}`` where
``ratio = peer_s / edtjax_s`` (how many times faster edtjax is). Flips are counted as the
published records count them: every spin is attempted once per sweep, so
``flips = L * L * sweeps`` whatever the acceptance.

Kernels (``--kernels``): ``int8`` (:func:`~edtjax.lattice.ising_metropolis_kernel`),
``multispin`` (:func:`~edtjax.lattice.ising_multispin_kernel` with its default counter-based
random words), ``multispin_key`` (the same kernel with ``generator="key"``, the random words
drawn by ``jax.random.bits``: the multi-spin kernel of earlier records) and ``multispin_pallas``
(``implementation="pallas"``; timed only off CPU, where Pallas would run in interpret mode).

With ``--check-exact`` every selected kernel is first run at ``L = --exact-size`` and
``beta in (0.3, 0.6)``, and its energy and specific heat are compared with the exact finite-L
values (Kaufman) within Gamma-method errors: one JSON line per comparison with ``z`` the
deviation in standard errors (``|z| < 5`` fails by chance with probability 5.7e-7).

Usage::

    python benchmarks/ising.py --sizes 256 1024 --sweeps 20            # CPU, against NumPy
    python benchmarks/ising.py --sizes 4096 16384 --sweeps 200 --no-peer \\
        --kernels int8 multispin multispin_pallas --check-exact          # GPU records
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from edtjax.lattice import (
    BETA_CRITICAL,
    ising_exact,
    ising_metropolis_kernel,
    ising_multispin_kernel,
    ising_observables,
    ising_summary,
)
from edtjax.mcmc import run_chains

BETA = 0.44
KERNELS = ("int8", "multispin", "multispin_key", "multispin_pallas")
NAMES = {
    "int8": "ising_metropolis_int8",
    "multispin": "ising_metropolis_multispin",
    "multispin_key": "ising_metropolis_multispin_key",
    "multispin_pallas": "ising_metropolis_multispin_pallas",
}


def make_kernel(kind: str, beta: float, block_rows: int | None):
    if kind == "int8":
        return ising_metropolis_kernel(beta)
    if kind == "multispin_key":
        return ising_multispin_kernel(beta, generator="key")
    if kind == "multispin_pallas":
        return ising_multispin_kernel(beta, implementation="pallas", block_rows=block_rows)
    return ising_multispin_kernel(beta)


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


def edtjax_timer(kernel, spins, num_sweeps: int):
    """A timer of ``num_sweeps`` sweeps of ``kernel`` from ``spins``, compiled on creation."""
    run = edtjax_runner(kernel, num_sweeps)
    state = kernel.init(spins)
    jax.block_until_ready(run(jax.random.key(0), state))  # compile outside the timed region
    seeds = itertools.count(1)
    return lambda: jax.block_until_ready(run(jax.random.key(next(seeds)), state))


def numpy_timer(spins: np.ndarray, num_sweeps: int):
    rng = np.random.default_rng(0)
    return lambda: numpy_sweeps(spins.copy(), BETA, num_sweeps, rng)


def time_all(timers: dict, repeats: int) -> dict:
    """Best wall time of each zero-argument timer over ``repeats`` rounds, the timers taking
    turns within a round so that all of them see the same background load."""
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(repeats):
        for name, fn in timers.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def versions(device) -> dict:
    return {
        "device": f"{device.platform}:{device.device_kind}",
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def check_exact(kinds, size: int, num_chains: int, num_sweeps: int, block_rows, device):
    """Energy and specific heat of each kernel against Kaufman's exact finite-L values."""
    for kind in kinds:
        for i, beta in enumerate((0.3, 0.6)):
            kernel = make_kernel(kind, beta, block_rows)
            key = jax.random.fold_in(jax.random.key(1), i)
            if beta > BETA_CRITICAL:  # ordered start: local updates do not leave striped states
                spins = jnp.ones((num_chains, size, size), jnp.int8)
            else:
                up = jax.random.bernoulli(key, 0.5, (num_chains, size, size))
                spins = jnp.where(up, 1, -1).astype(jnp.int8)
            out = run_chains(
                key,
                kernel,
                jax.vmap(kernel.init)(spins),
                num_sweeps + num_sweeps // 20,
                num_chains=num_chains,
                burn_in=num_sweeps // 20,
                observables=ising_observables,
            )
            with jax.enable_x64(True):
                summary = ising_summary(jax.tree.map(jnp.float64, out.traces), beta, size)
                exact = ising_exact(size, beta)
                for name in ("energy", "specific_heat"):
                    mean, error = float(summary[name].mean), float(summary[name].error)
                    value = float(getattr(exact, name))
                    record = {
                        "name": f"{NAMES[kind]}_exact",
                        "L": size,
                        "beta": beta,
                        "observable": name,
                        "mean": mean,
                        "error": error,
                        "exact": value,
                        "z": (mean - value) / error,
                        "chains": num_chains,
                        "sweeps": num_sweeps,
                    }
                    print(json.dumps(record | versions(device)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=None)
    parser.add_argument("--no-peer", action="store_true", help="skip the NumPy peer")
    parser.add_argument(
        "--block-rows", type=int, default=None, help="word rows per Pallas program (kernel default)"
    )
    parser.add_argument("--check-exact", action="store_true")
    parser.add_argument("--exact-size", type=int, default=64)
    parser.add_argument("--exact-chains", type=int, default=8)
    parser.add_argument("--exact-sweeps", type=int, default=4000)
    args = parser.parse_args()
    device = jax.devices()[0]
    kinds = args.kernels
    if kinds is None:
        kinds = [k for k in KERNELS if k != "multispin_pallas" or device.platform != "cpu"]
    if args.check_exact:
        check_exact(
            kinds, args.exact_size, args.exact_chains, args.exact_sweeps, args.block_rows, device
        )
    for size in args.sizes:
        spins_np = np.where(np.random.default_rng(size).random((size, size)) < 0.5, 1, -1).astype(
            np.int8
        )
        spins = jnp.asarray(spins_np)
        flips = size * size * args.sweeps
        timers = {
            kind: edtjax_timer(make_kernel(kind, BETA, args.block_rows), spins, args.sweeps)
            for kind in kinds
        }
        if not args.no_peer:
            timers["peer"] = numpy_timer(spins_np, args.sweeps)
        best = time_all(timers, args.repeats)
        peer_s = best.get("peer")
        for kind in kinds:
            edtjax_s = best[kind]
            record = {
                "name": NAMES[kind],
                "L": size,
                "sweeps": args.sweeps,
                "edtjax_s": edtjax_s,
                "peer_s": peer_s,
                "ratio": None if peer_s is None else peer_s / edtjax_s,
                "edtjax_flips_per_s": flips / edtjax_s,
                "edtjax_flips_per_ns": flips / edtjax_s / 1e9,
                "peer_flips_per_s": None if peer_s is None else flips / peer_s,
                "peer": "numpy checkerboard Metropolis (int8, lookup table)",
            }
            if kind.startswith("multispin"):
                record["generator"] = "key" if kind == "multispin_key" else "threefry"
            if kind == "multispin_pallas":
                record["block_rows"] = args.block_rows
            print(json.dumps(record | versions(device)), flush=True)


if __name__ == "__main__":
    main()
