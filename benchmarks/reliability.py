"""Benchmark: fit time and scoring throughput of the edtjax.reliability indicators.

Runs edtjax and, where one exists, a peer on the same data in one process, compiles outside the
timed region and prints one JSON line per indicator: ``{"name", "edtjax_s", "peer_s", "ratio",
...}`` with ``edtjax_s``/``peer_s`` the time to score ``m`` queries, ``ratio = peer_s /
edtjax_s`` (above 1: edtjax is faster), ``queries_per_s`` and ``fit_s``. Peers: the data-depth
package (Mahalanobis depth; projection depth with the same number of random directions, whose
values differ by the random directions), scipy's cKDTree (k-th neighbour distance) and NumPy
(Bayesian random-feature predictive variance). The lens depths cost ``O(m n²)`` to score
(LD-Fermat also ``O(n²)`` memory and all-pairs shortest paths to fit), so they run on
``--lens-n`` training points and ``--lens-m`` queries; no peer computes them. The kNN score
(brute force, ``O(m n d)`` with a top-k per query) and the combination that contains it are
scored on ``--knn-m`` queries, and the data-depth projection peer (about 10 ms per query) is
timed on ``--peer-m`` queries and scaled linearly to ``m`` (``peer_m_timed`` in the record).

    python benchmarks/reliability.py                    # n = 10^4 training points, m = 10^5
    python benchmarks/reliability.py --out benchmarks/results/reliability-cpu.json --force
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

import jax
import jax.numpy as jnp
import numpy as np
import scipy
from _common import best_of, data_depth_model
from scipy.spatial import cKDTree

import edtjax.reliability as er
from edtjax._io import check_writable, save_json


def _rff_surrogate(key, x, y, n_features=200, noise_var=1e-2):
    kw, kb = jax.random.split(key)
    w = jax.random.normal(kw, (x.shape[1], n_features), x.dtype)
    b = jax.random.uniform(kb, (n_features,), x.dtype, 0.0, 2 * jnp.pi)
    f = jnp.sqrt(2.0 / n_features) * jnp.cos(x @ w + b)
    cov = jnp.linalg.inv(f.T @ f / noise_var + jnp.eye(n_features, dtype=x.dtype))

    def variance(q):
        g = jnp.sqrt(2.0 / n_features) * jnp.cos(q @ w + b)
        return jnp.einsum("mi,ij,mj->m", g, cov, g)

    def numpy_variance(q):
        g = np.sqrt(2.0 / n_features) * np.cos(q @ np.asarray(w) + np.asarray(b))
        return np.einsum("mi,ij,mj->m", g, np.asarray(cov), g)

    return variance, numpy_variance


def run(n, m, d, lens_n, lens_m, knn_m, peer_m, directions, repeat):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    z = (1.5 * rng.standard_normal((m, d))).astype(np.float32)
    xj, zj = jnp.asarray(x), jnp.asarray(z)
    key = jax.random.key(0)
    variance, numpy_variance = _rff_surrogate(key, xj, jnp.sin(xj[:, 0]))
    tree_holder = {}
    peer_depth = data_depth_model()().load_dataset(x.astype(np.float64))

    def knn_peer():
        tree_holder["tree"] = tree_holder.get("tree") or cKDTree(x)
        return tree_holder["tree"].query(z[:knn_m], k=5)[0][:, -1]

    cases = [
        (
            "mahalanobis",
            er.mahalanobis_indicator(),
            xj,
            zj,
            lambda: -np.log(peer_depth.mahalanobis(z.astype(np.float64))),
            "data-depth DepthEucl.mahalanobis",
        ),
        (
            "knn_k5",
            er.knn_indicator(n_neighbors=5),
            xj,
            zj[:knn_m],
            knn_peer,
            "scipy cKDTree.query (tree built once, outside the timing)",
        ),
        (
            f"projection_K{directions}",
            er.projection_indicator(n_directions=directions),
            xj,
            zj,
            lambda: (
                -np.log(
                    peer_depth.projection(
                        z[:peer_m].astype(np.float64), solver="simplerandom", NRandom=directions
                    )
                )
            ),
            "data-depth DepthEucl.projection simplerandom (other random directions)",
        ),
        (
            "predictive_spread_rff200",
            er.predictive_spread_indicator(variance),
            xj,
            zj,
            lambda: numpy_variance(z),
            "NumPy, same formula",
        ),
        (
            "ld_fermat_k10",
            er.lens_fermat_indicator(n_neighbors=10),
            xj[:lens_n],
            zj[:lens_m],
            None,
            None,
        ),
        (
            "smooth_lens_t0.1",
            er.smooth_lens_indicator(temperature=0.1),
            xj[:lens_n],
            zj[:lens_m],
            None,
            None,
        ),
        (
            "combined_min_p(mahalanobis,knn_k5)",
            er.combine(er.mahalanobis_indicator(), er.knn_indicator(n_neighbors=5), how="min_p"),
            xj,
            zj[:knn_m],
            None,
            None,
        ),
    ]
    records = []
    for name, ind, x_fit, z_score, peer, peer_name in cases:
        score = jax.jit(ind.score)
        fit_s, state = best_of(lambda ind=ind, x_fit=x_fit: ind.fit(key, x_fit), 1)
        jax.block_until_ready(score(state, z_score))  # compile outside the timing
        ours_s, ours = best_of(lambda score=score, state=state, z=z_score: score(state, z), repeat)
        rec = {
            "name": name,
            "edtjax_s": round(ours_s, 5),
            "peer_s": None,
            "ratio": None,
            "fit_s": round(fit_s, 4),
            "queries_per_s": round(z_score.shape[0] / ours_s, 1),
            "n_train": int(x_fit.shape[0]),
            "m": int(z_score.shape[0]),
            "d": d,
        }
        if peer is not None:
            peer()  # warm-up (e.g. the kd-tree build)
            peer_s, theirs = best_of(peer, 1)
            m_peer = len(theirs)
            rec["peer_m_timed"] = m_peer
            peer_s *= z_score.shape[0] / m_peer  # scaled linearly when timed on fewer queries
            rec.update(
                peer_s=round(peer_s, 5),
                ratio=round(peer_s / ours_s, 3),
                peer=peer_name,
                max_abs_diff=float(np.max(np.abs(np.asarray(ours[:m_peer], np.float64) - theirs))),
            )
        print(json.dumps(rec), flush=True)
        records.append(rec)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="training points")
    parser.add_argument("--m", type=int, default=100_000, help="queries")
    parser.add_argument("--d", type=int, default=6, help="input dimension")
    parser.add_argument("--lens-n", type=int, default=1000, help="training points, lens depths")
    parser.add_argument("--lens-m", type=int, default=2000, help="queries, lens depths")
    parser.add_argument("--knn-m", type=int, default=10_000, help="queries, kNN and combined")
    parser.add_argument("--peer-m", type=int, default=500, help="queries timed, projection peer")
    parser.add_argument("--directions", type=int, default=200, help="projection directions")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    parser.add_argument("--out", default=None, help="write all records and versions as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    parser.add_argument("--note", default="", help="free text stored with --out")
    args = parser.parse_args()
    out = check_writable(args.out, force=args.force) if args.out else None
    records = run(
        args.n,
        args.m,
        args.d,
        args.lens_n,
        args.lens_m,
        args.knn_m,
        args.peer_m,
        args.directions,
        args.repeat,
    )
    if out is not None:
        save_json(
            out,
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
                "note": args.note,
                "command": " ".join(sys.argv),
                "ratio": "peer_s / edtjax_s (above 1: edtjax faster)",
                "versions": {
                    "python": platform.python_version(),
                    "jax": jax.__version__,
                    "numpy": np.__version__,
                    "scipy": scipy.__version__,
                },
                "records": records,
            },
        )


if __name__ == "__main__":
    main()
