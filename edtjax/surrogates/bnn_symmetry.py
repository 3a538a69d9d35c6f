r"""The weight-space symmetries of a tanh network, and one canonical representative per orbit.

A hidden unit :math:`j` of layer :math:`l` of a tanh :class:`~edtjax.surrogates.MLP` enters
the next layer as :math:`v_j \tanh(w_j^\top h + b_j)` (:math:`w_j` its incoming weights,
:math:`b_j` its bias, :math:`v_j` its row of outgoing weights). Since :math:`\tanh` is odd,
flipping the signs of :math:`(w_j, b_j, v_j)` leaves the network's function unchanged, and so
does permuting the units of a layer together with their incoming columns, biases and outgoing
rows. A layer of width :math:`h` has :math:`2^h h!` such signed permutations; the posterior of
a Bayesian network with an isotropic prior (:func:`~edtjax.surrogates.bnn_log_density`) is
invariant under all of them, so its raw weights are not identifiable: chains in different
symmetric copies of one mode disagree on every weight while agreeing on every prediction.
:func:`canonical_mlp_params` maps each weight vector to one representative of its orbit, so
that weight-space summaries (ESS, R-hat, posterior means) describe the posterior over
functions rather than which copy a chain happens to sit in.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp

from edtjax._typing import PyTree
from edtjax.surrogates.network import MLP

__all__ = ["canonical_mlp_params"]


def _check_params(net: MLP, params: PyTree) -> None:
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an MLP built by mlp(...), got {type(net).__name__}")
    if net.activation != "tanh":
        raise ValueError(
            "net.activation must be 'tanh' (an odd activation: the sign symmetry needs "
            f"act(-z) = -act(z)), got {net.activation!r}"
        )
    names = [f"hidden_{i}" for i in range(len(net.hidden))] + ["head"]
    if not isinstance(params, dict) or sorted(params) != sorted(names):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with layers {names} (net.init's), got {got}")
    width = 2 * net.outputs if net.heteroscedastic else net.outputs
    widths = (*net.hidden, width)
    fan_in = None
    for name, out in zip(names, widths, strict=True):
        layer = params[name]
        if not isinstance(layer, dict) or sorted(layer) != ["bias", "kernel"]:
            raise ValueError(f"params[{name!r}] must hold 'kernel' and 'bias'")
        kernel, bias = jnp.shape(layer["kernel"]), jnp.shape(layer["bias"])
        rows = kernel[0] if len(kernel) == 2 else None
        if len(kernel) != 2 or kernel[1] != out or (fan_in is not None and rows != fan_in):
            raise ValueError(
                f"params[{name!r}]['kernel'] must have shape ({fan_in or 'p'}, {out}), got {kernel}"
            )
        if bias != (out,):
            raise ValueError(f"params[{name!r}]['bias'] must have shape ({out},), got {bias}")
        fan_in = out


def _canonical_layer(
    kernel: jax.Array, bias: jax.Array, outgoing: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One layer's units in canonical sign and order, given their outgoing rows ``(h, m)``."""
    largest = jnp.argmax(jnp.abs(outgoing), axis=1)
    lead = jnp.take_along_axis(outgoing, largest[:, None], axis=1)[:, 0]
    sign = jnp.where(lead < 0, -1, 1).astype(outgoing.dtype)
    outgoing = outgoing * sign[:, None]
    # rows in decreasing lexicographic order (first column the primary key)
    order = jnp.lexsort(tuple(-outgoing[:, k] for k in reversed(range(outgoing.shape[1]))))
    return (kernel * sign)[:, order], (bias * sign)[order], outgoing[order]


def canonical_mlp_params(net: MLP, params: PyTree) -> PyTree:
    r"""The canonical representative of a tanh network's weights under unit sign flips and
    permutations.

    Layers are canonicalised from the last hidden layer back to the first. For layer
    :math:`l`, each unit's row of outgoing weights :math:`v_j` (its row of the next layer's
    kernel, as already canonicalised) decides its sign: the unit's incoming weights, bias and
    outgoing row are multiplied by :math:`s_j = \operatorname{sign}(v_{j,k^*})`,
    :math:`k^* = \arg\max_k |v_{j,k}|`, so that each row's entry of largest magnitude is
    non-negative (for one output: every outgoing weight :math:`v_j \ge 0`). The units are then
    sorted by their outgoing rows in decreasing lexicographic order (for one output: by
    :math:`v_j`, largest first). A unit's outgoing row is unchanged by the symmetries of every
    other layer once the later layers are canonical, so every one of the
    :math:`\prod_l 2^{h_l} h_l!` signed permutations of ``params`` maps to the same result,
    and the result is a signed permutation of ``params``: the network's deterministic
    predictions are unchanged (up to the rounding of a reordered sum), and applying the map
    twice is the same as once. Ties (two units with equal outgoing rows, or an all-zero row)
    occur with probability zero under a continuous posterior; there the representative is not
    unique. The map is piecewise a fixed signed permutation, so its derivative (almost
    everywhere) is that permutation; it jumps where a sign or an order changes.

    Pooled over chains, summaries of canonical weights measure how well the posterior over
    functions is explored: chains that sit in different symmetric copies of one mode agree
    after the map.

    Args:
        net: a tanh :class:`~edtjax.surrogates.MLP` (``mlp(..., activation="tanh")``; any
            depth, outputs, heteroscedastic head or dropout rate).
        params: one parameter pytree of ``net`` (``net.init``'s structure); ``jax.vmap`` maps
            over stacked draws.

    Returns:
        A parameter pytree of the same structure, shapes and dtypes.

    Raises:
        ValueError: ``net`` is not an ``MLP``, its activation is not ``"tanh"``, or ``params``
            does not have ``net``'s layers and shapes.

    Cost: :math:`O(\sum_l h_l h_{l+1} + h_l \log h_l \cdot h_{l+1})` per weight vector (one
    sign pass and one sort per layer), no evaluation of the network.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import canonical_mlp_params, mlp
        >>> net = mlp((3,), 1)
        >>> params = net.init(jax.random.key(0), jnp.ones((1, 2)))
        >>> flipped = dict(params, hidden_0={k: -v for k, v in params["hidden_0"].items()},
        ...                head=dict(params["head"], kernel=-params["head"]["kernel"]))
        >>> a, b = canonical_mlp_params(net, params), canonical_mlp_params(net, flipped)
        >>> bool(jnp.all(a["head"]["kernel"] >= 0))
        True
        >>> all(bool(jnp.array_equal(u, v)) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
        True

    References:
        Chen, A. M., Lu, H. and Hecht-Nielsen, R. (1993). On the geometry of feedforward neural
        network error surfaces. Neural Computation 5, 910-927.
        Pourzanjani, A. A., Jiang, R. M. and Petzold, L. R. (2017). Improving the
        identifiability of neural networks for Bayesian inference. NeurIPS Workshop on
        Bayesian Deep Learning.
    """
    _check_params(net, params)
    out = {name: dict(layer) for name, layer in params.items()}
    names = [f"hidden_{i}" for i in range(len(net.hidden))] + ["head"]
    for name, after in reversed(list(itertools.pairwise(names))):
        kernel, bias, outgoing = _canonical_layer(
            out[name]["kernel"], out[name]["bias"], out[after]["kernel"]
        )
        out[name] = {"kernel": kernel, "bias": bias}
        out[after] = dict(out[after], kernel=outgoing)
    return out
