"""Reliability indicators on the thermodiffusion pellet data: the proofs of the issue.

Surrogate: closed-form Bayesian linear regression on random Fourier features of the inputs
scaled to the unit box, predicting the standardised final centre temperature. Indicators look at
the inputs only (plus the surrogate's predictive variance for the spread indicator).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.reliability import (
    calibrate,
    combine,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    predictive_spread_indicator,
    spearman_correlation,
    validity_report,
    walk_back,
)
from edtjax.simulators import (
    DEFAULT_INPUT_BOX,
    SolverConfig,
    build_pellet_dataset,
    shifted_design,
)

NAMES = tuple(DEFAULT_INPUT_BOX)
LOW = np.array([DEFAULT_INPUT_BOX[k][0] for k in NAMES])
HIGH = np.array([DEFAULT_INPUT_BOX[k][1] for k in NAMES])
NEAR_SHIFT = {"heat_source": (3.5e8, 4.0e8)}
FAR_SHIFT = {"heat_source": (5.0e8, 6.0e8), "surface_temperature": (850.0, 950.0)}


def _unit(x):
    return jnp.asarray((np.asarray(x) - LOW) / (HIGH - LOW))


def _uniform_in_box(key, n):
    """IID uniform inputs in the training box (exchangeable with each other), unit scale."""
    return jax.random.uniform(key, (n, len(NAMES)), jnp.float64)


def _fit_surrogate(key, u, y, n_features=200, lengthscale=0.5, noise_var=1e-3):
    kw, kb = jax.random.split(key)
    w = jax.random.normal(kw, (u.shape[1], n_features), u.dtype) / lengthscale
    b = jax.random.uniform(kb, (n_features,), u.dtype, 0.0, 2 * jnp.pi)

    def phi(v):
        return jnp.sqrt(2.0 / n_features) * jnp.cos(v @ w + b)

    f = phi(u)
    cov = jnp.linalg.inv(f.T @ f / noise_var + jnp.eye(n_features, dtype=u.dtype))
    mean_w = cov @ f.T @ y / noise_var

    def predict(v):
        g = phi(v)
        return g @ mean_w, jnp.einsum("mi,ij,mj->m", g, cov, g)

    return predict


def _indicators(predict):
    members = {
        "mahalanobis": mahalanobis_indicator(),
        "knn": knn_indicator(n_neighbors=5),
        "ld_fermat": lens_fermat_indicator(n_neighbors=10),
        "spread": predictive_spread_indicator(lambda v: predict(v)[1]),
    }
    return members, combine(*members.values(), how="min_p")


def _run(key, n_train, config, n_sim_query, n_repeats):
    k = jax.random.split(key, 8)
    train = build_pellet_dataset(k[0], n_train, config=config)
    assert train.converged.all()
    u_train = _unit(train.inputs)
    t = train.outputs[:, 0]
    mu, sd = t.mean(), t.std()
    predict = _fit_surrogate(k[1], u_train, jnp.asarray((t - mu) / sd))

    def simulated(key_i, n, shift):
        ds = build_pellet_dataset(key_i, n, shift=shift, config=config)
        keep = ds.converged
        u = _unit(ds.inputs[keep])
        err = jnp.abs(predict(u)[0] * sd + mu - ds.outputs[keep, 0])
        return u, err

    u_in, e_in = simulated(k[2], n_sim_query, None)
    u_near, e_near = simulated(k[3], n_sim_query, NEAR_SHIFT)
    u_far, e_far = simulated(k[4], n_sim_query, FAR_SHIFT)
    u_far_inputs = _unit(shifted_design(k[5], DEFAULT_INPUT_BOX, FAR_SHIFT, 512)[0])
    u_near_inputs = _unit(shifted_design(k[6], DEFAULT_INPUT_BOX, NEAR_SHIFT, 512)[0])
    members, combined = _indicators(predict)
    results = {}
    for name, ind in [*members.items(), ("combined_min_p", combined)]:
        kf, kc, kt = jax.random.split(jax.random.fold_in(k[7], len(results)), 3)
        if name == "combined_min_p":
            state = ind.fit(kf, u_train, x_calibration=_uniform_in_box(kc, 199))
        else:
            state = ind.fit(kf, u_train)
        rates = []
        for rep in range(n_repeats):  # repeated calibrations on fresh iid in-box sets
            kr, kq = jax.random.split(jax.random.fold_in(kc, rep))
            cal = calibrate(kr, ind, state, _uniform_in_box(kr, 199), 0.1)
            scores_in = ind.score(state, _uniform_in_box(kq, 512))
            rates.append(float(jnp.mean(scores_in > cal.threshold)))
        u_in_test = _uniform_in_box(kt, 512)
        labels = jnp.arange(1024) < 512
        near = validity_report(
            ind, state, cal, jnp.concatenate([u_in_test, u_near_inputs]), in_domain=labels
        )
        far = validity_report(
            ind, state, cal, jnp.concatenate([u_in_test, u_far_inputs]), in_domain=labels
        )
        queries = jnp.concatenate([u_in, u_near, u_far])
        errors = jnp.concatenate([e_in, e_near, e_far])
        rho = float(spearman_correlation(ind.score(state, queries), errors))
        results[name] = dict(
            state=state,
            cal=cal,
            ind=ind,
            false_alarm=float(np.mean(rates)),
            # s.e. of the mean rate: the larger of the empirical one and the continuous-score
            # value (rate ~ Beta(20, 180) for n = 199, plus binomial noise on 512 queries);
            # ties between scores only add variance
            false_alarm_se=max(
                float(np.std(rates, ddof=1)),
                math.sqrt(20 * 180 / (200**2 * 201) + 0.09 / 512),
            )
            / math.sqrt(n_repeats),
            near_auroc=near.auroc,
            near_detection=near.detection_rate,
            far_detection=far.detection_rate,
            far_auroc=far.auroc,
            rho=rho,
            m_errors=int(errors.shape[0]),
        )
    return results, u_far_inputs


def _check(results, u_far):
    for name, r in results.items():
        # mean false-alarm rate over repeated calibrations (expected <= alpha = 0.1 by the
        # conformal guarantee); tolerance 5 standard errors of that mean, from the repeats
        assert r["false_alarm"] <= 0.1 + 5 * r["false_alarm_se"], (name, r["false_alarm"])
        assert r["far_detection"] >= 0.9, (name, r["far_detection"])
        # score vs actual error: positive beyond 5 s.e. (1/sqrt(m - 1)) under independence
        assert r["rho"] > 5 / math.sqrt(r["m_errors"] - 1), (name, r["rho"])
    best = max(r["near_auroc"] for n, r in results.items() if n != "combined_min_p")
    # combined (min-p) vs best member on near shifts: within 5 Hanley-McNeil s.e. (<= 0.06)
    assert results["combined_min_p"]["near_auroc"] >= best - 0.06
    # walk the far queries back into the domain of the Mahalanobis indicator inside [0, 1.6]^6
    r = results["mahalanobis"]
    res = walk_back(
        r["ind"], r["state"], r["cal"].threshold, u_far[:32], step_size=0.01, lower=0.0, upper=1.6
    )
    assert bool(jnp.all(res.inside))


@pytest.mark.slow
def test_thermodiffusion_indicators_small(key, x64):
    """128 training simulations at a coarse solver resolution (8 cells, 40 steps)."""
    results, u_far = _run(key, 128, SolverConfig(n_cells=8, n_steps=40), 128, 6)
    _check(results, u_far)


@pytest.mark.slow
def test_thermodiffusion_indicators_default_solver(key, x64):
    """256 training simulations at the default solver resolution (32 cells, 150 steps)."""
    results, u_far = _run(jax.random.key(11), 256, SolverConfig(), 192, 20)
    _check(results, u_far)
