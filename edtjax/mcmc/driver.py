"""Run many Markov chains: ``lax.scan`` over steps, ``vmap`` over chains, checkpoint and resume."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec
from tqdm import tqdm

from edtjax._checks import check_int, check_memory
from edtjax._io import load_arrays, remove_temporaries, save_arrays
from edtjax._sharding import (
    axis_name,
    device_mesh,
    pad_rows,
    padded_size,
    sharded,
    to_host,
    unpad_rows,
)
from edtjax._static import join_arrays, split_arrays
from edtjax._typing import Devices, PRNGKey, PyTree
from edtjax.mcmc._fingerprint import fingerprint
from edtjax.mcmc.kernel import Kernel

__all__ = ["ChainResult", "run_chains"]

_FORMAT = "edtjax.mcmc.checkpoint/2"  # /2: fingerprints of the kernel and observables
_FORMAT_PREFIX = "edtjax.mcmc.checkpoint/"
_PROGRESS_SEGMENTS = 100
_MAX_STEPS = 2**31 - 1  # the step counter is int32 inside the compiled scan


class ChainResult(NamedTuple):
    """Output of :func:`run_chains`.

    Attributes:
        traces: pytree of observables on the kept steps, leaves ``(num_chains, num_kept, ...)``
            with ``num_kept = (num_steps - burn_in) // thin``.
        final_state: the kernel state of all chains after the last step (leading axis
            ``num_chains``), ready to continue sampling.
        info: per-chain mean over all post-burn-in steps of each leaf of the kernel's ``info``
            (acceptance rate, divergence fraction, ...), leaves ``(num_chains, ...)``; integer
            and boolean leaves are averaged as floats (a boolean's mean is a fraction).
    """

    traces: PyTree
    final_state: PyTree
    info: PyTree


def _default_observables(state: PyTree) -> PyTree:
    """The chain's position: ``state.position`` if the state has one, else the state itself."""
    return getattr(state, "position", state)


def _float_dtype(x: jax.Array) -> np.dtype:
    """``x``'s dtype if floating, else the default float dtype (for averaging ints and bools)."""
    return x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.result_type(float)


def _scan_segment(
    key: jax.Array,
    state: PyTree,
    traces: PyTree,
    info_sum: PyTree,
    start: jax.Array,
    *,
    step_fn: Callable[[PRNGKey, PyTree], tuple[PyTree, PyTree]],
    observables: Callable[[PyTree], PyTree],
    length: int,
    thin: int,
    burn_in: int,
    num_chains: int,
    axis: str | None,
) -> tuple[PyTree, PyTree, PyTree]:
    """Steps ``start, ..., start + length - 1`` of the chains in ``state``.

    Step ``t`` of chain ``c`` uses ``split(fold_in(key, t), num_chains)[c]``. Under
    ``shard_map`` (``axis`` names the mesh axis) ``state`` holds this device's block of the
    padded chains; the keys of padded chains repeat the last chain's key.
    """
    local = jax.tree_util.tree_leaves(state)[0].shape[0]

    def chain_keys(t: jax.Array) -> jax.Array:
        keys = jax.random.split(jax.random.fold_in(key, t), num_chains)
        if axis is None:
            return keys
        keys = pad_rows(keys, local * jax.lax.axis_size(axis))
        return jax.lax.dynamic_slice_in_dim(keys, jax.lax.axis_index(axis) * local, local)

    def body(carry: PyTree, _: None) -> tuple[PyTree, None]:
        state, traces, info_sum, t = carry
        state, info = jax.vmap(step_fn)(chain_keys(t), state)
        done = t + 1  # steps completed
        sampling = done > burn_in
        info_sum = jax.tree_util.tree_map(
            lambda s, i: jnp.where(sampling, s + i.astype(s.dtype), s), info_sum, info
        )
        kept = sampling & ((done - burn_in) % thin == 0)
        slot = (done - burn_in) // thin - 1

        def record(traces: PyTree) -> PyTree:
            obs = jax.vmap(observables)(state)
            return jax.tree_util.tree_map(
                lambda tr, o: jax.lax.dynamic_update_index_in_dim(
                    tr, o.astype(tr.dtype), slot, axis=1
                ),
                traces,
                obs,
            )

        traces = jax.lax.cond(kept, record, lambda tr: tr, traces)
        return (state, traces, info_sum, done), None

    # The step counter is carried, not scanned over: no (length,) array however long the run.
    (state, traces, info_sum, _), _ = jax.lax.scan(
        body, (state, traces, info_sum, start), None, length=length
    )
    return state, traces, info_sum


@functools.partial(
    jax.jit,
    static_argnames=("step_fn", "observables", "length", "thin", "burn_in", "mesh", "num_chains"),
    donate_argnames=("traces", "info_sum"),  # updated in place: no copy of the traces per segment
)
def _run_segment(
    key: jax.Array,
    state: PyTree,
    traces: PyTree,
    info_sum: PyTree,
    start: jax.Array,
    step_arrays: list[jax.Array],
    observables_arrays: list[jax.Array],
    *,
    step_fn: Any,
    observables: Any,
    length: int,
    thin: int,
    burn_in: int,
    mesh: Mesh | None,
    num_chains: int,
) -> tuple[PyTree, PyTree, PyTree]:
    """One compiled segment; with a ``mesh`` the (padded) chains are split over its devices.

    ``step_fn`` and ``observables`` are the static parts of the functions and ``step_arrays``,
    ``observables_arrays`` their traced arrays (``edtjax._static.split_arrays``).
    """

    def scan(key, state, traces, info_sum, start, step_arrays, observables_arrays):
        return _scan_segment(
            key,
            state,
            traces,
            info_sum,
            start,
            step_fn=join_arrays(step_fn, step_arrays),
            observables=join_arrays(observables, observables_arrays),
            length=length,
            thin=thin,
            burn_in=burn_in,
            num_chains=num_chains,
            axis=None if mesh is None else axis_name(mesh),
        )

    args = (key, state, traces, info_sum, start, step_arrays, observables_arrays)
    if mesh is None:
        return scan(*args)
    rows, replicated = PartitionSpec(axis_name(mesh)), PartitionSpec()
    return jax.shard_map(
        scan,
        mesh=mesh,
        in_specs=(replicated, rows, rows, rows, replicated, replicated, replicated),
        out_specs=(rows, rows, rows),
    )(*args)


@functools.partial(jax.jit, static_argnames=("step_fn", "observables", "num_kept"))
def _allocate(
    key: jax.Array,
    state: PyTree,
    step_arrays: list[jax.Array],
    observables_arrays: list[jax.Array],
    *,
    step_fn: Any,
    observables: Any,
    num_kept: int,
) -> tuple[PyTree, PyTree]:
    """Zero trace buffers ``(num_chains, num_kept, ...)`` and zero sums of the kernel info
    (functions split as in :func:`_run_segment`)."""
    num_chains = jax.tree_util.tree_leaves(state)[0].shape[0]
    step_fn = join_arrays(step_fn, step_arrays)
    observables = join_arrays(observables, observables_arrays)

    def one_step(key: PRNGKey, state: PyTree) -> tuple[PyTree, PyTree, PyTree]:
        new_state, info = jax.vmap(step_fn)(jax.random.split(key, num_chains), state)
        return new_state, info, jax.vmap(observables)(new_state)

    new_state, info, obs = jax.eval_shape(one_step, key, state)  # shapes only, nothing run
    if jax.tree_util.tree_structure(new_state) != jax.tree_util.tree_structure(state):
        raise ValueError("kernel.step must return a state with the structure of initial_state")
    trace_bytes = sum(
        num_chains * num_kept * math.prod(o.shape[1:]) * o.dtype.itemsize
        for o in jax.tree_util.tree_leaves(obs)
    )
    check_memory("the recorded traces", trace_bytes, "num_chains, num_steps or raise thin")
    traces = jax.tree_util.tree_map(
        lambda o: jnp.zeros((num_chains, num_kept, *o.shape[1:]), o.dtype), obs
    )
    info_sum = jax.tree_util.tree_map(lambda i: jnp.zeros(i.shape, _float_dtype(i)), info)
    return traces, info_sum


def _check_key(key: object) -> jax.Array:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise ValueError("key must be a typed PRNG key made with jax.random.key")
    if key.shape != ():
        raise ValueError(f"key must be a single key of shape (), got shape {key.shape}")
    return key


def _leaf_spec(leaves: list[Any]) -> list[list[Any]]:
    return [[list(leaf.shape), str(leaf.dtype)] for leaf in leaves]


def _metadata(
    key, state, traces, info_sum, num_steps, num_chains, thin, burn_in, step_fn, observables
) -> dict:
    return {
        "format": _FORMAT,
        "kernel_fingerprint": fingerprint(step_fn),
        "observables_fingerprint": fingerprint(observables),
        "num_steps": num_steps,
        "num_chains": num_chains,
        "thin": thin,
        "burn_in": burn_in,
        "key_impl": str(jax.random.key_impl(key)),
        "key_data": np.asarray(jax.random.key_data(key)).tolist(),
        "state": _leaf_spec(jax.tree_util.tree_leaves(state)),
        # Object addresses (of static fields such as functions) differ between processes.
        "state_tree": re.sub(r" at 0x[0-9a-fA-F]+", "", str(jax.tree_util.tree_structure(state))),
        "traces": _leaf_spec(jax.tree_util.tree_leaves(traces)),
        "info": _leaf_spec(jax.tree_util.tree_leaves(info_sum)),
    }


def _num_recorded(step: int, meta: dict) -> int:
    """How many kept states the first ``step`` transitions have recorded."""
    return max(0, (step - meta["burn_in"]) // meta["thin"])


def _save_checkpoint(path: Path, meta: dict, step: int, state, traces, info_sum) -> None:
    """Write state, step, info sums and the recorded part of the traces atomically."""
    arrays = {"metadata": np.array(json.dumps(meta, sort_keys=True)), "step": np.int64(step)}
    recorded = _num_recorded(step, meta)
    for group, tree in (("state", state), ("traces", traces), ("info", info_sum)):
        for i, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
            arrays[f"{group}_{i}"] = to_host(leaf[:, :recorded] if group == "traces" else leaf)
    save_arrays(path, arrays)


_FINGERPRINTS = {"kernel_fingerprint": "kernel.step", "observables_fingerprint": "observables"}


def _load_checkpoint(
    path: Path, meta: dict, state, traces, info_sum
) -> tuple[int, PyTree, PyTree, PyTree]:
    """Read a checkpoint written for exactly this run; anything else raises ``ValueError``."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"checkpoint {path} is not a readable .npz file")
    # no more than this run's arrays, plus room for the metadata and the archive's headers
    expected = sum(
        leaf.size * leaf.dtype.itemsize
        for tree in (state, traces, info_sum)
        for leaf in jax.tree_util.tree_leaves(tree)
    )
    arrays = load_arrays(path, max_bytes=expected + 2**26)
    try:
        stored = json.loads(str(arrays["metadata"]))
        step = int(arrays["step"])
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"checkpoint {path} is corrupt: no readable metadata ({err})") from err
    if not isinstance(stored, dict) or not str(stored.get("format", "")).startswith(_FORMAT_PREFIX):
        raise ValueError(f"checkpoint {path} is not an edtjax MCMC checkpoint")
    if stored["format"] != _FORMAT:
        raise ValueError(
            f"checkpoint {path} has the format {stored['format']!r} of another edtjax version; "
            f"this one reads {_FORMAT!r}: remove the file to start afresh"
        )
    diffs = [k for k in meta if k not in _FINGERPRINTS and stored.get(k) != meta[k]]
    if diffs:
        detail = "; ".join(f"{k}: checkpoint {stored.get(k)!r} vs run {meta[k]!r}" for k in diffs)
        raise ValueError(f"checkpoint {path} was written by a different run ({detail})")
    changed = [name for k, name in _FINGERPRINTS.items() if stored.get(k) != meta[k]]
    if changed:
        raise ValueError(
            f"checkpoint {path} was written with a different {' and '.join(changed)} (their "
            "code, constants or closed-over values differ): resuming would splice two "
            "different chains; resume with the functions that wrote it, or remove the file"
        )
    if not 0 <= step <= meta["num_steps"]:
        raise ValueError(f"checkpoint {path} is corrupt: step {step} out of range")
    restored = []
    for group, tree in (("state", state), ("traces", traces), ("info", info_sum)):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        new = []
        for i, leaf in enumerate(leaves):
            arr = arrays.get(f"{group}_{i}")
            shape = leaf.shape
            if group == "traces":
                shape = (shape[0], _num_recorded(step, meta), *shape[2:])
            if arr is None or arr.shape != shape or arr.dtype != leaf.dtype:
                raise ValueError(
                    f"checkpoint {path} is corrupt: array {group}_{i} is missing "
                    "or has the wrong shape or dtype"
                )
            if group == "traces":
                full = np.zeros(leaf.shape, leaf.dtype)
                full[:, : shape[1]] = arr
                arr = full
            new.append(jnp.asarray(arr))
        restored.append(jax.tree_util.tree_unflatten(treedef, new))
    return step, *restored


def run_chains(
    key: jax.Array,
    kernel: Kernel,
    initial_state: PyTree,
    num_steps: int,
    *,
    num_chains: int,
    thin: int = 1,
    burn_in: int = 0,
    observables: Callable[[PyTree], PyTree] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress: bool = False,
    devices: Devices = None,
) -> ChainResult:
    """Run ``num_chains`` independent Markov chains of ``num_steps`` transitions each.

    Step ``t`` (``0 <= t < num_steps``) of chain ``c`` uses the key
    ``jax.random.split(jax.random.fold_in(key, t), num_chains)[c]``, so the result depends only
    on ``key`` and not on how the run is cut into compiled segments, checkpoints or resumes.
    Steps run in a jit-compiled ``lax.scan`` with the chains ``vmap``-ed. After the first
    ``burn_in`` steps, every ``thin``-th state is recorded through ``observables``.

    Scale: with ``devices`` (a count, a list of devices or a one-axis mesh) the chains are split
    over the devices with :func:`jax.shard_map`; each device advances its block of chains with
    the same keys as on one device, so traces, final state and info are bitwise those of
    ``devices=None``. ``num_chains`` not divisible by the device count ``k`` is padded to a
    multiple of ``k`` with copies of the last chain, which are dropped from the result. When
    ``k`` divides ``num_chains``, traces, final state and info come back sharded over the
    devices; otherwise they come back replicated. Checkpoints hold only the real chains, so a
    run checkpointed on ``k`` devices resumes on any other number. Without ``devices``,
    sharding ``initial_state`` along its chain axis (``jax.device_put`` with a
    ``NamedSharding``) also keeps the compiled segments distributed (by the compiler's sharding
    propagation). ``run_chains`` itself is a host-side driver (segments, file I/O, progress):
    call it outside ``jit``/``grad``.

    Checkpointing: with ``checkpoint_path`` and ``checkpoint_every = k``, the state, step
    counter, traces recorded so far and info sums are written atomically every ``k`` steps and
    at the end (each write costs ``O(size of the traces so far)``: choose ``k`` accordingly),
    in one pickle-free ``.npz`` holding the arrays and a JSON metadata record (key, sizes,
    shapes and dtypes of every leaf, and SHA-256 fingerprints of ``kernel.step`` and
    ``observables``: their code, constants, closed-over values and the helpers and constants
    of their module that they name). ``resume=True`` continues from that file, or starts
    afresh if it does not exist, and returns bitwise the same result as an uninterrupted run.
    A file that is unreadable or was written by a run with different arguments (key, sizes,
    state shapes, ``thin``, ``burn_in``, ...) or by another kernel or observables function
    raises ``ValueError``; an existing file without ``resume=True`` raises
    ``FileExistsError``. Temporary files that a process killed during a write left beside
    ``checkpoint_path`` are removed when the next run starts.

    Args:
        key: a PRNG key from :func:`jax.random.key`.
        kernel: an :class:`edtjax.mcmc.Kernel` or any object with ``step(key, state) ->
            (state, info)`` for one chain, e.g. a blackjax ``SamplingAlgorithm``. The arrays
            among ``kernel.step``'s pytree leaves (a ``jax.tree_util.Partial`` of a
            module-level function over data or tuned parameters) are traced arguments of the
            compiled segment and the rest is static, compared by value: such a step reuses the
            compilation for new arrays of the same shapes and dtypes. A plain closure is static
            as a whole: reuse the same kernel object to avoid recompiling.
        initial_state: the kernel state of all chains stacked on a leading axis of size
            ``num_chains``, e.g. ``jax.vmap(kernel.init)(positions)``.
        num_steps: total transitions per chain, burn-in included (``1 <= num_steps < 2**31``).
        num_chains: number of chains (``>= 1``); must match the leading axis of every leaf
            of ``initial_state``.
        thin: record every ``thin``-th state after burn-in (``1 <= thin <= num_steps -
            burn_in``).
        burn_in: number of initial transitions not recorded (``0 <= burn_in < num_steps``).
        observables: ``observables(state) -> pytree`` for one chain; default: the state's
            ``position`` (or the state itself if it has none). Split as ``kernel.step`` is:
            pass the same function object, or an equal pytree, to reuse the compilation.
        checkpoint_path: file to checkpoint to (``.npz``), or ``None``.
        checkpoint_every: steps between checkpoints (``>= 1``); requires ``checkpoint_path``.
        resume: continue from ``checkpoint_path`` if it exists.
        progress: show a tqdm progress bar on stderr (the run is cut into about 100 segments).
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: the devices to
            split the chains over.

    Returns:
        :class:`ChainResult` with traces ``(num_chains, (num_steps - burn_in) // thin, ...)``.

    Cost: ``O(num_steps * num_chains * C_step)`` time, divided among ``k`` devices as
    ``ceil(num_chains / k)`` chains each; memory ``O(num_chains * num_kept *
    size(observables))`` for the traces, split the same way. One compilation per distinct
    segment length (and device set).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import Kernel, run_chains
        >>> def step(key, x):  # AR(1) with rho = 0.5
        ...     return 0.5 * x + jnp.sqrt(0.75) * jax.random.normal(key, x.shape), {}
        >>> ar1 = Kernel(init=lambda x: x, step=step)
        >>> res = run_chains(jax.random.key(0), ar1, jnp.zeros((4, 2)), 1000,
        ...                  num_chains=4, burn_in=100, thin=2)
        >>> res.traces.shape
        (4, 450, 2)
        >>> on_all = run_chains(jax.random.key(0), ar1, jnp.zeros((4, 2)), 1000, num_chains=4,
        ...                     burn_in=100, thin=2, devices=len(jax.devices()))
        >>> bool((on_all.traces == res.traces).all())
        True

    References:
        J. Bradbury et al., JAX: composable transformations of Python+NumPy programs (2018);
        A. Cabezas et al., "BlackJAX: composable Bayesian inference in JAX" (2024) for the
        ``(init, step)`` kernel interface.
    """
    key = _check_key(key)
    if not callable(getattr(kernel, "step", None)):
        raise ValueError("kernel must have a callable step(key, state) -> (state, info)")
    num_steps = check_int("num_steps", num_steps, minimum=1, maximum=_MAX_STEPS)
    num_chains = check_int("num_chains", num_chains, minimum=1)
    burn_in = check_int("burn_in", burn_in, minimum=0, maximum=num_steps - 1)
    thin = check_int("thin", thin, minimum=1, maximum=num_steps - burn_in)
    if checkpoint_every is not None:
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, minimum=1)
        if checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path")
    mesh = device_mesh(devices)
    leaves = jax.tree_util.tree_leaves(initial_state)
    if not leaves:
        raise ValueError("initial_state must contain at least one array")
    for i, leaf in enumerate(leaves):
        shape = jnp.shape(leaf)
        if not shape or shape[0] != num_chains:
            raise ValueError(
                f"initial_state leaves must have a leading axis of size num_chains={num_chains}, "
                f"leaf {i} has shape {shape}"
            )
    observables = _default_observables if observables is None else observables
    step_fn = kernel.step
    state = jax.tree_util.tree_map(jnp.asarray, initial_state)

    num_kept = (num_steps - burn_in) // thin
    step_static, step_arrays = split_arrays(step_fn)
    observables_static, observables_arrays = split_arrays(observables)
    traces, info_sum = _allocate(
        key,
        state,
        step_arrays,
        observables_arrays,
        step_fn=step_static,
        observables=observables_static,
        num_kept=num_kept,
    )

    start = 0
    path = None if checkpoint_path is None else Path(checkpoint_path)
    meta = None
    if path is not None:
        remove_temporaries(path)  # left by a process killed while writing the checkpoint
        meta = _metadata(
            key, state, traces, info_sum, num_steps, num_chains, thin, burn_in, step_fn, observables
        )
        if resume and path.exists():
            start, state, traces, info_sum = _load_checkpoint(path, meta, state, traces, info_sum)
        elif path.exists():
            raise FileExistsError(
                f"checkpoint {path} exists; pass resume=True to continue that run, or remove it"
            )

    if mesh is not None:
        padded = pad_rows((state, traces, info_sum), padded_size(num_chains, mesh))
        state, traces, info_sum = jax.device_put(padded, sharded(mesh))

    if checkpoint_every is not None:
        segment = checkpoint_every
    elif progress:
        segment = max(1, math.ceil(num_steps / _PROGRESS_SEGMENTS))
    else:
        segment = num_steps
    bar = None
    if progress:
        bar = tqdm(total=num_steps, initial=start, file=sys.stderr, unit="step")
    try:
        while start < num_steps:
            length = min(segment, num_steps - start)
            state, traces, info_sum = _run_segment(
                key,
                state,
                traces,
                info_sum,
                jnp.asarray(start, jnp.int32),
                step_arrays,
                observables_arrays,
                step_fn=step_static,
                observables=observables_static,
                length=length,
                thin=thin,
                burn_in=burn_in,
                mesh=mesh,
                num_chains=num_chains,
            )
            start += length
            if path is not None:
                _save_checkpoint(
                    path, meta, start, *unpad_rows((state, traces, info_sum), num_chains)
                )
            if bar is not None:
                jax.block_until_ready(state)
                bar.update(length)
    finally:
        if bar is not None:
            bar.close()
    state, traces, info_sum = unpad_rows((state, traces, info_sum), num_chains)
    sampled = num_steps - burn_in
    info = jax.tree_util.tree_map(lambda s: s / jnp.asarray(sampled, s.dtype), info_sum)
    return ChainResult(traces=traces, final_state=state, info=info)
