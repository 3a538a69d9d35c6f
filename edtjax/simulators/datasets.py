"""Data sets from the thermodiffusion simulator: QMC designs, splits, shifted "new context" sets,
and safe ``.npz`` + JSON storage.

A design is a scrambled Sobol' sequence (Owen scrambling) scaled to a box of input ranges; a
shifted design draws the named inputs from intervals outside the box (extrapolation) and the
others from the box, which is how reliability studies probe a surrogate outside its training
domain. Sobol' points come from :class:`scipy.stats.qmc.Sobol` (JAX has no Sobol' generator);
its seed is drawn from the JAX ``key`` so that a design is a pure function of the key.

Cost: a design is O(n d); building a data set is one batched simulation, O(n) simulations.

References:
    I. M. Sobol', "On the distribution of points in a cube and the approximate evaluation of
    integrals", USSR Comput. Math. Math. Phys. 7 (1967) 86-112.

    A. B. Owen, "Scrambling Sobol' and Niederreiter-Xing points", J. Complexity 14 (1998)
    466-489.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_int, check_real
from edtjax._io import check_writable, load_arrays, load_json, save_arrays, save_json
from edtjax.simulators.materials import MIHAILA_2009_LAWS, MaterialLaws
from edtjax.simulators.thermodiffusion import (
    PelletInputs,
    SolverConfig,
    default_pellet_inputs,
    simulate_pellet_batch,
)

__all__ = [
    "DEFAULT_INPUT_BOX",
    "PELLET_OUTPUT_NAMES",
    "PelletDataset",
    "build_pellet_dataset",
    "design_to_inputs",
    "load_dataset",
    "save_dataset",
    "shifted_design",
    "sobol_design",
    "split_dataset",
    "split_indices",
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


class PelletDataset(NamedTuple):
    """Simulated data set.

    Attributes:
        inputs: ``(n, d)`` design points, columns named by ``input_names``.
        outputs: ``(n, len(output_names))`` simulator outputs.
        converged: ``(n,)`` solver convergence flags (rows with False must not be used).
        within_validity: ``(n,)`` whether the run stayed inside the material laws' ranges.
        input_names: names of the input columns (fields of :class:`PelletInputs`).
        output_names: names of the output columns.
        metadata: JSON-serialisable description (box, shift, solver config, laws).
    """

    inputs: np.ndarray
    outputs: np.ndarray
    converged: np.ndarray
    within_validity: np.ndarray
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    metadata: dict[str, Any]


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
    design: Any, names: tuple[str, ...], base: PelletInputs | None = None
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
) -> PelletDataset:
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
        A :class:`PelletDataset`.

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
    return PelletDataset(
        inputs=design,
        outputs=outputs,
        converged=np.asarray(res.converged),
        within_validity=np.asarray(res.within_validity),
        input_names=names,
        output_names=PELLET_OUTPUT_NAMES,
        metadata=metadata,
    )


def split_indices(
    key: jax.Array, n: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train/validation/test index split.

    Sizes are ``floor(f_train n)``, ``floor(f_val n)`` and the rest; indices are a uniform
    random permutation of ``range(n)``.

    Example:
        >>> import jax
        >>> tr, va, te = split_indices(jax.random.key(0), 10, (0.6, 0.2, 0.2))
        >>> len(tr), len(va), len(te)
        (6, 2, 2)
    """
    n = check_int("n", n, minimum=3)
    if len(fractions) != 3 or any(float(f) <= 0 for f in fractions):
        raise ValueError(f"fractions must be three positive numbers, got {fractions}")
    if abs(sum(float(f) for f in fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    perm = np.asarray(jax.random.permutation(key, n))
    n_tr = math.floor(fractions[0] * n)
    n_va = math.floor(fractions[1] * n)
    if min(n_tr, n_va, n - n_tr - n_va) < 1:
        raise ValueError(f"n={n} is too small for fractions {fractions}: an empty split")
    return perm[:n_tr], perm[n_tr : n_tr + n_va], perm[n_tr + n_va :]


def split_dataset(
    key: jax.Array,
    dataset: PelletDataset,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> tuple[PelletDataset, PelletDataset, PelletDataset]:
    """Split a data set into train/validation/test parts (see :func:`split_indices`).

    Example:
        >>> import jax, numpy as np
        >>> ds = PelletDataset(np.zeros((10, 1)), np.zeros((10, 1)), np.ones(10, bool),
        ...                    np.ones(10, bool), ("radius",), ("centre_x",), {})
        >>> [len(d.inputs) for d in split_dataset(jax.random.key(0), ds)]
        [7, 1, 2]
    """
    parts = split_indices(key, len(dataset.inputs), fractions)
    return tuple(
        dataset._replace(
            inputs=dataset.inputs[i],
            outputs=dataset.outputs[i],
            converged=dataset.converged[i],
            within_validity=dataset.within_validity[i],
            metadata={**dataset.metadata, "split": name, "n": len(i)},
        )
        for name, i in zip(("train", "validation", "test"), parts, strict=True)
    )


def _json_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_dataset(path: str | os.PathLike, dataset: PelletDataset, *, force: bool = False) -> Path:
    """Save ``dataset`` as ``path`` (``.npz`` arrays) plus ``path`` with ``.json`` (metadata).

    Both files are written atomically; existing files are refused unless ``force``.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> ds = PelletDataset(np.zeros((2, 1)), np.ones((2, 1)), np.ones(2, bool),
        ...                    np.ones(2, bool), ("radius",), ("centre_x",), {})
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = save_dataset(d / "ds.npz", ds)
        >>> load_dataset(d / "ds.npz").outputs.tolist()
        [[1.0], [1.0]]
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end with .npz, got {path}")
    check_writable(path, force=force)
    check_writable(_json_path(path), force=force)
    save_arrays(
        path,
        {
            "inputs": dataset.inputs,
            "outputs": dataset.outputs,
            "converged": dataset.converged,
            "within_validity": dataset.within_validity,
        },
    )
    save_json(
        _json_path(path),
        {
            "input_names": list(dataset.input_names),
            "output_names": list(dataset.output_names),
            "metadata": dataset.metadata,
        },
    )
    return path


def load_dataset(path: str | os.PathLike) -> PelletDataset:
    """Load a data set written by :func:`save_dataset` (no unpickling).

    Raises:
        ValueError: corrupt files or arrays inconsistent with the metadata.

    Example:
        See :func:`save_dataset`.
    """
    path = Path(path)
    arrays = load_arrays(path)
    meta = load_json(_json_path(path))
    try:
        ds = PelletDataset(
            inputs=arrays["inputs"],
            outputs=arrays["outputs"],
            converged=arrays["converged"],
            within_validity=arrays["within_validity"],
            input_names=tuple(meta["input_names"]),
            output_names=tuple(meta["output_names"]),
            metadata=meta["metadata"],
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a pellet data set: missing {err}") from err
    n = len(ds.inputs)
    if (
        ds.inputs.shape != (n, len(ds.input_names))
        or ds.outputs.shape != (n, len(ds.output_names))
        or ds.converged.shape != (n,)
        or ds.within_validity.shape != (n,)
    ):
        raise ValueError(f"{path}: array shapes do not match the metadata")
    return ds
