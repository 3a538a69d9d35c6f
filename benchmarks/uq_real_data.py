"""Real regression data, offline: every edtjax UQ method on scikit-learn's diabetes data.

The diabetes data (Efron, Hastie, Johnstone & Tibshirani 2004; 442 patients, 10 baseline
covariates, a disease-progression score one year later) ships with scikit-learn, so nothing is
downloaded. Protocol of Hernandez-Lobato & Adams (2015) for the UCI sets: random 90/10
train/test splits (``--splits``, 10 by default), inputs and target standardised with the
training statistics, one hidden layer of 50 units, test RMSE and test negative log-likelihood
(NLL) reported in the original units of the target as mean +- standard error over splits.

Methods: ordinary least squares (the classic reference), deep ensemble (5 heteroscedastic
members), MC dropout, mixture density network (3 components), exact GP (ARD RBF, float64),
mean-field SVI, NUTS (blackjax, short runs), penalty-method mini-batch MCMC (PBNN), Bayesian
last layer (NIG) and multivariate Bayesian last layer (EM) on the features of an MSE-trained
network, and the last-layer Laplace approximation of the same network. For the BNN samplers
(SVI, NUTS, PBNN) the noise variance is fixed at the residual variance of least squares on
the training split (an empirical-Bayes plug-in; the samplers take a known noise).

NLL is the Gaussian NLL of the predictive mean and variance (moment matching for ensembles,
dropout, the BNN samplers and the Student-t of the NIG last layer) except for the MDN, whose
mixture density is used exactly. Writes ``benchmarks/results/uq-real-data-cpu.json`` (use
``--out`` for another file) and prints the markdown table. This is an accuracy table, not a
speed race: there is no peer timing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_diabetes

from edtjax.surrogates import (
    bnn_log_density,
    bnn_predictive,
    ensemble_predictive,
    fit,
    fit_ensemble,
    fit_gp,
    gp_predict,
    last_layer_laplace,
    last_layer_laplace_predictive,
    mbll_em,
    mbll_predictive,
    mc_dropout_predictive,
    mdn,
    mlp,
    nig_posterior,
    nig_predictive,
    nuts_blackjax,
    pbnn_sample,
    svi_gaussian,
)

HIDDEN = (50,)
FIT = dict(epochs=400, batch_size=32, learning_rate=3e-3, patience=40)
# built once: the same network objects on every split reuse the compiled training loops
HET = mlp(HIDDEN, 1, heteroscedastic=True)
DROP = mlp(HIDDEN, 1, heteroscedastic=True, dropout_rate=0.1)
MIX = mdn(HIDDEN, 1, components=3)
NET = mlp(HIDDEN, 1)


def _gaussian_nll(y, mean, var):
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + 0.5 * (y - mean) ** 2 / var))


def _mixture_nll(y, logits, means, variances):
    logw = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    comp = -0.5 * (jnp.log(2 * jnp.pi * variances) + (y[:, None, :] - means) ** 2 / variances)
    return float(-jnp.mean(jax.scipy.special.logsumexp(logw + comp.sum(-1), axis=-1)))


def _features_with_bias(net, params, x):
    phi = net.features(params, x)
    return jnp.concatenate([phi, jnp.ones((phi.shape[0], 1), phi.dtype)], axis=1)


def _split_methods(key, xtr, ytr, xte, args):
    """Predictive mean/variance (standardised units) of each method on one split.

    Returns ``{name: (mean, variance) or ("mixture", logits, means, variances)}``.
    """
    keys = iter(jax.random.split(key, 16))
    out = {}
    phi_tr = np.concatenate([xtr, np.ones((len(xtr), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(phi_tr, ytr, rcond=None)
    resid_var = float(np.sum((ytr - phi_tr @ coef) ** 2) / (len(xtr) - phi_tr.shape[1]))
    phi_te = np.concatenate([xte, np.ones((len(xte), 1))], axis=1)
    out["least squares (OLS)"] = (phi_te @ coef, np.full((len(xte), 1), resid_var))

    het, drop, mix, net = HET, DROP, MIX, NET
    ens = fit_ensemble(next(keys), het, xtr, ytr, members=5, **FIT)
    pred = ensemble_predictive(het, ens.params, xte)
    out["deep ensemble (5)"] = (pred.mean, pred.variance)

    res = fit(next(keys), drop, xtr, ytr, **FIT)
    pred = mc_dropout_predictive(next(keys), drop, res.params, xte, samples=200)
    out["MC dropout"] = (pred.mean, pred.variance)

    res = fit(next(keys), mix, xtr, ytr, loss="mixture_nll", **FIT)
    pred = mix.apply(res.params, xte)
    out["MDN (3)"] = ("mixture", *pred.mixture)

    with jax.enable_x64(True):
        xg, yg = jnp.asarray(xtr, jnp.float64), jnp.asarray(ytr[:, 0], jnp.float64)
        gp = fit_gp(xg, yg, steps=300)
        pred = gp_predict(gp.params, xg, yg, jnp.asarray(xte, jnp.float64))
        out["GP (ARD RBF)"] = (np.asarray(pred.mean), np.asarray(pred.variance))

    logp = bnn_log_density(net, xtr, ytr, prior_scale=1.0, noise_variance=resid_var)
    map_fit = fit(next(keys), net, xtr, ytr, loss="mse", **FIT)
    start = map_fit.params
    svi = svi_gaussian(
        next(keys), logp, start, steps=args.svi_steps, learning_rate=1e-2, num_samples=200
    )
    pred = bnn_predictive(net, svi.samples, xte, noise_variance=resid_var)
    out["SVI (mean field)"] = (pred.mean, pred.variance)

    chains = jax.tree.map(lambda a: jnp.broadcast_to(a, (2, *a.shape)), start)
    nuts = nuts_blackjax(
        next(keys), logp, chains, num_warmup=args.nuts_warmup, num_samples=args.nuts_samples
    )
    pred = bnn_predictive(net, nuts.samples, xte, noise_variance=resid_var)
    out["NUTS BNN (short)"] = (pred.mean, pred.variance)
    out["_nuts_divergences"] = int(jnp.sum(nuts.divergences))

    pb = pbnn_sample(
        next(keys), net, xtr, ytr, chains, batch_size=args.pbnn_batch, prior_scale=1.0,
        noise_variance=resid_var, step_size=1e-3, num_warmup=args.pbnn_warmup,
        num_samples=args.pbnn_samples,
    )  # fmt: skip
    thinned = jax.tree.map(lambda a: a[:, :: args.pbnn_thin], pb.samples)
    pred = bnn_predictive(net, thinned, xte, noise_variance=resid_var)
    out[f"PBNN (b={args.pbnn_batch})"] = (pred.mean, pred.variance)
    out["_pbnn_acceptance"] = float(jnp.mean(pb.acceptance_rate))

    ftr = _features_with_bias(net, start, xtr)
    fte = _features_with_bias(net, start, xte)
    nig = nig_posterior(ftr, ytr[:, 0])
    pred = nig_predictive(nig, fte)
    out["Bayesian last layer (NIG)"] = (pred.mean, pred.variance)
    post, _ = mbll_em(ftr, ytr)
    pred = mbll_predictive(post, fte)
    out["multivariate BLL (EM)"] = (pred.mean, pred.variance)

    lap = last_layer_laplace(net, start, xtr, prior_precision=1.0, noise_variance=resid_var)
    pred = last_layer_laplace_predictive(net, start, lap, xte)
    out["last-layer Laplace"] = (pred.mean, pred.variance)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--svi-steps", type=int, default=2000)
    parser.add_argument("--nuts-warmup", type=int, default=100)
    parser.add_argument("--nuts-samples", type=int, default=100)
    parser.add_argument("--pbnn-batch", type=int, default=100)
    parser.add_argument("--pbnn-warmup", type=int, default=1000)
    parser.add_argument("--pbnn-samples", type=int, default=2000)
    parser.add_argument("--pbnn-thin", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/uq-real-data-cpu.json")
    parser.add_argument("--note", default="", help="free text stored with the results")
    args = parser.parse_args()
    data = load_diabetes()
    x_all, y_all = data.data.astype(np.float32), data.target.astype(np.float32)[:, None]
    n = len(x_all)
    rng = np.random.default_rng(0)
    scores: dict[str, dict[str, list[float]]] = {}
    extras: dict[str, list[float]] = {"nuts_divergences": [], "pbnn_acceptance": []}
    start_time = time.perf_counter()
    for split in range(args.splits):
        perm = rng.permutation(n)
        n_test = round(0.1 * n)
        test, train = perm[:n_test], perm[n_test:]
        mx, sx = x_all[train].mean(0), x_all[train].std(0)
        my, sy = float(y_all[train].mean()), float(y_all[train].std())
        xtr, xte = (x_all[train] - mx) / sx, (x_all[test] - mx) / sx
        ytr = (y_all[train] - my) / sy
        yte = y_all[test]
        out = _split_methods(jax.random.key(split), xtr, ytr, xte, args)
        extras["nuts_divergences"].append(out.pop("_nuts_divergences"))
        extras["pbnn_acceptance"].append(out.pop("_pbnn_acceptance"))
        for name, pred in out.items():
            if isinstance(pred[0], str):
                _, logits, means, variances = pred
                means_o = my + sy * np.asarray(means)
                var_o = sy**2 * np.asarray(variances)
                w = np.asarray(jax.nn.softmax(logits, axis=-1))[..., None]
                mean_o = np.sum(w * means_o, axis=1)
                nll = _mixture_nll(jnp.asarray(yte), logits, means_o, var_o)
            else:
                mean_o = my + sy * np.asarray(pred[0]).reshape(-1, 1)
                var_o = sy**2 * np.asarray(pred[1]).reshape(-1, 1)
                nll = _gaussian_nll(yte, mean_o, var_o)
            rmse = float(np.sqrt(np.mean((yte - mean_o) ** 2)))
            s = scores.setdefault(name, {"rmse": [], "nll": []})
            s["rmse"].append(rmse)
            s["nll"].append(nll)
        print(f"split {split + 1}/{args.splits} done", flush=True)
        _write(args, scores, extras, split + 1, time.perf_counter() - start_time)


def _write(args, scores, extras, done, elapsed) -> None:
    """Summarise the splits done so far and write the JSON atomically (partial runs kept)."""
    rows = []
    for name, s in scores.items():
        r, ll = np.array(s["rmse"]), np.array(s["nll"])
        k = len(r)
        rows.append(
            {
                "method": name,
                "rmse_mean": float(r.mean()),
                "rmse_se": float(r.std(ddof=1) / math.sqrt(k)) if k > 1 else None,
                "nll_mean": float(ll.mean()),
                "nll_se": float(ll.std(ddof=1) / math.sqrt(k)) if k > 1 else None,
                "rmse_per_split": s["rmse"],
                "nll_per_split": s["nll"],
            }
        )
    table = ["| method | test RMSE | test NLL |", "|---|---|---|"]
    for row in rows if done > 1 else []:
        table.append(
            f"| {row['method']} | {row['rmse_mean']:.2f} +- {row['rmse_se']:.2f} "
            f"| {row['nll_mean']:.3f} +- {row['nll_se']:.3f} |"
        )
    markdown = "\n".join(table)
    if done == args.splits:
        print(markdown)
    result = {
        "benchmark": "benchmarks/uq_real_data.py",
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU",
        "versions": {"jax": jax.__version__, "python": platform.python_version()},
        "data": "sklearn.datasets.load_diabetes: n = 442, p = 10, target in original units",
        "protocol": f"{args.splits} random 90/10 splits (numpy seed 0), standardisation on the "
        "training split, one hidden layer of 50 units; mean +- standard error over splits",
        "settings": vars(args),
        "splits_done": done,
        "wall_time_s": elapsed,
        "note": args.note,
        "nuts_divergences_per_split": extras["nuts_divergences"],
        "pbnn_mean_acceptance_per_split": extras["pbnn_acceptance"],
        "results": rows,
        "markdown": markdown,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
