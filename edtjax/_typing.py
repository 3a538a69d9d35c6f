"""Type aliases shared by the public signatures.

Annotations only: nothing here runs at call time (the package uses
``from __future__ import annotations``). ``PyTree`` is the one alias that stands for
:data:`typing.Any`: it marks an argument that may be *any* pytree (network parameters, an
indicator state, a chain state), so a reader knows the ``Any`` is meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import jax
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

__all__ = ["ArrayLike", "DTypeLike", "Devices", "PRNGKey", "PyTree"]

PyTree: TypeAlias = Any
"""Any pytree: nested tuples, lists, dicts, NamedTuples and registered dataclasses of arrays."""

PRNGKey: TypeAlias = jax.Array
"""A typed PRNG key made with :func:`jax.random.key` (or a legacy ``uint32[2]`` key)."""

Devices: TypeAlias = int | Sequence[jax.Device] | Mesh | None
"""The ``devices=`` argument: ``None`` (one device), a count ``k`` (the first ``k`` of
:func:`jax.devices`), a sequence of distinct :class:`jax.Device`, or a one-axis
:class:`jax.sharding.Mesh`."""
