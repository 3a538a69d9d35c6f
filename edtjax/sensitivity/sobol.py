"""Sobol' indices of a model whose inputs are a pytree of numpyro distributions."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from numpyro.distributions import Distribution

from edtjax._checks import check_choice, check_int, check_memory, is_concrete
from edtjax._sharding import axis_name, device_mesh
from edtjax._typing import ArrayLike, Devices, PRNGKey, PyTree
from edtjax.sensitivity._sequences import check_saltelli_sobol, unit_rows
from edtjax.sensitivity.estimators import (
    _BOOTSTRAP_ENTRIES,
    IndexEstimates,
    _assemble,
    _estimate,
    _validate_options,
)
from edtjax.sensitivity.factors import Factors

__all__ = ["pick_freeze_indices", "sobol_indices"]

_DESIGN_ENTRIES = 2**24
# share of the device's memory the outputs and the estimators may take
_MEMORY_FRACTION = 0.8


def _matrix_rows(a, b, gid, matrices, num_groups):
    """Design rows of the pick-freeze matrices numbered ``matrices`` ``(m,)``: ``(m, w, d)``.

    Matrix ``0`` is ``A``, ``1`` is ``B``, ``2 + i`` is ``AB_i`` (``A`` with group ``i``'s
    columns from ``B``) and ``2 + g + i`` is ``BA_i``; ``gid`` ``(d,)`` holds each column's
    group. Built by comparing ``gid`` with each matrix's group, never from a ``(g, d)`` mask.
    """
    group = jnp.where(matrices >= 2, (matrices - 2) % num_groups, -1)
    from_a = (matrices == 0) | ((matrices >= 2) & (matrices < 2 + num_groups))
    base = jnp.where(from_a[:, None, None], a[None], b[None])
    other = jnp.where(from_a[:, None, None], b[None], a[None])
    return jnp.where((gid[None, :] == group[:, None])[:, None, :], other, base)


def _evaluate(
    key,
    model,
    model_args,
    leaves,
    treedef,
    group_ids,
    num_samples,
    chunk_rows,
    matrix_block,
    sampler,
    second,
    dtype,
    mesh=None,
):
    """Model outputs on ``A``, ``B``, ``AB_i`` (and ``BA_i``), chunk by chunk: ``(e, n, p)``.

    A chunk is ``chunk_rows`` base rows times ``matrix_block`` of the ``e`` matrices (all of
    them unless ``e d`` design entries per row would not fit a chunk). With a ``mesh``, each
    chunk's ``chunk_rows`` rows (a multiple of the device count) are split over its devices:
    device ``j`` evaluates rows ``j w, ..., (j + 1) w - 1`` of every chunk,
    ``w = chunk_rows / k``, generating its design rows from their indices.
    """
    num_dims = len(group_ids)
    num_groups = max(group_ids) + 1
    e = 2 * num_groups + 2 if second else num_groups + 2
    num_blocks = -(-e // matrix_block)
    num_chunks = -(-num_samples // chunk_rows)
    gid = jnp.asarray(np.asarray(group_ids, dtype=np.int32))

    def evaluate(
        key: PRNGKey,
        leaves: tuple[Distribution, ...],
        model_args: PyTree,
        offset: jax.Array,
        width: int,
    ) -> jax.Array:
        rows = unit_rows(key, sampler, num_dims, dtype, num_chunks * chunk_rows)
        factors = Factors(tuple(leaves), treedef)

        def chunk(c: jax.Array) -> jax.Array:
            index = c * chunk_rows + offset + jnp.arange(width, dtype=jnp.uint32)
            a, b = rows(index)

            def block(j: jax.Array) -> jax.Array:
                matrices = j * matrix_block + jnp.arange(matrix_block, dtype=jnp.int32)
                u = _matrix_rows(a, b, gid, matrices, num_groups)
                x = factors.values(u.reshape(matrix_block * width, num_dims))
                if model_args is None:
                    y = jax.vmap(model)(x)
                else:
                    y = jax.vmap(model, in_axes=(0, None))(x, model_args)
                return y.reshape(matrix_block, width, -1)

            if num_blocks == 1:
                return block(jnp.int32(0))
            y = jax.lax.map(block, jnp.arange(num_blocks, dtype=jnp.int32))
            return y.reshape(num_blocks * matrix_block, width, -1)[:e]

        return jax.lax.map(chunk, jnp.arange(num_chunks, dtype=jnp.uint32))

    if mesh is None:
        y = evaluate(key, leaves, model_args, jnp.uint32(0), chunk_rows)
    else:
        axis = axis_name(mesh)
        width = chunk_rows // mesh.devices.size

        def block(key: PRNGKey, leaves: tuple[Distribution, ...], model_args: PyTree) -> jax.Array:
            offset = jax.lax.axis_index(axis).astype(jnp.uint32) * jnp.uint32(width)
            return evaluate(key, leaves, model_args, offset, width)

        y = jax.shard_map(
            block,
            mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec(), PartitionSpec()),
            out_specs=PartitionSpec(None, None, axis),
        )(key, leaves, model_args)
    y = jnp.moveaxis(y, 0, 1).reshape(y.shape[1], num_chunks * chunk_rows, y.shape[-1])
    y = y[:, :num_samples]
    if mesh is not None:
        # the estimators run replicated on the gathered outputs, exactly as on one device
        y = jax.lax.with_sharding_constraint(y, NamedSharding(mesh, PartitionSpec()))
    return y


@functools.partial(
    jax.jit,
    static_argnames=(
        "model",
        "treedef",
        "group_ids",
        "num_samples",
        "chunk_rows",
        "matrix_block",
        "sampler",
        "second_order",
        "mesh",
    ),
)
def _sobol_outputs(
    key,
    leaves,
    model_args,
    *,
    model,
    treedef,
    group_ids,
    num_samples,
    chunk_rows,
    matrix_block,
    sampler,
    second_order,
    mesh=None,
):
    """First compiled stage: the outputs ``(e, n, p)``."""
    return _evaluate(
        key,
        model,
        model_args,
        leaves,
        treedef,
        group_ids,
        num_samples,
        chunk_rows,
        matrix_block,
        sampler,
        second_order,
        jnp.result_type(float),
        mesh,
    )


@functools.partial(
    jax.jit,
    static_argnames=("num_groups", "second_order", "estimator", "num_bootstrap", "confidence"),
)
def _sobol_estimates(key, y, *, num_groups, second_order, estimator, num_bootstrap, confidence):
    """Second compiled stage: the estimators on the outputs of :func:`_sobol_outputs`, and
    how many outputs are not finite and where the first one is."""
    y_ab = jnp.moveaxis(y[2 : 2 + num_groups], 0, 1)
    y_ba = jnp.moveaxis(y[2 + num_groups :], 0, 1) if second_order else None
    *estimates, finite = _estimate(
        key, y[0], y[1], y_ab, y_ba, estimator, num_bootstrap, confidence, pooled=[y]
    )

    # a NaN or an infinity makes the largest or the smallest output of its component
    # non-finite (``finite`` is read from the extremes the standardisation takes anyway);
    # only then are the non-finite outputs counted and the first one looked for (a pass over
    # every output that costs more than the estimators on a CPU)
    def locate(y: jax.Array) -> tuple[jax.Array, jax.Array]:
        bad = ~jnp.isfinite(y)
        return jnp.sum(bad), jnp.argmax(bad.reshape(-1))

    count, first = jax.lax.cond(
        finite, lambda y: (jnp.zeros((), int), jnp.zeros((), int)), locate, y
    )
    return *estimates, (count, first)


def _sobol_core(
    key,
    leaves,
    model_args,
    *,
    model,
    treedef,
    group_ids,
    num_samples,
    chunk_rows,
    matrix_block,
    sampler,
    second_order,
    estimator,
    num_bootstrap,
    confidence,
    mesh=None,
):
    """Outputs, then estimators, as two compiled programs.

    They are compiled apart on purpose: in one program XLA fuses the design and the model's
    evaluation into every reduction that reads the outputs and evaluates them again there
    (with a single chunk the loop that would hold the outputs in memory is removed), which
    made 256 outputs at ``n = 4096`` twenty times slower on a CPU. The first stage returns
    the outputs only; every reduction over them is in the second. Under an outer ``jit`` or
    ``grad`` both stages are traced into the caller's program as before.
    """
    k_design, k_boot = jax.random.split(key)
    y = _sobol_outputs(
        k_design,
        leaves,
        model_args,
        model=model,
        treedef=treedef,
        group_ids=group_ids,
        num_samples=num_samples,
        chunk_rows=chunk_rows,
        matrix_block=matrix_block,
        sampler=sampler,
        second_order=second_order,
        mesh=mesh,
    )
    return _sobol_estimates(
        k_boot,
        y,
        num_groups=max(group_ids) + 1,
        second_order=second_order,
        estimator=estimator,
        num_bootstrap=num_bootstrap,
        confidence=confidence,
    )


def _check_outputs(count, first, num_groups, num_samples, num_out, second_order):
    """Raise a ValueError naming how many outputs are non-finite and where the first one is."""
    if not is_concrete(count) or int(count) == 0:
        return
    e, rest = divmod(int(first), num_samples * num_out)
    row, comp = divmod(rest, num_out)
    names = ["A", "B"] + [f"AB_{i}" for i in range(num_groups)]
    if second_order:
        names += [f"BA_{i}" for i in range(num_groups)]
    raise ValueError(
        f"model returned {int(count)} non-finite outputs; the first at design matrix "
        f"{names[e]}, row {row}, output component {comp} (flattened)"
    )


def _check_constant(relative, dtype):
    """Raise if an output component is constant to the precision of ``dtype``.

    ``relative`` ``(p,)`` is each component's half-range over its largest magnitude (0 where
    ``A`` and ``B`` outputs do not vary), so the test does not depend on the output's units:
    outputs of order ``1e-20`` are not constant, outputs equal to the last bit are.
    """
    if not is_concrete(relative):
        return
    eps = float(jnp.finfo(dtype).eps)
    constant = np.argwhere(np.asarray(relative).reshape(-1) <= eps).ravel()
    if constant.size:
        raise ValueError(
            f"model output has zero variance (to {dtype} precision: a spread of at most "
            f"{eps:.3g} times its magnitude) in {constant.size} component(s) (first at "
            f"flattened index {constant[:5].tolist()}); Sobol' indices are undefined for a "
            "constant output"
        )


def _chunking(num_samples, num_dims, evaluations, batch_size, num_devices):
    """``(chunk_rows, matrix_block)``: base rows and matrices per vectorised chunk.

    A chunk holds at most ``batch_size`` evaluations and ``2^24`` design entries per device
    (64 MiB in float32), and the rows are split into chunks of equal size (at most one row of
    padding per chunk). All ``e`` matrices of a row go in one chunk when they fit; otherwise
    (many factors, e.g. one group per network weight) a chunk is one row per device times a
    block of matrices.
    """
    per_row = min(batch_size // evaluations, _DESIGN_ENTRIES // (evaluations * num_dims))
    if per_row >= 1:
        per_device = -(-num_samples // num_devices)
        chunks = -(-per_device // per_row)
        # chunks of equal size, so the last one is not mostly padding
        return num_devices * -(-per_device // chunks), evaluations
    block = max(1, min(batch_size, _DESIGN_ENTRIES // num_dims, evaluations))
    return num_devices, block


def _memory_bytes(
    num_samples,
    num_dims,
    num_groups,
    num_out,
    *,
    second_order,
    num_bootstrap,
    chunk_rows,
    matrix_block,
    itemsize,
):
    """Peak bytes of :func:`_sobol_core` per device, before the model's own intermediates.

    The outputs ``(e, n, p)`` and the estimators' per-row statistics and influence values
    (about ``4 g`` further ``(n, p)`` arrays, ``4 g^2`` with second order), the bootstrap's
    re-weighting counts (a batch of replicates, at least 16) and three copies of one chunk's
    design rows and outputs. Calibrated against XLA's compiled memory analysis
    (tests/sensitivity/test_robustness.py), which it bounds from above.
    """
    e = 2 * num_groups + 2 if second_order else num_groups + 2
    n = num_samples
    rows = n * num_out * (2 * e + 4 * num_groups + (4 * num_groups**2 if second_order else 0))
    rows += n * 4 * num_groups  # aggregated influence values
    if num_bootstrap:
        # counts and resampled rows of a batch of replicates (at least 16, more while they
        # take at most _BOOTSTRAP_ENTRIES numbers), and the flattened statistics
        counts = max(min(num_bootstrap, 16) * n, min(num_bootstrap * n, _BOOTSTRAP_ENTRIES))
        rows += 8 * counts + n * 2 * num_out * (2 * num_groups + 2)
    design = 3 * chunk_rows * matrix_block * (num_dims + num_out)
    return itemsize * (rows + design)


def _analyse(
    key,
    model,
    model_args,
    leaves,
    treedef,
    group_ids,
    out_shape,
    *,
    num_samples,
    sampler,
    second_order,
    estimator,
    num_bootstrap,
    confidence,
    batch_size,
    mesh=None,
) -> IndexEstimates:
    """Run the jitted core, check the outputs, and pack indices with a leading group axis."""
    num_groups = max(group_ids) + 1
    evaluations = 2 * num_groups + 2 if second_order else num_groups + 2
    num_devices = 1 if mesh is None else mesh.devices.size
    chunk_rows, matrix_block = _chunking(
        num_samples, len(group_ids), evaluations, batch_size, num_devices
    )
    dtype = jnp.result_type(float)
    num_out = math.prod(out_shape)
    nbytes = _memory_bytes(
        num_samples,
        len(group_ids),
        num_groups,
        num_out,
        second_order=second_order,
        num_bootstrap=num_bootstrap,
        chunk_rows=chunk_rows,
        matrix_block=matrix_block,
        itemsize=jnp.dtype(dtype).itemsize,
    )
    check_memory(
        f"num_samples={num_samples} with {num_groups} factors or groups, {evaluations} model "
        f"evaluations per sample and {num_out} output components",
        nbytes,
        "num_samples, the number of factors or groups (coarser groups), or the output size",
        fraction=_MEMORY_FRACTION,
    )
    values, stderr, boot, relative, (count, first) = _sobol_core(
        key,
        leaves,
        model_args,
        model=model,
        treedef=treedef,
        group_ids=group_ids,
        num_samples=num_samples,
        chunk_rows=chunk_rows,
        matrix_block=matrix_block,
        sampler=sampler,
        second_order=second_order,
        estimator=estimator,
        num_bootstrap=num_bootstrap,
        confidence=confidence,
        mesh=mesh,
    )
    _check_outputs(count, first, num_groups, num_samples, num_out, second_order)
    _check_constant(relative, dtype)
    return _assemble(values, stderr, boot, confidence, out_shape)


def sobol_indices(
    key: PRNGKey,
    model: Callable[[PyTree], ArrayLike],
    factors: PyTree,
    num_samples: int,
    *,
    second_order: bool = False,
    num_bootstrap: int = 0,
    confidence: float = 0.95,
    groups: PyTree = None,
    estimator: str = "janon2014",
    sampler: str = "sobol",
    batch_size: int = 65536,
    devices: Devices = None,
) -> IndexEstimates:
    """Variance-based sensitivity indices of ``model`` over a pytree of random factors.

    Each scalar factor (each element of each batched univariate distribution in ``factors``)
    gets its own column of a Saltelli design on the unit cube (scrambled Sobol' or Monte Carlo,
    :func:`saltelli_design`), mapped through the distribution's inverse CDF. The model is
    evaluated ``n (g + 2)`` times (``n (2g + 2)`` with second order), ``batch_size`` evaluations
    at a time, so the design is never held in memory. Indices follow
    :func:`sobol_indices_from_outputs`: first order of Janon et al. (2014) or Saltelli et al.
    (2010), Jansen total, Saltelli (2002) second order, for each output component, plus
    aggregated indices of Gamboa et al. (2014) over all components.

    Each output component is standardised inside the estimators (see
    :func:`sobol_indices_from_outputs`), so the indices do not depend on the output's units:
    float32 outputs of order ``1e17`` or ``1e-20`` give the indices of the unscaled model. A
    component is reported constant when its spread is within rounding of its magnitude.

    Jitted (``model`` and the options are static); a new key or new distribution parameters of
    the same shapes reuse the compiled code. Differentiable with respect to distribution
    parameters and to parameters the model closes over.

    Scale: with ``devices`` (a count, a list of devices or a one-axis mesh) the rows of every
    evaluation chunk are split over the devices with :func:`jax.shard_map`: each device builds
    its design rows from their indices and evaluates the model on them, and the outputs are
    gathered to every device (``O(n e p)`` numbers, ``e`` evaluations per row) for the
    estimators, which then run replicated. Design rows depend only on their index, so the
    model outputs are bitwise those of ``devices=None`` whenever the model's per-row
    arithmetic does not depend on how many rows are vectorised together (elementwise models);
    the estimators' sums are compiled around the gather and may be fused differently, so the
    indices agree with ``devices=None`` to floating-point rounding (last bits; often
    bitwise). Cost: the model evaluations divided among ``k`` devices; compiled once per
    device set.

    Args:
        key: PRNG key (design scramble or draws, and bootstrap).
        model: maps one pytree of factor values (structure of ``factors``, leaves of the
            distributions' batch shapes) to an array of any shape ``out``; it is ``vmap``-ed.
        factors: pytree of univariate numpyro distributions with an ``icdf``.
        num_samples: base sample size ``n >= 2`` (a power of two for Sobol': warns otherwise).
        second_order: also estimate second-order indices.
        num_bootstrap: bootstrap resamples for percentile intervals (0: none).
        confidence: level of asymptotic and bootstrap intervals.
        groups: optional pytree with the structure of ``factors`` holding a sortable label per
            distribution; indices are then per group (a dict by label).
        estimator: ``"janon2014"`` or ``"saltelli2010"`` (first order).
        sampler: ``"sobol"`` (scrambled Sobol') or ``"mc"``.
        batch_size: model evaluations per vectorised chunk (a chunk also holds at most 2^24
            design entries: with very many factors, a block of the ``AB_i`` matrices of one
            row); with ``devices``, per device.
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: the devices to
            split the model evaluations over.

    Returns:
        :class:`IndexEstimates` whose per-factor fields are pytrees shaped like ``factors``
        (leaves ``(*batch_shape, *out)``; aggregated ones ``batch_shape``), or dicts by group
        label. ``second_order`` is ``(g, g, *out)`` over factors in ``jax.tree.leaves`` order
        (flattened batch elements) or over sorted group labels.

    Raises:
        ValueError: bad factors or groups, ``num_samples < 2``, an empty model output,
            non-finite model outputs (how many and where), a constant output (indices
            undefined), bad ``devices``, or a run whose outputs and estimator statistics
            (about ``(6 g + 4) n p`` numbers, ``(4 g^2 + 8 g + 4) n p`` with second order)
            would need more than 80% of the device's memory: the message gives the estimate
            and the limit; reduce ``num_samples``, the number of groups or the output size.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> factors = {"x": dist.Uniform(-1.0, 1.0), "y": dist.Normal(0.0, 1.0)}
        >>> r = sobol_indices(jax.random.key(0), lambda v: v["x"] + v["y"], factors, 1024)
        >>> round(float(r.first_order["x"] + r.first_order["y"]), 1)
        1.0
        >>> r_all = sobol_indices(jax.random.key(0), lambda v: v["x"] + v["y"], factors, 1024,
        ...                       devices=len(jax.devices()))
        >>> bool(abs(r_all.first_order["x"] - r.first_order["x"]) < 1e-6)
        True

    References:
        Saltelli, A. (2002). Comput. Phys. Commun. 145, 280-297.
        Saltelli, A. et al. (2010). Comput. Phys. Commun. 181, 259-270.
        Janon, A. et al. (2014). ESAIM: P&S 18, 342-364.
        Gamboa, F., Janon, A., Klein, T., Lagnoux, A. (2014). Electron. J. Statist. 8, 575-603.
    """
    flat_factors = Factors.from_tree(factors)
    group_ids, names = flat_factors.group_ids(groups)
    flat = pick_freeze_indices(
        key,
        model,
        flat_factors,
        num_samples,
        group_ids=group_ids,
        second_order=second_order,
        num_bootstrap=num_bootstrap,
        confidence=confidence,
        estimator=estimator,
        sampler=sampler,
        batch_size=batch_size,
        devices=devices,
    )
    return flat.map_groups(lambda x: flat_factors.split(x, names))


def pick_freeze_indices(
    key: PRNGKey,
    model: Callable[..., jax.Array],
    factors: Factors,
    num_samples: int,
    *,
    group_ids: tuple[int, ...] | None = None,
    model_args: PyTree = None,
    second_order: bool = False,
    num_bootstrap: int = 0,
    confidence: float = 0.95,
    estimator: str = "janon2014",
    sampler: str = "sobol",
    batch_size: int = 65536,
    devices: Devices = None,
) -> IndexEstimates:
    """Sobol' indices over column groups of a :class:`Factors`, with a leading group axis.

    The engine under :func:`sobol_indices` (which splits the group axis back into the
    factors' pytree) and :func:`parameter_sensitivity` (which groups the weights of a network
    by layer or unit): the design, the chunked and jitted model evaluations and the estimators
    are those of :func:`sobol_indices`; see it for the method, the scale-out over ``devices``
    and the memory check.

    Args:
        key: PRNG key (design, then bootstrap).
        model: ``model(values)`` or, with ``model_args``, ``model(values, model_args)`` for
            one pytree of factor values (:meth:`Factors.values` of one row); ``vmap``-ed over
            rows and a static argument of the compiled core (jit caches by its hash: a
            hashable callable object reuses the compilation across calls).
        factors: the factors (:meth:`Factors.from_tree`).
        num_samples: base sample size ``n >= 2`` (a power of two for Sobol': warns otherwise).
        group_ids: ``(d,)`` group of each column, numbered ``0 .. g - 1`` (every id used), or
            ``None`` for one group per column.
        model_args: a pytree passed unchanged to every call (traced, not static), or ``None``.
        second_order, num_bootstrap, confidence, estimator, sampler, batch_size, devices: as
            in :func:`sobol_indices`.

    Returns:
        :class:`IndexEstimates` with per-group fields of shape ``(g, *out)`` (``(g,)`` for the
        aggregated ones).

    Raises:
        ValueError: bad options or ``group_ids``, a model that cannot be applied to the
            factors or returns no array, too many columns for a Sobol' design, and the
            run-time errors of :func:`sobol_indices` (non-finite or constant outputs, memory).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> f = Factors.from_tree(dist.Uniform(-jnp.ones(3), 1.0))
        >>> est = pick_freeze_indices(jax.random.key(0), lambda v: v[0] + v[1] + v[2], f, 256,
        ...                           group_ids=(0, 0, 1))
        >>> est.first_order.shape
        (2,)
    """
    if not isinstance(factors, Factors):
        raise ValueError(f"factors must be a Factors (Factors.from_tree), got {type(factors)}")
    num_samples = check_int("num_samples", num_samples, minimum=2)
    sampler = check_choice("sampler", sampler, ("sobol", "mc"))
    num_bootstrap, confidence = _validate_options(estimator, num_bootstrap, confidence)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    mesh = device_mesh(devices)
    second_order = bool(second_order)
    num_dims = factors.num_dims
    if group_ids is None:
        group_ids = tuple(range(num_dims))
    group_ids = tuple(int(g) for g in group_ids)
    if len(group_ids) != num_dims or sorted(set(group_ids)) != list(range(max(group_ids) + 1)):
        raise ValueError(
            f"group_ids must give each of the {num_dims} columns a group in 0 .. g - 1, every "
            f"group used, got {len(group_ids)} ids"
        )
    if sampler == "sobol":
        check_saltelli_sobol(
            num_dims,
            num_samples,
            lambda limit: (
                f"factors must hold <= {limit} scalar factors for a Sobol' design, "
                f"got {num_dims}; use sampler='mc'"
            ),
        )
    probe = factors.values(jnp.full((1, num_dims), 0.5))
    try:
        if model_args is None:
            out = jax.eval_shape(jax.vmap(model), probe)
        else:
            out = jax.eval_shape(jax.vmap(model, in_axes=(0, None)), probe, model_args)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        raise ValueError(
            f"model could not be applied to a pytree shaped like factors ({factors.treedef}): {err}"
        ) from err
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise ValueError(f"model must return a single array, got {type(out).__name__}")
    if math.prod(out.shape[1:]) == 0:
        raise ValueError(f"model must return a non-empty array, got shape {out.shape[1:]}")
    return _analyse(
        key,
        model,
        model_args,
        list(factors.leaves),
        factors.treedef,
        group_ids,
        out.shape[1:],
        num_samples=num_samples,
        sampler=sampler,
        second_order=second_order,
        estimator=estimator,
        num_bootstrap=num_bootstrap,
        confidence=confidence,
        batch_size=batch_size,
        mesh=mesh,
    )
