r"""Data sets of any simulator: one typed table, train/validation/test splits, safe storage.

A :class:`Dataset` is what every data-set builder of edtjax returns: the thermodiffusion
designs of :func:`edtjax.simulators.build_pellet_dataset`, the Ising configurations and
:math:`\phi^4` observables of :func:`edtjax.lattice.ising_configuration_dataset` and
:func:`edtjax.lattice.phi4_observable_dataset`, or a table a user builds by hand. The functions
here apply to all of them.

A data set is stored as two files: ``name.npz`` holds the arrays ``inputs``, ``outputs``,
``converged`` and ``within_validity`` (uncompressed, read without unpickling and with bounded
sizes), and ``name.json`` the column names and the metadata. Both are written atomically and
never overwritten without ``force``. Files written by earlier versions of edtjax (whose data
sets were called ``PelletDataset``) have the same layout and load unchanged.

Cost: a split is O(n) after an O(n) permutation; saving and loading are O(size of the arrays).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from edtjax._checks import check_int
from edtjax._io import check_writable, load_arrays, load_json, save_arrays, save_json

__all__ = [
    "Dataset",
    "load_dataset",
    "save_dataset",
    "split_dataset",
    "split_indices",
]


class Dataset(NamedTuple):
    """Rows of inputs and outputs of a simulator, with per-row flags and a description.

    Attributes:
        inputs: ``(n, d)`` inputs, columns named by ``input_names`` (any numeric dtype: design
            points in float64, spin configurations in int8).
        outputs: ``(n, len(output_names))`` outputs.
        converged: ``(n,)`` whether the computation of the row converged (the solver reached
            its tolerance, the chains reached the required effective sample size); rows with
            False must not be used.
        within_validity: ``(n,)`` whether the row stayed inside the range where the model that
            produced it is valid (e.g. the material laws' temperature and composition ranges).
        input_names: names of the input columns.
        output_names: names of the output columns.
        metadata: JSON-serialisable description (the builder's settings; ``"split"`` after
            :func:`split_dataset`).
    """

    inputs: np.ndarray
    outputs: np.ndarray
    converged: np.ndarray
    within_validity: np.ndarray
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    metadata: dict[str, Any]


def split_indices(
    key: jax.Array, n: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train/validation/test index split.

    Sizes are ``floor(f_train n)``, ``floor(f_val n)`` and the rest; indices are a uniform
    random permutation of ``range(n)``.

    Args:
        key: PRNG key (``jax.random.key``) of the permutation.
        n: number of rows, ``>= 3``.
        fractions: three positive fractions summing to 1.

    Returns:
        The train, validation and test indices, a partition of ``range(n)``.

    Raises:
        ValueError: ``n < 3``, fractions that are not three positive numbers summing to 1, or
            an empty part.

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
    dataset: Dataset,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> tuple[Dataset, Dataset, Dataset]:
    """Split a data set into train/validation/test parts (see :func:`split_indices`).

    Every part keeps the names and the metadata, with ``"split"`` and ``"n"`` set to the part's
    name and size.

    Example:
        >>> import jax, numpy as np
        >>> ds = Dataset(np.zeros((10, 1)), np.zeros((10, 1)), np.ones(10, bool),
        ...              np.ones(10, bool), ("radius",), ("centre_x",), {})
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


def save_dataset(path: str | os.PathLike, dataset: Dataset, *, force: bool = False) -> Path:
    """Save ``dataset`` as ``path`` (``.npz`` arrays) plus ``path`` with ``.json`` (metadata).

    Both files are written atomically; existing files are refused unless ``force``.

    Raises:
        ValueError: ``path`` does not end with ``.npz``.
        FileExistsError: a file exists and ``force`` is false.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> ds = Dataset(np.zeros((2, 1)), np.ones((2, 1)), np.ones(2, bool),
        ...              np.ones(2, bool), ("radius",), ("centre_x",), {})
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


def load_dataset(path: str | os.PathLike) -> Dataset:
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
        ds = Dataset(
            inputs=arrays["inputs"],
            outputs=arrays["outputs"],
            converged=arrays["converged"],
            within_validity=arrays["within_validity"],
            input_names=tuple(meta["input_names"]),
            output_names=tuple(meta["output_names"]),
            metadata=meta["metadata"],
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} is not an edtjax data set: missing {err}") from err
    n = len(ds.inputs)
    if (
        ds.inputs.shape != (n, len(ds.input_names))
        or ds.outputs.shape != (n, len(ds.output_names))
        or ds.converged.shape != (n,)
        or ds.within_validity.shape != (n,)
    ):
        raise ValueError(f"{path}: array shapes do not match the metadata")
    return ds
