"""Scoring query rows with an indicator, optionally split over several devices."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from edtjax._sharding import axis_name, pad_rows, padded_size, spans_processes, unpad_rows
from edtjax._typing import PyTree
from edtjax.reliability.indicator import Indicator

__all__ = ["score_rows"]


@functools.partial(jax.jit, static_argnames=("score", "mesh", "replicate"))
def _sharded_scores(
    state: PyTree, x: jax.Array, *, score: Callable, mesh: Mesh, replicate: bool
) -> jax.Array:
    """``score(state, x)`` with the (padded) rows of ``x`` split over ``mesh``; the scores are
    gathered to every device when ``replicate``."""
    n = x.shape[0]
    rows = PartitionSpec(axis_name(mesh))
    # check_vma=False: scores may run loops whose carries start replicated (e.g. from the
    # state) and become per-query; the output is per-query (``rows``).
    scores = jax.shard_map(
        score, mesh=mesh, in_specs=(PartitionSpec(), rows), out_specs=rows, check_vma=False
    )(state, pad_rows(x, padded_size(n, mesh)))
    scores = unpad_rows(scores, n)
    if replicate:
        scores = jax.lax.with_sharding_constraint(scores, NamedSharding(mesh, PartitionSpec()))
    return scores


def score_rows(indicator: Indicator, state: PyTree, x: jax.Array, mesh: Mesh | None) -> jax.Array:
    """``indicator.score(state, x)``; with a ``mesh``, one jitted program over its devices.

    Each device scores ``ceil(m / k)`` of the ``m`` validated query rows (the last row repeated
    as padding, dropped after) against the replicated state, which is valid because every
    indicator scores rows independently. ``indicator.score`` is a static argument: reuse the
    same indicator to reuse the compiled program. When the mesh spans several processes the
    ``m`` scores are gathered to every device, so that the host-side steps that follow
    (validation, rates, AUROC) read them on every process.
    """
    if mesh is None:
        return indicator.score(state, x)
    replicate = spans_processes(mesh)
    return _sharded_scores(state, x, score=indicator.score, mesh=mesh, replicate=replicate)
