r"""Entropic optimal transport between point clouds: thin, typed wrappers over ott-jax.

For empirical measures :math:`\mu = \sum_i a_i \delta_{x_i}` and
:math:`\nu = \sum_j b_j \delta_{y_j}` with squared Euclidean cost
:math:`C_{ij} = \|x_i - y_j\|^2`, the entropic problem is

.. math::

    \mathrm{OT}_\varepsilon(\mu, \nu) = \min_{P \in \Pi(a, b)}
    \langle P, C \rangle + \varepsilon\, \mathrm{KL}(P \,\|\, a b^\top),

solved by ott-jax's log-domain Sinkhorn (no re-implementation here), or, where its result is
certified, by a kernel-domain Sinkhorn loop differentiated by ott-jax's implicit
differentiation, with ``entropic_ot(..., domain="auto")`` (see :func:`entropic_ot`).
The optimal plan is :math:`P_{ij} = \exp((f_i + g_j - C_{ij}) / \varepsilon)` for dual
potentials :math:`f, g`.
When ``epsilon`` is ``None`` it is chosen from the data scale as ott-jax does:
:math:`\varepsilon = 0.05\,\mathrm{std}(C)` (the standard deviation over all :math:`nm`
pairs). When every cost is equal (e.g. two point masses) every coupling has the same cost and
the entropic plan is :math:`ab^\top` for every :math:`\varepsilon`; the scale then falls back
to :math:`\mathrm{mean}(C)`, or to 1 if all costs are zero, so the answer is exact, not NaN.

Offsets: ott-jax expands :math:`\|x - y\|^2 = \|x\|^2 + \|y\|^2 - 2\langle x, y\rangle`,
which cancels catastrophically when the points are far from the origin compared with their
spread (in float32 at an offset of :math:`10^3` the cost of unit-spread clouds was off by 25%,
at :math:`10^4` it was NaN). The cost is invariant under a common translation, so the solves
run on the clouds translated by one common centre (the midpoint of their weighted means):
the plan, the potentials and the costs are those of the original problem, computed at the
precision of the spread rather than of the offset. Entropic maps go further: the plan is also
unchanged when each cloud is translated *separately* (that changes :math:`C_{ij}` by terms in
:math:`i` alone or :math:`j` alone, which the potentials absorb), so :func:`entropic_map`
centres each cloud on its own weighted mean and :func:`apply_entropic_map` translates back,
which keeps maps between far-apart clouds exact too. The default :math:`\varepsilon` is
computed in the same separately centred form.

Results carry their inputs, as ott-jax's outputs do: :meth:`EntropicOT.plan` and
:meth:`EntropicOT.map` read the plan and the entropic map from a solve, and
:meth:`EntropicMap.apply` evaluates a map, without solving again.

Cost: each log-domain Sinkhorn iteration is :math:`O(nmd)` time and :math:`O(nm)` memory
(ott-jax's point-cloud geometry without batching forms the cost matrix); the default
:math:`\varepsilon` and the transport cost :math:`\langle P, C\rangle` each form it once
more. A kernel-domain iteration (``domain="auto"``) is two matrix-vector products with the
kernel, :math:`O(nm)`; the cost matrix and the kernel are formed once and held, and the
transport cost is read from them. The number of iterations grows like :math:`1/\varepsilon`.

Precision: the solves run in JAX and follow its dtype rules, so with x64 off a float64 NumPy
input is computed in float32; enable x64 for float64 solves. (The exact assignments of
:mod:`~edtjax.transport.ranks` run on the host in float64 whatever the setting.)
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import lineax as lx
from ott.geometry import costs, geometry, pointcloud
from ott.problems.linear import linear_problem
from ott.solvers import linear
from ott.solvers.linear import implicit_differentiation as ott_implicit
from ott.solvers.linear import sinkhorn as ott_sinkhorn
from ott.tools import sinkhorn_divergence as ott_divergence

from edtjax import _checks
from edtjax.transport import _scaling
from edtjax.transport._centring import row_mean, weighted_row_mean

__all__ = [
    "EntropicMap",
    "EntropicOT",
    "apply_entropic_map",
    "entropic_map",
    "entropic_ot",
    "entropic_plan",
    "sinkhorn_divergence",
]


class EntropicOT(NamedTuple):
    r"""Result of an entropic OT solve; it carries its inputs, so the plan and the entropic
    map are read from it without solving again.

    Attributes:
        transport_cost: :math:`\langle P, C \rangle` for the entropic plan (scalar); this is
            what POT's ``sinkhorn2`` returns.
        regularized_cost: :math:`\langle P, C\rangle + \varepsilon\,\mathrm{KL}(P\|ab^\top)`
            at the solution (scalar), ott-jax's ``reg_ot_cost``.
        f: first dual potential, shape ``(n,)``.
        g: second dual potential, shape ``(m,)``; the plan is
            :math:`P_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)` (ott-jax's convention:
            the potentials contain :math:`\varepsilon\log a_i` and :math:`\varepsilon\log b_j`).
        epsilon: the regularisation actually used (scalar).
        converged: whether Sinkhorn reached ``threshold`` within ``max_iterations``.
        x: source points, shape ``(n, d)``.
        y: target points, shape ``(m, d)``.
        a: source weights, shape ``(n,)``.
        b: target weights, shape ``(m,)``.
    """

    transport_cost: jax.Array
    regularized_cost: jax.Array
    f: jax.Array
    g: jax.Array
    epsilon: jax.Array
    converged: jax.Array
    x: jax.Array
    y: jax.Array
    a: jax.Array
    b: jax.Array

    def plan(self) -> jax.Array:
        r"""The entropic plan :math:`P_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)`.

        Read from the potentials, with the costs formed as in the solve (clouds translated by
        their common centre), so it equals :func:`entropic_plan` on the same arguments.

        Returns:
            Shape ``(n, m)``. Cost :math:`O(nmd)` time, :math:`O(nm)` memory.
            Differentiable like the solve.

        Example:
            >>> import jax
            >>> x = jax.random.normal(jax.random.key(0), (8, 2))
            >>> entropic_ot(x, x + 1.0, epsilon=0.1).plan().shape
            (8, 8)
        """
        c = _common_centre(self.x, self.y, self.a, self.b)
        return _plan(_geometry(self.x - c, self.y - c, self.epsilon), self.f, self.g)

    def map(self) -> EntropicMap:
        r"""The entropic map of this solve, an :class:`EntropicMap` (no new solve).

        The potentials are those of the clouds translated by their common centre, which is
        stored as both ``x_center`` and ``y_center``; :meth:`EntropicMap.apply` then gives
        the same map as :func:`entropic_map` with the same arguments, up to the tolerance of
        the two solves. :func:`entropic_map` centres each cloud on its own mean instead,
        which keeps the map accurate to the spread of the clouds when they lie far apart
        compared with it; use it in that case.

        Example:
            >>> import jax
            >>> x = jax.random.normal(jax.random.key(0), (64, 2))
            >>> entropic_ot(x, x + 1.0, epsilon=0.1).map().apply(x[:3]).shape
            (3, 2)
        """
        c = _common_centre(self.x, self.y, self.a, self.b)
        return EntropicMap(
            x=self.x,
            y=self.y,
            a=self.a,
            b=self.b,
            f=self.f,
            g=self.g,
            epsilon=self.epsilon,
            x_center=c,
            y_center=c,
        )


class EntropicMap(NamedTuple):
    r"""Fitted entropic (Pooladian–Niles-Weed) transport map between two point clouds.

    Attributes:
        x: source points, shape ``(n, d)``.
        y: target points, shape ``(m, d)``.
        a: source weights, shape ``(n,)``.
        b: target weights, shape ``(m,)``.
        f: source dual potential on ``x``, shape ``(n,)``, of the problem between the
            centred clouds ``x - x_center`` and ``y - y_center`` (same plan as the original
            problem; the potentials differ from the uncentred ones by terms linear in the
            points, which keeps them at the precision of the spread at any offset).
        g: target dual potential on ``y``, shape ``(m,)``, centred likewise.
        epsilon: regularisation used (scalar).
        x_center: centre of the source coordinates of ``f``, shape ``(d,)``: the weighted
            mean :math:`\sum_i a_i x_i` for :func:`entropic_map`, the common centre of both
            clouds for :meth:`EntropicOT.map`.
        y_center: centre of the target coordinates of ``g``, shape ``(d,)``: the weighted
            mean :math:`\sum_j b_j y_j`, or the common centre likewise.
    """

    x: jax.Array
    y: jax.Array
    a: jax.Array
    b: jax.Array
    f: jax.Array
    g: jax.Array
    epsilon: jax.Array
    x_center: jax.Array
    y_center: jax.Array

    def apply(self, z: jax.Array, forward: bool = True) -> jax.Array:
        r"""Evaluate the map at points ``z`` (no new solve; no argument checks, so it runs
        inside ``jit``, ``vmap`` and ``grad`` as it is; :func:`apply_entropic_map` is the
        checked entry point).

        The map is the softmax-weighted barycentre of the other cloud, the same as ott-jax's
        ``to_dual_potentials().transport`` (:math:`z - \nabla f_\varepsilon(z)/2`) but in
        closed form: the autodiff formula subtracts two numbers of size :math:`|z|`, which in
        float32 loses all accuracy once :math:`|z|` is large compared with the clouds' spread.
        The row term :math:`|z|^2` of the cost cancels in the softmax and is dropped.
        Everything is computed in the centred coordinates of the fit (query minus the centre
        of its own side, support minus its centre) and translated back at the end. The
        weights of the other cloud enter through its potential only (see
        :func:`entropic_map`).

        Args:
            z: points, shape ``(k, d)``, of the map's dtype.
            forward: ``True`` maps source space to target space, ``False`` target to source.

        Returns:
            Shape ``(k, d)``. Cost :math:`O(kmd)` (:math:`O(knd)` backwards).
            Differentiable in ``z`` and in the map.

        Example:
            >>> import jax
            >>> x = jax.random.normal(jax.random.key(0), (64, 2))
            >>> entropic_map(x, x + 1.0, epsilon=0.05).apply(x[:3]).shape
            (3, 2)
        """
        if forward:
            support, centre, potential, z_centre = self.y, self.y_center, self.g, self.x_center
        else:
            support, centre, potential, z_centre = self.x, self.x_center, self.f, self.y_center
        hi = jax.lax.Precision.HIGHEST
        s = support - centre
        logits = (
            potential + 2.0 * jnp.matmul(z - z_centre, s.T, precision=hi) - jnp.sum(s * s, axis=1)
        ) / self.epsilon
        return jnp.matmul(jax.nn.softmax(logits, axis=-1), s, precision=hi) + centre


def _validate_clouds(x: Any, y: Any) -> tuple[jax.Array, jax.Array]:
    """Two finite ``(n, d)`` and ``(m, d)`` clouds of >= 2 points, cast to a common float dtype."""
    x = _checks.as_array("x", x, ndim=2)
    y = _checks.as_array("y", y, ndim=2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of columns (dimension), got {x.shape[1]} "
            f"and {y.shape[1]}"
        )
    for name, arr in (("x", x), ("y", y)):
        if arr.shape[0] < 2:
            raise ValueError(f"{name} must have at least 2 points, got {arr.shape[0]}")
    dtype = jnp.result_type(x.dtype, y.dtype, float)
    return x.astype(dtype), y.astype(dtype)


def _validate_pair(x: Any, y: Any, a: Any, b: Any, epsilon: Any):
    x, y = _validate_clouds(x, y)
    dtype = x.dtype
    a = _validate_weights("a", a, x.shape[0], dtype)
    b = _validate_weights("b", b, y.shape[0], dtype)
    if epsilon is not None:
        _checks.check_real("epsilon", epsilon, minimum=0.0, strict_minimum=True)
        epsilon = jnp.asarray(epsilon, dtype=dtype)
    return x, y, a, b, epsilon


def _validated_call(solver, x, y, a, b, epsilon, threshold, max_iterations, **static):
    r"""Validate the public arguments shared by every solve, then call the jitted ``solver``
    (``static`` holds its further static options, already checked)."""
    _checks.check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    max_iterations = _checks.check_int("max_iterations", max_iterations, minimum=1)
    x, y, a, b, epsilon = _validate_pair(x, y, a, b, epsilon)
    return solver(x, y, a, b, epsilon, float(threshold), max_iterations, **static)


def _validate_weights(name: str, w: Any, size: int, dtype: Any) -> jax.Array:
    if w is None:
        return jnp.full((size,), 1.0 / size, dtype=dtype)
    w = _checks.as_array(name, w, ndim=1).astype(dtype)
    if w.shape[0] != size:
        raise ValueError(f"{name} must have one weight per point ({size}), got {w.shape[0]}")
    if _checks.is_concrete(w):
        if bool(jnp.any(w < 0)):
            raise ValueError(f"{name} must be non-negative")
        if abs(float(jnp.sum(w)) - 1.0) > 1e-4:
            raise ValueError(f"{name} must sum to 1, got {float(jnp.sum(w))}")
    return w


def _normal_cg(**kwargs: Any) -> lx.AbstractLinearSolver:
    r"""Conjugate gradient on the normal equations (lineax's non-deprecated spelling)."""
    return lx.Normal(lx.CG(**kwargs))


def _solver_kwargs(dtype: Any, threshold: float, max_iterations: int) -> dict[str, Any]:
    r"""Sinkhorn options: log domain, tolerance, and implicit differentiation whose linear
    solves are as accurate as the forward fixed point (never below the dtype's resolution)."""
    floor = 1e-6 if jnp.finfo(dtype).bits <= 32 else 1e-12
    tol = max(float(threshold), floor)
    implicit = ott_implicit.ImplicitDiff(
        solver_kwargs={"nonsym_solver": _normal_cg, "rtol": tol, "atol": tol}
    )
    return {
        "lse_mode": True,
        "threshold": threshold,
        "max_iterations": max_iterations,
        "implicit_diff": implicit,
    }


_DEFAULT_EPSILON_SCALE = 0.05  # ott-jax's DEFAULT_EPSILON_SCALE


def _common_centre(x, y, a, b) -> jax.Array:
    r"""The common centre by which both clouds are translated: the midpoint of their weighted
    means, shape ``(d,)``.

    :math:`C_{ij}` is unchanged, so are the plan, potentials and costs; the centre carries no
    gradient (the result does not depend on it).
    """
    return jax.lax.stop_gradient(0.5 * (weighted_row_mean(a, x) + weighted_row_mean(b, y)))


def _default_epsilon(x: jax.Array, y: jax.Array) -> jax.Array:
    r""":math:`0.05\,\mathrm{std}(C)` over all pairs, computed without cancellation.

    With :math:`x = c_x + x'`, :math:`y = c_y + y'` (each cloud centred on its mean) and
    :math:`\delta = c_x - c_y`, :math:`C_{ij} = \|x'_i - y'_j\|^2 + 2\langle\delta,
    x'_i - y'_j\rangle + \|\delta\|^2`; the constant drops out of the standard deviation,
    so no term carries the offset. A zero standard deviation (all costs equal: every plan is
    optimal and the entropic plan is :math:`ab^\top` for any :math:`\varepsilon`) falls back
    to the mean cost, then to 1.
    """
    cx, cy = row_mean(x), row_mean(y)
    xs, ys, delta = x - cx, y - cy, cx - cy
    cross = jnp.matmul(xs, ys.T, precision=jax.lax.Precision.HIGHEST)
    dev = (
        jnp.sum(xs * xs, axis=1)[:, None]
        + jnp.sum(ys * ys, axis=1)[None, :]
        - 2.0 * cross
        + 2.0 * jnp.sum(xs * delta, axis=1)[:, None]
        - 2.0 * jnp.sum(ys * delta, axis=1)[None, :]
    )
    mean_dev = jnp.mean(dev)
    std = jnp.sqrt(jnp.mean((dev - mean_dev) ** 2))
    mean = mean_dev + jnp.sum(delta * delta)
    scale = jnp.where(std > 0, std, jnp.where(mean > 0, mean, 1.0))
    return jax.lax.stop_gradient(_DEFAULT_EPSILON_SCALE * scale).astype(x.dtype)


def _geometry(x, y, epsilon) -> pointcloud.PointCloud:
    r"""ott-jax's squared-Euclidean point-cloud geometry of ``x`` and ``y`` as given."""
    return pointcloud.PointCloud(x, y, cost_fn=costs.SqEuclidean(), epsilon=epsilon)


def _cost_matrix(x: jax.Array, y: jax.Array) -> jax.Array:
    r"""The squared Euclidean costs :math:`\|x_i - y_j\|^2`, shape ``(n, m)``, as ott-jax's
    point cloud expands them, :math:`\|x_i\|^2 + \|y_j\|^2 - 2\langle x_i, y_j\rangle`
    (callers centre the clouds first), but in one matrix product of the clouds augmented by
    two columns, :math:`[x, \|x\|^2, 1]\,[-2y, 1, \|y\|^2]^\top`, which writes the matrix in
    one pass instead of a product followed by an elementwise pass."""
    x_sq = jnp.sum(x * x, axis=1, keepdims=True)
    y_sq = jnp.sum(y * y, axis=1, keepdims=True)
    x_aug = jnp.concatenate([x, x_sq, jnp.ones_like(x_sq)], axis=1)
    y_aug = jnp.concatenate([-2.0 * y, jnp.ones_like(y_sq), y_sq], axis=1)
    return jnp.matmul(x_aug, y_aug.T, precision=jax.lax.Precision.HIGHEST)


def _plan(geom: pointcloud.PointCloud, f: jax.Array, g: jax.Array) -> jax.Array:
    r"""ott-jax's plan :math:`\exp((f_i + g_j - C_{ij})/\varepsilon)` on ``geom``, ``(n, m)``."""
    return geom.transport_from_potentials(f, g)


def _transport_cost(geom: pointcloud.PointCloud, f: jax.Array, g: jax.Array) -> jax.Array:
    r""":math:`\langle P, C\rangle` with the plan's entries in closed form from the potentials.

    One pass over the cost matrix (XLA fuses the cross-product ``x y^T``, the elementwise
    plan, its product with the cost and the sum into one computation on CPU), so it costs
    about one Sinkhorn iteration. ott-jax's ``primal_cost`` gives the
    same number (to rounding) by applying the plan to the :math:`d + 2` columns of the
    low-rank factorisation of the cost, :math:`d + 2` log-domain passes.
    """
    return jnp.sum(_plan(geom, f, g) * geom.cost_matrix)


def _solve(x, y, a, b, epsilon, threshold, max_iterations):
    r"""Run ott-jax's Sinkhorn on the point-cloud geometry of ``x`` and ``y`` as given;
    returns ``SinkhornOutput``. Callers centre the clouds first."""
    return linear.solve(
        _geometry(x, y, epsilon), a=a, b=b, **_solver_kwargs(x.dtype, threshold, max_iterations)
    )


def _solve_centred(x, y, a, b, epsilon, threshold, max_iterations):
    r"""The solve on the commonly centred clouds, with the default epsilon if ``None``."""
    if epsilon is None:
        epsilon = _default_epsilon(x, y)
    c = _common_centre(x, y, a, b)
    return _solve(x - c, y - c, a, b, epsilon, threshold, max_iterations)


_DOMAINS = ("log", "auto")


@jax.tree_util.register_pytree_node_class
class _FixedKernel(geometry.Geometry):
    r"""ott-jax geometry holding a precomputed kernel at one fixed :math:`\varepsilon`.

    :class:`ott.geometry.geometry.Geometry` raises its kernel to the power
    :math:`\varepsilon_0/\varepsilon` on every application (for schedules of
    :math:`\varepsilon`), an elementwise power over :math:`nm` entries per half-iteration that
    costs more than the exponentials of a log-domain step; with one fixed :math:`\varepsilon`
    the kernel is applied as it is, a matrix-vector product. The kernel-domain iterations run
    in :func:`edtjax.transport._scaling.iterate`; this geometry serves ott-jax's implicit
    differentiation of their fixed point and its regularised cost.
    """

    def apply_kernel(self, vec: jax.Array, eps: Any = None, axis: int = 0) -> jax.Array:
        kernel = self._kernel_matrix
        if axis == 1:
            return jnp.dot(kernel, vec)
        # K^T vec contracted over the kernel's rows as it lies in memory (no transposed copy)
        return jnp.moveaxis(jnp.tensordot(vec, kernel, axes=(0, 0)), -1, 0)


def _kernel_is_safe(kernel: jax.Array) -> jax.Array:
    r"""Whether no entry of the kernel :math:`\exp(-\tilde C/\varepsilon)` has underflowed:
    its smallest entry is at least the dtype's smallest normal number (the largest reduced
    cost over :math:`\varepsilon` is below 87.3 in float32, 708.4 in float64). Read from the
    kernel as computed, so entries flushed to zero count as underflowed."""
    return jnp.min(kernel) >= jnp.finfo(kernel.dtype).tiny


def _subnormal_mass(
    reduced_cost, epsilon, log_u, log_v, kernel_is_safe
) -> tuple[jax.Array, jax.Array]:
    r"""Plan mass on the entries that the kernel-domain arithmetic holds below the dtype's
    smallest normal number :math:`t`, and the limit it must stay under: ``(mass, limit)``.

    The plan is :math:`P_{ij} = u_i K_{ij} v_j` with :math:`u = e^{\text{log\_u}}`,
    :math:`v = e^{\text{log\_v}}`, :math:`K_{ij} = e^{-r_{ij}}`, :math:`r = \tilde
    C/\varepsilon`. An entry is *flagged* when :math:`K_{ij}`, :math:`K_{ij} v_j` or
    :math:`u_i K_{ij}` is below :math:`t`, i.e. :math:`r_{ij} - \min(0, \log u_i, \log v_j) >
    -\log t` (every entry of a row or column whose scaling is itself below :math:`t` is).
    Elsewhere every kernel entry, scaling and product is a normal number, rounded relatively
    as in the log domain. A flagged entry, flushed to zero or held as a subnormal, is off by at
    most its own value, so the marginals that the solver measured differ from those of the
    plan :math:`\exp((f_i + g_j - C_{ij})/\varepsilon)` read from its potentials by at most
    the flagged mass :math:`D` each. A flagged entry is below :math:`u_i v_j t` (a kernel
    entry; only where some entry underflows, see :func:`_kernel_is_safe`), :math:`u_i t` or
    :math:`v_j t` (a product), so :math:`D < t\,(\sum u \sum v + m \sum u + n \sum v)`,
    without the first term where no kernel entry underflows. These :math:`O(n + m)` bounds (in
    logs) are tried in turn: the one with all three terms, then, where the kernel is safe, the
    one without the first; the first below ``limit`` is returned, else the exact mass, one pass
    over the :math:`nm` entries. ``limit`` is half the dtype's resolution (the plan's total mass
    is 1). ``reduced_cost`` (returning :math:`\tilde C`) and ``kernel_is_safe`` (returning
    :func:`_kernel_is_safe` of the kernel, a pass over it) are functions, called only where
    their answer is needed, so the usual case costs no pass over :math:`nm` entries.
    """
    dtype = log_u.dtype
    log_tiny = math.log(float(jnp.finfo(dtype).tiny))
    limit = jnp.asarray(0.5 * float(jnp.finfo(dtype).eps), dtype)
    n, m = log_u.shape[0], log_v.shape[0]
    lse = jax.scipy.special.logsumexp
    sum_u, sum_v = lse(log_u), lse(log_v)
    products = lse(jnp.stack([math.log(m) + sum_u, math.log(n) + sum_v]))
    bound_all = jnp.exp(log_tiny + jnp.logaddexp(sum_u + sum_v, products))
    bound_products = jnp.exp(log_tiny + products)

    def exact():
        r = reduced_cost() / epsilon
        floor = jnp.minimum(0.0, jnp.minimum(log_u[:, None], log_v[None, :]))
        flagged = r - floor > -log_tiny
        return jnp.sum(jnp.where(flagged, jnp.exp(log_u[:, None] + log_v[None, :] - r), 0.0))

    def without_kernel_term():
        safe = kernel_is_safe() & (bound_products <= limit)
        return jax.lax.cond(safe, lambda: bound_products, exact)

    return jax.lax.cond(bound_all <= limit, lambda: bound_all, without_kernel_term), limit


def _solve_domain(x, y, a, b, epsilon, threshold, max_iterations, domain):
    r"""Potentials, regularised cost, transport cost and convergence flag of the solve on
    ``x`` and ``y`` as given, in the log domain or, for ``domain="auto"``, in the kernel domain
    where its result is certified.

    Kernel domain: the cost is reduced to :math:`\tilde C_{ij} = C_{ij} - \alpha_i - \beta_j`
    with :math:`\alpha_i = \min_j C_{ij}`, :math:`\beta_j = \min_i (C_{ij} - \alpha_i)`
    (every row and column of the kernel then holds an entry 1, so no row or column of it
    vanishes; the plan is unchanged and the potentials shift by :math:`\alpha, \beta`), the
    kernel :math:`\exp(-\tilde C/\varepsilon)` is formed once, and Sinkhorn runs on scalings
    (:func:`edtjax.transport._scaling.solve`), stopping early if a scaling leaves the dtype's
    range.
    Its result is kept when it has converged, its potentials are finite and the plan mass that
    its arithmetic held below the smallest normal number is below half the dtype's resolution
    (:func:`_subnormal_mass`); otherwise the log-domain solve replaces it.
    """
    kwargs = _solver_kwargs(x.dtype, threshold, max_iterations)

    def log_solve():
        out = linear.solve(_geometry(x, y, epsilon), a=a, b=b, **kwargs)
        cost = _transport_cost(_geometry(x, y, epsilon), out.f, out.g)
        return out.f, out.g, out.reg_ot_cost, cost, out.converged

    if domain == "log":
        return log_solve()
    *kernel_result, kept = _kernel_solve(x, y, a, b, epsilon, kwargs)
    return jax.lax.cond(kept, lambda: tuple(kernel_result), log_solve)


def _kernel_solve(x, y, a, b, epsilon, kwargs):
    r"""The kernel-domain solve of :func:`_solve_domain` and whether its result is kept:
    ``(f, g, regularized_cost, transport_cost, converged, kept)``, potentials for the
    unreduced cost.

    The cost matrix and the kernel are each formed once and held: the transport cost
    :math:`\sum_{ij} u_i K_{ij} v_j C_{ij}` is read from them, without a second pass of
    exponentials (:math:`u_i K_{ij} v_j = \exp((f_i + g_j - C_{ij})/\varepsilon)`, the plan of
    :func:`_transport_cost`, to rounding; the result is kept only where the plan mass below the
    smallest normal number is negligible). Memory: two :math:`n \times m` arrays.
    """
    cost = _cost_matrix(x, y)
    frozen = jax.lax.stop_gradient(cost)
    alpha = jnp.min(frozen, axis=1)
    beta = jnp.min(frozen - alpha[:, None], axis=0)

    def reduced_cost():
        return cost - alpha[:, None] - beta[None, :]

    kernel = jnp.exp(-reduced_cost() / epsilon)
    prob = linear_problem.LinearProblem(_FixedKernel(kernel_matrix=kernel, epsilon=epsilon), a, b)
    options = kwargs["threshold"], kwargs["max_iterations"], kwargs["implicit_diff"]
    f, g, error = _scaling.solve(prob, *options)
    converged = error < kwargs["threshold"]
    finite = jnp.all(jnp.isfinite(f)) & jnp.all(jnp.isfinite(g))
    log_u, log_v = jax.lax.stop_gradient((f / epsilon, g / epsilon))
    mass, limit = _subnormal_mass(
        lambda: jax.lax.stop_gradient(reduced_cost()),
        epsilon,
        log_u,
        log_v,
        lambda: _kernel_is_safe(jax.lax.stop_gradient(kernel)),
    )
    kept = converged & finite & (mass <= limit)
    # ott-jax's regularised cost of a solve, its potentials frozen (Danskin), as in its output
    reg = ott_sinkhorn.compute_kl_reg_cost(
        jax.lax.stop_gradient(f), jax.lax.stop_gradient(g), prob, lse_mode=False
    )
    shift = jnp.sum(a * alpha) + jnp.sum(b * beta)
    u, v = jnp.exp(f / epsilon), jnp.exp(g / epsilon)
    transport_cost = jnp.sum(u[:, None] * kernel * v[None, :] * cost)
    return f + alpha, g + beta, reg + shift, transport_cost, converged, kept


@partial(jax.jit, static_argnames=("threshold", "max_iterations", "domain"))
def _entropic_ot(x, y, a, b, epsilon, threshold, max_iterations, domain="log") -> EntropicOT:
    if epsilon is None:
        epsilon = _default_epsilon(x, y)
    epsilon = jnp.asarray(epsilon, dtype=x.dtype)
    c = _common_centre(x, y, a, b)
    xc, yc = x - c, y - c
    f, g, reg, cost, converged = _solve_domain(
        xc, yc, a, b, epsilon, threshold, max_iterations, domain
    )
    return EntropicOT(
        transport_cost=cost,
        regularized_cost=reg,
        f=f,
        g=g,
        epsilon=epsilon,
        converged=converged,
        x=x,
        y=y,
        a=a,
        b=b,
    )


def entropic_ot(
    x: Any,
    y: Any,
    *,
    a: Any = None,
    b: Any = None,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
    domain: str = "log",
) -> EntropicOT:
    r"""Entropic OT between two weighted point clouds (squared Euclidean cost).

    ``domain="auto"`` runs Sinkhorn on scalings (kernel domain), which on CPU is several times
    faster per iteration than the log domain: a matrix-vector product with the kernel
    :math:`K = \exp(-\tilde C/\varepsilon)`, formed once, instead of a log-sum-exp over the
    :math:`nm` costs. The iterations are ott-jax's (:math:`v = b / K^\top u`,
    :math:`u = a / K v` from :math:`u = 1`, the same stopping rule) in a loop that reads the
    marginal error after every iteration from the product the next update uses (ott-jax
    computes it every 10 iterations with one more product) and forms :math:`K^\top u` as
    :math:`u^\top K`, which XLA's CPU backend runs several times faster than a product with
    the transposed kernel; gradients are ott-jax's implicit differentiation of its fixed
    point. :math:`\tilde C_{ij} = C_{ij} - \alpha_i - \beta_j` is the cost
    reduced by its row minima :math:`\alpha` and then its column minima :math:`\beta` (same
    plan; the potentials shift by :math:`\alpha, \beta` and are returned for :math:`C`), so
    every row and column of :math:`K` holds an entry 1. Kernel entries may underflow: what
    breaks the kernel domain is scalings :math:`u = e^{f/\varepsilon}`,
    :math:`v = e^{g/\varepsilon}` outside the dtype's range, which stops the kernel-domain
    iterations early (a zero or infinite kernel product makes the marginal error NaN, which
    ends the loop), or plan mass carried by numbers below the dtype's smallest
    normal number. The kernel-domain result is returned when it has converged with finite
    potentials and that mass, bounded from the scalings in :math:`O(n + m)` or else summed
    in one pass, is below half the dtype's resolution, so it changes the marginals by less
    than rounding; otherwise the log-domain solve is run, from the start, and its result
    returned (a failed kernel attempt costs its iterations; for standard-normal clouds with
    :math:`\varepsilon` at 5% of the mean cost the kernel domain is kept in float32 and
    float64, at 1% in float32 it fails). Both stop on the same marginal error, so the results
    agree within ``threshold``. Under ``jax.vmap`` the choice is made per member by a select,
    so both solves run for every member (JAX evaluates both branches of a batched
    ``lax.cond``): a batched ``"auto"`` costs a kernel-domain plus a log-domain solve; use
    ``"log"`` there, or map over the members unbatched (e.g. ``jax.lax.map``).

    Args:
        x: source points, shape ``(n, d)``.
        y: target points, shape ``(m, d)``.
        a: source weights ``(n,)`` summing to one; uniform if ``None``.
        b: target weights ``(m,)``; uniform if ``None``.
        epsilon: entropic regularisation :math:`\varepsilon > 0`; ``None`` picks
            :math:`0.05\,\mathrm{std}(C)` from the data scale (:math:`0.05\,\mathrm{mean}(C)`
            if all costs are equal, 0.05 if all are zero; see the module notes).
        threshold: Sinkhorn stops when the marginal error (1-norm) is below this.
        max_iterations: Sinkhorn iteration cap (static).
        domain: ``"log"`` (log-domain Sinkhorn) or ``"auto"`` (kernel domain where its
            result is certified, see above; static).

    Returns:
        :class:`EntropicOT` with costs, potentials, epsilon, the convergence flag and the
        inputs; its :meth:`~EntropicOT.plan` and :meth:`~EntropicOT.map` give the plan and
        the entropic map of this solve. Differentiable in ``x``, ``y``, ``a``, ``b`` (implicit
        differentiation of the fixed point). The clouds are translated by a common centre
        before the costs are formed, so a large common offset costs no accuracy (see the
        module notes). The transport cost is read from the potentials in one pass over the
        cost matrix (about the time of one Sinkhorn iteration; in the kernel domain from the
        held cost matrix and kernel, without exponentials), so the whole call costs the
        solve, :math:`O(nmd)` per log-domain iteration, :math:`O(nm)` per kernel-domain one.

    Raises:
        ValueError: on mismatched dimensions, fewer than 2 points, NaN/inf, ``epsilon <= 0``,
            or a ``domain`` other than ``"log"`` and ``"auto"``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jax.random.normal(jax.random.key(0), (64, 2))
        >>> res = entropic_ot(x, x + 1.0, epsilon=0.1)
        >>> bool(res.transport_cost > 1.5)
        True
        >>> fast = entropic_ot(x, x + 1.0, epsilon=0.1, domain="auto")
        >>> bool(abs(fast.transport_cost - res.transport_cost) < 1e-2)
        True

    References:
        Cuturi, M. (2013). Sinkhorn distances: lightspeed computation of optimal transport.
        NeurIPS 26. Cuturi, M. et al. (2022). Optimal Transport Tools (OTT). arXiv:2201.12324.
    """
    if domain not in _DOMAINS:
        raise ValueError(f"domain must be one of {_DOMAINS}, got {domain!r}")
    return _validated_call(
        _entropic_ot, x, y, a, b, epsilon, threshold, max_iterations, domain=domain
    )


def entropic_plan(
    x: Any,
    y: Any,
    *,
    a: Any = None,
    b: Any = None,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> jax.Array:
    r"""The entropic optimal plan :math:`P \in \mathbb{R}^{n \times m}` (materialised).

    Same arguments as :func:`entropic_ot`; the same plan as ``entropic_ot(...).plan()``,
    without the transport cost. Memory is :math:`O(nm)`: use it for moderate sizes.

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (8, 2))
        >>> P = entropic_plan(x, x, epsilon=0.1)
        >>> P.shape
        (8, 8)

    References:
        Cuturi, M. (2013). Sinkhorn distances. NeurIPS 26.
    """
    return _validated_call(_entropic_plan, x, y, a, b, epsilon, threshold, max_iterations)


@partial(jax.jit, static_argnames=("threshold", "max_iterations"))
def _entropic_plan(x, y, a, b, epsilon, threshold, max_iterations):
    out = _solve_centred(x, y, a, b, epsilon, threshold, max_iterations)
    return _plan(out.geom, out.f, out.g)


def _divergence(x, y, a, b, epsilon, threshold, max_iterations):
    if epsilon is None:
        epsilon = _default_epsilon(x, y)
    c = _common_centre(x, y, a, b)
    x, y = x - c, y - c
    div, _ = ott_divergence.sinkhorn_divergence(
        pointcloud.PointCloud,
        x,
        y,
        a=a,
        b=b,
        cost_fn=costs.SqEuclidean(),
        epsilon=epsilon,
        solve_kwargs=_solver_kwargs(x.dtype, threshold, max_iterations),
    )
    return div


_divergence_jit = jax.jit(_divergence, static_argnames=("threshold", "max_iterations"))


def sinkhorn_divergence(
    x: Any,
    y: Any,
    *,
    a: Any = None,
    b: Any = None,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> jax.Array:
    r"""Debiased Sinkhorn divergence :math:`S_\varepsilon(\mu,\nu)`.

    .. math::

        S_\varepsilon(\mu,\nu) = \mathrm{OT}_\varepsilon(\mu,\nu)
        - \tfrac12 \mathrm{OT}_\varepsilon(\mu,\mu) - \tfrac12 \mathrm{OT}_\varepsilon(\nu,\nu),

    non-negative, zero iff :math:`\mu = \nu`, and for a translation :math:`\nu = \mu(\cdot - t)`
    exactly :math:`\|t\|^2`. The same ``epsilon`` (that of the ``x``-``y`` problem) is used for
    all three terms. Cost: three Sinkhorn solves, :math:`O((n+m)^2 d)` per iteration.

    Args:
        x: shape ``(n, d)``; y: shape ``(m, d)``; other arguments as in :func:`entropic_ot`.

    Returns:
        Scalar divergence, differentiable in ``x`` and ``y``.

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (64, 2))
        >>> round(float(sinkhorn_divergence(x, x + 1.0, epsilon=0.1)), 3)  # = |t|^2
        2.0

    References:
        Feydy, J. et al. (2019). Interpolating between optimal transport and MMD using Sinkhorn
        divergences. AISTATS. Genevay, A., Peyré, G., Cuturi, M. (2018). Learning generative
        models with Sinkhorn divergences. AISTATS.
    """
    return _validated_call(_divergence_jit, x, y, a, b, epsilon, threshold, max_iterations)


def _fit_map(x, y, a, b, epsilon, threshold, max_iterations) -> EntropicMap:
    if epsilon is None:
        epsilon = _default_epsilon(x, y)
    # each cloud on its own centre: the plan is unchanged (see the module notes); the centres
    # carry no gradient, as the map does not depend on them
    cx = jax.lax.stop_gradient(weighted_row_mean(a, x))
    cy = jax.lax.stop_gradient(weighted_row_mean(b, y))
    out = _solve(x - cx, y - cy, a, b, epsilon, threshold, max_iterations)
    eps = jnp.asarray(out.geom.epsilon, dtype=x.dtype)
    return EntropicMap(x=x, y=y, a=a, b=b, f=out.f, g=out.g, epsilon=eps, x_center=cx, y_center=cy)


_fit_map_jit = jax.jit(_fit_map, static_argnames=("threshold", "max_iterations"))


def entropic_map(
    x: Any,
    y: Any,
    *,
    a: Any = None,
    b: Any = None,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> EntropicMap:
    r"""Fit the entropic transport map from the cloud ``x`` to the cloud ``y``.

    The map (Pooladian & Niles-Weed 2021) is the barycentric projection of the entropic plan
    extended out of sample through the :math:`c`-transform of the dual potential,

    .. math::

        T_\varepsilon(z) = \sum_j w_j(z)\, y_j, \qquad
        w_j(z) \propto \exp\big((g_j - \|z - y_j\|^2)/\varepsilon\big),

    which equals :math:`z - \tfrac12 \nabla f_\varepsilon(z)` for the :math:`c`-transform
    :math:`f_\varepsilon` of ott-jax's ``to_dual_potentials``. The potentials are ott-jax's,
    for which the plan is :math:`P_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)`: they
    already contain :math:`\varepsilon \log a_i` and :math:`\varepsilon \log b_j`, so the
    weights :math:`b_j` enter :math:`w_j` through :math:`g_j` only. At a sample point
    :math:`x_i` the map is the barycentric projection
    :math:`\sum_j P_{ij} y_j / \sum_j P_{ij}` of the plan, for uniform and non-uniform
    weights alike. Evaluate it with :func:`apply_entropic_map` (checked) or
    :meth:`EntropicMap.apply`. Arguments as in :func:`entropic_ot`.

    The map is translation-equivariant, :math:`T_{x+s \to y+t}(z + s) = T_{x\to y}(z) + t`,
    and is computed that way: the solve runs on each cloud centred on its weighted mean
    (stored as ``x_center``, ``y_center``), so its accuracy does not depend on where the
    clouds lie.

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (128, 2))
        >>> tmap = entropic_map(x, x + 3.0, epsilon=0.05)
        >>> apply_entropic_map(tmap, x[:2]).shape
        (2, 2)

    References:
        Pooladian, A.-A., Niles-Weed, J. (2021). Entropic estimation of optimal transport maps.
        arXiv:2109.12004.
    """
    return _validated_call(_fit_map_jit, x, y, a, b, epsilon, threshold, max_iterations)


def apply_entropic_map(tmap: EntropicMap, z: Any, *, forward: bool = True) -> jax.Array:
    r"""Evaluate a fitted entropic map at new points, with argument checks.

    The checked form of :meth:`EntropicMap.apply` (which see for the computation): ``z`` is
    validated and cast to the map's dtype.

    Args:
        tmap: result of :func:`entropic_map`.
        z: points, shape ``(k, d)``.
        forward: ``True`` maps source space to target space (:math:`T_\varepsilon`);
            ``False`` applies the reverse entropic map (target to source).

    Returns:
        Shape ``(k, d)``. Cost :math:`O(kmd)`. Differentiable in ``z`` and in ``tmap``.

    Raises:
        ValueError: if ``z`` is not finite or its dimension differs from the fitted clouds'.

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (64, 2))
        >>> tmap = entropic_map(x, 2.0 * x, epsilon=0.05)
        >>> apply_entropic_map(tmap, x[:3], forward=False).shape
        (3, 2)

    References:
        Pooladian, A.-A., Niles-Weed, J. (2021). Entropic estimation of optimal transport maps.
    """
    z = _checks.as_array("z", z, ndim=2)
    if z.shape[1] != tmap.x.shape[1]:
        raise ValueError(
            f"z must have {tmap.x.shape[1]} columns like the fitted clouds, got {z.shape[1]}"
        )
    return tmap.apply(z.astype(tmap.x.dtype), forward)
