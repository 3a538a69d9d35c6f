"""Settings and time grid of the thermodiffusion solver (:func:`edtjax.simulators.simulate_pellet`).

A :class:`SolverConfig` is static (hashable): the solver is compiled once per distinct value.
:func:`check_solver_config` validates one at the public boundary; :func:`solver_time_grid`
gives the implicit steps it prescribes, geometrically growing up to ``end_time``.

Cost: validation is O(len(profile_times)); the grid is O(n_steps).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from edtjax._checks import check_choice, check_int, check_real

__all__ = ["SolverConfig", "check_solver_config", "solver_time_grid"]


class SolverConfig(NamedTuple):
    """Static solver settings (hashable; a new value triggers one compilation).

    Attributes:
        n_cells: number of radial finite-volume cells (>= 3).
        n_steps: number of implicit time steps (>= 1).
        end_time: simulated time in s.
        step_growth: ratio of consecutive time steps (1 = uniform steps).
        oxygen_boundary: ``"zero_flux"`` or ``"fixed"`` (x(R) = ``surface_x``).
        profile_times: times (s, within ``[0, end_time]``) at which radial profiles are returned
            (linear interpolation between steps).
        picard_tol: relative change of T and x at which a Picard iteration stops (raised to
            256 machine epsilons of the working dtype, 3e-5 in float32, when smaller).
        max_picard: maximum Picard iterations per step.
        steady_rtol: tolerance, relative to their total change, of the centre temperature and
            centre x used to define the time to steady state.
    """

    n_cells: int = 32
    n_steps: int = 150
    end_time: float = 1.0e8
    step_growth: float = 1.15
    oxygen_boundary: str = "zero_flux"
    profile_times: tuple[float, ...] = ()
    picard_tol: float = 1e-9
    max_picard: int = 100
    steady_rtol: float = 1e-3


def check_solver_config(config: SolverConfig | None) -> SolverConfig:
    """Validate solver settings; ``None`` gives the defaults.

    Args:
        config: a :class:`SolverConfig` or ``None``.

    Returns:
        The settings, with ``profile_times`` as a tuple of floats (so that equal settings hash
        equally and reuse one compilation).

    Raises:
        ValueError: not a :class:`SolverConfig`, or a setting out of its range (fewer than 3
            cells, no step, a non-positive end time, a step growth outside ``[1, 2]`` or one
            whose ``n_steps``-th power exceeds 1e300, an unknown oxygen boundary, profile
            times outside ``[0, end_time]``, a non-positive Picard tolerance, no Picard
            iteration, or a steady tolerance outside ``(0, 1)``).

    Example:
        >>> check_solver_config(SolverConfig(profile_times=(1, 2))).profile_times
        (1.0, 2.0)
    """
    if config is None:
        return SolverConfig()
    if not isinstance(config, SolverConfig):
        raise ValueError(f"config must be a SolverConfig, got {type(config).__name__}")
    check_int("config.n_cells", config.n_cells, minimum=3)
    check_int("config.n_steps", config.n_steps, minimum=1)
    check_real("config.end_time", config.end_time, minimum=0.0, strict_minimum=True)
    check_real("config.step_growth", config.step_growth, minimum=1.0, maximum=2.0)
    if config.n_steps * np.log10(float(config.step_growth)) > 300:
        raise ValueError(
            "config.step_growth ** config.n_steps must stay below 1e300 (the first step would "
            f"underflow), got step_growth={config.step_growth}, n_steps={config.n_steps}"
        )
    check_choice("config.oxygen_boundary", config.oxygen_boundary, ("zero_flux", "fixed"))
    for t in config.profile_times:
        check_real("config.profile_times", t, minimum=0.0, maximum=config.end_time)
    check_real("config.picard_tol", config.picard_tol, minimum=0.0, strict_minimum=True)
    check_int("config.max_picard", config.max_picard, minimum=1)
    check_real(
        "config.steady_rtol",
        config.steady_rtol,
        minimum=0.0,
        maximum=1.0,
        strict_minimum=True,
        strict_maximum=True,
    )
    return config._replace(profile_times=tuple(float(t) for t in config.profile_times))


def solver_time_grid(
    config: SolverConfig | None = None, dtype: DTypeLike = np.float64
) -> np.ndarray:
    r"""The solver's time grid: ``n_steps + 1`` times from 0 to ``config.end_time``.

    Consecutive steps grow geometrically, :math:`\Delta t_k = t_{end}\,(g - 1) g^k /
    (g^n - 1)` for ``g = config.step_growth != 1``, and are uniform, :math:`t_{end}/n`, for
    ``g = 1``. These are the times of :attr:`PelletResult.times`.

    Args:
        config: :class:`SolverConfig` (``None``: the defaults).
        dtype: dtype of the returned times (the grid is computed in float64).

    Returns:
        ``(config.n_steps + 1,)`` NumPy array of times in s. Cost: ``O(n_steps)``.

    Raises:
        ValueError: a bad ``config`` (see :func:`check_solver_config`).

    Example:
        >>> solver_time_grid(SolverConfig(n_steps=2, end_time=3.0, step_growth=2.0)).tolist()
        [0.0, 1.0, 3.0]
    """
    config = check_solver_config(config)
    g, n = float(config.step_growth), int(config.n_steps)
    if g == 1.0:
        steps = np.full(n, config.end_time / n)
    else:
        steps = config.end_time * (g - 1.0) / (g**n - 1.0) * g ** np.arange(n)
    return np.concatenate([[0.0], np.cumsum(steps)]).astype(dtype)
