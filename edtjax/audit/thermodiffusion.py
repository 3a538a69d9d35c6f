"""The built-in audit case: a UO2+x fuel pellet simulated by the coupled thermodiffusion solver.

The labelled data are a scrambled Sobol' design over
:data:`edtjax.simulators.DEFAULT_INPUT_BOX` (six inputs: heat source, surface temperature,
initial stoichiometry deviation, radius, conductivity and diffusivity multipliers), simulated
with :func:`edtjax.simulators.simulate_pellet_batch`. The two outputs are the final centre
temperature (K) and the final centre stoichiometry deviation ``x``; the time to steady state is
left out because it saturates at the end of the simulated window for most designs. The "new
context" queries come from :func:`edtjax.simulators.shifted_design`: the inputs named in
``config.case.shift_inputs`` are drawn beyond the box's upper edge, the others inside it, and their
exact outputs are simulated too. Runs that did not converge are dropped (the count is returned).

The inputs' laws are independent uniforms on the box (the design is uniform on it); the case
declares them through its ``box``, which the Sobol' stage reads as the table
``{name: {"law": "Uniform", "low": low, "high": high}}`` of the config's ``[inputs]``
(:func:`edtjax.audit.input_laws.box_input_laws`), so a config's own ``[inputs]`` replaces them.

Cost: ``n_design + n_queries`` simulations, each ``O(solver_steps * solver_cells)`` per Picard
iteration, batched with ``vmap``.

References:
    Mihaila, B. et al. (2009). Simultaneous coupled thermal and oxygen diffusion in UO2+x fuel.
    J. Nucl. Mater. 394, 182-189.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

import jax
import numpy as np

from edtjax.audit.config import AuditConfig
from edtjax.audit.result import AuditData
from edtjax.simulators import (
    DEFAULT_INPUT_BOX,
    SolverConfig,
    design_to_inputs,
    shifted_design,
    simulate_pellet_batch,
    sobol_design,
)

__all__ = ["pellet_simulator", "thermodiffusion_case"]

OUTPUT_NAMES = ("centre_temperature", "centre_x")
"""Outputs of the built-in case: final centre temperature (K) and centre stoichiometry ``x``."""

_CHUNK = 512


class _Simulator:
    """``f(x) -> (y, converged)`` on ``(k, d)`` designs, in chunks; picklable-free plain class."""

    def __init__(self, names: tuple[str, ...], solver: SolverConfig):
        self.names = names
        self.solver = solver

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.names):
            raise ValueError(f"x must have shape (k, {len(self.names)}), got {x.shape}")
        ys, oks = [], []
        for start in range(0, x.shape[0], _CHUNK):
            chunk = x[start : start + _CHUNK]
            # Every call has the same batch shape (the last chunk is padded with copies of its
            # first row), so the solver compiles once per configuration.
            pad = _CHUNK - chunk.shape[0]
            padded = np.concatenate([chunk, np.repeat(chunk[:1], pad, axis=0)])
            res = simulate_pellet_batch(
                design_to_inputs(padded, self.names), self.solver, check_convergence=False
            )
            k = chunk.shape[0]
            ys.append(
                np.stack(
                    [
                        np.asarray(res.centre_temperature[:k, -1]),
                        np.asarray(res.centre_x[:k, -1]),
                    ],
                    axis=1,
                )
            )
            oks.append(np.asarray(res.converged[:k]))
        return np.concatenate(ys), np.concatenate(oks)

    def __call__(self, x) -> np.ndarray:
        return self.run(x)[0]


def pellet_simulator(
    config: AuditConfig, names: tuple[str, ...] | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """The batched exact model of the built-in case, ``f(x) -> y`` on ``(k, d)`` arrays.

    Columns of ``x`` follow ``names`` (default: the keys of ``DEFAULT_INPUT_BOX``); ``y`` is
    ``(k, 2)``: final centre temperature (K) and centre ``x``. The solver resolution comes from
    ``config.case.solver_cells`` and ``config.case.solver_steps`` (its ``[case]`` section).
    Runs are done ``512`` at a time (one compiled batch shape).
    Non-converged runs are returned as computed (a Sobol' analysis needs every design row);
    their share is small inside the box.

    Example:
        >>> import numpy as np
        >>> from edtjax.audit import audit_preset
        >>> f = pellet_simulator(audit_preset("quick"))
        >>> f(np.array([[2e8, 700.0, 0.02, 4e-3, 1.0, 1.0]])).shape
        (1, 2)
    """
    names = tuple(DEFAULT_INPUT_BOX) if names is None else tuple(names)
    solver = SolverConfig(n_cells=config.case.solver_cells, n_steps=config.case.solver_steps)
    return _Simulator(names, solver)


def thermodiffusion_case(
    key: jax.Array,
    config: AuditConfig,
    box: Mapping[str, tuple[float, float]] = DEFAULT_INPUT_BOX,
    *,
    progress: bool = True,
) -> AuditData:
    """Simulate the built-in audit case: in-box design data and shifted queries.

    ``n_design`` Sobol' points in ``box`` and ``n_queries`` shifted points (each input in
    ``shift_inputs`` drawn from ``(high, high + shift_distance (high - low))``), all from the
    ``[case]`` section ``config.case``, are simulated; non-converged runs are dropped from
    both, and how many is said on stderr when ``progress``.

    Args:
        key: PRNG key (design and query scrambles).
        config: the :class:`~edtjax.audit.AuditConfig`.
        box: training box (default :data:`edtjax.simulators.DEFAULT_INPUT_BOX`).
        progress: print a one-line status (runs simulated and dropped) on stderr.

    Returns:
        :class:`~edtjax.audit.AuditData` with ``x`` ``(n, 6)``, ``y`` ``(n, 2)``,
        ``queries`` ``(m, 6)`` with their exact ``queries_y``, the simulator and the box;
        ``queries_shifted`` is ``True`` (the queries lie beyond the box by construction).

    Raises:
        ValueError: a shifted input that is not an input of ``box``.

    Example:
        >>> import jax
        >>> from edtjax.audit import audit_preset
        >>> data = thermodiffusion_case(jax.random.key(0), audit_preset("quick"), progress=False)
        >>> data.x.shape[1], data.output_names
        (6, ('centre_temperature', 'centre_x'))

    References:
        Mihaila et al. (2009), J. Nucl. Mater. 394, 182-189.
    """
    if not isinstance(config, AuditConfig):
        raise ValueError(f"config must be an AuditConfig, got {type(config).__name__}")
    case = config.case
    unknown = [s for s in case.shift_inputs if s not in box]
    if unknown:
        raise ValueError(f"config case.shift_inputs names {unknown}, not inputs of {sorted(box)}")
    k_design, k_query = jax.random.split(key)
    design, names = sobol_design(k_design, box, case.n_design)
    shift = {}
    for name in case.shift_inputs:
        lo, hi = box[name]
        shift[name] = (hi, hi + case.shift_distance * (hi - lo))
    queries, _ = shifted_design(k_query, box, shift, case.n_queries)
    simulator = pellet_simulator(config, names)
    y, ok = simulator.run(design)
    qy, q_ok = simulator.run(queries)
    ok &= np.isfinite(y).all(axis=1)
    q_ok &= np.isfinite(qy).all(axis=1)
    data = AuditData(
        name="thermodiffusion",
        x=design[ok],
        y=y[ok].astype(np.float64),
        queries=queries[q_ok],
        queries_y=qy[q_ok].astype(np.float64),
        input_names=names,
        output_names=OUTPUT_NAMES,
        simulator=simulator,
        box={k: (float(box[k][0]), float(box[k][1])) for k in names},
        queries_shifted=True,  # drawn beyond the box's upper edge: shifted by construction
    )
    if progress:
        print(
            f"thermodiffusion: simulated {design.shape[0]} design and {queries.shape[0]} shifted "
            f"runs; dropped {int((~ok).sum())} and {int((~q_ok).sum())} that did not converge",
            file=sys.stderr,
        )
    return data
