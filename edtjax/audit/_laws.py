"""Declared input laws of the audit: numpyro distributions from the config's ``[inputs]``.

:func:`declared_laws` turns the checked table of :func:`edtjax.audit.input_laws.parse_input_laws`
(or the data's box, independent uniform laws) into univariate numpyro distributions that all
have an inverse CDF, as Sobol' designs need: numpyro's own laws where they have one, its
``TruncatedNormal`` for a truncated normal, and :class:`_CdfTruncated` for every other
truncation and for ``Beta`` and ``Gamma`` (whose quantiles numpyro computes only with
tensorflow_probability): ``F^-1(F(low) + u (F(high) - F(low)))`` by the base's inverse CDF, or
by bisection of its CDF. Everything runs in float32: quantiles agree with scipy's to a relative
``1e-4`` away from the extreme tails (where a float32 CDF near 1 has no resolution left).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from edtjax._typing import ArrayLike, PRNGKey
from edtjax.audit.input_laws import box_input_laws, check_input_names, parse_input_laws
from edtjax.audit.result import AuditData

#: Smallest probability a truncation may keep of its law (float32 inverse CDFs lose the rest).
MIN_TRUNCATED_MASS = 1e-3

_BISECTION_STEPS = 60


class _CdfTruncated(dist.Distribution):
    """``base_dist`` restricted to ``[low, high]``, with an inverse CDF.

    ``icdf(u) = F^-1(F(low) + u (F(high) - F(low)))`` by the base's own ``icdf`` when it has
    one, else by bisection of its ``cdf`` on ``bracket`` (Beta, Gamma: numpyro computes
    their quantiles only with tensorflow_probability).
    """

    pytree_data_fields = ("base_dist", "low", "high", "_cdf_low", "_mass", "_lo", "_hi")
    pytree_aux_fields = ("_bisect",)

    def __init__(self, base_dist, low, high, bracket, bisect: bool):
        self.base_dist = base_dist
        self.low, self.high = jnp.asarray(low), jnp.asarray(high)
        self._cdf_low = base_dist.cdf(self.low)
        self._mass = base_dist.cdf(self.high) - self._cdf_low
        self._lo, self._hi = (jnp.asarray(b, self.low.dtype) for b in bracket)
        self._bisect = bisect
        super().__init__(batch_shape=(), event_shape=())

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    def _base_icdf(self, p):
        if not self._bisect:
            return self.base_dist.icdf(p)
        lo = jnp.broadcast_to(self._lo, p.shape)
        hi = jnp.broadcast_to(self._hi, p.shape)

        def step(_: jax.Array, bounds: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
            a, b = bounds
            mid = 0.5 * (a + b)
            below = self.base_dist.cdf(mid) < p
            return jnp.where(below, mid, a), jnp.where(below, b, mid)

        a, b = jax.lax.fori_loop(0, _BISECTION_STEPS, step, (lo, hi))
        return 0.5 * (a + b)

    def icdf(self, u: ArrayLike) -> jax.Array:
        x = self._base_icdf(self._cdf_low + u * self._mass)
        return jnp.clip(x, self.low, self.high)

    def cdf(self, x: ArrayLike) -> jax.Array:
        return jnp.clip((self.base_dist.cdf(x) - self._cdf_low) / self._mass, 0.0, 1.0)

    def log_prob(self, x: ArrayLike) -> jax.Array:
        inside = (x >= self.low) & (x <= self.high)
        return jnp.where(inside, self.base_dist.log_prob(x) - jnp.log(self._mass), -jnp.inf)

    def sample(self, key: PRNGKey, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        return self.icdf(jax.random.uniform(key, sample_shape))


def _distribution(name: str, law: str, params: dict[str, float]) -> dist.Distribution:
    """The numpyro distribution of one declared law (checked by :func:`parse_input_laws`)."""
    p = {k: jnp.float32(v) for k, v in params.items()}
    low, high = params.get("low"), params.get("high")
    if law == "Uniform":
        return dist.Uniform(p["low"], p["high"])
    if law == "Normal":
        if low is None and high is None:
            return dist.Normal(p["loc"], p["scale"])
        return dist.TruncatedNormal(p["loc"], p["scale"], low=p.get("low"), high=p.get("high"))
    base = {
        "Beta": lambda: dist.Beta(p["concentration1"], p["concentration0"]),
        "Exponential": lambda: dist.Exponential(p["rate"]),
        "Gamma": lambda: dist.Gamma(p["concentration"], p["rate"]),
        "Gumbel": lambda: dist.Gumbel(p["loc"], p["scale"]),
        "LogNormal": lambda: dist.LogNormal(p["loc"], p["scale"]),
    }[law]()
    bisect = law in ("Beta", "Gamma")
    if low is None and high is None and not bisect:
        return base
    s_low, s_high = {"Beta": (0.0, 1.0), "Gumbel": (-np.inf, np.inf)}.get(law, (0.0, np.inf))
    lo = s_low if low is None else max(low, s_low)
    hi = s_high if high is None else min(high, s_high)
    bracket = (lo, hi)
    if law == "Gamma" and not np.isfinite(hi):
        k, rate = params["concentration"], params["rate"]
        bracket = (lo, max(lo, 0.0) + (k + 50.0 * np.sqrt(k) + 50.0) / rate)
    law_dist = _CdfTruncated(base, lo, hi, bracket, bisect)
    mass = float(law_dist._mass)
    if not mass >= MIN_TRUNCATED_MASS:
        raise ValueError(
            f"config key 'inputs.{name}' truncates {law} to [{lo:g}, {hi:g}], which keeps "
            f"probability {mass:.3g} < {MIN_TRUNCATED_MASS:g} of the law: declare a law "
            "that lives on that range instead"
        )
    return law_dist


def _describe(law: str, params: dict[str, float]) -> str:
    shape = {k: v for k, v in params.items() if law == "Uniform" or k not in ("low", "high")}
    text = f"{law}({', '.join(f'{k}={v:g}' for k, v in shape.items())})"
    if law == "Uniform":
        return text
    if "low" in params and "high" in params:
        text += f" truncated to [{params['low']:g}, {params['high']:g}]"
    elif "low" in params:
        text += f" truncated below {params['low']:g}"
    elif "high" in params:
        text += f" truncated above {params['high']:g}"
    return text


class DeclaredLaws(NamedTuple):
    """Declared independent input laws, in the data's column order.

    Attributes:
        names: the ``d`` input names.
        laws: ``d`` univariate numpyro distributions, each with an inverse CDF.
        descriptions: ``d`` texts such as ``"Gumbel(loc=1013, scale=558) truncated to
            [500, 3000]"``.
        source: where they were declared (``"config [inputs]"`` or ``"the data's input box
            (independent uniforms)"``).
    """

    names: tuple[str, ...]
    laws: tuple[dist.Distribution, ...]
    descriptions: tuple[str, ...]
    source: str

    def icdf(self, u: ArrayLike) -> jax.Array:
        """Map uniform points ``(k, d)`` to draws ``(k, d)`` of the laws (column by column)."""
        u = jnp.asarray(u)
        return jnp.stack([law.icdf(u[:, i]) for i, law in enumerate(self.laws)], axis=1)


def declared_laws(data: AuditData, inputs: tuple) -> DeclaredLaws | None:
    """The input laws the Sobol' stage uses, or ``None`` for the empirical law.

    ``inputs`` (the configuration's declared laws, ``AuditConfig.inputs``) when it declares
    laws (it must name every input of ``data``); else
    independent uniform laws on ``data.box`` when the data have a box (the built-in case:
    its design is uniform on it); else ``None``.

    Raises:
        ValueError: declared laws for unknown inputs, inputs without a law, or a truncation
            that keeps almost no probability (the message names the input).
    """
    if inputs:
        check_input_names(inputs, tuple(data.input_names))
        table, source = inputs, "config [inputs]"
    elif data.box is not None:
        table = box_input_laws({n: data.box[n] for n in data.input_names})
        source = "the data's input box (independent uniforms)"
    else:
        return None
    by_name = {name: (law, dict(params)) for name, law, params in parse_input_laws(table)}
    laws, texts = [], []
    for name in data.input_names:
        law, params = by_name[name]
        laws.append(_distribution(name, law, params))
        texts.append(_describe(law, params))
    return DeclaredLaws(tuple(data.input_names), tuple(laws), tuple(texts), source)
