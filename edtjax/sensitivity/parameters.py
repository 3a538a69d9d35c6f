"""Global sensitivity of a trained network's predictions to its own parameters."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from edtjax._checks import as_array, check_choice, check_int, check_real
from edtjax._typing import ArrayLike, Devices, PRNGKey, PyTree
from edtjax.sensitivity.cramer_von_mises import CramerVonMisesIndices, cramer_von_mises_indices
from edtjax.sensitivity.estimators import IndexEstimates
from edtjax.sensitivity.factors import Factors
from edtjax.sensitivity.given_data import GivenDataIndices, given_data_first_order
from edtjax.sensitivity.hsic import HSICResult, hsic_indices
from edtjax.sensitivity.sobol import pick_freeze_indices

__all__ = ["parameter_sensitivity"]

_PERTURBATIONS = ("multiplicative", "additive", "mask")
_METHODS = ("sobol", "hsic", "cramer_von_mises", "given_data")


@dataclasses.dataclass(frozen=True)
class _PerturbedModel:
    """Hashable model ``xi, (params, x, scales) -> output`` (a static argument of the core)."""

    apply_fn: Callable
    output_fn: Callable | None
    perturbation: str

    def __call__(self, xi, args):
        params, x, scales, size = args
        if self.perturbation == "multiplicative":
            new = jax.tree.map(lambda p, e: p * (1.0 + size * e), params, xi)
        elif self.perturbation == "additive":
            new = jax.tree.map(lambda p, e, s: p + size * s * e, params, xi, scales)
        else:
            new = jax.tree.map(lambda p, u: jnp.where(u < size, p, jnp.zeros_like(p)), params, xi)
        y = self.apply_fn(new, x)
        return y if self.output_fn is None else self.output_fn(y)


def _check_inputs(x):
    """``x`` with every leaf a finite, non-empty numeric array, or a ValueError naming it."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(x)
    if not flat:
        raise ValueError("x must hold at least one array of inputs, got an empty pytree")
    leaves = []
    for path, leaf in flat:
        name = "x" + jax.tree_util.keystr(path)
        leaf = as_array(name, leaf)
        if leaf.size == 0:
            raise ValueError(f"{name} must hold at least one input, got shape {leaf.shape}")
        leaves.append(leaf)
    return jax.tree.unflatten(treedef, leaves)


def _shapes(x) -> str:
    return str(jax.tree.map(lambda v: tuple(v.shape), x))


def _path_name(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def _group_labels(params, groups):
    """Per-scalar group labels (flattened in leaf order) and how to rebuild the result."""
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    labels = []
    if groups == "layer":
        for path, leaf in flat:
            labels += [_path_name(path[:-1]) or "<root>"] * int(np.size(leaf))
    elif groups == "unit":
        for path, leaf in flat:
            layer = _path_name(path[:-1]) or "<root>"
            if np.ndim(leaf) == 0:
                unit = np.zeros(1, int)
            else:
                unit = np.broadcast_to(np.arange(np.shape(leaf)[-1]), np.shape(leaf)).ravel()
            labels += [(layer, int(j)) for j in unit]
    else:
        custom, _ = jax.tree.flatten(groups)
        if len(custom) != len(flat):
            raise ValueError(
                "groups must be 'layer', 'unit', 'weight' or a pytree like params with an "
                f"integer group id per parameter; got {len(custom)} leaves for {len(flat)}"
            )
        for (path, leaf), ids in zip(flat, custom, strict=True):
            ids = np.asarray(ids)
            if not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f"groups{_path_name(path)} must hold integer group ids")
            try:
                ids = np.broadcast_to(ids, np.shape(leaf))
            except ValueError as err:
                raise ValueError(
                    f"groups at {_path_name(path)} must broadcast to shape {np.shape(leaf)}, "
                    f"got {ids.shape}"
                ) from err
            labels += [int(i) for i in ids.ravel()]
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    return tuple(index[label] for label in labels), names


def _by_group(x, names, groups):
    """Group axis -> dict by layer name (``unit``: arrays over units) or by custom id."""
    if groups != "unit":
        return {name: x[i] for i, name in enumerate(names)}
    out: dict[str, list[jax.Array]] = {}
    for i, (layer, _) in enumerate(names):
        out.setdefault(layer, []).append(x[i])
    return {layer: jnp.stack(rows) for layer, rows in out.items()}


def _by_weight(x, params):
    leaves, treedef = jax.tree.flatten(params)
    out, start = [], 0
    for leaf in leaves:
        size = int(np.size(leaf))
        out.append(x[start : start + size].reshape(*np.shape(leaf), *x.shape[1:]))
        start += size
    return jax.tree.unflatten(treedef, out)


@functools.partial(
    jax.jit,
    static_argnames=("model", "treedef", "num_groups", "num_samples", "batch_size", "pick_freeze"),
)
def _group_outputs(
    key, model, args, ids, *, treedef, num_groups, num_samples, batch_size, pick_freeze
):
    """Outputs on a sample of one scalar factor per group, shared by the group's parameters
    (``ids``: per leaf, the group of each scalar).

    Plain: ``(xi (n, G), f(xi) (n, *out))``. Pick-freeze: ``(f(B) (n, *out), y_frozen (G, n,
    *out))`` with ``y_frozen[g]`` the outputs on a second sample ``A`` whose column ``g`` is
    taken from ``B``.
    """
    draw = jax.random.uniform if model.perturbation == "mask" else jax.random.normal
    dtype = args[3].dtype

    def output(xi: jax.Array) -> jax.Array:  # (G,) -> one output
        return model(jax.tree.unflatten(treedef, [xi[i] for i in ids]), args)

    def outputs(rows: jax.Array) -> jax.Array:  # (m, G) -> (m, *out)
        return jax.lax.map(output, rows, batch_size=min(batch_size, rows.shape[0]))

    k_b, k_a = jax.random.split(key)
    xb = draw(k_b, (num_samples, num_groups), dtype)
    if not pick_freeze:
        return xb, outputs(xb)
    xa = draw(k_a, (num_samples, num_groups), dtype)
    frozen = jnp.where(jnp.eye(num_groups, dtype=bool)[:, None, :], xb[None], xa[None])
    y_frozen = outputs(frozen.reshape(-1, num_groups))
    return outputs(xb), y_frozen.reshape(num_groups, num_samples, *y_frozen.shape[1:])


def _one_sample_indices(key, method, model, args, params, group_ids, num_samples, options):
    """The ``hsic``, ``cramer_von_mises`` or ``given_data`` result with a leading group axis."""
    leaves, treedef = jax.tree.flatten(params)
    ids, start = [], 0
    for leaf in leaves:
        size = int(np.size(leaf))
        ids.append(jnp.asarray(np.reshape(group_ids[start : start + size], np.shape(leaf))))
        start += size
    k_sample, k_method = jax.random.split(key)
    num_bootstrap, confidence, batch_size = options
    first, second = _group_outputs(
        k_sample,
        model,
        args,
        ids,
        treedef=treedef,
        num_groups=max(group_ids) + 1,
        num_samples=num_samples,
        batch_size=batch_size,
        pick_freeze=method == "cramer_von_mises",
    )
    if method == "hsic":
        return hsic_indices(k_method, first, second)
    if method == "given_data":
        return given_data_first_order(first, second, confidence=confidence)
    return cramer_von_mises_indices(
        k_method, first, second, num_bootstrap=num_bootstrap, confidence=confidence
    )


def parameter_sensitivity(
    key: PRNGKey,
    apply_fn: Callable[[PyTree, PyTree], PyTree],
    params: PyTree,
    x: PyTree,
    *,
    perturbation: str = "multiplicative",
    scale: float = 0.1,
    groups: str | PyTree = "layer",
    num_samples: int = 1024,
    output_fn: Callable[[PyTree], ArrayLike] | None = None,
    num_bootstrap: int = 0,
    confidence: float = 0.95,
    estimator: str = "janon2014",
    sampler: str = "mc",
    batch_size: int = 65536,
    devices: Devices = None,
    method: str = "sobol",
) -> IndexEstimates | HSICResult | CramerVonMisesIndices | GivenDataIndices:
    """Sensitivity indices (Sobol' by default) of a network's output to random perturbations of
    its parameters.

    Every scalar parameter ``theta_k`` gets an independent factor ``xi_k``:

    * ``"multiplicative"``: ``theta_k (1 + scale xi_k)``, ``xi_k ~ N(0, 1)``;
    * ``"additive"``: ``theta_k + scale s_k xi_k``, ``xi_k ~ N(0, 1)``, ``s_k`` the RMS of the
      parameter array holding ``theta_k`` (1 where that RMS is 0);
    * ``"mask"``: ``theta_k 1[u_k < scale]``, ``u_k ~ U(0, 1)`` (connections kept with
      probability ``scale``, as in dropout).

    Factors are grouped (``"layer"``: all parameters under the same parent node, e.g. a flax
    ``Dense_0``; ``"unit"``: per layer and output unit, i.e. index along the last axis, so a
    kernel column and its bias entry form one group; ``"weight"``: each scalar alone; or a pytree
    like ``params`` of integer group ids broadcastable to each leaf), and the group first-order
    and total indices of ``output_fn(apply_fn(perturbed, x))`` are estimated as in
    :func:`sobol_indices` (per output component, with aggregated indices over all components).
    Cost: ``num_samples (g + 2)`` network evaluations on ``x``, divided among the devices of
    ``devices`` (rows of each evaluation chunk split over them, as in :func:`sobol_indices`).

    Other estimators (``method``) rank the groups by a different index, from one perturbation
    sample (a pick-freeze pair of samples for ``"cramer_von_mises"``). They need one scalar
    input per group, so each group's parameters share
    one factor ``xi_g`` (moved together: a layer scaled, shifted or dropped as a whole); with
    ``groups="weight"`` every scalar is its own group and the perturbation is the Sobol' one.

    * ``"sobol"`` (default): the group Sobol' indices above, per-scalar factors
      (:class:`IndexEstimates`).
    * ``"hsic"``: :func:`edtjax.sensitivity.hsic_indices` of the ``(n, g)`` group factors and
      the outputs flattened to ``(n, p)`` (one kernel on the whole output vector): per-group
      ``hsic``, normalised ``r2`` and the independence tests' ``p_value`` and
      ``gamma_p_value`` (:class:`HSICResult`). Cost ``n`` network evaluations and
      ``O(g n^2)`` memory: ``num_samples`` up to a few thousand.
    * ``"given_data"``: :func:`edtjax.sensitivity.given_data_first_order` (rank-based
      first-order Sobol' indices and Chatterjee's coefficient, the rank estimator of the
      Cramer-von Mises index, per output component) (:class:`GivenDataIndices`). Cost ``n``
      evaluations.
    * ``"cramer_von_mises"``: :func:`edtjax.sensitivity.cramer_von_mises_indices` on a
      pick-freeze sample, per output component, with bootstrap intervals when
      ``num_bootstrap > 0`` (:class:`CramerVonMisesIndices`). Cost ``n (g + 1)``
      evaluations.

    Their per-group fields are laid out as for ``"sobol"`` (below); ``estimator``,
    ``sampler`` and ``devices`` apply to ``"sobol"`` only.

    For a linear model ``f(x) = w.x`` with additive perturbations of common scale the first-order
    index of ``w_i`` is ``x_i^2 / sum_j x_j^2``; a layer whose outgoing weights are all zero has
    index 0 under multiplicative or mask perturbations.

    Args:
        key: PRNG key.
        apply_fn: ``apply_fn(params, x) -> prediction`` (e.g. a flax ``Module.apply``).
        params: parameter pytree (e.g. flax ``{"params": ...}``, or one posterior sample).
        x: inputs at which predictions are taken (any pytree of finite, non-empty arrays
            ``apply_fn`` accepts).
        perturbation: ``"multiplicative"``, ``"additive"`` or ``"mask"``.
        scale: noise scale (``> 0``); for ``"mask"`` the keep probability in ``(0, 1)``.
        groups: ``"layer"``, ``"unit"``, ``"weight"`` or a pytree of integer group ids.
        num_samples: base sample size ``n >= 2`` (``>= 6`` for the other methods).
        output_fn: optional map of the prediction to the analysed output (e.g. a loss).
        num_bootstrap: bootstrap resamples (0: none); ``"sobol"`` and
            ``"cramer_von_mises"`` only (``"given_data"`` gives batch-means intervals,
            ``"hsic"`` p-values).
        confidence: interval level.
        estimator: first-order estimator (``"janon2014"`` or ``"saltelli2010"``).
        sampler: ``"mc"`` (default: networks have many parameters) or ``"sobol"``.
        batch_size: network evaluations per vectorised chunk (with ``devices``, per device).
        method: ``"sobol"``, ``"hsic"``, ``"cramer_von_mises"`` or ``"given_data"``.
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: the devices to
            split the network evaluations over. Results agree with ``devices=None`` to
            floating-point rounding (the batched matrix products and the estimators' sums may
            round differently).

    Returns:
        :class:`IndexEstimates` (``"sobol"``), :class:`HSICResult`,
        :class:`CramerVonMisesIndices` or :class:`GivenDataIndices`; per-group fields are
        dicts by layer name (``"layer"``), dicts by layer name of ``(units, *out)`` arrays
        (``"unit"``), pytrees mirroring ``params`` (``"weight"``), or dicts by group id
        (custom); fields that are not per group
        (``num_batches``) are unchanged. ``second_order`` is not computed.

    Raises:
        ValueError: bad options; ``x`` with NaN/inf entries, an empty leaf or a shape
            ``apply_fn`` cannot take (checked by abstract evaluation, before any work); an
            empty output; or a run too large for the device's memory (as in
            :func:`sobol_indices`: one group per weight of a large network needs
            ``num_samples`` times ``g`` outputs; use coarser ``groups`` or fewer samples).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> params = {"dense": {"w": jnp.array([1.0, 2.0])}}
        >>> apply = lambda p, x: x @ p["dense"]["w"]
        >>> r = parameter_sensitivity(jax.random.key(0), apply, params, jnp.eye(2),
        ...                           groups="weight", num_samples=256)
        >>> r.first_order["dense"]["w"].shape
        (2, 2)
        >>> h = parameter_sensitivity(jax.random.key(0), apply, params, jnp.eye(2),
        ...                           groups="weight", num_samples=256, method="hsic")
        >>> h.r2["dense"]["w"].shape, bool(h.p_value["dense"]["w"][1] < 0.05)
        ((2,), True)

    References:
        Sobol', I. M. (2001). Global sensitivity indices for nonlinear mathematical models and
        their Monte Carlo estimates. Math. Comput. Simul. 55, 271-280.
        Janon, A. et al. (2014). ESAIM: P&S 18, 342-364.
        Da Veiga, S. (2015). Global sensitivity analysis with dependence measures. J. Stat.
        Comput. Simul. 85(7), 1283-1305.
        Gamboa, F., Klein, T., Lagnoux, A. (2018). Sensitivity analysis based on Cramer-von
        Mises distance. SIAM/ASA J. Uncertain. Quantif. 6(2), 522-548.
    """
    perturbation = check_choice("perturbation", perturbation, _PERTURBATIONS)
    method = check_choice("method", method, _METHODS)
    if method != "sobol" and devices is not None:
        raise ValueError(f"devices applies to method='sobol' only, got method={method!r}")
    if perturbation == "mask":
        scale = check_real(
            "scale", scale, minimum=0.0, maximum=1.0, strict_minimum=True, strict_maximum=True
        )
    else:
        scale = check_real("scale", scale, minimum=0.0, strict_minimum=True)
    x = _check_inputs(x)
    leaves, treedef = jax.tree.flatten(params)
    if not leaves:
        raise ValueError("params must hold at least one array")
    leaves = [as_array("params leaf", leaf) for leaf in leaves]
    params = jax.tree.unflatten(treedef, leaves)
    if isinstance(groups, str):
        check_choice("groups", groups, ("layer", "unit", "weight"))
    if groups == "weight":
        group_ids, names = tuple(range(sum(int(np.size(v)) for v in leaves))), None
    else:
        group_ids, names = _group_labels(params, groups)
    if perturbation == "mask":
        factors = [dist.Uniform(jnp.zeros(v.shape, v.dtype), 1.0) for v in leaves]
    else:
        factors = [dist.Normal(jnp.zeros(v.shape, v.dtype), 1.0) for v in leaves]
    rms = [jnp.sqrt(jnp.mean(v**2)) for v in leaves]
    scales = jax.tree.unflatten(treedef, [jnp.where(s > 0, s, 1.0) for s in rms])
    model = _PerturbedModel(apply_fn, output_fn, perturbation)
    args = (params, x, scales, jnp.asarray(scale, leaves[0].dtype))
    try:
        out = jax.eval_shape(model, params, args)
    except Exception as err:  # e.g. flax's ScopeParamShapeError for a wrong input width
        raise ValueError(
            f"apply_fn(params, x) failed on the given params and x (x: {_shapes(x)}); check "
            f"that x has the shape apply_fn expects: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise ValueError(f"the analysed output must be a single array, got {type(out).__name__}")
    if out.size == 0:
        raise ValueError(
            f"the analysed output output_fn(apply_fn(params, x)) is empty (shape {out.shape}); "
            "x must hold at least one input"
        )
    if groups == "weight":

        def regroup(v: jax.Array) -> PyTree:
            return _by_weight(v, params)
    else:

        def regroup(v: jax.Array) -> dict:
            return _by_group(v, names, groups)

    if method != "sobol":
        num_samples = check_int("num_samples", num_samples, minimum=6)
        result = _one_sample_indices(
            key,
            method,
            model,
            args,
            params,
            group_ids,
            num_samples,
            (num_bootstrap, confidence, check_int("batch_size", batch_size, minimum=1)),
        )
        return jax.tree.map(lambda v: regroup(v) if isinstance(v, jax.Array) else v, result)
    flat = pick_freeze_indices(
        key,
        model,
        Factors(tuple(factors), treedef),
        num_samples,
        group_ids=group_ids,
        model_args=args,
        num_bootstrap=num_bootstrap,
        confidence=confidence,
        estimator=estimator,
        sampler=sampler,
        batch_size=batch_size,
        devices=devices,
    )
    return flat.map_groups(regroup)
