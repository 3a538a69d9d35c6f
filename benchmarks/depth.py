"""Benchmark: edtjax.depth against the `data-depth` package (and scipy Dijkstra for Fermat).

Runs both in one process on the same data, compiles outside the timed region and prints one JSON
line per configuration: ``{"name", "edtjax_s", "peer_s", "ratio", ...}`` with
``ratio = peer_s / edtjax_s`` (above 1: edtjax is faster) and ``max_abs_diff`` the largest
difference between the two results (the accuracy at which they are compared).

Depths (``n_ref`` reference points, ``m`` queries, ``K`` directions/simplices, ``d`` in ``--dims``):
Mahalanobis, spatial (affine-invariant form), projection and halfspace depth with ``K`` random
directions (data-depth ``solver="simplerandom", NRandom=K``), simplicial depth with ``K`` random
simplices (data-depth ``exact=False, k=K``; in ``d > 2`` on the first ``--simplicial-m``
queries only, since the peer needs about 0.5 s per query there), and in ``d = 2`` the exact
halfspace and simplicial depths (angular sweep vs data-depth's exact algorithms).
Fermat: all-pairs sample Fermat distances on the symmetrised kNN graph (``α = 2``, ``k = 10``)
against scipy's Dijkstra on the same graph (neighbours from a k-d tree; the peer time includes
them), for each ``n`` in ``--fermat-n``, with the ``n × n`` array footprint. On CPU edtjax's fit
itself runs Dijkstra after a JAX kNN step, so the ratio is about 1 there; the record shows that
the fit scales to ``n = 10^4`` (``--fermat-n 1000 2000 4000 10000``) and matches the peer.
kNN: the distance to the ``k``-th nearest reference point (``knn_distance_score``) against
scipy's ``cKDTree`` (build and query, ``workers=1``), ``n_ref = m = --knn-n``, ``k`` in
``--knn-k``, ``d`` in ``--knn-dims``. Each record stores the 1-minute load average when it ran.
``--only`` keeps the cases whose names start with the given prefixes.

    python benchmarks/depth.py                      # defaults: n_ref = m = K = 1000, d = 2, 5, 10
    python benchmarks/depth.py --out benchmarks/results/depth-cpu.json --force
    python benchmarks/depth.py --dims 2 --only halfspace_exact simplicial_exact knn
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy
from _common import best_of, data_depth_model
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree

import edtjax.depth as ed
from edtjax._io import check_writable, save_json

DepthEucl = data_depth_model()


def _line(records, name, edtjax_s, peer_s, ours, theirs, **extra):
    rec = {
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "name": name,
        "edtjax_s": round(edtjax_s, 5),
        "peer_s": round(peer_s, 5),
        "ratio": round(peer_s / edtjax_s, 3),
        "max_abs_diff": float(np.max(np.abs(np.asarray(ours, np.float64) - theirs))),
        **extra,
    }
    print(json.dumps(rec), flush=True)
    records.append(rec)


def _wanted(name, only):
    return not only or any(name.startswith(prefix) for prefix in only)


def depth_configs(n_ref, m, k, dims, repeat, records, simplicial_m, only=()):
    rng = np.random.default_rng(0)
    for d in dims:
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        x = rng.standard_normal((n_ref, d)) @ mix
        z = 1.5 * rng.standard_normal((m, d)) @ mix
        _one_dimension(x, z, k, repeat, records, simplicial_m, only)


def _one_dimension(x, z, k, repeat, records, simplicial_m, only):
    key = jax.random.key(0)
    d = x.shape[1]
    ms = z.shape[0] if d == 2 else simplicial_m
    peer = DepthEucl().load_dataset(x)
    xj, zj = jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32)
    common = {"d": d, "n_ref": x.shape[0], "m": z.shape[0]}

    cases = [
        ("mahalanobis", lambda: ed.mahalanobis_depth(zj, xj), lambda: peer.mahalanobis(z), {}),
        (
            "spatial",
            lambda: ed.spatial_depth(zj, xj, whiten=True),
            lambda: peer.spatial(z),
            {},
        ),
        (
            "projection",
            lambda: ed.projection_depth(key, zj, xj, n_directions=k),
            lambda: peer.projection(z, solver="simplerandom", NRandom=k),
            {"directions": k},
        ),
        (
            "halfspace",
            lambda: ed.halfspace_depth(key, zj, xj, n_directions=k),
            lambda: peer.halfspace(z, exact=False, solver="simplerandom", NRandom=k),
            {"directions": k},
        ),
        (
            "simplicial",
            lambda: ed.simplicial_depth(key, zj[:ms], xj, n_simplices=k),
            lambda: peer.simplicial(z[:ms], exact=False, k=k),
            {"simplices": k, "m": min(ms, z.shape[0])},
        ),
    ]
    if d == 2:
        cases += [
            (
                "halfspace_exact",
                lambda: ed.halfspace_depth_planar(zj, xj),
                lambda: peer.halfspace(z, exact=True),
                {},
            ),
            (
                "simplicial_exact",
                lambda: ed.simplicial_depth_planar(zj, xj),
                lambda: peer.simplicial(z, exact=True),
                {},
            ),
        ]
    for name, ours_fn, peer_fn, extra in cases:
        if not _wanted(name, only):
            continue
        jax.block_until_ready(ours_fn())  # compile outside the timed region
        # interleaved, best of each; the sampled peers (tens of seconds) run once
        peer_repeat = repeat if name.endswith("_exact") else 1
        t_ours = t_peer = float("inf")
        for i in range(repeat):
            t, ours = best_of(ours_fn, 1)
            t_ours = min(t_ours, t)
            if i < peer_repeat:
                t, theirs = best_of(peer_fn, 1)
                t_peer = min(t_peer, t)
        if name in ("projection", "halfspace"):
            # both are upper bounds of the depth from K directions: measure each against the
            # smallest value found by either or by edtjax with 20 K directions.
            fine = getattr(ed, f"{name}_depth")(jax.random.key(1), zj, xj, n_directions=20 * k)
            ref = np.minimum(np.minimum(np.asarray(fine), np.asarray(ours)), theirs)
            extra = {**extra, **_errors(ours, theirs, ref)}
        elif name == "simplicial" and d == 2:
            exact = np.asarray(ed.simplicial_depth_planar(zj, xj))
            extra = {**extra, **_errors(ours, theirs, exact)}
        _line(records, f"{name}/d={d}", t_ours, t_peer, ours, theirs, **{**common, **extra})


def _errors(ours, theirs, ref):
    return {
        "edtjax_mean_abs_err": float(np.mean(np.abs(np.asarray(ours, np.float64) - ref))),
        "peer_mean_abs_err": float(np.mean(np.abs(np.asarray(theirs, np.float64) - ref))),
    }


def knn_configs(n, dims, ks, repeat, records):
    rng = np.random.default_rng(2)
    for d in dims:
        x = rng.standard_normal((n, d))
        z = 1.5 * rng.standard_normal((n, d))
        xj, zj = jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32)
        for k in ks:

            def ours(k=k, xj=xj, zj=zj):
                return ed.knn_distance_score(zj, xj, n_neighbors=k)

            def peer(k=k, x=x, z=z):
                dist, _ = cKDTree(x).query(z, k=[k], workers=1)
                return dist[:, 0]

            jax.block_until_ready(ours())  # compile outside the timed region
            t_ours, t_peer = float("inf"), float("inf")
            for _ in range(repeat):  # interleaved, best of each
                t, out = best_of(ours, 1)
                t_ours = min(t_ours, t)
                t, theirs = best_of(peer, 1)
                t_peer = min(t_peer, t)
            _line(records, f"knn/d={d}/k={k}", t_ours, t_peer, out, theirs, d=d, n_ref=n, m=n, k=k)


def fermat_configs(sizes, records):
    rng = np.random.default_rng(1)
    for n in sizes:
        x = rng.standard_normal((n, 2)).astype(np.float32)
        small = ed.fermat_fit(x[:50], alpha=2.0, n_neighbors=10)  # compile the kNN step shapes
        jax.block_until_ready(small.distances)
        t0 = time.perf_counter()
        graph = ed.fermat_fit(x, alpha=2.0, n_neighbors=10)
        jax.block_until_ready(graph.distances)
        t_first = time.perf_counter() - t0
        t_ours, graph = best_of(lambda x=x: ed.fermat_fit(x, alpha=2.0, n_neighbors=10), 1)
        t0 = time.perf_counter()
        dist, nbr = cKDTree(x.astype(np.float64)).query(x.astype(np.float64), 11)
        rows = np.repeat(np.arange(n), 10)
        w = coo_matrix((dist[:, 1:].ravel() ** 2, (rows, nbr[:, 1:].ravel())), shape=(n, n))
        theirs = shortest_path(w.tocsr(), method="D", directed=False)
        t_peer = time.perf_counter() - t0
        ours = np.asarray(graph.distances, np.float64)
        rel = float(np.max(np.abs(ours - theirs) / np.maximum(theirs, np.finfo(np.float64).tiny)))
        _line(
            records,
            f"fermat_all_pairs/n={n}",
            t_ours,
            t_peer,
            graph.distances,
            theirs,
            n=n,
            d=2,
            alpha=2.0,
            k=10,
            max_rel_diff=rel,
            first_call_s=round(t_first, 3),
            distance_matrix_mb=round(n * n * 4 / 2**20, 1),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-ref", type=int, default=1000)
    parser.add_argument("--m", type=int, default=1000)
    parser.add_argument("--k", type=int, default=1000, help="directions / simplices")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--simplicial-m",
        type=int,
        default=20,
        help="queries for sampled simplicial depth in d > 2 (the peer needs ~0.5 s per query)",
    )
    parser.add_argument("--fermat-n", type=int, nargs="*", default=[1000, 2000, 4000])
    parser.add_argument("--knn-n", type=int, default=10_000)
    parser.add_argument("--knn-dims", type=int, nargs="*", default=[2, 5, 10])
    parser.add_argument("--knn-k", type=int, nargs="*", default=[1, 5])
    parser.add_argument("--only", nargs="*", default=[], help="case-name prefixes to run")
    parser.add_argument("--out", default=None, help="write all records and versions as JSON")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--note", default="", help="free text stored with --out")
    args = parser.parse_args()
    out = check_writable(args.out, force=args.force) if args.out else None
    records: list[dict] = []
    only = args.only
    depth_configs(
        args.n_ref, args.m, args.k, args.dims, args.repeat, records, args.simplicial_m, only
    )
    if _wanted("knn", only):
        knn_configs(args.knn_n, args.knn_dims, args.knn_k, args.repeat, records)
    if _wanted("fermat_all_pairs", only):
        fermat_configs(args.fermat_n, records)
    if out is not None:
        from importlib.metadata import version

        save_json(
            out,
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
                "versions": {
                    "python": platform.python_version(),
                    "jax": jax.__version__,
                    "numpy": np.__version__,
                    "scipy": scipy.__version__,
                    "data-depth": version("data-depth"),
                },
                "note": args.note,
                "ratio": "peer_s / edtjax_s (above 1: edtjax faster)",
                "records": records,
            },
        )


if __name__ == "__main__":
    main()
