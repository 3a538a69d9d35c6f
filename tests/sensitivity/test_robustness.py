"""Sobol' indices under extreme output scales and offsets; memory pre-checks; input validation."""

import time
import tracemalloc

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import edtjax._checks
from edtjax.sensitivity import (
    Factors,
    parameter_sensitivity,
    saltelli_design,
    sobol_indices,
    sobol_indices_from_outputs,
)
from edtjax.sensitivity.sobol import (
    _chunking,
    _memory_bytes,
    _sobol_estimates,
    _sobol_outputs,
)
from edtjax.simulators.test_functions import ishigami, ishigami_indices

# Tolerances.
# * Scaling: y * c rounds each float32 output by a relative 2^-24 (6e-8); every index is a
#   smooth ratio of sums of such outputs, so it moves by a few 1e-7. We allow 1e-5 (float32)
#   and 1e-12 (float64, rounding 1.1e-16).
# * Offset 1e6 in float32: the output itself is rounded to a grid of 0.0625 (ulp of 1e6), an
#   independent error delta of variance 0.0625^2 / 12 = 3.3e-4, r = 2.4e-5 of the Ishigami
#   variance 13.8. A total index moves by about r, a first-order one by the covariance of
#   delta with the outputs, sd about sqrt(r / n) = 8e-5 at n = 4096; 1e-3 is over 10 sd.
# * Against exact indices: 5 delta-method standard errors (false-failure rate below 1e-6 per
#   comparison), plus 1e-4 for float32 sums.
SCALE_TOL = {np.float32: 1e-5, np.float64: 1e-12}
OFFSET_TOL = 1e-3
K = 5.0

_FIELDS = ("first_order", "total_order", "aggregated_first_order", "aggregated_total_order")


def _ishigami_factors():
    return {"x": dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)}


def _linear_outputs(dtype, n=4096):
    """Outputs of ``y = x0 + 2 x1 + 3 x2`` (uniform inputs) on a Saltelli design.

    Exact first-order and total indices are ``a_i^2 / sum a^2 = (1, 4, 9) / 14``.
    """
    d = saltelli_design(jax.random.key(3), n, 3, dtype=dtype)
    a = jnp.asarray([1.0, 2.0, 3.0], dtype)
    return d.a @ a, d.b @ a, d.ab @ a, np.array([1.0, 4.0, 9.0]) / 14.0


def _assert_same_indices(r, ref, tol):
    for name in _FIELDS:
        got, want = (
            np.concatenate([np.ravel(v) for v in jax.tree.leaves(getattr(x, name))])
            for x in (r, ref)
        )
        assert np.all(np.isfinite(got)), (name, got)
        np.testing.assert_allclose(got, want, rtol=0, atol=tol, err_msg=name)


# ------------------------------------------------------------------ output scale and offset


@pytest.mark.parametrize(
    ("scale", "offset"),
    [(1e17, 0.0), (1e30, 0.0), (-1e17, 0.0), (1e-20, 0.0), (1e-30, 0.0), (1.0, 1e6)],
)
def test_estimators_invariant_to_output_scale_and_offset_float32(scale, offset):
    # Before the fix: 1e17 and 1e30 gave NaN (sums of squares overflow float32), 1e-20 and
    # 1e-30 gave variance 0 and NaN indices (squares flushed to zero).
    y_a, y_b, y_ab, exact = _linear_outputs(jnp.float32)
    key = jax.random.key(0)
    ref = sobol_indices_from_outputs(key, y_a, y_b, y_ab)

    def f(y):
        return jnp.asarray(y * np.float32(scale) + np.float32(offset), jnp.float32)

    r = sobol_indices_from_outputs(key, f(y_a), f(y_b), f(y_ab))
    _assert_same_indices(r, ref, OFFSET_TOL if offset else SCALE_TOL[np.float32])
    for value, se in [(r.first_order, r.first_order_stderr), (r.total_order, r.total_order_stderr)]:
        assert np.all(np.abs(np.asarray(value) - exact) <= K * np.asarray(se) + 1e-4)


@pytest.mark.parametrize(("scale", "offset"), [(1e160, 0.0), (1e-170, 0.0), (1.0, 1e14)])
def test_estimators_invariant_to_output_scale_and_offset_float64(x64, scale, offset):
    # float64 has the same failure at its own range limits: squares of 1e160 overflow and
    # squares of 1e-170 underflow. The offset 1e14 rounds outputs to 0.016 (r = 1.5e-6).
    y_a, y_b, y_ab, exact = _linear_outputs(jnp.float64)
    key = jax.random.key(0)
    ref = sobol_indices_from_outputs(key, y_a, y_b, y_ab)
    assert ref.first_order.dtype == jnp.float64
    r = sobol_indices_from_outputs(
        key, y_a * scale + offset, y_b * scale + offset, y_ab * scale + offset
    )
    _assert_same_indices(r, ref, OFFSET_TOL if offset else SCALE_TOL[np.float64])
    assert np.all(np.abs(np.asarray(r.first_order) - exact) <= K * np.asarray(r.first_order_stderr))


def test_aggregated_indices_with_components_of_very_different_scales():
    # Two components, 1e17 and 1e-20 times the same linear model: the aggregated indices weight
    # components by variance, so they equal the indices of either (identical) component.
    y_a, y_b, y_ab, _ = _linear_outputs(jnp.float32)

    def two(y):
        return jnp.stack([y * np.float32(1e17), y * np.float32(1e-20)], axis=-1)

    r = sobol_indices_from_outputs(jax.random.key(0), two(y_a), two(y_b), two(y_ab))
    np.testing.assert_allclose(r.first_order[:, 0], r.first_order[:, 1], atol=1e-5)
    np.testing.assert_allclose(r.aggregated_first_order, r.first_order[:, 0], atol=1e-5)
    np.testing.assert_allclose(r.aggregated_total_order, r.total_order[:, 0], atol=1e-5)
    assert np.all(np.isfinite(np.asarray(r.aggregated_first_order_stderr)))


def _scaled_ishigami(scale, offset):
    def model(v):
        return ishigami(v["x"]) * scale + offset

    return model


@pytest.mark.parametrize(
    ("scale", "offset"),
    [(1e17, 0.0), (1e-20, 0.0), pytest.param(1.0, 1e6, marks=pytest.mark.slow)],
)
def test_sobol_indices_of_scaled_ishigami_float32(scale, offset):
    # Before the fix: 1e17 gave all-NaN indices, 1e-20 a false "zero variance" error.
    key, n = jax.random.key(0), 4096
    ref = sobol_indices(key, _scaled_ishigami(1.0, 0.0), _ishigami_factors(), n)
    r = sobol_indices(key, _scaled_ishigami(scale, offset), _ishigami_factors(), n)
    _assert_same_indices(r, ref, OFFSET_TOL if offset else SCALE_TOL[np.float32])
    exact = ishigami_indices()
    for value, se, want in [
        (r.first_order, r.first_order_stderr, exact.first_order),
        (r.total_order, r.total_order_stderr, exact.total_order),
    ]:
        assert np.all(np.abs(np.asarray(value["x"]) - want) <= K * np.asarray(se["x"]) + 1e-4)


def test_constant_output_check_is_relative(key):
    # One model, outputs of a chosen size through the distribution parameters (no recompile).
    def model(v):
        return v["x"][0]

    def factors(loc, scale):
        return {"x": dist.Normal(jnp.full(2, loc), scale)}

    # tiny but varying outputs are not constant: same indices as the unscaled model
    ref = sobol_indices(key, model, factors(0.0, 1.0), 256)
    r = sobol_indices(key, model, factors(0.0, 1e-25), 256)
    _assert_same_indices(r, ref, SCALE_TOL[np.float32])
    # outputs equal to the last bit are constant, whatever their size: 1e6 + 1e-6 z and
    # 1 + 1e-9 z round to 1e6 and 1 in float32
    for loc, scale in [(1e6, 1e-6), (1.0, 1e-9)]:
        with pytest.raises(ValueError, match="zero variance"):
            sobol_indices(key, model, factors(loc, scale), 256)


# ------------------------------------------------------------------ memory


def _small_memory(monkeypatch, gib):
    monkeypatch.setattr(edtjax._checks, "device_memory_bytes", lambda: int(gib * 2**30))


def test_sobol_indices_refuses_oversized_run_before_compiling(monkeypatch, key):
    # n = 2^27 on Ishigami asked XLA for an 11 GiB buffer (RESOURCE_EXHAUSTED on a small
    # device); the estimate is made from the shapes alone, before tracing the core.
    _small_memory(monkeypatch, 8)
    size = _sobol_outputs._cache_size()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"num_samples=134217728 .* GiB.*reduce num_samples"):
        sobol_indices(key, _scaled_ishigami(1.0, 0.0), _ishigami_factors(), 2**27)
    assert time.perf_counter() - start < 5.0
    assert _sobol_outputs._cache_size() == size


@pytest.mark.parametrize(
    ("d", "n", "second", "boot", "p"),
    [
        (3, 2**16, False, 0, 10),
        pytest.param(3, 2**14, True, 50, 3, marks=pytest.mark.slow),
        pytest.param(10, 2**14, False, 0, 1, marks=pytest.mark.slow),
        pytest.param(3, 2**16, False, 100, 1, marks=pytest.mark.slow),
    ],
)
def test_memory_estimate_bounds_compiled_memory(d, n, second, boot, p):
    # XLA's compile-time memory analysis (nothing is allocated) of the two compiled stages, against
    # the estimate used for the pre-check: an upper bound within a factor 3.5 (the chunk's
    # design term dominates at these small n).
    factors = {"x": dist.Uniform(-jnp.ones(d), 1.0)}
    flat = Factors.from_tree(factors)
    leaves, treedef = list(flat.leaves), flat.treedef
    e = 2 * d + 2 if second else d + 2
    rows, block = _chunking(n, d, e, 65536, 1)
    outputs = _sobol_outputs.lower(
        jax.random.key(0),
        leaves,
        None,
        model=lambda v, p=p: jnp.sin(v["x"].sum()) * jnp.arange(1.0, p + 1.0),
        treedef=treedef,
        group_ids=tuple(range(d)),
        num_samples=n,
        chunk_rows=rows,
        matrix_block=block,
        sampler="mc",
        second_order=second,
    ).compile()
    estimates = _sobol_estimates.lower(
        jax.random.key(0),
        jax.ShapeDtypeStruct((e, n, p), jnp.float32),
        num_groups=d,
        second_order=second,
        estimator="janon2014",
        num_bootstrap=boot,
        confidence=0.95,
    ).compile()
    # the two stages run one after the other: the peak is the larger of the first stage's
    # buffers and the second stage's (its argument, the outputs, included)
    first, second_stage = outputs.memory_analysis(), estimates.memory_analysis()
    actual = max(
        first.temp_size_in_bytes + first.output_size_in_bytes,
        second_stage.argument_size_in_bytes
        + second_stage.temp_size_in_bytes
        + second_stage.output_size_in_bytes,
    )
    estimate = _memory_bytes(
        n,
        d,
        d,
        p,
        second_order=second,
        num_bootstrap=boot,
        chunk_rows=rows,
        matrix_block=block,
        itemsize=4,
    )
    assert actual <= estimate <= 3.5 * actual, (d, n, second, boot, p, actual, estimate)


def test_per_weight_sensitivity_of_a_million_weights_is_refused_up_front(monkeypatch, key):
    # Before: a dense (d, d) boolean mask, 931 GiB for d = 10^6. Now the design is built by
    # comparing group ids and the outputs' memory is estimated before any work.
    # The second call is timed: the first also compiles the small eager operations of the
    # checks (seconds on a loaded 2-core machine), which says nothing about the refusal.
    _small_memory(monkeypatch, 16)
    params = {"w": jnp.zeros(10**6)}
    for _ in range(2):
        start = time.perf_counter()
        with pytest.raises(ValueError, match=r"num_samples=1024 with 1000000 factors or groups"):
            parameter_sensitivity(
                key, lambda p, x: x @ p["w"][:3], params, jnp.ones(3), groups="weight"
            )
    assert time.perf_counter() - start < 10.0


def test_per_weight_sensitivity_never_builds_a_dense_mask(key):
    # d = 2^13 weights: the former (d, d) mask took 64 MiB of host memory; now the host
    # allocations of the whole run stay under 16 MiB (traced), and the weights that cannot
    # change the output get total index 0 (to float32 rounding of the batched products).
    d = 2**13
    params = {"w": jnp.zeros(d).at[0].set(1.0)}
    assert _chunking(4, d, d + 2, 65536, 1) == (1, 2048)  # blocks of matrices, not rows
    tracemalloc.start()
    try:
        r = parameter_sensitivity(
            key,
            lambda p, x: x @ p["w"],
            params,
            jnp.zeros(d).at[0].set(1.0),
            perturbation="additive",
            groups="weight",
            num_samples=4,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**24, peak
    total = np.asarray(r.total_order["w"])
    assert total.shape == (d,)
    assert np.isfinite(total[0]) and total[0] > 0  # the only weight that matters
    np.testing.assert_allclose(total[1:], 0.0, atol=1e-6)


def test_blocks_of_matrices_give_the_same_indices(key):
    # batch_size below the number of matrices forces blocks of matrices per row: the design
    # rows and outputs are the same, so the indices are equal to rounding of the sums.
    factors = _ishigami_factors()
    model = _scaled_ishigami(1.0, 0.0)
    ref = sobol_indices(key, model, factors, 256, second_order=True)
    r = sobol_indices(key, model, factors, 256, second_order=True, batch_size=3)
    _assert_same_indices(r, ref, 1e-6)
    np.testing.assert_allclose(r.second_order, ref.second_order, atol=1e-6)


# ------------------------------------------------------------------ parameter_sensitivity(x)


@pytest.fixture
def dense():
    module = nn.Dense(2)
    return module, module.init(jax.random.key(0), jnp.ones((1, 3)))


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.array([[1.0, 2.0, np.inf], [0.0, 0.0, 0.0]]), r"x must be finite, found 1 NaN/inf"),
        (np.ones((0, 3)), r"x must hold at least one input, got shape \(0, 3\)"),
        (np.ones((4, 5)), r"apply_fn\(params, x\) failed .*\(x: \(4, 5\)\).*ScopeParamShapeError"),
        ("abc", "x must be a numeric array"),
        ({}, "x must hold at least one array"),
        ({"a": np.ones((2, 3)), "b": np.full(2, np.nan)}, r"x\['b'\] must be finite"),
    ],
)
def test_parameter_sensitivity_validates_x_before_any_work(dense, x, match):
    module, params = dense
    size = _sobol_outputs._cache_size()
    with pytest.raises(ValueError, match=match):
        parameter_sensitivity(jax.random.key(0), module.apply, params, x, num_samples=64)
    assert _sobol_outputs._cache_size() == size


def test_empty_model_output_is_refused(key):
    with pytest.raises(ValueError, match="non-empty"):
        sobol_indices(key, lambda v: v["x"][:0], {"x": dist.Normal(jnp.zeros(2), 1.0)}, 64)
