"""Tests for sample_phi4: exact free field, agreement of samplers, retracing, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import (
    HoppingCouplings,
    MassCouplings,
    free_field_exact,
    sample_phi4,
    susceptibility,
)
from tests.compiles import backend_compiles

# Every statistical comparison below allows 5 estimated standard errors: for a Gaussian
# estimator the false-failure rate is ~6e-7 per comparison (the Gamma-method error itself has a
# relative uncertainty of a few percent at these run lengths, which raises it only mildly).
NSIGMA = 5.0


def _z(estimate, exact):
    return (float(estimate.mean) - exact) / float(estimate.error)


# The default-selection runs share their static configuration (shape, steps, chains, burn-in)
# with the interacting-point test, so each sampler is compiled once; couplings are traced.
HMC_RUN = dict(num_steps=1500, num_chains=4, algorithm="hmc", burn_in=300)
METROPOLIS_RUN = dict(num_steps=4000, num_chains=4, algorithm="metropolis", burn_in=300)


@pytest.mark.parametrize(
    "run",
    [
        HMC_RUN,
        # the same Metropolis kernel is checked on the free field in test_phi4_metropolis.py
        pytest.param(METROPOLIS_RUN, marks=pytest.mark.slow),
        pytest.param(
            dict(num_steps=800, num_chains=4, algorithm="nuts", burn_in=300), marks=pytest.mark.slow
        ),
    ],
    ids=["hmc", "metropolis", "nuts"],
)
def test_free_field_matches_exact_propagator(key, run):
    """<phi^2>, chi = G(p = 0) and <S>/V = 1/2 of the free field against the Fourier sum."""
    # Hopping form (kappa = 0.2, lam = 0 is m^2 = 1) so that the interacting-point test below
    # reuses the compiled samplers; the mass form is sampled in the slow NUTS tests.
    couplings = HoppingCouplings(kappa=0.2, lam=0.0)
    result = sample_phi4(key, 8, couplings, **run)
    exact = free_field_exact((8, 8), couplings)
    s = result.summary
    z = {
        "phi_squared": _z(s["phi_squared"], float(exact.phi_squared)),
        "susceptibility": _z(s["susceptibility"], float(exact.susceptibility)),
        "action_per_site": _z(s["action_per_site"], float(exact.action_per_site)),
        "binder_cumulant": _z(s["binder_cumulant"], 0.0),
    }
    print(f"{run['algorithm']}: z-scores vs exact free field {z}")
    assert all(abs(v) < NSIGMA for v in z.values()), z


@pytest.mark.slow
def test_mala_free_field_in_hopping_form(key):
    couplings = HoppingCouplings(kappa=0.2, lam=0.0)
    result = sample_phi4(key, 6, couplings, 3000, num_chains=4, algorithm="mala", burn_in=500)
    exact = free_field_exact((6, 6), couplings)
    z = _z(result.summary["phi_squared"], float(exact.phi_squared))
    print(f"mala: z(<phi^2>) = {z:.2f}")
    assert abs(z) < NSIGMA


def _agree(a, b):
    """Difference of two independent estimates in units of their combined error."""
    return (float(a.mean) - float(b.mean)) / np.hypot(float(a.error), float(b.error))


def test_hmc_and_metropolis_agree_at_interacting_point(key):
    couplings = HoppingCouplings(kappa=0.25, lam=0.5)
    k1, k2 = jax.random.split(key)
    hmc = sample_phi4(k1, 8, couplings, **HMC_RUN)
    metro = sample_phi4(k2, 8, couplings, **METROPOLIS_RUN)
    names = ("phi_squared", "abs_magnetisation", "action_per_site", "susceptibility")
    z = {n: _agree(hmc.summary[n], metro.summary[n]) for n in names}
    print(f"HMC vs Metropolis at kappa=0.25, lam=0.5: {z}")
    assert all(abs(v) < NSIGMA for v in z.values()), z


@pytest.mark.slow
@pytest.mark.parametrize("couplings", [HoppingCouplings(0.25, 0.5), HoppingCouplings(0.3, 1.0)])
def test_all_samplers_agree_at_interacting_points_long(key, couplings):
    runs = {
        "metropolis": dict(num_steps=20000),
        "hmc": dict(num_steps=5000),
        "nuts": dict(num_steps=2000),
        "mala": dict(num_steps=20000),
    }
    keys = jax.random.split(key, len(runs))
    results = {
        alg: sample_phi4(k, 8, couplings, num_chains=8, algorithm=alg, burn_in=1000, **kw)
        for k, (alg, kw) in zip(keys, runs.items(), strict=True)
    }
    names = ("phi_squared", "abs_magnetisation", "action_per_site", "susceptibility")
    for alg in ("hmc", "nuts", "mala"):
        z = {n: _agree(results[alg].summary[n], results["metropolis"].summary[n]) for n in names}
        print(f"{alg} vs metropolis at {couplings}: {z}")
        assert all(abs(v) < NSIGMA for v in z.values()), (alg, z)


@pytest.mark.slow
def test_free_field_three_dimensions_nuts_long(key):
    couplings = MassCouplings(mass_squared=0.3, g=0.0)
    result = sample_phi4(key, (4, 6, 8), couplings, 2000, num_chains=4, algorithm="nuts")
    exact = free_field_exact((4, 6, 8), couplings)
    z_p = _z(result.summary["phi_squared"], float(exact.phi_squared))
    z_c = _z(result.summary["susceptibility"], float(exact.susceptibility))
    print(f"3-d NUTS: z(<phi^2>) = {z_p:.2f}, z(chi) = {z_c:.2f}")
    assert abs(z_p) < NSIGMA and abs(z_c) < NSIGMA


def test_two_point_function_traces(key):
    # Same lattice, chains and burn-in as METROPOLIS_RUN: the compiled warm-up is reused.
    couplings = HoppingCouplings(kappa=0.2, lam=0.0)
    run = dict(METROPOLIS_RUN, num_steps=40, thin=4)
    result = sample_phi4(key, 8, couplings, two_point=True, **run)
    chex.assert_shape(result.traces["two_point"], (4, 10, 8, 8))
    np.testing.assert_allclose(
        result.traces["two_point"][..., 0, 0], result.traces["phi_squared"], rtol=1e-5
    )
    chex.assert_shape(result.final_state.position, (4, 8, 8))
    chex.assert_shape(result.info["step_size"], (4,))
    chex.assert_shape(result.info["acceptance_rate"], (4,))


def test_summary_names_and_susceptibility_convention(key):
    # The same configuration as test_two_point_function_traces (compiled once). Names shared with
    # the Ising summary; the phi^4 susceptibility is V Var(m), with no factor beta.
    couplings = HoppingCouplings(kappa=0.2, lam=0.0)
    run = dict(METROPOLIS_RUN, num_steps=40, thin=4)
    result = sample_phi4(key, 8, couplings, two_point=True, **run)
    shared = (
        "magnetisation",
        "abs_magnetisation",
        "magnetisation_squared",
        "susceptibility",
        "binder_cumulant",
    )
    assert set(shared) <= set(result.summary)
    assert "magnetisation_fourth" in result.traces
    m = result.traces["magnetisation"]
    # The summary cancels the O(1/n) bias with the replicas (Wolff 2004).
    pooled = susceptibility(m, 64, beta=1.0)
    per_chain = jnp.stack([susceptibility(chain, 64, beta=1.0) for chain in m])
    expected = pooled - (jnp.mean(per_chain) - pooled) / (len(m) - 1)
    np.testing.assert_allclose(result.summary["susceptibility"].mean, expected, rtol=1e-4)


def test_second_call_with_new_couplings_does_not_recompile(key):
    """New couplings, key and initial fields of the same shapes reuse every compiled piece
    (warm-up, chain driver, error analysis): no backend compilation happens on the second call."""
    sample_phi4(key, 8, HoppingCouplings(0.2, 0.3), **METROPOLIS_RUN)
    new_key, new_fields = jax.random.key(7), jnp.ones((4, 8, 8))
    again = backend_compiles(
        lambda: sample_phi4(
            new_key, 8, HoppingCouplings(0.21, 0.4), initial_field=new_fields, **METROPOLIS_RUN
        )
    )
    assert again == []


@pytest.mark.slow
def test_float64_is_kept(x64, key):
    result = sample_phi4(
        key,
        4,
        HoppingCouplings(0.2, 0.3),
        10,
        algorithm="metropolis",
        burn_in=5,
        dtype=jnp.float64,
    )
    assert result.traces["phi_squared"].dtype == jnp.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(couplings=HoppingCouplings(0.2, -0.5)), r"couplings\.lam"),
        (dict(couplings=HoppingCouplings(float("nan"), 0.5)), r"couplings\.kappa"),
        (dict(couplings=MassCouplings(float("nan"), 0.5)), r"couplings\.mass_squared"),
        (dict(num_steps=0), "num_steps"),
        (dict(num_chains=0), "num_chains"),
        (dict(burn_in=-1), "burn_in"),
        (dict(thin=3), "thin"),
        (dict(thin=5), "recorded steps"),
        (dict(algorithm="gibbs"), "algorithm"),
        (dict(shape=5, algorithm="metropolis"), "even"),
        (dict(shape=(4, 1)), r"shape\[1\]"),
        (dict(initial_field=jnp.zeros((4, 5))), "initial_field"),
        (dict(initial_field=jnp.full((4, 4), jnp.nan)), "initial_field"),
        (dict(step_size=-0.1), "step_size"),
        (dict(key=0), "key"),
    ],
)
def test_bad_input_raises(key, kwargs, match):
    args = dict(key=key, shape=4, couplings=HoppingCouplings(0.2, 0.5), num_steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample_phi4(args.pop("key"), args.pop("shape"), args.pop("couplings"), **args)
