"""Benchmark: edtjax Gamma method and split R-hat against NumPy/SciPy transcriptions.

The peers implement the same estimators with NumPy's FFT (Gamma method, vectorised window
search as in Wolff's UWerr) and SciPy ranks (rank-normalised split R-hat of Vehtari et al. 2021),
so both sides compute identical numbers; the script checks that and times them in one process.
edtjax is compiled before timing (first call, ``block_until_ready``).

Usage: ``python benchmarks/mcmc_diagnostics.py [--sizes 10000 100000 1000000] [--chains 4]``.
Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal
import scipy.stats
from _common import best_of

from edtjax.mcmc import gamma_method, split_rhat


def numpy_gamma_method(x: np.ndarray, s_tau: float = 1.5) -> tuple[float, float, float]:
    """Wolff's Gamma method for replica data (R, n) in NumPy: (mean, error, tau_int)."""
    r, n = x.shape
    total = r * n
    d = x - x.mean()
    w_max = n // 2
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(d, n=size, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=-1)[:, : w_max + 1].sum(0)
    gamma = acov / (total - r * np.arange(w_max + 1))
    gint = np.cumsum(gamma[1:] / gamma[0])
    w = np.arange(1, w_max + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tau_w = s_tau / np.log((gint + 1) / gint)
        g = np.exp(-w / tau_w) - tau_w / np.sqrt(w * total)
    stop = (gint <= 0) | (g < 0)
    window = int(np.argmax(stop)) + 1 if stop.any() else w_max
    cf = gamma[0] + 2 * gamma[1 : window + 1].sum()
    gamma = gamma + cf / total
    cf = gamma[0] + 2 * gamma[1 : window + 1].sum()
    return float(x.mean()), float(np.sqrt(cf / total)), float(cf / (2 * gamma[0]))


def numpy_split_rhat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat (bulk and folded tail, maximum) in NumPy/SciPy."""
    half = x.shape[1] // 2
    split = np.concatenate([x[:, :half], x[:, -half:]])

    def rhat(z):
        n = z.shape[1]
        w = z.var(1, ddof=1).mean()
        return np.sqrt(((n - 1) / n * w + z.mean(1).var(ddof=1)) / w)

    def z_scale(z):
        ranks = scipy.stats.rankdata(z, method="average").reshape(z.shape)
        return scipy.stats.norm.ppf((ranks - 0.375) / (z.size + 0.25))

    return float(max(rhat(z_scale(split)), rhat(z_scale(np.abs(split - np.median(split))))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for n in args.sizes:
        rho = 0.9
        e = rng.standard_normal((args.chains, n)).astype(np.float32)
        x = scipy.signal.lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], e, axis=-1)
        x = x.astype(np.float32)
        xj = jnp.asarray(x)
        for name, ours, peer in (
            (
                "gamma_method",
                functools.partial(gamma_method, xj),
                functools.partial(numpy_gamma_method, x),
            ),
            (
                "split_rhat",
                functools.partial(split_rhat, xj),
                functools.partial(numpy_split_rhat, x),
            ),
        ):
            ours_value = jax.block_until_ready(ours())  # compile outside the timed region
            peer_value = peer()
            if name == "gamma_method":
                agree = abs(float(ours_value.tau_int) / peer_value[2] - 1)
            else:
                agree = abs(float(ours_value) / peer_value - 1)
            edtjax_s = best_of(ours, args.repeats)[0]
            peer_s = best_of(peer, args.repeats)[0]
            print(
                json.dumps(
                    {
                        "name": name,
                        "num_chains": args.chains,
                        "n": n,
                        "dtype": "float32",
                        "edtjax_s": edtjax_s,
                        "peer": "numpy/scipy transcription",
                        "peer_s": peer_s,
                        "ratio": peer_s / edtjax_s,
                        "relative_difference": agree,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
