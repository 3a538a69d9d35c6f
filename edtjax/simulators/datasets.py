"""Data sets from the thermodiffusion simulator: QMC designs and shifted "new context" sets.

A design is a scrambled Sobol' sequence (Owen scrambling) scaled to a box of input ranges; a
shifted design draws the named inputs from intervals outside the box (extrapolation) and the
others from the box, which is how reliability studies probe a surrogate outside its training
domain. Sobol' points come from :class:`scipy.stats.qmc.Sobol` (JAX has no Sobol' generator);
its seed is drawn from the JAX ``key`` so that a design is a pure function of the key.

The data sets are :class:`~edtjax.datasets.Dataset` tables, split, saved and loaded with the
functions of :mod:`edtjax.datasets`.

Cost: a design is O(n d); building a data set is one batched simulation, O(n) simulations.

References:
    I. M. Sobol', "On the distribution of points in a cube and the approximate evaluation of
    integrals", USSR Comput. Math. Math. Phys. 7 (1967) 86-112.

    A. B. Owen, "Scrambling Sobol' and Niederreiter-Xing points", J. Complexity 14 (1998)
    466-489.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_int, check_real
from edtjax._typing import ArrayLike
from edtjax.datasets import Dataset
from edtjax.simulators.materials import MIHAILA_2009_LAWS, MaterialLaws
from edtjax.simulators.solver_config import SolverConfig
from edtjax.simulators.thermodiffusion import (
    PelletInputs,
    default_pellet_inputs,
    simulate_pellet_batch,
)

__all__ = [
    "DEFAULT_INPUT_BOX",
    "PELLET_OUTPUT_NAMES",
    "build_pellet_dataset",
    "design_to_inputs",
    "shifted_design",
    "sobol_design",
]

DEFAULT_INPUT_BOX: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "heat_source": (1.0e8, 3.5e8),
        "surface_temperature": (600.0, 800.0),
        "initial_x": (0.005, 0.05),
        "radius": (3.5e-3, 4.5e-3),
        "conductivity_multiplier": (0.8, 1.2),
        "diffusivity_multiplier": (0.5, 2.0),
    }
)
"""Training box of the pellet inputs (units of :class:`PelletInputs`)."""

PELLET_OUTPUT_NAMES = ("centre_temperature", "centre_x", "log10_time_to_steady")
"""Outputs stored per design point: final centre T (K), final centre x, log10 of seconds."""


def _check_box(box: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    if not isinstance(box, Mapping) or not box:
        raise ValueError("box must be a non-empty mapping name -> (low, high)")
    out = {}
    for name in PelletInputs._fields:
        if name not in box:
            continue
        lo, hi = box[name]
        check_real(f"box[{name!r}] low", lo)
        check_real(f"box[{name!r}] high", hi)
        if not float(lo) < float(hi):
            raise ValueError(f"box[{name!r}] must have low < high, got ({lo}, {hi})")
        out[name] = (float(lo), float(hi))
    unknown = set(box) - set(out)
    if unknown:
        raise ValueError(
            f"box has unknown input names {sorted(unknown)}; expected among {PelletInputs._fields}"
        )
    return out


def _seed_from_key(key: jax.Array) -> int:
    return int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))


def _sobol_unit(key: jax.Array, n: int, d: int) -> np.ndarray:
    from scipy.stats import qmc

    m = max(0, math.ceil(math.log2(n)))
    return qmc.Sobol(d, scramble=True, seed=_seed_from_key(key)).random_base2(m)[:n]


def sobol_design(
    key: jax.Array, box: Mapping[str, tuple[float, float]], n: int
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Scrambled Sobol' design of ``n`` points in ``box``.

    ``x_ij = low_j + u_ij (high_j - low_j)`` with ``u`` the first ``n`` points of an Owen-
    scrambled Sobol' sequence (a power-of-two prefix is drawn and truncated).

    Args:
        key: PRNG key (``jax.random.key``) seeding the scrambling.
        box: mapping input name -> ``(low, high)``.
        n: number of points (>= 1).

    Returns:
        ``(design, names)``: a ``(n, d)`` float64 NumPy array and the column names (in
        :class:`PelletInputs` field order).

    Example:
        >>> import jax
        >>> design, names = sobol_design(jax.random.key(0), {"radius": (3e-3, 5e-3)}, 8)
        >>> design.shape, names
        ((8, 1), ('radius',))

    References:
        Sobol' (1967); Owen (1998).
    """
    box = _check_box(box)
    n = check_int("n", n, minimum=1)
    names = tuple(box)
    lo = np.array([box[k][0] for k in names])
    hi = np.array([box[k][1] for k in names])
    return lo + _sobol_unit(key, n, len(names)) * (hi - lo), names


def shifted_design(
    key: jax.Array,
    box: Mapping[str, tuple[float, float]],
    shift: Mapping[str, tuple[float, float]],
    n: int,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Design for a "new context": the inputs in ``shift`` are drawn outside the box.

    Every input named in ``shift`` is drawn from its shifted interval, which must not overlap
    the box interval (pure extrapolation in that input); the other inputs are drawn from
    ``box``. One or several inputs can be shifted at once.

    Args:
        key: PRNG key.
        box: training box, mapping name -> ``(low, high)``.
        shift: mapping name (a key of ``box``) -> ``(low, high)`` outside the box.
        n: number of points.

    Returns:
        ``(design, names)`` as :func:`sobol_design`, with the same columns as ``box``.

    Raises:
        ValueError: unknown names, or a shifted interval that overlaps the box.

    Example:
        >>> import jax
        >>> box = {"heat_source": (1e8, 3e8), "radius": (3e-3, 4e-3)}
        >>> d, _ = shifted_design(jax.random.key(1), box, {"heat_source": (3e8, 3.5e8)}, 4)
        >>> bool((d[:, 0] >= 3e8).all() and (d[:, 1] <= 4e-3).all())
        True

    References:
        Sobol' (1967); Owen (1998).
    """
    box = _check_box(box)
    shift = _check_box(shift)
    for name, (lo, hi) in shift.items():
        if name not in box:
            raise ValueError(f"shift names {name!r}, which is not an input of the box")
        b_lo, b_hi = box[name]
        if lo < b_hi and hi > b_lo:
            raise ValueError(
                f"shift[{name!r}] = ({lo}, {hi}) overlaps the box interval ({b_lo}, {b_hi}); "
                "a shifted interval must lie outside it"
            )
    return sobol_design(key, {**box, **shift}, n)


def design_to_inputs(
    design: ArrayLike, names: tuple[str, ...], base: PelletInputs | None = None
) -> PelletInputs:
    """Batch :class:`PelletInputs` from a design; inputs not in ``names`` come from ``base``.

    Args:
        design: ``(n, len(names))`` array.
        names: column names (fields of :class:`PelletInputs`).
        base: scalar inputs for the fixed fields (default :func:`default_pellet_inputs`).

    Example:
        >>> import numpy as np
        >>> p = design_to_inputs(np.array([[1e8], [2e8]]), ("heat_source",))
        >>> p.heat_source.shape, round(float(p.radius[1]), 6)
        ((2,), 0.0041)
    """
    design = np.asarray(design, dtype=float)
    if design.ndim != 2 or design.shape[1] != len(names):
        raise ValueError(f"design must have shape (n, {len(names)}), got {design.shape}")
    unknown = set(names) - set(PelletInputs._fields)
    if unknown:
        raise ValueError(f"names has unknown inputs {sorted(unknown)}")
    base = default_pellet_inputs() if base is None else base
    n = design.shape[0]
    cols = {name: jnp.asarray(design[:, j]) for j, name in enumerate(names)}
    fields = []
    for name, value in zip(PelletInputs._fields, base, strict=True):
        value = jnp.asarray(value)
        fields.append(cols[name].astype(value.dtype) if name in cols else jnp.full(n, value))
    return PelletInputs(*fields)


def build_pellet_dataset(
    key: jax.Array,
    n: int,
    box: Mapping[str, tuple[float, float]] = DEFAULT_INPUT_BOX,
    *,
    shift: Mapping[str, tuple[float, float]] | None = None,
    config: SolverConfig | None = None,
    laws: MaterialLaws = MIHAILA_2009_LAWS,
    base: PelletInputs | None = None,
) -> Dataset:
    """Simulate a Sobol' design (or a shifted one) and collect the outputs.

    Outputs per point: final centre temperature (K), final centre x, and log10 of the time to
    steady state (s); non-converged or out-of-validity runs are kept and flagged.

    Args:
        key: PRNG key for the design.
        n: number of points.
        box: input box (default :data:`DEFAULT_INPUT_BOX`).
        shift: optional shifted intervals (see :func:`shifted_design`).
        config: solver settings (default :class:`SolverConfig`).
        laws: material laws.
        base: values of the inputs not in ``box``.

    Returns:
        A :class:`~edtjax.datasets.Dataset`: ``inputs`` the design, ``outputs`` the final
        centre temperature, final centre x and log10 time to steady state, ``converged`` and
        ``within_validity`` the solver's flags, ``metadata`` the box, shift, solver settings and
        material laws.

    Example:
        >>> import jax
        >>> from edtjax.simulators import SolverConfig
        >>> cfg = SolverConfig(n_cells=8, n_steps=20)
        >>> ds = build_pellet_dataset(jax.random.key(0), 4, config=cfg)
        >>> ds.inputs.shape, ds.outputs.shape
        ((4, 6), (4, 3))

    References:
        Mihaila et al., J. Nucl. Mater. 394 (2009) 182-189 (the simulated setting).
    """
    if shift is None:
        design, names = sobol_design(key, box, n)
    else:
        design, names = shifted_design(key, box, shift, n)
    config = SolverConfig() if config is None else config
    res = simulate_pellet_batch(
        design_to_inputs(design, names, base), config, laws, check_convergence=False
    )
    outputs = np.stack(
        [
            np.asarray(res.centre_temperature[:, -1]),
            np.asarray(res.centre_x[:, -1]),
            np.log10(np.maximum(np.asarray(res.time_to_steady), np.asarray(res.times[:, 1]))),
        ],
        axis=1,
    )
    metadata = {
        "box": {k: list(v) for k, v in _check_box(box).items()},
        "shift": None if shift is None else {k: list(v) for k, v in _check_box(shift).items()},
        "config": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in config._asdict().items()
        },
        "laws": {
            k: (getattr(v, "__qualname__", repr(v)) if callable(v) else list(v))
            for k, v in laws._asdict().items()
        },
        "n": int(design.shape[0]),
    }
    return Dataset(
        inputs=design,
        outputs=outputs,
        converged=np.asarray(res.converged),
        within_validity=np.asarray(res.within_validity),
        input_names=names,
        output_names=PELLET_OUTPUT_NAMES,
        metadata=metadata,
    )
