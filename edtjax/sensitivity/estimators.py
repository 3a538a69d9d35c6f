"""Sobol' index estimators from pick-freeze model outputs, with asymptotic and bootstrap intervals.

Every estimator is a smooth function ``h`` of sample means of per-row statistics ``z_n``, so
(i) its asymptotic standard error follows from the delta method,
``se = sd_n(Dh(m) [z_n - m]) / sqrt(n)``, with the exact derivative of each ratio of
numerator and denominator; and (ii) a bootstrap replicate is
``h`` of the means re-weighted by multinomial counts, a matrix product that never copies the
outputs. Aggregated (generalised) indices of Gamboa et al. (2014) for vector outputs are ratios
of the per-component numerators and denominators summed over components, so they get both
intervals by the same route.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array, check_choice, check_int, check_probability
from edtjax._typing import ArrayLike, PRNGKey, PyTree

__all__ = [
    "Estimate",
    "IndexEstimates",
    "Interval",
    "sobol_indices_from_outputs",
]

_ESTIMATORS = ("janon2014", "saltelli2010")


class Interval(NamedTuple):
    """A confidence interval ``[low, high]`` (arrays or pytrees of arrays)."""

    low: jax.Array
    high: jax.Array


class Estimate(NamedTuple):
    """One kind of index (first, total or second order) with its uncertainty.

    Attributes:
        value: the point estimates.
        stderr: their delta-method standard errors.
        interval: asymptotic normal :class:`Interval` ``value -/+ z stderr``.
        bootstrap: bootstrap percentile :class:`Interval`, or ``None`` without resamples.
    """

    value: jax.Array
    stderr: jax.Array
    interval: Interval
    bootstrap: Interval | None


class IndexEstimates(NamedTuple):
    """Sobol' indices over ``g`` factors (or groups) for outputs of shape ``out``.

    Attributes:
        first_order: ``(g, *out)`` first-order indices ``S_i``.
        total_order: ``(g, *out)`` total indices ``T_i`` (Jansen).
        second_order: ``(g, g, *out)`` symmetric second-order indices ``S_ij`` (zero diagonal),
            or ``None``.
        first_order_stderr, total_order_stderr, second_order_stderr: delta-method standard
            errors (``None`` where the index is absent).
        first_order_interval, total_order_interval, second_order_interval: asymptotic normal
            intervals ``value -/+ z se``.
        first_order_bootstrap, total_order_bootstrap, second_order_bootstrap: bootstrap
            percentile intervals, or ``None`` with ``num_bootstrap=0``.
        aggregated_first_order, aggregated_total_order: ``(g,)`` generalised indices over all
            output components; aggregated_second_order ``(g, g)`` or ``None``.
        aggregated_first_order_stderr, aggregated_total_order_stderr: their standard errors.
        variance: ``(*out)`` output variance estimated from ``A`` and ``B``.

    The same numbers grouped by kind of index: :attr:`first`, :attr:`total` and
    :attr:`second` are :class:`Estimate` views (value, stderr, interval, bootstrap).
    """

    first_order: jax.Array
    total_order: jax.Array
    second_order: jax.Array | None
    first_order_stderr: jax.Array
    total_order_stderr: jax.Array
    second_order_stderr: jax.Array | None
    first_order_interval: Interval
    total_order_interval: Interval
    second_order_interval: Interval | None
    first_order_bootstrap: Interval | None
    total_order_bootstrap: Interval | None
    second_order_bootstrap: Interval | None
    aggregated_first_order: jax.Array
    aggregated_total_order: jax.Array
    aggregated_second_order: jax.Array | None
    aggregated_first_order_stderr: jax.Array
    aggregated_total_order_stderr: jax.Array
    variance: jax.Array

    @property
    def first(self) -> Estimate:
        """First-order indices with their standard errors and intervals."""
        return Estimate(
            self.first_order,
            self.first_order_stderr,
            self.first_order_interval,
            self.first_order_bootstrap,
        )

    @property
    def total(self) -> Estimate:
        """Total indices with their standard errors and intervals."""
        return Estimate(
            self.total_order,
            self.total_order_stderr,
            self.total_order_interval,
            self.total_order_bootstrap,
        )

    @property
    def second(self) -> Estimate | None:
        """Second-order indices with their uncertainty, or ``None`` when not computed."""
        if self.second_order is None:
            return None
        return Estimate(
            self.second_order,
            self.second_order_stderr,
            self.second_order_interval,
            self.second_order_bootstrap,
        )

    def map_groups(self, fn: Callable[[jax.Array], PyTree]) -> IndexEstimates:
        """Apply ``fn`` to the leading factor (or group) axis of every per-factor field.

        ``fn`` maps an array ``(g, ...)`` to, e.g., a pytree like the factors
        (:meth:`edtjax.sensitivity.Factors.split`) or a dict by group label. Fields that are
        ``None`` stay ``None``; an :class:`Interval` is mapped bound by bound. The
        second-order fields and ``variance`` keep their layout.

        Example:
            >>> import jax
            >>> from edtjax.sensitivity import sobol_indices_from_outputs
            >>> y = jax.random.normal(jax.random.key(0), (3, 64))
            >>> est = sobol_indices_from_outputs(jax.random.key(1), y[0], y[1], y[None, 2])
            >>> sorted(est.map_groups(lambda v: {"x": v[0]}).first_order)
            ['x']
        """

        def tree(x: PyTree) -> PyTree:
            if x is None:
                return None
            if isinstance(x, Interval):
                return Interval(tree(x.low), tree(x.high))
            return fn(x)

        return self._replace(**{name: tree(getattr(self, name)) for name in _PER_GROUP_FIELDS})


_PER_GROUP_FIELDS = (
    "first_order",
    "total_order",
    "first_order_stderr",
    "total_order_stderr",
    "first_order_interval",
    "total_order_interval",
    "first_order_bootstrap",
    "total_order_bootstrap",
    "aggregated_first_order",
    "aggregated_total_order",
    "aggregated_first_order_stderr",
    "aggregated_total_order_stderr",
)


def _row_statistics(y_a, y_b, y_ab, y_ba, estimator):
    """Per-row statistics, leading axis ``n``; ``y_a``: (n, p), ``y_ab``/``y_ba``: (n, g, p).

    Only those the requested indices read: the pooled ``A``/``B`` sums for the variance, and
    per group the Jansen, the first-order estimator's and (with ``y_ba``) the closed
    second-order statistics.
    """
    ya, yb = y_a[:, None, :], y_b[:, None, :]
    z = {"ab": y_a + y_b, "ab2": y_a**2 + y_b**2, "jansen": 0.5 * (ya - y_ab) ** 2}
    if estimator == "saltelli2010" or y_ba is not None:
        z["saltelli"] = yb * (y_ab - ya)
    if estimator == "janon2014":
        z["janon_prod"] = yb * y_ab
        z["janon_mean"] = 0.5 * (yb + y_ab)
        z["janon_sq"] = 0.5 * (yb**2 + y_ab**2)
    if y_ba is not None:
        z["closed"] = y_ba[:, :, None, :] * y_ab[:, None, :, :] - (y_a * y_b)[:, None, None, :]
    return z


def _second_numerator(closed, saltelli):
    """Saltelli (2002) second-order numerators ``(..., g, g, p)``: ``closed_ij - saltelli_i -
    saltelli_j`` for ``i < j``, mirrored to ``j < i``, zero on the diagonal (linear in both)."""
    g = closed.shape[-2]
    num = closed - saltelli[..., :, None, :] - saltelli[..., None, :, :]
    upper = jnp.triu(jnp.ones((g, g), bool), 1)[:, :, None]
    num = jnp.where(upper, num, jnp.swapaxes(num, -3, -2))
    return jnp.where(jnp.eye(g, dtype=bool)[:, :, None], 0.0, num)


def _spread(variance, like):
    """``variance`` ``(..., p)`` with unit axes that broadcast it against ``like``
    ``(..., g[, g], p)`` (never materialised at that shape)."""
    extra = (1,) * (like.ndim - variance.ndim)
    return variance.reshape(*variance.shape[:-1], *extra, -1)


def _ratios(m, estimator, tangent=None):
    """``(variance, {index: (numerator, denominator)})`` from a dict of means ``m``.

    With ``tangent`` (per-row statistics minus ``m``, leading axis ``n``) it returns instead
    their derivatives in that direction, row by row: the influence values of the variance and
    of every numerator and denominator (each is at most quadratic in the means).
    """
    if tangent is None:
        lin = m
        variance = 0.5 * m["ab2"] - (0.5 * m["ab"]) ** 2  # (p,)
    else:
        lin = tangent
        variance = 0.5 * tangent["ab2"] - 0.5 * m["ab"] * tangent["ab"]
    parts = {"total_order": (lin["jansen"], _spread(variance, lin["jansen"]))}
    if estimator == "janon2014":
        mean = m["janon_mean"]
        if tangent is None:
            square = mean**2
            parts["first_order"] = (m["janon_prod"] - square, m["janon_sq"] - square)
        else:
            square = 2.0 * mean * tangent["janon_mean"]
            parts["first_order"] = (tangent["janon_prod"] - square, tangent["janon_sq"] - square)
    else:
        parts["first_order"] = (lin["saltelli"], _spread(variance, lin["saltelli"]))
    if "closed" in m:
        num = _second_numerator(lin["closed"], lin["saltelli"])
        parts["second_order"] = (num, _spread(variance, num))
    return variance, parts


def _indices_from_means(m, estimator, weights):
    """Index values (per component and aggregated) from a dict of means.

    ``weights`` ``(p,)`` are the squared output scales, so that aggregated indices weight each
    component by its variance in the original units (Gamboa et al. 2014).
    """
    variance, parts = _ratios(m, estimator)
    out = {"variance": variance}
    for name, (num, den) in parts.items():
        out[name] = num / den
        out["aggregated_" + name] = jnp.sum(num * weights, -1) / jnp.sum(den * weights, -1)
    return out


def _delta_stderr(z, estimator, weights):
    """Index values and their delta-method standard errors, ``sd_n(Dh(m)[z_n - m]) / sqrt(n)``.

    The influence value of a ratio ``h = N / D`` of smooth functions of the means is
    ``(DN[z_n - m] - h DD[z_n - m]) / D`` (for an aggregated index, ``N`` and ``D`` are
    weighted sums over components); the derivatives come from :func:`_ratios`, one fused
    pass over the rows. The variance gets a value but no standard error (none is reported).
    """
    n = jax.tree.leaves(z)[0].shape[0]
    means = jax.tree.map(lambda v: jnp.mean(v, axis=0), z)
    variance, parts = _ratios(means, estimator)
    _, d_parts = _ratios(means, estimator, jax.tree.map(lambda v, mu: v - mu, z, means))
    values, influence = {"variance": variance}, {}
    for name, (num, den) in parts.items():
        d_num, d_den = d_parts[name]
        values[name] = value = num / den
        influence[name] = (d_num - value * d_den) / den
        total_den = jnp.sum(den * weights, -1)
        values["aggregated_" + name] = agg = jnp.sum(num * weights, -1) / total_den
        influence["aggregated_" + name] = (
            jnp.sum(d_num * weights, -1) - agg * jnp.sum(d_den * weights, -1)
        ) / total_den
    # influence values have mean zero (they are linear in centred statistics): one pass
    stderr = jax.tree.map(
        lambda v: jnp.sqrt(jnp.sum(v * v, axis=0) / (float(n - 1) * n)), influence
    )
    return values, stderr


# numbers (counts and re-weighted means) that one batch of bootstrap replicates may hold
# beyond those of 16 replicates
_BOOTSTRAP_ENTRIES = 2**20


def _bootstrap_batch(num_bootstrap: int, n: int, k: int) -> int:
    """Replicates re-weighted together, for ``n`` rows of ``k`` statistics: all of them when
    their counts ``(batch, n)`` and means ``(batch, k)`` hold at most ``2^20`` numbers, else
    as many as fit (at least 16), then evened out over the batches, so that the last one is
    not mostly padding."""
    largest = min(num_bootstrap, max(16, _BOOTSTRAP_ENTRIES // (n + k)))
    return -(-num_bootstrap // -(-num_bootstrap // largest))


def _resampled_rows(key, n):
    """``n`` row indices drawn uniformly with replacement from ``range(n)``, from one key.

    For ``n = 2^b`` every index is ``b`` bits of a 32-bit threefry word, ``32 // b`` indices
    per word: exactly uniform, at ``b / 64`` of the random words of ``jax.random.randint``
    (which takes two words an index). Other ``n`` use ``jax.random.randint``.
    """
    b = n.bit_length() - 1
    if n != 1 << b:
        return jax.random.randint(key, (n,), 0, n)
    per_word = 32 // b
    words = jax.random.bits(key, (-(-n // per_word),), jnp.uint32)
    shifts = jnp.arange(per_word, dtype=jnp.uint32) * jnp.uint32(b)
    fields = jnp.right_shift(words[:, None], shifts) & jnp.uint32(n - 1)
    return fields.reshape(-1)[:n].astype(jnp.int32)


def _order_statistics(x, positions, largest):
    """Order statistics of ``x`` ``(..., B)`` at ``positions`` counted from the smallest (or,
    with ``largest``, from the largest), by repeatedly taking out the extreme value and all
    its copies: each step is a pass over ``x``, and ``max(positions) + 1`` steps suffice."""
    extreme, fill = (jnp.max, -jnp.inf) if largest else (jnp.min, jnp.inf)

    def step(_: int, carry: tuple) -> tuple:
        y, start, values = carry
        m = extreme(y, axis=-1)
        tie = y == m[..., None]
        stop = start + jnp.sum(tie, axis=-1, dtype=jnp.int32)
        # the copies of m fill the positions start .. stop - 1 of the ordered values
        values = [
            jnp.where((start <= k) & (k < stop), m, v)
            for k, v in zip(positions, values, strict=True)
        ]
        return jnp.where(tie, fill, y), stop, values

    start = jnp.zeros(x.shape[:-1], jnp.int32)
    init = (x, start, [jnp.zeros(x.shape[:-1], x.dtype)] * len(positions))
    return jax.lax.fori_loop(0, max(positions) + 1, step, init)[2]


def _percentiles(r, confidence):
    """Both percentile bounds ``(low, high)`` of the replicates ``r`` ``(..., B)``, exactly as
    ``jnp.quantile`` (linear interpolation) of the ``B`` values, NaN where any is NaN.

    The two order statistics either side of each level are taken out from the nearer end
    (:func:`_order_statistics`) when that takes few passes, which on a CPU costs a small part
    of the full sort of ``jnp.quantile`` (used otherwise).
    """
    num = r.shape[-1]
    alpha = 0.5 * (1.0 - confidence)
    levels = np.asarray([alpha, 1.0 - alpha], r.dtype)
    positions = levels * r.dtype.type(num - 1)
    low, high = np.floor(positions).astype(int), np.ceil(positions).astype(int)
    steps = int(high[0]) + 1 + num - int(low[1])
    if steps > 8 * num.bit_length():
        bounds = jnp.quantile(r, jnp.asarray(levels), axis=-1)
        return bounds[0], bounds[1]
    lower = _order_statistics(r, (int(low[0]), int(high[0])), largest=False)
    upper = _order_statistics(r, (num - 1 - int(low[1]), num - 1 - int(high[1])), largest=True)
    weight = positions - np.floor(positions)  # of the upper order statistic, as jnp.quantile
    nan = jnp.isnan(jnp.sum(r, axis=-1))

    def interpolate(pair: list[jax.Array], w: np.floating) -> jax.Array:
        value = pair[0] * (r.dtype.type(1) - w) + pair[1] * w
        return jnp.where(nan, jnp.nan, value)

    return interpolate(lower, weight[0]), interpolate(upper, weight[1])


def _bootstrap(key, z, estimator, num_bootstrap, confidence):
    """Percentile bootstrap intervals of the per-component indices from re-weighted means.

    Replicate ``r`` draws its rows from the ``r``-th key of ``split(key, num_bootstrap)``
    (:func:`_resampled_rows`), so it does not depend on how replicates are batched. A batch
    of :func:`_bootstrap_batch` replicates re-weights each statistic in one matrix product,
    counts ``(batch, n)`` times statistics ``(n, k)``; only the means are mapped to indices,
    and only to the reported ones (not the variance or the aggregated indices).
    """
    n = jax.tree.leaves(z)[0].shape[0]
    flat = jax.tree.map(lambda v: v.reshape(n, -1), z)

    def replicate(key: PRNGKey) -> dict[str, jax.Array]:
        rows = _resampled_rows(key, n)
        counts = jnp.zeros((n,), flat["ab"].dtype).at[rows].add(1.0) / n
        means = jax.tree.map(lambda v, full: (counts @ v).reshape(full.shape[1:]), flat, z)
        _, parts = _ratios(means, estimator)
        return {name: num / den for name, (num, den) in parts.items()}

    keys = jax.random.split(key, num_bootstrap)
    k = sum(v.shape[1] for v in jax.tree.leaves(flat))
    reps = jax.lax.map(replicate, keys, batch_size=_bootstrap_batch(num_bootstrap, n, k))
    # percentiles along the last (contiguous) axis
    return {
        name: Interval(*_percentiles(jnp.moveaxis(r, 0, -1), confidence))
        for name, r in reps.items()
    }


def _standardisation(pieces):
    """Per-component centre and scale of the outputs in ``pieces``, arrays ``(..., p)`` pooled
    over all their leading axes (never concatenated), safe in any float range.

    A first pass maps the outputs into ``[-1, 1]`` with the mid-range and half-range (no
    squares, so no overflow at ``1e20`` or underflow at ``1e-20`` in float32, and an offset is
    removed exactly); a second pass takes the mean and standard deviation of those values,
    which are at most 1 in size. Returns ``(mid, half, centre, spread, relative)``: outputs
    standardise as ``((y - mid) / half - centre) / spread``, their standard deviation in the
    original units is ``half * spread``, and ``relative`` is the half-range over the largest
    magnitude (0 for outputs that are equal to the last bit).
    """

    def pooled(reduce, values):
        return [reduce(v, axis=tuple(range(v.ndim - 1))) for v in values]

    hi = functools.reduce(jnp.maximum, pooled(jnp.max, pieces))
    lo = functools.reduce(jnp.minimum, pooled(jnp.min, pieces))
    count = sum(v.size // v.shape[-1] for v in pieces)
    mid = 0.5 * hi + 0.5 * lo
    width = hi - lo
    half = jnp.where(jnp.isfinite(width), 0.5 * width, 0.5 * hi - 0.5 * lo)
    magnitude = jnp.maximum(jnp.abs(hi), jnp.abs(lo))
    relative = jnp.where(magnitude > 0, half / jnp.where(magnitude > 0, magnitude, 1), 0)
    half = jnp.where(half > 0, half, jnp.ones_like(half))
    centre = sum(pooled(jnp.sum, [(v - mid) / half for v in pieces])) / count
    deviation = [((v - mid) / half - centre) ** 2 for v in pieces]
    spread = jnp.sqrt(sum(pooled(jnp.sum, deviation)) / count)
    spread = jnp.where(spread > 0, spread, jnp.ones_like(spread))
    return mid, half, centre, spread, relative


def _estimate(key, y_a, y_b, y_ab, y_ba, estimator, num_bootstrap, confidence, pooled=None):
    """Unvalidated core: outputs already flattened to ``(n, p)`` and ``(n, g, p)``.

    Outputs are standardised per component before any sum (:func:`_standardisation`), so
    the indices are invariant to the scale and offset of each output, as they are
    mathematically, and float32 handles outputs of any magnitude it can represent. Returns
    ``(values, stderr, boot, relative, finite)``, ``relative`` ``(p,)`` the outputs'
    half-range over their magnitude (:func:`_standardisation`), 0 where the ``A`` and ``B``
    outputs do not vary, and ``finite`` whether every output is finite (read from the
    extremes the standardisation takes: a NaN or an infinity makes its component's mid-range
    non-finite, and the mid-range of finite extremes never overflows). ``pooled``: the same
    outputs as arrays ``(..., p)`` in any arrangement (e.g. all of them in one array, which
    the pooled sums then read without slicing it), or ``None``.
    """
    if pooled is None:
        pooled = [y_a, y_b, y_ab] if y_ba is None else [y_a, y_b, y_ab, y_ba]
    # indices are exactly invariant to the standardisation, so it is a constant for gradients
    mid, half, centre, spread, relative = jax.lax.stop_gradient(_standardisation(pooled))

    # one multiplication per output instead of two divisions: half * spread is the output's
    # standard deviation, representable wherever the outputs are
    inverse, shift = 1.0 / (half * spread), centre / spread

    def standardise(y: jax.Array | None) -> jax.Array | None:
        return None if y is None else (y - mid) * inverse - shift

    z = _row_statistics(*map(standardise, (y_a, y_b, y_ab, y_ba)), estimator)
    # aggregated indices weight components by their variance; only ratios matter, so the
    # weights are relative to the largest standard deviation (no overflow or underflow)
    scale = half * spread
    largest = jnp.max(scale)
    weights = (scale / jnp.where(largest > 0, largest, 1)) ** 2
    values, stderr = _delta_stderr(z, estimator, weights)
    boot = None
    if num_bootstrap:
        boot = _bootstrap(key, z, estimator, num_bootstrap, confidence)
    # a component whose A and B outputs do not vary counts as constant
    relative = jnp.where(values["variance"] > 0, relative, jnp.zeros_like(relative))
    # in the original units: may overflow (or underflow) where the dtype cannot hold it
    values["variance"] = values["variance"] * scale * scale
    return values, stderr, boot, relative, jnp.all(jnp.isfinite(mid))


_estimate_jit = jax.jit(_estimate, static_argnums=(5, 6, 7))


def _assemble(values, stderr, boot, confidence, out_shape):
    """Reshape flat ``p`` axes to ``out_shape`` and pack an :class:`IndexEstimates`."""
    zq = statistics.NormalDist().inv_cdf(0.5 + 0.5 * confidence)

    def shape(x: jax.Array) -> jax.Array:
        return x.reshape(*x.shape[:-1], *out_shape)

    def field(
        name: str,
    ) -> tuple[jax.Array | None, jax.Array | None, Interval | None, Interval | None]:
        if name not in values:
            return None, None, None, None
        v, s = shape(values[name]), shape(stderr[name])
        b = None if boot is None else Interval(shape(boot[name].low), shape(boot[name].high))
        return v, s, Interval(v - zq * s, v + zq * s), b

    s1, s1_se, s1_ci, s1_b = field("first_order")
    st, st_se, st_ci, st_b = field("total_order")
    s2, s2_se, s2_ci, s2_b = field("second_order")
    return IndexEstimates(
        first_order=s1,
        total_order=st,
        second_order=s2,
        first_order_stderr=s1_se,
        total_order_stderr=st_se,
        second_order_stderr=s2_se,
        first_order_interval=s1_ci,
        total_order_interval=st_ci,
        second_order_interval=s2_ci,
        first_order_bootstrap=s1_b,
        total_order_bootstrap=st_b,
        second_order_bootstrap=s2_b,
        aggregated_first_order=values["aggregated_first_order"],
        aggregated_total_order=values["aggregated_total_order"],
        aggregated_second_order=values.get("aggregated_second_order"),
        aggregated_first_order_stderr=stderr["aggregated_first_order"],
        aggregated_total_order_stderr=stderr["aggregated_total_order"],
        variance=values["variance"].reshape(out_shape),
    )


def _validate_options(estimator, num_bootstrap, confidence):
    check_choice("estimator", estimator, _ESTIMATORS)
    num_bootstrap = check_int("num_bootstrap", num_bootstrap, minimum=0)
    if num_bootstrap == 1:
        raise ValueError("num_bootstrap must be 0 (no bootstrap) or >= 2, got 1")
    confidence = float(check_probability("confidence", confidence))
    return num_bootstrap, confidence


def _factors_first(name: str, y: jax.Array, a_shape: tuple[int, ...], factor_axis: int):
    """``y`` as ``(g, n, *out)`` from the layout named by ``factor_axis``, or a ValueError."""
    n, out_shape = a_shape[0], a_shape[1:]
    layouts = {0: f"(g, {n}, *{out_shape})", 1: f"({n}, g, *{out_shape})"}
    fits = {
        0: y.ndim == len(a_shape) + 1 and y.shape[1:] == a_shape,
        1: y.ndim == len(a_shape) + 1 and y.shape[0] == n and y.shape[2:] == out_shape,
    }
    if not fits[factor_axis]:
        hint = ""
        if fits[1 - factor_axis]:
            hint = f"; this shape fits factor_axis={1 - factor_axis} " + (
                "(SALib's layout)" if factor_axis == 0 else "(the layout of saltelli_design)"
            )
        raise ValueError(
            f"{name} must have shape {layouts[factor_axis]} with factor_axis={factor_axis}, "
            f"got {y.shape}{hint}"
        )
    return y if factor_axis == 0 else jnp.swapaxes(y, 0, 1)


def sobol_indices_from_outputs(
    key: PRNGKey,
    y_a: ArrayLike,
    y_b: ArrayLike,
    y_ab: ArrayLike,
    y_ba: ArrayLike | None = None,
    *,
    factor_axis: int = 0,
    estimator: str = "janon2014",
    num_bootstrap: int = 0,
    confidence: float = 0.95,
) -> IndexEstimates:
    """First, total (and second) order Sobol' indices from pick-freeze outputs.

    With ``Y = f(A)``, ``Y' = f(B)``, ``Y^i = f(AB_i)`` (shares group ``i`` with ``B``) and
    ``Y_i = f(BA_i)``, outputs centred by their pooled mean, ``V = var([Y, Y'])``:

    * Janon et al. (2014): ``S_i = (<Y' Y^i> - <(Y'+Y^i)/2>^2) / (<(Y'^2+Y^i^2)/2> -
      <(Y'+Y^i)/2>^2)`` (asymptotically efficient);
    * Saltelli et al. (2010): ``S_i = <Y' (Y^i - Y)> / V``;
    * Jansen (1999) total: ``T_i = <(Y - Y^i)^2> / (2 V)``;
    * Saltelli (2002) second order: ``S_ij = (<Y_i Y^j - Y Y'> - V S_i - V S_j) / V`` with the
      Saltelli (2010) first-order numerators, for ``i < j`` mirrored to ``j < i``.

    Aggregated indices (Gamboa et al. 2014) replace each ratio by the ratio of sums over output
    components. Standard errors come from the delta method (exact for i.i.d. rows, conservative
    for scrambled Sobol' rows); bootstrap intervals resample rows ``num_bootstrap`` times,
    replicate ``r`` from the ``r``-th key of ``jax.random.split(key, num_bootstrap)``: for ``n``
    a power of two ``2^b`` its rows are ``b``-bit fields of threefry words (``32 // b`` rows
    a word, exactly uniform and independent), else ``jax.random.randint`` draws.
    Cost ``O(n g p)`` (``O(n g^2 p)`` with second order) plus ``O(num_bootstrap n g p)``.
    Differentiable in the outputs. Each output component is standardised (mid-range and
    half-range, then mean and standard deviation) before any sum, so the indices do not depend
    on its scale or offset: float32 outputs of order ``1e17`` or ``1e-20``, or offset by
    ``1e6``, give the indices of the unscaled model up to float32 rounding of the outputs
    themselves (``variance`` is reported in the original units and may overflow or underflow
    where the dtype cannot hold it). Constant outputs give NaN; :func:`sobol_indices` checks.

    Layouts: ``factor_axis=0`` (the default) takes ``y_ab`` and ``y_ba`` as ``(g, n, *out)``,
    the layout of ``f(design.ab)`` for a :func:`edtjax.sensitivity.saltelli_design`;
    ``factor_axis=1`` takes ``(n, g, *out)``, the layout of SALib, whose ``Y`` for
    ``sobol.analyze`` is, per base row, ``[f(A), f(AB_1..g), (f(BA_1..g)), f(B)]``: with
    ``Y2 = Y.reshape(n, -1)``, pass ``y_a = Y2[:, 0]``, ``y_b = Y2[:, -1]``,
    ``y_ab = Y2[:, 1:g+1]`` and ``y_ba = Y2[:, g+1:2g+1]``. The axis is never guessed from
    the shapes (``n = g`` would be ambiguous): a shape that fits only the other layout raises
    a ``ValueError`` that says so.

    Args:
        key: PRNG key for the bootstrap (unused when ``num_bootstrap=0``).
        y_a: ``(n, *out)`` outputs on ``A``.
        y_b: ``(n, *out)`` outputs on ``B``.
        y_ab: ``(g, n, *out)`` outputs on ``AB_i`` (``(n, g, *out)`` with ``factor_axis=1``).
        y_ba: optional outputs on ``BA_i``, same shape as ``y_ab`` (enables second order).
        factor_axis: axis of ``y_ab``/``y_ba`` that runs over the factors (groups): ``0`` or
            ``1`` (SALib's layout).
        estimator: first-order estimator, ``"janon2014"`` or ``"saltelli2010"``.
        num_bootstrap: number of bootstrap resamples (0: none).
        confidence: level of both intervals.

    Returns:
        :class:`IndexEstimates`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.sensitivity import saltelli_design
        >>> d = saltelli_design(jax.random.key(0), 256, 2)
        >>> f = lambda x: x[..., 0] + 0.5 * x[..., 1]
        >>> r = sobol_indices_from_outputs(jax.random.key(1), f(d.a), f(d.b), f(d.ab))
        >>> r.first_order.shape
        (2,)
        >>> r_salib = sobol_indices_from_outputs(
        ...     jax.random.key(1), f(d.a), f(d.b), f(d.ab).T, factor_axis=1)
        >>> bool(jnp.allclose(r_salib.first_order, r.first_order))
        True

    References:
        Saltelli, A. (2002). Comput. Phys. Commun. 145, 280-297.
        Saltelli, A. et al. (2010). Comput. Phys. Commun. 181, 259-270.
        Janon, A., Klein, T., Lagnoux, A., Nodet, M., Prieur, C. (2014). Asymptotic normality and
        efficiency of two Sobol index estimators. ESAIM: P&S 18, 342-364.
        Jansen, M. J. W. (1999). Analysis of variance designs for model output. Comput. Phys.
        Commun. 117, 35-43.
        Gamboa, F., Janon, A., Klein, T., Lagnoux, A. (2014). Sensitivity analysis for
        multidimensional and functional outputs. Electron. J. Statist. 8, 575-603.
    """
    num_bootstrap, confidence = _validate_options(estimator, num_bootstrap, confidence)
    y_a = as_array("y_a", y_a)
    y_b = as_array("y_b", y_b)
    y_ab = as_array("y_ab", y_ab)
    if y_a.ndim < 1 or y_a.shape[0] < 2:
        raise ValueError(f"y_a must have shape (n, *out) with n >= 2, got {y_a.shape}")
    n, out_shape = y_a.shape[0], y_a.shape[1:]
    if y_b.shape != y_a.shape:
        raise ValueError(f"y_b must have shape {y_a.shape} like y_a, got {y_b.shape}")
    factor_axis = check_int("factor_axis", factor_axis, minimum=0, maximum=1)
    y_ab_shape = y_ab.shape
    y_ab = _factors_first("y_ab", y_ab, y_a.shape, factor_axis)
    g = y_ab.shape[0]
    if y_ba is not None:
        y_ba = as_array("y_ba", y_ba)
        if y_ba.shape != y_ab_shape:
            raise ValueError(f"y_ba must have shape {y_ab_shape} like y_ab, got {y_ba.shape}")
        y_ba = _factors_first("y_ba", y_ba, y_a.shape, factor_axis)
    p = 1
    for s in out_shape:
        p *= s

    def flat(y: jax.Array | None) -> jax.Array | None:
        return None if y is None else jnp.moveaxis(y.reshape(g, n, p), 0, 1)

    values, stderr, boot, _, _ = _estimate_jit(
        key,
        y_a.reshape(n, p),
        y_b.reshape(n, p),
        flat(y_ab),
        flat(y_ba),
        estimator,
        num_bootstrap,
        confidence,
    )
    return _assemble(values, stderr, boot, confidence, out_shape)
