"""Hybrid simulation: the surrogate in the loop, guarded by its calibrated reliability
indicator, with the simulator as fallback.

* :func:`guarded` turns a surrogate, a simulator and a :class:`GuardCalibration` (from
  :func:`calibrate_guard`) into a pure function of a batch of inputs that answers with the
  surrogate where the indicator's conformal p-value exceeds ``alpha`` (and, optionally, where
  the conformal interval is narrow enough) and with the simulator elsewhere, saying per input
  which path was taken and why. On in-domain inputs the indicator sends at most an ``alpha``
  share to the simulator (split-conformal guarantee).
* :func:`pellet_step`, :func:`pellet_rollout`, :func:`pellet_step_pairs` and
  :func:`fit_pellet_step` put a learnt time step of the thermodiffusion solver inside its time
  loop, under the guard, with the exact step as fallback.
* :func:`refine` adds the simulated fallback inputs to the training data, refits and
  recalibrates, round after round.

Example:
    A learnt time step of the pellet solver, guarded at level 0.1, over whole trajectories:

    >>> import functools, jax, jax.numpy as jnp
    >>> from edtjax.hybrid import (calibrate_guard, fit_pellet_step, guarded, pellet_rollout,
    ...                            pellet_step, pellet_step_pairs)
    >>> from edtjax.reliability import feature_space_indicator, mahalanobis_indicator
    >>> from edtjax.simulators import (DEFAULT_INPUT_BOX, SolverConfig, design_to_inputs,
    ...                                sobol_design)
    >>> cfg = SolverConfig(n_cells=6, n_steps=10)
    >>> exact = functools.partial(pellet_step, config=cfg)
    >>> def pellets(seed, n):
    ...     return design_to_inputs(*sobol_design(jax.random.key(seed), DEFAULT_INPUT_BOX, n))
    >>> train, cal, test = pellets(0, 16), pellets(1, 8), pellets(2, 4)
    >>> f, y = pellet_step_pairs(pellet_rollout(exact, train, cfg), train)
    >>> model = fit_pellet_step(jax.random.key(3), f, y, hidden=(16,), members=2, epochs=20)
    >>> ind = feature_space_indicator(mahalanobis_indicator(shrinkage=0.01), model.encode)
    >>> f_cal, y_cal = pellet_step_pairs(pellet_rollout(exact, cal, cfg), cal)
    >>> calibration = calibrate_guard(model.predict, ind, ind.fit(None, f), f_cal, y_cal)
    >>> hybrid = guarded(model.predict, exact, calibration, alpha=0.1)
    >>> traj = pellet_rollout(hybrid, test, cfg)
    >>> traj.centre_temperature.shape, traj.used_surrogate.shape
    ((4, 11), (4, 10))

References:
    Yahiaoui et al. (2025). Reliable neural network model for accelerating coupled
    thermodiffusion simulation. Proc. ICAPP 2025.
"""

from edtjax.hybrid.guard import GuardCalibration, GuardedOutput, calibrate_guard, guarded
from edtjax.hybrid.pellet import (
    PelletStepModel,
    PelletTrajectory,
    fit_pellet_step,
    pellet_rollout,
    pellet_step,
    pellet_step_features,
    pellet_step_pairs,
)
from edtjax.hybrid.refinement import RefineResult, refine

__all__ = [
    "GuardCalibration",
    "GuardedOutput",
    "PelletStepModel",
    "PelletTrajectory",
    "RefineResult",
    "calibrate_guard",
    "fit_pellet_step",
    "guarded",
    "pellet_rollout",
    "pellet_step",
    "pellet_step_features",
    "pellet_step_pairs",
    "refine",
]
