"""Reliability indicators on a lattice data set: Ising configurations as inputs.

Inputs are ``L x L`` Ising configurations (flattened, +-1) sampled at ``beta = 0.25`` (the
training context); the indicator is a feature-space one, Mahalanobis depth of the two physical
features (energy per site, absolute magnetisation per site). Every draw uses the same number of
chains (one compilation); independent chains give iid configurations, so the calibration and
in-domain test configurations are exchangeable.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import sample_ising
from edtjax.reliability import (
    calibrate,
    feature_space_indicator,
    mahalanobis_indicator,
    validity_report,
)

L = 8
N = 256


def _configurations(key, beta, n):
    out = sample_ising(key, L, beta, 4, num_chains=n, burn_in=200, algorithm="heatbath")
    return out.final_state.spins.reshape(n, L * L).astype(jnp.float32)


def _features(x):
    s = x.reshape(x.shape[0], L, L)
    energy = -jnp.mean(s * (jnp.roll(s, 1, axis=1) + jnp.roll(s, 1, axis=2)), axis=(1, 2))
    return jnp.stack([energy, jnp.abs(jnp.mean(s, axis=(1, 2)))], axis=1)


@pytest.mark.slow
def test_ising_context_shift(key):
    k = jax.random.split(key, 6)
    x_train = _configurations(k[0], 0.25, N)
    ind = feature_space_indicator(mahalanobis_indicator(), _features)
    state = ind.fit(k[1], x_train)
    rates = []
    for rep in range(5):  # repeated calibrations on fresh, independent chains
        kc, kt = jax.random.split(jax.random.fold_in(k[2], rep))
        cal = calibrate(kc, ind, state, _configurations(kc, 0.25, N), 0.1)
        rates.append(
            float(jnp.mean(ind.score(state, _configurations(kt, 0.25, N)) > cal.threshold))
        )
    # k = ceil(257 * 0.9) = 232: rate Beta(25, 232) (var 25 * 232 / (257^2 * 258)) plus
    # binomial noise 0.09 / N per repeat; 5 s.d. of the mean of 5 repeats.
    # Scores take few distinct values; ties only make the rate smaller.
    assert float(np.mean(rates)) <= 0.1 + 5 * math.sqrt((25 * 232 / (257**2 * 258) + 0.09 / N) / 5)
    x_in = _configurations(k[3], 0.25, N)
    x_far = _configurations(k[4], 0.6, N)  # ordered phase: |m| ~ 1, energy ~ -2
    x_near = _configurations(k[5], 0.33, N)
    labels = jnp.arange(2 * N) < N
    far = validity_report(ind, state, cal, jnp.concatenate([x_in, x_far]), in_domain=labels)
    near = validity_report(ind, state, cal, jnp.concatenate([x_in, x_near]), in_domain=labels)
    assert far.detection_rate >= 0.9
    # near shift (beta 0.33, still disordered): reported, and better than chance by 5
    # Hanley-McNeil s.e. of an AUROC of 0.5 on 256 + 256 (sqrt(513 / 12) / 256 = 0.026)
    assert near.auroc > 0.5 + 5 * 0.026, near.auroc
