"""Tests of the lattice data sets: exact Ising enumeration, free-field phi^4, storage, retracing."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.datasets import load_dataset, save_dataset, split_dataset
from edtjax.lattice import (
    ISING_LABEL_NAMES,
    PHI4_OBSERVABLE_NAMES,
    HoppingCouplings,
    MassCouplings,
    free_field_exact,
    ising_configuration_dataset,
    ising_energy,
    ising_enumerate,
    ising_magnetisation,
    ising_sample,
    phi4_observable_dataset,
    phi4_sample,
)
from edtjax.lattice import datasets as ld
from edtjax.mcmc import driver, gamma_method

# Every statistical comparison allows 5 standard errors: for a normal estimate the two-sided
# false-failure rate is 5.7e-7 per comparison.
Z = 5.0


def _small_ising(key, **kwargs):
    settings = {"num_chains": 2, "pilot_sweeps": 40}
    settings.update(kwargs)
    return ising_configuration_dataset(key, 4, [0.2, 0.5], 8, **settings)


@pytest.mark.slow
def test_ising_labels_are_those_of_the_configurations(key):
    ds = _small_ising(key)
    assert ds.inputs.dtype == np.int8 and ds.inputs.shape == (16, 16)
    assert ds.output_names == ISING_LABEL_NAMES
    assert set(np.unique(ds.inputs).tolist()) <= {-1, 1}
    spins = jnp.asarray(ds.inputs.reshape(-1, 4, 4))
    np.testing.assert_allclose(ds.outputs[:, 0], ising_energy(spins), atol=1e-6)
    np.testing.assert_allclose(
        ds.outputs[:, 1], ising_magnetisation(spins, ds.outputs.dtype), atol=1e-6
    )
    np.testing.assert_array_equal(
        ds.outputs[:, 2], np.repeat([0.2, 0.5], 8).astype(ds.outputs.dtype)
    )
    assert ds.converged.all() and ds.within_validity.all()
    assert len(ds.metadata["thin"]) == 2 and all(t >= 1 for t in ds.metadata["thin"])
    # The automatic thinning is ceil(2 tau_int) of the slower of E and |m|.
    for tau, thin in zip(ds.metadata["tau_int"], ds.metadata["thin"], strict=True):
        assert thin == max(1, math.ceil(2.0 * max(tau.values())))


@pytest.mark.slow
def test_ising_labels_agree_with_exact_enumeration(key, x64):
    betas = [0.2, 0.44, 0.7]
    num_chains, num_per_beta = 4, 2000
    ds = ising_configuration_dataset(
        key, 4, betas, num_per_beta, num_chains=num_chains, pilot_sweeps=500
    )
    for i, beta in enumerate(betas):
        rows = ds.outputs[i * num_per_beta : (i + 1) * num_per_beta]
        series = rows.reshape(num_chains, -1, 3)  # rows are chain-major within a beta
        exact = ising_enumerate(4, beta)
        checks = {
            "energy": (series[..., 0], exact.energy),
            "abs_magnetisation": (np.abs(series[..., 1]), exact.abs_magnetisation),
            "magnetisation_squared": (series[..., 1] ** 2, exact.magnetisation_squared),
        }
        for name, (x, value) in checks.items():
            # Gamma-method error: any correlation left after thinning is accounted for.
            est = gamma_method(jnp.asarray(x))
            assert abs(float(est.mean) - float(value)) <= Z * float(est.error), (beta, name)
            # Records are thinned by 2 tau_int: little autocorrelation remains.
            assert float(est.tau_int) < 1.5, (beta, name)


@pytest.mark.slow
def test_ising_is_deterministic_given_the_key(key):
    a = _small_ising(key)
    b = _small_ising(key)
    c = _small_ising(jax.random.key(1))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert a.metadata == b.metadata
    assert not np.array_equal(a.inputs, c.inputs)


@pytest.mark.slow
def test_ising_given_thin_and_partial_last_chain(key):
    ds = ising_configuration_dataset(key, 4, 0.3, 7, num_chains=2, thin=5, pilot_sweeps=40)
    assert ds.inputs.shape == (7, 16) and ds.metadata["thin"] == [5]


def test_ising_new_betas_do_not_recompile(key):
    _small_ising(key)
    production = ld._ising_production._cache_size()
    pilot = ising_sample._sample._cache_size()
    ising_configuration_dataset(
        jax.random.key(3), 4, [0.5, 0.6, 0.1], 8, num_chains=2, pilot_sweeps=40, thin=3
    )
    assert ld._ising_production._cache_size() == production
    assert ising_sample._sample._cache_size() == pilot


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"betas": []}, "betas"),
        ({"betas": [0.2, -0.1]}, "betas"),
        ({"num_per_beta": 0}, "num_per_beta"),
        ({"L": 0}, "L"),
        ({"L": -4}, "L"),
        ({"L": 5, "algorithm": "metropolis"}, "L"),
        ({"algorithm": "wolff"}, "algorithm"),
        ({"thin": 0}, "thin"),
        ({"thin_factor": 0.0}, "thin_factor"),
        ({"pilot_sweeps": 3}, "pilot_sweeps"),
        ({"J": float("nan")}, "J"),
        ({"start": "cold"}, "start"),
    ],
)
def test_ising_bad_input(key, kwargs, match):
    args = {"L": 4, "betas": [0.3], "num_per_beta": 4}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ising_configuration_dataset(key, args.pop("L"), args.pop("betas"), **args)


def test_ising_save_load_and_split(key, tmp_path):
    ds = _small_ising(key)
    path = save_dataset(tmp_path / "ising.npz", ds)
    back = load_dataset(path)
    assert back.inputs.dtype == np.int8
    np.testing.assert_array_equal(back.inputs, ds.inputs)
    np.testing.assert_array_equal(back.outputs, ds.outputs)
    assert back.input_names == ds.input_names and back.output_names == ds.output_names
    assert back.metadata == ds.metadata
    with pytest.raises(FileExistsError):
        save_dataset(path, ds)
    parts = split_dataset(jax.random.key(2), back, (0.5, 0.25, 0.25))
    assert [len(p.inputs) for p in parts] == [8, 4, 4]
    rows = np.concatenate([p.outputs for p in parts])
    np.testing.assert_array_equal(np.sort(rows, axis=0), np.sort(ds.outputs, axis=0))


def _phi4_small(key, couplings, **kwargs):
    settings = {"num_chains": 2, "algorithm": "metropolis", "burn_in": 64, "progress": False}
    settings.update(kwargs)
    return phi4_observable_dataset(key, 4, couplings, 64, **settings)


@pytest.mark.slow
def test_phi4_free_field_agrees_with_exact(key, x64):
    kappas = np.array([0.08, 0.15, 0.2])
    design = HoppingCouplings(kappa=kappas, lam=np.zeros(3))
    # Default burn-in (1000 transitions): the chains start near phi = 0, far below <phi^2>,
    # and a short burn-in leaves a visible downward bias at this precision.
    ds = phi4_observable_dataset(key, 4, design, 2000, num_chains=4, progress=False)
    assert ds.input_names == ("kappa", "lam") and ds.metadata["algorithm"] == "nuts"
    np.testing.assert_array_equal(ds.inputs[:, 0], kappas)
    col = {name: i for i, name in enumerate(ds.output_names)}
    volume = 16
    for p, kappa in enumerate(kappas):
        exact = free_field_exact((4, 4), HoppingCouplings(kappa=kappa, lam=0.0))
        chi = float(exact.susceptibility)
        # m is Gaussian with variance chi / V and mean 0: E|m| = sqrt(2 chi / (pi V)), U_4 = 0.
        expected = {
            "susceptibility": chi,
            "abs_magnetisation": math.sqrt(2.0 * chi / (math.pi * volume)),
            "binder_cumulant": 0.0,
            "action_per_site": float(exact.action_per_site),
            "phi_squared": float(exact.phi_squared),
        }
        for name in PHI4_OBSERVABLE_NAMES:
            mean, err = ds.outputs[p, col[name]], ds.outputs[p, col[f"{name}_error"]]
            assert err > 0
            assert abs(mean - expected[name]) <= Z * err, (kappa, name, mean, expected[name])
        # The flag is the effective-sample-size rule over the stored observables' tau_int.
        ess = 4 * 2000 / (2.0 * max(ds.metadata["tau_int"][p].values()))
        assert bool(ds.converged[p]) == (ess >= 100.0)
    # NUTS mixes the free field quickly (tau_int of order 1): every point is converged.
    assert ds.converged.all()


@pytest.mark.slow
def test_phi4_mass_couplings_and_deterministic(key):
    design = MassCouplings(mass_squared=np.array([0.5, 1.0]), g=np.array([0.0, 1.0]))
    a = _phi4_small(key, design)
    b = _phi4_small(key, design)
    assert a.input_names == ("mass_squared", "g")
    chex.assert_shape(a.outputs, (2, 2 * len(PHI4_OBSERVABLE_NAMES)))
    np.testing.assert_array_equal(a.outputs, b.outputs)
    np.testing.assert_array_equal(a.converged, b.converged)
    assert a.metadata == b.metadata
    assert np.all(a.outputs[:, len(PHI4_OBSERVABLE_NAMES) :] > 0)


def test_phi4_new_coupling_points_do_not_recompile(key):
    _phi4_small(key, HoppingCouplings(kappa=np.array([0.1]), lam=np.array([0.3])))
    warmup = phi4_sample._warmup._cache_size()
    segment = driver._run_segment._cache_size()
    design = HoppingCouplings(kappa=np.array([0.05, 0.2, 0.25]), lam=np.array([1.0, 0.0, 2.0]))
    _phi4_small(jax.random.key(5), design)
    assert phi4_sample._warmup._cache_size() == warmup
    assert driver._run_segment._cache_size() == segment


@pytest.mark.parametrize(
    ("shape", "couplings", "match"),
    [
        (4, (0.1, 0.2), "couplings"),
        (4, HoppingCouplings(kappa=np.array([0.1, 0.2]), lam=np.array([0.1])), "equal length"),
        (4, HoppingCouplings(kappa=np.array([]), lam=np.array([])), "non-empty"),
        (4, HoppingCouplings(kappa=np.array([0.1]), lam=np.array([-0.5])), "lam"),
        (4, HoppingCouplings(kappa=np.array([0.3]), lam=np.array([0.0])), "kappa"),
        (4, HoppingCouplings(kappa=np.array([[0.1]]), lam=np.array([[0.1]])), "couplings.kappa"),
        (0, HoppingCouplings(kappa=np.array([0.1]), lam=np.array([0.1])), "shape"),
        ((4, 1), HoppingCouplings(kappa=np.array([0.1]), lam=np.array([0.1])), "shape"),
    ],
)
def test_phi4_bad_input(key, shape, couplings, match):
    with pytest.raises(ValueError, match=match):
        phi4_observable_dataset(key, shape, couplings, 64, progress=False)


def test_phi4_bad_effective_sample_threshold(key):
    design = HoppingCouplings(kappa=np.array([0.1]), lam=np.array([0.1]))
    with pytest.raises(ValueError, match="min_effective_samples"):
        phi4_observable_dataset(key, 4, design, 64, min_effective_samples=0.0)


def test_phi4_save_load_round_trip(key, tmp_path):
    design = HoppingCouplings(kappa=np.array([0.1, 0.2]), lam=np.array([0.5, 1.0]))
    ds = _phi4_small(key, design)
    back = load_dataset(save_dataset(tmp_path / "phi4.npz", ds))
    np.testing.assert_array_equal(back.inputs, ds.inputs)
    np.testing.assert_array_equal(back.outputs, ds.outputs)
    np.testing.assert_array_equal(back.converged, ds.converged)
    assert back.output_names == ds.output_names and back.metadata == ds.metadata


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
def test_ising_local_samplers_agree_with_exact_enumeration(key, x64, algorithm):
    betas = [0.3, 0.6]
    num_chains, num_per_beta = 4, 2000
    ds = ising_configuration_dataset(
        key,
        4,
        betas,
        num_per_beta,
        algorithm=algorithm,
        num_chains=num_chains,
        pilot_sweeps=1000,
        start="ordered",
    )
    for i, beta in enumerate(betas):
        rows = ds.outputs[i * num_per_beta : (i + 1) * num_per_beta].reshape(num_chains, -1, 3)
        exact = ising_enumerate(4, beta)
        for x, value in [
            (rows[..., 0], exact.energy),
            (np.abs(rows[..., 1]), exact.abs_magnetisation),
            (rows[..., 1] ** 2, exact.magnetisation_squared),
        ]:
            est = gamma_method(jnp.asarray(x))
            assert abs(float(est.mean) - float(value)) <= Z * float(est.error), beta


@pytest.mark.slow
def test_ising_energy_agrees_with_kaufman_at_l8(key, x64):
    from edtjax.lattice import ising_exact

    betas = [0.35, 0.4406868, 0.55]
    num_chains, num_per_beta = 4, 2000
    ds = ising_configuration_dataset(key, 8, betas, num_per_beta, num_chains=num_chains)
    for i, beta in enumerate(betas):
        energy = ds.outputs[i * num_per_beta : (i + 1) * num_per_beta, 0]
        est = gamma_method(jnp.asarray(energy.reshape(num_chains, -1)))
        exact = float(ising_exact(8, beta).energy)
        assert abs(float(est.mean) - exact) <= Z * float(est.error), (beta, exact)


@pytest.mark.slow
def test_phi4_interacting_points_agree_between_samplers(key, x64):
    # No closed form when lam > 0: HMC and local Metropolis, two exact Markov chains for the
    # same e^{-S}, must agree within 5 combined standard errors.
    design = HoppingCouplings(kappa=np.array([0.15, 0.25]), lam=np.array([0.5, 1.0]))
    k_hmc, k_met = jax.random.split(key)
    hmc = phi4_observable_dataset(
        k_hmc, 6, design, 4000, num_chains=4, algorithm="nuts", progress=False
    )
    met = phi4_observable_dataset(
        k_met,
        6,
        design,
        8000,
        num_chains=4,
        algorithm="metropolis",
        burn_in=1000,
        progress=False,
    )
    n = len(PHI4_OBSERVABLE_NAMES)
    diff = np.abs(hmc.outputs[:, :n] - met.outputs[:, :n])
    sigma = np.hypot(hmc.outputs[:, n:], met.outputs[:, n:])
    assert np.all(diff <= Z * sigma), diff / sigma


def test_progress_bars_count_betas_and_points(key, capsys):
    _small_ising(key, progress=True)
    assert "ising betas" in capsys.readouterr().err
    design = HoppingCouplings(kappa=np.array([0.1, 0.2]), lam=np.array([0.5, 1.0]))
    _phi4_small(key, design, progress=True)
    err = capsys.readouterr().err
    assert "phi4 points" in err and "2/2" in err
