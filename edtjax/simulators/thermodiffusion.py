"""Coupled radial heat conduction and oxygen thermodiffusion in a UO2+x fuel pellet.

The solver integrates, on ``0 <= r <= R`` (cylindrical symmetry),

    rho c_p(T, x) dT/dt = (1/r) d/dr ( r k(T, x) dT/dr ) + q''',
    dx/dt = (1/r) d/dr [ r D(T, x) ( dx/dr + x Q*(T, x) / (F(x) R_gas T^2) dT/dr ) ],

with symmetry at ``r = 0``, imposed surface temperature ``T(R) = T_s`` and either zero oxygen
flux or imposed surface stoichiometry ``x(R) = x_s`` (``SolverConfig.oxygen_boundary``), from a
uniform initial state ``T = T_s``, ``x = x_0``.

Discretisation (cell-centred finite volumes, ``n`` cells of width ``h = R / n``):

* heat: two-point fluxes ``r_f k_f (T_{i+1} - T_i) / h`` with ``k_f`` the mean of the cell
  conductivities, surface flux over the half cell ``h / 2``; second order in ``h``;
* oxygen: Scharfetter-Gummel (exponentially fitted) fluxes
  ``J_f = (D_f / h) [B(v_f) x_i - B(-v_f) x_{i+1}]``, ``B(z) = z / (e^z - 1)``,
  ``v_f = Q*_f (T_{i+1} - T_i) / (F_f R_gas T_i T_{i+1})``; they conserve oxygen exactly
  (telescoping fluxes), keep ``x > 0`` (M-matrix), and reproduce the zero-flux equilibrium
  ``x_i = C exp(Q* / (F R_gas T_i))`` exactly at the nodes when ``Q*/F`` is constant;
* time: backward (implicit) Euler on steps growing geometrically by ``step_growth`` up to
  ``end_time`` (first order in the step); at each step a Picard iteration lags the
  coefficients, solves the tridiagonal heat system, then the tridiagonal oxygen system with the
  new temperature, until the relative change of both fields is below ``picard_tol``.

Centre values are the symmetric quadratic extrapolation ``(9 u_0 - u_1) / 8`` of the two
innermost cells (second order).

Cost: O(n_steps * picard_iterations * n_cells) per simulation (tridiagonal solves are linear in
the number of cells); memory O(n_steps * n_cells) for the stored histories. A batch is one
``vmap``. The whole simulation is differentiable with respect to every input, in forward
(``jax.jacfwd``) and reverse (``jax.grad``) mode: each step's converged Picard fixed point is
differentiated implicitly (``jax.lax.custom_root``), which costs one dense ``2n x 2n`` solve per
step, O(n_steps n_cells^3), only when derivatives are taken.

References:
    J. C. Ramirez, M. Stan, P. Cristea, J. Nucl. Mater. 359 (2006) 174-184.

    B. Mihaila, M. Stan, J. Ramirez, A. Zubelewicz, P. Cristea, J. Nucl. Mater. 394 (2009)
    182-189.

    L. H. Thomas, "Elliptic problems in linear difference equations over a network", Watson
    Sci. Comput. Lab. Rept., Columbia University (1949); N. J. Higham, "Accuracy and Stability
    of Numerical Algorithms", 2nd ed., SIAM (2002), sec. 9.6 (stability without pivoting).

    D. L. Scharfetter, H. K. Gummel, "Large-signal analysis of a silicon Read diode
    oscillator", IEEE Trans. Electron Devices 16 (1969) 64-77.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array, is_concrete
from edtjax._typing import ArrayLike, DTypeLike
from edtjax.simulators.materials import GAS_CONSTANT, MIHAILA_2009_LAWS, MaterialLaws
from edtjax.simulators.solver_config import SolverConfig, check_solver_config, solver_time_grid

__all__ = [
    "PelletInputs",
    "PelletResult",
    "default_pellet_inputs",
    "pellet_solver_step",
    "simulate_pellet",
    "simulate_pellet_batch",
]


class PelletInputs(NamedTuple):
    """Inputs of one simulation (scalars), or of a batch (1-D arrays of equal length).

    Attributes:
        heat_source: volumetric heat source q''' in W m^-3 (>= 0).
        surface_temperature: imposed surface temperature T_s in K.
        initial_x: uniform initial stoichiometry deviation x_0.
        radius: pellet radius R in m (> 0).
        conductivity_multiplier: factor on k (> 0).
        diffusivity_multiplier: factor on D (> 0).
        surface_x: imposed surface deviation x_s (used only with ``oxygen_boundary="fixed"``).
    """

    heat_source: jax.Array
    surface_temperature: jax.Array
    initial_x: jax.Array
    radius: jax.Array
    conductivity_multiplier: jax.Array
    diffusivity_multiplier: jax.Array
    surface_x: jax.Array


class PelletResult(NamedTuple):
    """Output of :func:`simulate_pellet` (a leading batch axis for the batch version).

    Attributes:
        times: ``(n_steps + 1,)`` step times in s, starting at 0.
        radii: ``(n_cells,)`` cell-centre radii in m.
        centre_temperature: ``(n_steps + 1,)`` centre temperature history in K.
        centre_x: ``(n_steps + 1,)`` centre stoichiometry deviation history.
        temperature: ``(n_cells,)`` final temperature profile.
        x: ``(n_cells,)`` final stoichiometry-deviation profile.
        temperature_profiles: ``(len(profile_times), n_cells)`` profiles at ``profile_times``.
        x_profiles: ``(len(profile_times), n_cells)``.
        oxygen_inventory: ``(n_steps + 1,)`` excess-oxygen content ``2 pi int x r dr`` per unit
            length (m^2); constant under zero-flux boundaries.
        time_to_steady: first time after which the centre temperature and centre x stay within
            ``steady_rtol`` of their total change from their final values (s).
        reached_steady: whether the last step changed both centre values by less than
            ``steady_rtol`` of their total change; if false, ``time_to_steady`` is meaningless.
        converged: whether every Picard iteration converged and all values are finite. Callers
            working under ``jit``/``vmap`` MUST check it; the validated entry points raise.
        picard_iterations: ``(n_steps,)`` iterations used per step.
        within_validity: whether all temperatures and x stayed inside the laws' ranges.
    """

    times: jax.Array
    radii: jax.Array
    centre_temperature: jax.Array
    centre_x: jax.Array
    temperature: jax.Array
    x: jax.Array
    temperature_profiles: jax.Array
    x_profiles: jax.Array
    oxygen_inventory: jax.Array
    time_to_steady: jax.Array
    reached_steady: jax.Array
    converged: jax.Array
    picard_iterations: jax.Array
    within_validity: jax.Array


def default_pellet_inputs(dtype: DTypeLike | None = None) -> PelletInputs:
    """Reference case: q''' = 3.0e8 W/m^3, T_s = 700 K, x_0 = 0.01, R = 4.1 mm, unit factors.

    Example:
        >>> round(float(default_pellet_inputs().radius), 6)
        0.0041
    """
    values = (3.0e8, 700.0, 0.01, 4.1e-3, 1.0, 1.0, 0.01)
    return PelletInputs(*(jnp.asarray(v, dtype=dtype) for v in values))


def _bernoulli(z):
    """``B(z) = z / (exp(z) - 1)``, smooth at 0 with finite derivatives."""
    small = jnp.abs(z) < 1e-4
    safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - z / 2.0 + z**2 / 12.0, safe / jnp.expm1(safe))


def _tridiag(lower, diag, upper, rhs):
    """Thomas algorithm (two ``lax.scan`` sweeps); ``lower[0]`` and ``upper[-1]`` are ignored.

    No pivoting is needed: the heat matrix is strictly row diagonally dominant and the
    Scharfetter-Gummel oxygen matrix is a column diagonally dominant M-matrix, for which
    Gaussian elimination without pivoting is stable. O(n) work; under ``vmap`` each sweep runs
    on whole batch vectors, which is faster on CPU than a loop of LAPACK ``gtsv`` calls.
    """

    def forward(
        carry: tuple[jax.Array, jax.Array], row: tuple[jax.Array, jax.Array, jax.Array, jax.Array]
    ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
        c_prev, d_prev = carry
        a, b, c, d = row
        m = b - a * c_prev
        c_new, d_new = c / m, (d - a * d_prev) / m
        return (c_new, d_new), (c_new, d_new)

    zero = jnp.zeros((), diag.dtype)
    rows = (lower.at[0].set(0.0), diag, upper.at[-1].set(0.0), rhs)
    _, (c_mod, d_mod) = jax.lax.scan(forward, (zero, zero), rows)

    def backward(
        x_next: jax.Array, row: tuple[jax.Array, jax.Array]
    ) -> tuple[jax.Array, jax.Array]:
        c, d = row
        x = d - c * x_next
        return x, x

    _, x = jax.lax.scan(backward, zero, (c_mod, d_mod), reverse=True)
    return x


def _heat_system(temp_old, temp, x, dt, p, geom, laws):
    """Linear backward-Euler heat system with coefficients frozen at ``(temp, x)``."""
    r_face, volume, h = geom
    k_cell = p.conductivity_multiplier * laws.thermal_conductivity(temp, x)
    k_surface = p.conductivity_multiplier * laws.thermal_conductivity(p.surface_temperature, x[-1])
    g_int = r_face[:-1] * 0.5 * (k_cell[:-1] + k_cell[1:]) / h
    g_bnd = r_face[-1] * 0.5 * (k_cell[-1] + k_surface) / (0.5 * h)
    cap = laws.volumetric_heat_capacity(temp, x) * volume / dt
    zero = jnp.zeros((1,), temp.dtype)
    g_left = jnp.concatenate([zero, g_int])
    g_right = jnp.concatenate([g_int, g_bnd[None]])
    diag = cap + g_left + g_right
    rhs = cap * temp_old + p.heat_source * volume
    rhs = rhs.at[-1].add(g_bnd * p.surface_temperature)
    return -g_left, diag, -jnp.concatenate([g_int, zero]), rhs


def _oxygen_system(x_old, temp, x, dt, p, geom, laws, fixed_surface):
    """Linear backward-Euler oxygen system (Scharfetter-Gummel fluxes) frozen at ``x``."""
    r_face, volume, h = geom

    def face(
        t_a: jax.Array, t_b: jax.Array, x_a: jax.Array, x_b: jax.Array, width: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        t_f, x_f = 0.5 * (t_a + t_b), 0.5 * (x_a + x_b)
        d_f = p.diffusivity_multiplier * laws.oxygen_diffusivity(t_f, x_f)
        s_f = laws.heat_of_transport(t_f, x_f) / (
            laws.thermodynamic_factor(x_f) * GAS_CONSTANT * t_a * t_b
        )
        v = s_f * (t_b - t_a)
        return d_f / width, _bernoulli(v), _bernoulli(-v)

    a_int, b_plus, b_minus = face(temp[:-1], temp[1:], x[:-1], x[1:], h)
    a_int = r_face[:-1] * a_int
    zero = jnp.zeros((1,), temp.dtype)
    cap = volume / dt
    # Face i+1/2 adds a(B+ x_i - B- x_{i+1}) to row i and the opposite to row i+1.
    diag = cap + jnp.concatenate([a_int * b_plus, zero]) + jnp.concatenate([zero, a_int * b_minus])
    lower = -jnp.concatenate([zero, a_int * b_plus])
    upper = -jnp.concatenate([a_int * b_minus, zero])
    rhs = cap * x_old
    if fixed_surface:
        a_b, bp_b, bm_b = face(temp[-1], p.surface_temperature, x[-1], p.surface_x, 0.5 * h)
        a_b = r_face[-1] * a_b
        diag = diag.at[-1].add(a_b * bp_b)
        rhs = rhs.at[-1].add(a_b * bm_b * p.surface_x)
    return lower, diag, upper, rhs


def _picard_tol(config: SolverConfig, dtype) -> float:
    """``max(config.picard_tol, 256 eps)`` of the working dtype."""
    return max(float(config.picard_tol), 256.0 * float(jnp.finfo(dtype).eps))


def _geometry(radius, n: int, dtype):
    """Cell faces, cell volumes (per radian and unit length) and width of the radial grid."""
    h = radius / n
    idx = jnp.arange(n, dtype=dtype)
    r_centre = (idx + 0.5) * h
    r_face = (idx + 1.0) * h
    volume = r_centre * h  # (r_{i+1/2}^2 - r_{i-1/2}^2) / 2
    return r_centre, (r_face, volume, h)


def _step(carry, dt, p, geom, laws, config, tol):
    """One implicit time step: Picard iteration on the coupled, nonlinear system.

    The converged state ``u = (T, x)`` is the fixed point of the Picard map ``Phi`` (heat solve
    with frozen coefficients, then oxygen solve with the new temperature); it is returned through
    :func:`jax.lax.custom_root`, so derivatives (forward and reverse) follow from the implicit
    function theorem at the fixed point, ``du = (I - dPhi/du)^-1 dPhi``, instead of
    differentiating the iterations.
    """
    temp_old, x_old = carry
    n = temp_old.shape[0]
    fixed = config.oxygen_boundary == "fixed"

    def residual(u: jax.Array) -> jax.Array:
        temp, x = u[:n], u[n:]
        temp_new = _tridiag(*_heat_system(temp_old, temp, x, dt, p, geom, laws))
        x_new = _tridiag(*_oxygen_system(x_old, temp_new, x, dt, p, geom, laws, fixed))
        return jnp.concatenate([temp_new, x_new]) - u

    def solve(
        f: Callable[[jax.Array], jax.Array], u0: jax.Array
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        def body(
            state: tuple[jax.Array, jax.Array, jax.Array],
        ) -> tuple[jax.Array, jax.Array, jax.Array]:
            u, it, _ = state
            u_new = u + f(u)
            err = jnp.max(jnp.abs(u_new - u) / jnp.abs(u_new))
            err = jnp.where(jnp.isfinite(err), err, jnp.inf)
            return u_new, it + 1, err

        def cond(state: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
            _, it, err = state
            return (err > tol) & (it < config.max_picard) & jnp.isfinite(err)

        big = jnp.asarray(jnp.finfo(u0.dtype).max, u0.dtype)
        u, it, err = jax.lax.while_loop(cond, body, (u0, jnp.asarray(0, jnp.int32), big))
        # Auxiliary outputs of custom_root must be floating point (they get zero tangents).
        return u, (it.astype(u0.dtype), err)

    def tangent_solve(g: Callable[[jax.Array], jax.Array], y: jax.Array) -> jax.Array:
        return jnp.linalg.solve(jax.jacfwd(g)(y), y)

    u0 = jnp.concatenate([temp_old, x_old])
    u, (it, err) = jax.lax.custom_root(residual, u0, solve, tangent_solve, has_aux=True)
    temp, x = u[:n], u[n:]
    it = jax.lax.stop_gradient(it).astype(jnp.int32)
    return (temp, x), (temp, x, it, jax.lax.stop_gradient(err) <= tol)


def pellet_solver_step(
    inputs: PelletInputs,
    temperature: jax.Array,
    x: jax.Array,
    dt: jax.Array,
    config: SolverConfig | None = None,
    laws: MaterialLaws = MIHAILA_2009_LAWS,
) -> tuple[jax.Array, jax.Array]:
    r"""One implicit time step of the solver: the profiles at ``t + dt`` from those at ``t``.

    The backward-Euler step of :func:`simulate_pellet`: the Picard iteration on the coupled
    system (heat solve with frozen coefficients, then oxygen solve with the new temperature)
    until the relative change of both fields is below ``max(config.picard_tol, 256 eps)``.
    The fixed point is returned through :func:`jax.lax.custom_root`, so derivatives follow
    from the implicit function theorem, not from the iterations. Repeating the step over the
    differences of :func:`solver_time_grid` from ``T = surface_temperature``,
    ``x = initial_x`` gives the solver's trajectory. Building block: not jitted, works under
    ``jit``, ``vmap`` and ``grad``; ``config`` and ``laws`` are static.

    Args:
        inputs: scalar :class:`PelletInputs` (``initial_x`` is not used).
        temperature: ``(config.n_cells,)`` cell temperatures at ``t`` (K).
        x: ``(config.n_cells,)`` cell stoichiometry deviations at ``t``.
        dt: the time step (s).
        config: :class:`SolverConfig` (``n_cells``, ``oxygen_boundary``, ``picard_tol`` and
            ``max_picard`` are used; ``None``: the defaults).
        laws: the material laws.

    Returns:
        ``(temperature, x)`` at ``t + dt``, each ``(config.n_cells,)``. Cost:
        ``O(iterations · n_cells)``.

    Raises:
        ValueError: a bad ``config``, or profiles that are not ``(config.n_cells,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> cfg = SolverConfig(n_cells=4)
        >>> temp, x = pellet_solver_step(default_pellet_inputs(), jnp.full(4, 700.0),
        ...                              jnp.full(4, 0.01), 10.0, cfg)
        >>> bool(temp[0] > 700.0), x.shape
        (True, (4,))

    References:
        Mihaila et al., J. Nucl. Mater. 394 (2009) 182-189.
    """
    config = check_solver_config(config)
    n = config.n_cells
    for name, value in (("temperature", temperature), ("x", x)):
        if jnp.shape(value) != (n,):
            raise ValueError(
                f"{name} must have shape (config.n_cells,) = ({n},), got {jnp.shape(value)}"
            )
    temperature = jnp.asarray(temperature)
    dtype = temperature.dtype
    _, geom = _geometry(inputs.radius, n, dtype)
    tol = _picard_tol(config, dtype)
    (temp_new, x_new), _ = _step((temperature, jnp.asarray(x)), dt, inputs, geom, laws, config, tol)
    return temp_new, x_new


def _settling_index(series, rtol):
    """First index after which ``series`` stays within ``rtol * total change`` of its end."""
    dev = jnp.abs(series - series[-1])
    scale = jnp.max(dev)
    tiny = jnp.finfo(series.dtype).eps * jnp.abs(series[-1])
    thr = rtol * scale + tiny
    suffix_max = jax.lax.cummax(dev[::-1])[::-1]
    settled = jnp.argmax(suffix_max <= thr)
    final_ok = jnp.abs(series[-1] - series[-2]) <= thr
    return settled, final_ok


def _simulate_impl(p: PelletInputs, config: SolverConfig, laws: MaterialLaws) -> PelletResult:
    dtype = p.heat_source.dtype
    n = config.n_cells
    tol = _picard_tol(config, dtype)
    r_centre, geom = _geometry(p.radius, n, dtype)
    volume = geom[1]

    times = jnp.asarray(solver_time_grid(config, np.dtype(dtype)))
    dts = jnp.diff(times)
    temp0 = jnp.full((n,), p.surface_temperature, dtype)
    x0 = jnp.full((n,), p.initial_x, dtype)

    step = functools.partial(_step, p=p, geom=geom, laws=laws, config=config, tol=tol)
    (temp, x), (temp_hist, x_hist, its, oks) = jax.lax.scan(step, (temp0, x0), dts)
    temp_hist = jnp.concatenate([temp0[None], temp_hist])
    x_hist = jnp.concatenate([x0[None], x_hist])

    centre_t = (9.0 * temp_hist[:, 0] - temp_hist[:, 1]) / 8.0
    centre_x = (9.0 * x_hist[:, 0] - x_hist[:, 1]) / 8.0
    inventory = 2.0 * jnp.pi * x_hist @ volume

    i_t, ok_t = _settling_index(centre_t, config.steady_rtol)
    i_x, ok_x = _settling_index(centre_x, config.steady_rtol)
    time_to_steady = times[jnp.maximum(i_t, i_x)]

    prof_times = jnp.asarray(config.profile_times, dtype).reshape(-1)

    def at_times(hist: jax.Array) -> jax.Array:
        return jax.vmap(lambda col: jnp.interp(prof_times, times, col), in_axes=1, out_axes=1)(hist)

    finite = jnp.all(jnp.isfinite(temp_hist)) & jnp.all(jnp.isfinite(x_hist))
    t_lo, t_hi = laws.temperature_range
    x_lo, x_hi = laws.x_range
    valid = (
        (jnp.min(temp_hist) >= t_lo)
        & (jnp.max(temp_hist) <= t_hi)
        & (jnp.min(x_hist) > x_lo)
        & (jnp.max(x_hist) <= x_hi)
    )
    return PelletResult(
        times=times,
        radii=r_centre,
        centre_temperature=centre_t,
        centre_x=centre_x,
        temperature=temp,
        x=x,
        temperature_profiles=at_times(temp_hist),
        x_profiles=at_times(x_hist),
        oxygen_inventory=inventory,
        time_to_steady=time_to_steady,
        reached_steady=ok_t & ok_x,
        converged=jnp.all(oks) & finite,
        picard_iterations=its,
        within_validity=valid,
    )


_simulate_jit = jax.jit(_simulate_impl, static_argnames=("config", "laws"))
_simulate_batch_jit = jax.jit(
    jax.vmap(_simulate_impl, in_axes=(0, None, None)), static_argnums=(1, 2)
)


def _validate_inputs(inputs, ndim: int, config: SolverConfig, laws: MaterialLaws) -> PelletInputs:
    if not isinstance(inputs, PelletInputs):
        raise ValueError(f"inputs must be a PelletInputs, got {type(inputs).__name__}")
    if not isinstance(laws, MaterialLaws):
        raise ValueError(f"laws must be a MaterialLaws, got {type(laws).__name__}")
    try:
        hash(laws)
    except TypeError as err:
        raise ValueError(
            "laws must be hashable (it is a static argument of the jitted solver): use floats "
            f"for temperature_range and x_range and hashable callables, got {err}"
        ) from None
    arrays = [
        as_array(f"inputs.{name}", v, ndim=ndim)
        for name, v in zip(PelletInputs._fields, inputs, strict=True)
    ]
    dtype = jnp.result_type(*arrays)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.zeros(()).dtype
    arrays = [a.astype(dtype) for a in arrays]
    p = PelletInputs(*arrays)
    if ndim == 1 and len({a.shape[0] for a in arrays}) != 1:
        raise ValueError(
            "all PelletInputs fields must have the same length, got "
            + ", ".join(
                f"{n}: {a.shape[0]}" for n, a in zip(PelletInputs._fields, arrays, strict=True)
            )
        )
    t_lo, t_hi = laws.temperature_range
    x_lo, x_hi = laws.x_range

    def check(name: str, value: ArrayLike, lo: float, hi: float, strict_lo: bool) -> None:
        if not is_concrete(value):
            return
        v = np.asarray(value)
        bad = (v <= lo if strict_lo else v < lo) | (v > hi)
        if bad.any():
            op = ">" if strict_lo else ">="
            raise ValueError(
                f"inputs.{name} must be {op} {lo} and <= {hi}, got {v[bad].ravel()[:5].tolist()}"
            )

    check("heat_source", p.heat_source, 0.0, np.inf, False)
    check("surface_temperature", p.surface_temperature, max(t_lo, 0.0), t_hi, t_lo <= 0.0)
    check("initial_x", p.initial_x, x_lo, x_hi, True)
    check("radius", p.radius, 0.0, np.inf, True)
    check("conductivity_multiplier", p.conductivity_multiplier, 0.0, np.inf, True)
    check("diffusivity_multiplier", p.diffusivity_multiplier, 0.0, np.inf, True)
    if config.oxygen_boundary == "fixed":
        check("surface_x", p.surface_x, x_lo, x_hi, True)
    return p


def _raise_if_failed(result: PelletResult, check_convergence: bool) -> None:
    if not check_convergence or not is_concrete(result.converged):
        return
    failed = ~np.asarray(result.converged)
    if failed.any():
        where = np.argwhere(np.atleast_1d(failed)).ravel()[:5].tolist()
        raise ValueError(
            "thermodiffusion Picard iterations did not converge (or produced non-finite "
            f"values) for {int(failed.sum())} simulation(s) (first at {where}); increase "
            "config.max_picard or config.n_steps, or reduce config.step_growth"
        )


def simulate_pellet(
    inputs: PelletInputs,
    config: SolverConfig | None = None,
    laws: MaterialLaws = MIHAILA_2009_LAWS,
    *,
    check_convergence: bool = True,
) -> PelletResult:
    """Simulate coupled heat conduction and oxygen thermodiffusion in one fuel pellet.

    Solves the equations of the module docstring with backward Euler in time and cell-centred
    finite volumes in ``r``. Inputs are validated here (outside ``jit``; skipped for tracers, so
    the function composes with ``jax.jacfwd`` and ``jax.vmap``); the core is jitted with
    ``config`` and ``laws`` static. Work in float64 (``jax_enable_x64``) for conservation to
    round-off and sub-1e-8 comparisons; float32 runs with a Picard tolerance of 256 epsilons (3e-5).

    Args:
        inputs: scalar :class:`PelletInputs`.
        config: :class:`SolverConfig` (static); ``None`` for the defaults (32 cells, 150
            steps growing by 1.15 up to 1e8 s).
        laws: :class:`MaterialLaws` (static; default Ramirez 2006 / Mihaila 2009 UO2+x laws).
            The compiled solver is cached by the laws' equality, so equal laws (e.g. two
            :func:`constant_laws` calls with the same values) reuse it; see
            :class:`MaterialLaws` for user laws.
        check_convergence: raise ``ValueError`` if a Picard iteration failed (concrete calls
            only; under transformations check ``result.converged`` yourself).

    Returns:
        A :class:`PelletResult`.

    Raises:
        ValueError: non-physical or out-of-range inputs (negative radius or temperature, x
            outside the laws' range), bad ``config``, or non-convergence.

    Example:
        >>> res = simulate_pellet(default_pellet_inputs(), SolverConfig(n_cells=8, n_steps=20))
        >>> bool(res.converged) and 1000.0 < float(res.centre_temperature[-1]) < 1500.0
        True

    References:
        Mihaila et al., J. Nucl. Mater. 394 (2009) 182-189; Ramirez et al., J. Nucl. Mater. 359
        (2006) 174-184.
    """
    config = check_solver_config(config)
    p = _validate_inputs(inputs, 0, config, laws)
    result = _simulate_jit(p, config, laws)
    _raise_if_failed(result, check_convergence)
    return result


def simulate_pellet_batch(
    inputs: PelletInputs,
    config: SolverConfig | None = None,
    laws: MaterialLaws = MIHAILA_2009_LAWS,
    *,
    check_convergence: bool = True,
) -> PelletResult:
    """Simulate a batch of pellets (``vmap`` over the leading axis of every input field).

    Same as :func:`simulate_pellet` with 1-D input fields of equal length ``b``; every result
    field gains a leading axis of size ``b``. Cost grows linearly in ``b``.

    Example:
        >>> import jax.numpy as jnp
        >>> p = default_pellet_inputs()
        >>> batch = p._replace(**{f: jnp.stack([v, v]) for f, v in p._asdict().items()})
        >>> batch = batch._replace(heat_source=jnp.array([1e8, 2e8]))
        >>> res = simulate_pellet_batch(batch, SolverConfig(n_cells=8, n_steps=20))
        >>> res.centre_temperature.shape
        (2, 21)

    References:
        Mihaila et al., J. Nucl. Mater. 394 (2009) 182-189.
    """
    config = check_solver_config(config)
    p = _validate_inputs(inputs, 1, config, laws)
    result = _simulate_batch_jit(p, config, laws)
    _raise_if_failed(result, check_convergence)
    return result
