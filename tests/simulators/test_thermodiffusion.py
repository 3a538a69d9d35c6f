"""Thermodiffusion solver against closed forms, a semi-analytic steady state, refinement
orders and finite differences. Float64 throughout (``x64`` fixture) unless stated."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from edtjax.simulators import (
    GAS_CONSTANT,
    MIHAILA_2009_LAWS,
    PelletInputs,
    SolverConfig,
    constant_laws,
    default_pellet_inputs,
    pellet_solver_step,
    simulate_pellet,
    simulate_pellet_batch,
    solver_time_grid,
)
from edtjax.simulators import thermodiffusion as td

K_CONST = 3.0
Q_STAR = -9.0e4  # J/mol, constant heat of transport (F = 1)


def _inputs(**kw):
    return default_pellet_inputs(jnp.float64)._replace(
        **{k: jnp.asarray(v, jnp.float64) for k, v in kw.items()}
    )


def _analytic_temperature(p, r, k):
    return float(p.surface_temperature) + float(p.heat_source) * (float(p.radius) ** 2 - r**2) / (
        4.0 * k
    )


def _temperature_errors(n, laws):
    p = _inputs()
    res = simulate_pellet(p, SolverConfig(n_cells=n, n_steps=60, end_time=1e4), laws)
    exact = _analytic_temperature(p, np.asarray(res.radii), K_CONST)
    centre = float(res.centre_temperature[-1]) - _analytic_temperature(p, 0.0, K_CONST)
    return np.asarray(res.temperature) - exact, centre


def test_constant_k_steady_temperature_matches_closed_form(x64):
    """T = T_s + q (R^2 - r^2) / (4k) up to the known O(h^2) offset of the scheme.

    Interior two-point fluxes are exact for the quadratic profile; the half-cell surface
    closure shifts every cell by delta = q h^2 / (16 k) (a short calculation), so the discrete
    solution is known exactly and the error is second order in h.
    """
    laws = constant_laws(K_CONST, 3.0e6, 1e-9, 0.0)
    p = _inputs()
    errors = {}
    for n in (16, 32):
        err, centre = _temperature_errors(n, laws)
        h = float(p.radius) / n
        delta = float(p.heat_source) * h**2 / (16.0 * K_CONST)
        np.testing.assert_allclose(err, delta, rtol=1e-9)
        np.testing.assert_allclose(centre, delta, rtol=1e-9)
        errors[n] = np.max(np.abs(err))
    assert errors[32] < 0.11  # K, on a ~420 K rise
    np.testing.assert_allclose(np.log2(errors[16] / errors[32]), 2.0, atol=1e-6)


def test_zero_flux_oxygen_equilibrium_and_conservation(x64):
    """Steady zero-flux profile C exp(Q*/(R T)) with C fixed by conservation; inventory to 1e-8."""
    laws = constant_laws(K_CONST, 3.0e6, 1e-8, Q_STAR)
    p = _inputs(initial_x=0.02)
    res = simulate_pellet(p, SolverConfig(n_cells=24, n_steps=120, end_time=1e7), laws)
    assert bool(res.converged) and bool(res.reached_steady)
    temp = np.asarray(res.temperature)
    h = float(p.radius) / 24
    vol = np.asarray(res.radii) * h
    boltzmann = np.exp(Q_STAR / (GAS_CONSTANT * temp))
    c = 0.02 * vol.sum() / (vol * boltzmann).sum()
    np.testing.assert_allclose(np.asarray(res.x), c * boltzmann, rtol=1e-8)
    inv = np.asarray(res.oxygen_inventory)
    np.testing.assert_allclose(inv, inv[0], rtol=1e-8, atol=0)
    # The profile is strongly non-uniform, so the test is not vacuous.
    assert res.x[0] / res.x[-1] > 5.0


def test_fixed_surface_x_relaxes_to_uniform_without_soret(x64):
    """With Q* = 0 and x(R) = x_s imposed, the steady profile is x = x_s everywhere."""
    laws = constant_laws(K_CONST, 3.0e6, 1e-8, 0.0)
    p = _inputs(initial_x=0.05, surface_x=0.01)
    cfg = SolverConfig(n_cells=16, n_steps=120, end_time=1e7, oxygen_boundary="fixed")
    res = simulate_pellet(p, cfg, laws)
    np.testing.assert_allclose(np.asarray(res.x), 0.01, rtol=1e-8)


def _steady_reference(p, laws):
    """Semi-analytic zero-flux steady state for temperature- and x-dependent laws.

    Steady zero flux makes x a function of T along the profile, dX/dT = -X Q*/(F R T^2);
    the Kirchhoff transform int_{T_s}^{T(r)} k dT = q (R^2 - r^2) / 4 gives T(r); conservation
    int_0^{R^2} X d(r^2) = x_0 R^2 fixes X(T_s). Solved with scipy ODE + root finding.
    """
    q, ts, x0, radius = (
        float(p.heat_source),
        float(p.surface_temperature),
        float(p.initial_x),
        float(p.radius),
    )
    target = q * radius**2 / 4.0

    def rhs(t, y):
        x, _, _ = y
        k = float(laws.thermal_conductivity(t, x))
        dx = (
            -x
            * float(laws.heat_of_transport(t, x))
            / (float(laws.thermodynamic_factor(x)) * GAS_CONSTANT * t**2)
        )
        return [dx, k, 4.0 * x * k / q]

    def hit(t, y):
        return y[1] - target

    hit.terminal = True

    def integrate(xs):
        sol = solve_ivp(
            rhs, (ts, 3000.0), [xs, 0.0, 0.0], events=hit, rtol=1e-11, atol=1e-14, method="LSODA"
        )
        tc = sol.t_events[0][0]
        xc, _, m = sol.y_events[0][0]
        return tc, xc, m / radius**2

    xs = brentq(lambda xs: integrate(xs)[2] - x0, 1e-7, x0, xtol=1e-15, rtol=1e-13)
    tc, xc, _ = integrate(xs)
    return tc, xc


@pytest.mark.slow
def test_default_case_steady_state_matches_semi_analytic_reference(x64):
    """Nonlinear default laws: steady centre T and x against the Kirchhoff/ODE reference."""
    p = _inputs()
    tc_ref, xc_ref = _steady_reference(p, MIHAILA_2009_LAWS)
    errs = []
    for n in (32, 64):
        res = simulate_pellet(p, SolverConfig(n_cells=n, n_steps=200, end_time=1e10))
        assert bool(res.reached_steady) and bool(res.within_validity)
        errs.append(
            (abs(float(res.centre_temperature[-1]) - tc_ref), abs(float(res.centre_x[-1]) - xc_ref))
        )
    # Second-order in h: the error must shrink by ~4 and be small at 64 cells.
    (t32, x32), (t64, x64_) = errs
    # Measured: 32 cells (default) 0.075 K and 5.0e-4 relative in x; 64 cells 0.019 K, 1.3e-4.
    assert t32 < 0.1 and x32 / xc_ref < 7e-4, (errs, tc_ref, xc_ref)
    assert t64 < 0.025 and x64_ / xc_ref < 2e-4, (errs, tc_ref, xc_ref)
    assert t32 / t64 > 3.0 and x32 / x64_ > 3.0, errs


def _centre_temperature_after(n_steps):
    laws = MIHAILA_2009_LAWS
    cfg = SolverConfig(n_cells=16, n_steps=n_steps, end_time=20.0, step_growth=1.0)
    return float(simulate_pellet(_inputs(), cfg, laws).centre_temperature[-1])


@pytest.mark.slow
def test_time_step_refinement_is_first_order(x64):
    """Backward Euler: observed order -> 1 as the step shrinks, with an O(dt) excess.

    From a uniform start the fast thermal modes make the observed order 1 + c dt; with four
    step counts the order must be within 0.15 of 1 and its excess must halve with the step.
    """
    t = [_centre_temperature_after(n) for n in (40, 80, 160, 320)]
    d = np.abs(np.diff(t))
    orders = np.log2(d[:-1] / d[1:])
    assert abs(orders[-1] - 1.0) < 0.15, orders
    assert 1.6 < (orders[0] - 1.0) / (orders[1] - 1.0) < 2.4, orders


@pytest.mark.slow
def test_grid_refinement_is_second_order_for_nonlinear_laws(x64):
    """Nonlinear coupled transient at fixed time: observed spatial order ~2."""

    def centre(n):
        cfg = SolverConfig(n_cells=n, n_steps=80, end_time=1e6)
        res = simulate_pellet(_inputs(), cfg)
        return float(res.centre_temperature[-1]), float(res.centre_x[-1])

    (a1, b1), (a2, b2), (a3, b3) = (centre(n) for n in (16, 32, 64))
    assert 1.8 < np.log2(abs(a1 - a2) / abs(a2 - a3)) < 2.2
    assert 1.8 < np.log2(abs(b1 - b2) / abs(b2 - b3)) < 2.2


# One small configuration shared by several tests, so that they share one compilation.
_JAC_CONFIG = SolverConfig(
    n_cells=8, n_steps=20, end_time=1e6, picard_tol=1e-13, profile_times=(0.0, 10.0, 1e6)
)


def _centre_outputs(vec):
    res = simulate_pellet(PelletInputs(*vec), _JAC_CONFIG)
    return jnp.stack([res.centre_temperature[-1], res.centre_x[-1]])


def _finite_difference_jacobian(vec):
    fd = np.zeros((2, 7))
    for i in range(6):  # surface_x is unused with zero-flux boundaries
        step = 1e-5 * abs(float(vec[i]))
        up = np.asarray(_centre_outputs(vec.at[i].add(step)))
        dn = np.asarray(_centre_outputs(vec.at[i].add(-step)))
        fd[:, i] = (up - dn) / (2 * step)
    return fd


@pytest.mark.slow
def test_jacfwd_matches_finite_differences(x64):
    """d(centre T, centre x at end)/d(inputs) by jacfwd vs central differences."""
    vec = jnp.stack(list(_inputs()))
    jac = np.asarray(jax.jacfwd(_centre_outputs)(vec))
    fd = _finite_difference_jacobian(vec)
    # Central differences: truncation ~1e-10 relative, Picard noise ~1e-13/1e-5 = 1e-8;
    # measured agreement 3e-8.
    np.testing.assert_allclose(jac[:, :6], fd[:, :6], rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(jac[:, 6], 0.0)
    assert np.all(np.abs(jac[0, :6]) > 0)


@pytest.mark.slow
def test_reverse_mode_gradient_matches_finite_differences(x64):
    """jax.grad through scan + implicit (custom_root) Picard steps vs central differences."""
    vec = jnp.stack(list(_inputs()))
    grad_t = np.asarray(jax.grad(lambda v: _centre_outputs(v)[0])(vec))
    grad_x = np.asarray(jax.grad(lambda v: _centre_outputs(v)[1])(vec))
    fd = _finite_difference_jacobian(vec)
    np.testing.assert_allclose(grad_t[:6], fd[0, :6], rtol=1e-6)
    np.testing.assert_allclose(grad_x[:6], fd[1, :6], rtol=1e-6, atol=1e-14)


def test_batch_matches_single_and_does_not_retrace(x64):
    cfg = _JAC_CONFIG
    p = _inputs()
    qs = jnp.array([1.0e8, 2.0e8, 3.0e8])
    batch = PelletInputs(*(jnp.broadcast_to(v, (3,)) for v in p))._replace(heat_source=qs)
    res = simulate_pellet_batch(batch, cfg)
    for i in range(3):
        single = simulate_pellet(p._replace(heat_source=qs[i]), cfg)
        np.testing.assert_allclose(res.temperature[i], single.temperature, rtol=1e-12)
        np.testing.assert_allclose(res.x_profiles[i], single.x_profiles, rtol=1e-12)
    chex.assert_shape(res.temperature_profiles, (3, 3, 8))
    np.testing.assert_allclose(res.temperature_profiles[:, 0], 700.0)
    np.testing.assert_allclose(res.temperature_profiles[:, -1], res.temperature)
    before = td._simulate_batch_jit._cache_size()
    simulate_pellet_batch(batch._replace(heat_source=qs * 0.9), cfg)
    assert td._simulate_batch_jit._cache_size() == before
    before = td._simulate_jit._cache_size()
    simulate_pellet(p._replace(heat_source=jnp.asarray(2.5e8)), cfg)
    assert td._simulate_jit._cache_size() == before


def test_equal_laws_do_not_recompile(x64):
    # constant_laws called twice with equal values (new objects) reuses the compiled solver
    # (different values compare unequal: test_simulators_materials); unhashable laws are
    # refused with a ValueError.
    cfg = SolverConfig(n_cells=4, n_steps=3, end_time=1e3)
    p = _inputs()
    simulate_pellet(p, cfg, constant_laws(K_CONST, 3.0e6, 1e-9, 0.0))
    before = td._simulate_jit._cache_size()
    simulate_pellet(p, cfg, constant_laws(K_CONST, 3.0e6, 1e-9, 0.0))
    assert td._simulate_jit._cache_size() == before
    batch = PelletInputs(*(jnp.broadcast_to(v, (2,)) for v in p))
    simulate_pellet_batch(batch, cfg, constant_laws(K_CONST, 3.0e6, 1e-9, 0.0))
    before = td._simulate_batch_jit._cache_size()
    simulate_pellet_batch(batch, cfg, constant_laws(K_CONST, 3.0e6, 1e-9, 0.0))
    assert td._simulate_batch_jit._cache_size() == before
    bad = constant_laws(K_CONST, 3.0e6, 1e-9, 0.0)._replace(x_range=[0.0, 1.0])
    with pytest.raises(ValueError, match="laws must be hashable"):
        simulate_pellet(p, cfg, bad)


def test_float32_default_config_converges_and_agrees_with_float64():
    """Default resolution in float32 (Picard floor 256 eps): within 0.05 K / 1e-4 relative of
    the float64 run of the same discretisation (1046.4074 K, x = 0.0331502)."""
    res = simulate_pellet(default_pellet_inputs(jnp.float32))
    assert res.temperature.dtype == jnp.float32 and bool(res.converged)
    assert abs(float(res.centre_temperature[-1]) - 1046.4074) < 0.05
    assert abs(float(res.centre_x[-1]) / 0.0331502 - 1.0) < 1e-4


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("radius", -4e-3, "inputs.radius"),
        ("radius", 0.0, "inputs.radius"),
        ("surface_temperature", -700.0, "inputs.surface_temperature"),
        ("surface_temperature", 5000.0, "inputs.surface_temperature"),
        ("initial_x", 0.0, "inputs.initial_x"),
        ("initial_x", 0.3, "inputs.initial_x"),
        ("heat_source", -1.0, "inputs.heat_source"),
        ("diffusivity_multiplier", 0.0, "inputs.diffusivity_multiplier"),
        ("conductivity_multiplier", float("nan"), "inputs.conductivity_multiplier"),
    ],
)
def test_bad_inputs_raise(field, value, match):
    p = default_pellet_inputs()._replace(**{field: jnp.asarray(value)})
    with pytest.raises(ValueError, match=match):
        simulate_pellet(p, SolverConfig(n_cells=4, n_steps=2))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (SolverConfig(n_cells=2), "n_cells"),
        (SolverConfig(end_time=-1.0), "end_time"),
        (SolverConfig(oxygen_boundary="open"), "oxygen_boundary"),
        (SolverConfig(profile_times=(2e8,)), "profile_times"),
        (SolverConfig(step_growth=0.5), "step_growth"),
        (SolverConfig(step_growth=1.5, n_steps=5000), "underflow"),
        (SolverConfig(max_picard=0), "max_picard"),
    ],
)
def test_bad_config_raises(config, match):
    with pytest.raises(ValueError, match=match):
        simulate_pellet(default_pellet_inputs(), config)


def test_solver_steps_over_the_time_grid_are_the_solver(x64):
    """Scanning the public step over the public grid reproduces simulate_pellet's trajectory."""
    cfg = _JAC_CONFIG._replace(oxygen_boundary="fixed")
    p = _inputs(surface_x=0.02)
    res = simulate_pellet(p, cfg)
    times = solver_time_grid(cfg, np.float64)
    np.testing.assert_array_equal(np.asarray(res.times), times)

    @jax.jit
    def trajectory(p):
        start = (jnp.full(8, p.surface_temperature), jnp.full(8, p.initial_x))

        def body(state, dt):
            state = pellet_solver_step(p, *state, dt, cfg)
            return state, state

        return jax.lax.scan(body, start, jnp.diff(times))[1]

    temp, x = trajectory(p)
    # The same operations in another order of fusion: agreement to a few ulps of the fields.
    np.testing.assert_allclose(temp[-1], res.temperature, rtol=1e-12)
    np.testing.assert_allclose(x[-1], res.x, rtol=1e-12)
    np.testing.assert_allclose(
        (9.0 * temp[:, 0] - temp[:, 1]) / 8.0, res.centre_temperature[1:], rtol=1e-12
    )
    with pytest.raises(ValueError, match=r"temperature must have shape \(config.n_cells,\)"):
        pellet_solver_step(p, jnp.full(5, 700.0), jnp.full(8, 0.01), 1.0, cfg)


def test_solver_step_gradient_matches_finite_differences(x64):
    """d(new centre-cell T and x)/d(heat source, radius) through custom_root vs central
    differences (truncation ~1e-10 relative, Picard noise 1e-13/1e-5: rtol 1e-6 as above)."""
    cfg = _JAC_CONFIG
    temp0, x0 = jnp.full(8, 700.0), jnp.full(8, 0.01)

    @jax.jit
    def centre(v):
        p = _inputs()._replace(heat_source=v[0], radius=v[1])
        temp, x = pellet_solver_step(p, temp0, x0, 1.0e3, cfg)
        return jnp.stack([temp[0], x[0]])

    vec = jnp.array([3.0e8, 4.1e-3])
    jac = np.asarray(jax.jacrev(centre)(vec))
    fd = np.empty((2, 2))
    for i in range(2):
        h = 1e-5 * float(vec[i])
        up, down = centre(vec.at[i].add(h)), centre(vec.at[i].add(-h))
        fd[:, i] = (np.asarray(up) - np.asarray(down)) / (2 * h)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-14)
    assert np.all(np.abs(jac[0]) > 0)


def test_fixed_boundary_checks_surface_x_and_batch_lengths():
    cfg = SolverConfig(n_cells=4, n_steps=2, oxygen_boundary="fixed")
    with pytest.raises(ValueError, match=r"inputs.surface_x"):
        simulate_pellet(default_pellet_inputs()._replace(surface_x=jnp.asarray(-0.1)), cfg)
    p = default_pellet_inputs()
    batch = PelletInputs(*(jnp.stack([v, v]) for v in p))._replace(radius=jnp.ones(3) * 4e-3)
    with pytest.raises(ValueError, match="same length"):
        simulate_pellet_batch(batch, cfg)
    with pytest.raises(ValueError, match="dimension"):
        simulate_pellet(batch, cfg)


def test_non_convergence_raises_or_is_flagged():
    """One Picard sweep cannot converge a strongly nonlinear step: error, or a False flag."""
    cfg = SolverConfig(n_cells=8, n_steps=5, end_time=1e7, max_picard=1)
    with pytest.raises(ValueError, match="did not converge"):
        simulate_pellet(default_pellet_inputs(), cfg)
    res = simulate_pellet(default_pellet_inputs(), cfg, check_convergence=False)
    assert not bool(res.converged)
    under_jit = jax.jit(lambda p: simulate_pellet(p, cfg).converged)(default_pellet_inputs())
    assert not bool(under_jit)


def _load_reference():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "thermodiffusion.py"
    spec = importlib.util.spec_from_file_location("thermodiffusion_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_matches_numpy_scipy_reference_implementation(x64):
    """Same scheme written with NumPy + scipy.linalg.solve_banded, default laws."""
    ref = _load_reference()
    cfg = _JAC_CONFIG
    for values in [(3.0e8, 700.0, 0.01, 4.1e-3, 1.0, 1.0), (1.5e8, 650.0, 0.04, 3.6e-3, 0.9, 1.7)]:
        p = _inputs(**dict(zip(PelletInputs._fields, values, strict=False)))
        res = simulate_pellet(p, cfg)
        times, ct, cx = ref.reference_simulate(
            *values,
            n_cells=cfg.n_cells,
            n_steps=cfg.n_steps,
            end_time=cfg.end_time,
            growth=cfg.step_growth,
            tol=cfg.picard_tol,
            max_picard=cfg.max_picard,
        )
        np.testing.assert_allclose(res.times, times, rtol=1e-12)
        # Both stop Picard at 1e-13 relative change: agreement to ~1e-11 relative.
        np.testing.assert_allclose(res.centre_temperature, ct, rtol=1e-10)
        np.testing.assert_allclose(res.centre_x, cx, rtol=1e-9)


def test_time_to_steady_matches_slowest_mode(x64):
    """Constant k, rho c: T_c(inf) - T_c(t) ~ 1.108 (q R^2 / 4k) exp(-lambda_1 t) at late times.

    lambda_1 = (k / rho c) j_{0,1}^2 / R^2 and 1.108 = 8 / (j_{0,1}^3 J_1(j_{0,1})) (Fourier-
    Bessel coefficient of R^2 - r^2 at r = 0), so the settling time to rtol is
    ln(1.108 / rtol) / lambda_1. Backward Euler slows the decay by ~lambda dt / 2 (< 1 %), the
    grid by O(h^2) (< 0.2 %), one step is 0.25 %: 3 % bounds all of them.
    """
    from scipy.special import j0, j1, jn_zeros

    j01 = jn_zeros(0, 1)[0]
    laws = constant_laws(K_CONST, 3.0e6, 1e-12, 0.0)
    p = _inputs()
    cfg = SolverConfig(n_cells=32, n_steps=600, end_time=30.0, step_growth=1.0, steady_rtol=1e-3)
    res = simulate_pellet(p, cfg, laws)
    lam = K_CONST / 3.0e6 * j01**2 / float(p.radius) ** 2
    amplitude = 8.0 / (j01**3 * j1(j01))
    assert abs(amplitude - 1.108) < 1e-3 and abs(j0(j01)) < 1e-12
    expected = np.log(amplitude / 1e-3) / lam
    assert bool(res.reached_steady)
    np.testing.assert_allclose(float(res.time_to_steady), expected, rtol=0.03)
