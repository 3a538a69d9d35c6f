"""Device meshes for the independent axes: the ``devices=`` keyword, padding and un-padding.

Functions that process an axis of independent items (MCMC chains, Sobol' design rows, ensemble
members, query points) accept ``devices=`` and split that axis over a one-dimensional
:class:`jax.sharding.Mesh` with :func:`jax.shard_map`: every device runs the same program on
its block of items, so the per-item arithmetic is the single-device one.

``devices`` is one of

* ``None``: no mesh, the single-device code path, unchanged;
* an ``int`` ``k``: the first ``k`` of :func:`jax.devices` (all processes' devices on a
  multi-host run after :func:`jax.distributed.initialize`);
* a sequence of distinct :class:`jax.Device` (each one of :func:`jax.devices`);
* a :class:`jax.sharding.Mesh` with exactly one axis (its axis name is used).

An axis of ``n`` items over ``k`` devices is padded to ``k * ceil(n / k)`` items by repeating
the last item (so padded work stays finite and well defined), and the padding is cut off after.
Arrays whose leading size is a multiple of ``k`` come back sharded over the mesh; after
un-padding an uneven axis they come back replicated. On several processes
(:func:`jax.distributed.initialize`) a sharded result spans devices of other processes: read
it on the host with :func:`to_host` (``jax.experimental.multihost_utils.process_allgather``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from edtjax._typing import Devices, PyTree

__all__ = [
    "AXIS",
    "axis_name",
    "device_mesh",
    "pad_rows",
    "padded_size",
    "sharded",
    "spans_processes",
    "to_host",
    "unpad_rows",
]

AXIS = "devices"  # axis name of the meshes built from an int or a device sequence


def device_mesh(devices: Devices) -> Mesh | None:
    """The one-axis mesh that ``devices`` names, or ``None`` for ``devices=None``.

    Args:
        devices: ``None``, an int ``k`` (the first ``k`` of ``jax.devices()``), a sequence of
            distinct ``jax.Device`` from ``jax.devices()``, or a one-axis ``Mesh``.

    Returns:
        A :class:`jax.sharding.Mesh` with one axis, or ``None``.

    Raises:
        ValueError: naming ``devices``, for a count outside ``[1, len(jax.devices())]``, an
            empty or repeated sequence, an entry that is not an available device, a mesh with
            more than one axis, or any other type.
    """
    if devices is None:
        return None
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise ValueError(
                f"devices must be a Mesh with exactly one axis, got axes {devices.axis_names}"
            )
        return devices
    available = jax.devices()
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        count = int(devices)
        if not 1 <= count <= len(available):
            raise ValueError(
                f"devices must be between 1 and {len(available)} (the devices available), "
                f"got {count}"
            )
        return Mesh(np.array(available[:count]), (AXIS,))
    if isinstance(devices, (Sequence, np.ndarray)) and not isinstance(devices, (str, bytes)):
        chosen = list(np.asarray(devices, dtype=object).reshape(-1))
        if not chosen:
            raise ValueError("devices must name at least one device, got an empty sequence")
        for d in chosen:
            if not isinstance(d, jax.Device):
                raise ValueError(
                    f"devices must hold jax.Device objects, got an entry of type {type(d).__name__}"
                )
            if d not in available:
                raise ValueError(f"devices must be among jax.devices(), got {d}")
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"devices must be distinct, got {chosen}")
        return Mesh(np.array(chosen, dtype=object), (AXIS,))
    raise ValueError(
        "devices must be None, an int, a sequence of jax.Device or a one-axis "
        f"jax.sharding.Mesh, got {type(devices).__name__}"
    )


def axis_name(mesh: Mesh) -> str:
    """The name of the single axis of ``mesh``."""
    return mesh.axis_names[0]


def sharded(mesh: Mesh) -> NamedSharding:
    """Leading axis split over ``mesh``, other axes replicated."""
    return NamedSharding(mesh, PartitionSpec(axis_name(mesh)))


def padded_size(n: int, mesh: Mesh) -> int:
    """``n`` rounded up to a multiple of the number of devices of ``mesh``."""
    k = mesh.devices.size
    return -(-n // k) * k


def pad_rows(tree: PyTree, size: int) -> PyTree:
    """Pad the leading axis of every leaf to ``size`` by repeating its last row.

    Works inside ``jit`` (``size`` is static); leaves already of length ``size`` are returned
    as they are. Cost: one copy of each padded leaf.
    """

    def pad(x: jax.Array) -> jax.Array:
        n = x.shape[0]
        if n == size:
            return x
        tail = jnp.broadcast_to(x[-1:], (size - n, *x.shape[1:]))
        return jnp.concatenate([x, tail], axis=0)

    return jax.tree.map(pad, tree)


def unpad_rows(tree: PyTree, size: int, axis: int = 0) -> PyTree:
    """Keep the first ``size`` entries along ``axis`` of every leaf (undo :func:`pad_rows`)."""

    def cut(x: jax.Array) -> jax.Array:
        if x.shape[axis] == size:
            return x
        return jax.lax.slice_in_dim(x, 0, size, axis=axis)

    return jax.tree.map(cut, tree)


def spans_processes(mesh: Mesh | None) -> bool:
    """Whether ``mesh`` holds devices of other processes (a multi-host run)."""
    return mesh is not None and any(
        d.process_index != jax.process_index() for d in mesh.devices.flat
    )


def to_host(x: jax.Array) -> np.ndarray:
    """``x`` as a NumPy array on this host, gathering the shards of other processes if needed.

    Every process must call it (the gather is a collective) when ``x`` spans several processes.
    """
    if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
