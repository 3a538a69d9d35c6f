"""Depths of offset data in float32 against float64 at offset 0 (translation invariance).

What the comparison can ask for. Float32 holds ``x + c`` only to half an ulp of ``c``: ``3e-5``
at ``c = 10^3``, ``0.0039`` at ``10^5`` and ``0.031`` at ``10^6``, so
at an offset of ``10^6`` a standard normal sample is itself moved by up to 3% of its spread
before any depth is computed, and no algorithm can return the depth of the unrounded points.
The tests therefore take the points float32 *holds*, ``h = float64(float32(x + c)) - c``
(exact in float64), as the input, and compare the float32 depth at offset ``c`` with the
float64 depth of ``h`` at offset 0. The depths are translation invariant, so the two agree
exactly in exact arithmetic, and what remains is the float32 rounding at the scale of the
data, not of the offset; before the centring, the Gram-matrix neighbour search and the
projections carried ``ε c`` into every comparison (LD-Fermat off by 0.05 at ``10^3`` and 0.30 at
``10^5``, Fermat distances by 2.4, Mahalanobis depth by 0.04 at ``10^6``).

Tolerances (data: ``n = 60`` reference and 20 query points in ``d = 2``, spread about 1): the
continuous depths and distances are formed from a few float32 operations on centred values of
size ``<= 5``, each with relative error ``ε = 1.2e-7``; even amplified by a condition number
of 100 this stays below ``1e-4``, the tolerance used (``1e-4`` relative for the Fermat
distances, sums of up to ``n`` terms). Lens depths are counts of the ``C(60, 2) = 1770``
lenses: a lens flips only when a float32 comparison lands within rounding of a tie, so a
correct implementation flips none or a few; ``1e-3`` allows one.

Depths computed only from differences of points (exact for offset data by Sterbenz's lemma),
the planar and the simplicial depths, and the halfspace depth, whose fit subtracts a centre
that equals the offset here, see exactly the same numbers at every offset: they are compared
bitwise with float32 at offset 0 on the held points (float32 and float64 may resolve an exact
collinearity of grid points differently, which is not an offset effect).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax import depth

OFFSETS = [0.0, 1e3, 1e5, 1e6]


def _sample():
    rng = np.random.default_rng(20240624)
    x = rng.normal(size=(60, 2)) * np.array([1.0, 0.5])
    x[:, 1] += 0.3 * x[:, 0]
    z = rng.normal(size=(20, 2)) * 1.5
    return x, z


def _held(a, offset):
    """float32 of ``a + offset`` and the float64 points it holds, moved back to offset 0."""
    a32 = (a + offset).astype(np.float32)
    return a32, a32.astype(np.float64) - offset


def _knn_graph(q, r):
    return depth.lens_depth_fermat(depth.fermat_fit(r, n_neighbors=8), q)


CONTINUOUS = {
    "lens_depth_fermat": (_knn_graph, 1e-3, 0.0),
    "fermat_distance": (lambda q, r: depth.fermat_distance(q, r, n_neighbors=8), 0.0, 1e-4),
    "mahalanobis_depth": (depth.mahalanobis_depth, 1e-4, 0.0),
    "mahalanobis_depth_shrunk": (
        lambda q, r: depth.mahalanobis_depth(q, r, shrinkage=0.1),
        1e-4,
        0.0,
    ),
    "spatial_depth": (depth.spatial_depth, 1e-4, 0.0),
    "spatial_depth_whitened": (lambda q, r: depth.spatial_depth(q, r, whiten=True), 1e-4, 0.0),
    "lens_depth": (depth.lens_depth, 1e-3, 0.0),
    "weighted_lens_depth": (
        lambda q, r: depth.weighted_lens_depth(q, r, bandwidth=1.0),
        1e-3,
        0.0,
    ),
    "smooth_lens_depth": (
        lambda q, r: depth.smooth_lens_depth(q, r, temperature=0.1),
        1e-4,
        0.0,
    ),
    "knn_distance_score": (
        lambda q, r: depth.knn_distance_score(q, r, n_neighbors=3),
        1e-4,
        0.0,
    ),
}


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_float32_at_offset_matches_float64_at_zero(x64, name):
    f, atol, rtol = CONTINUOUS[name]
    x, z = _sample()
    for offset in OFFSETS:
        x32, x_held = _held(x, offset)
        z32, z_held = _held(z, offset)
        got = np.asarray(f(jnp.asarray(z32), jnp.asarray(x32)))
        chex.assert_type(got, np.float32)
        want = np.asarray(f(z_held, x_held))
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=f"offset {offset}")


def _projection_reference(fit, q, r, smooth=None):
    """Projection depth in float64 numpy with the fit's own directions (the directions are
    drawn in the working dtype, so float32 and float64 fits do not share them)."""
    u = np.asarray(fit.directions, np.float64)
    proj = r @ u.T
    med = np.median(proj, axis=0)
    mad = np.median(np.abs(proj - med), axis=0)
    out = np.abs(q @ u.T - med) / mad
    if smooth is None:
        o = out.max(axis=1)
    else:
        o = smooth * (np.log(np.mean(np.exp((out - out.max(1, keepdims=True)) / smooth), 1)))
        o = o + out.max(axis=1)
    return 1.0 / (1.0 + o)


@pytest.mark.parametrize("temperature", [None, 0.05])
def test_projection_depth_at_offset_matches_float64(key, x64, temperature):
    x, z = _sample()
    for offset in OFFSETS:
        x32, x_held = _held(x, offset)
        z32, z_held = _held(z, offset)
        fit = depth.projection_fit(key, jnp.asarray(x32), n_directions=200)
        if temperature is None:
            got = depth.projection_depth_from_fit(fit, jnp.asarray(z32))
        else:
            got = depth.smooth_projection_depth_from_fit(
                fit, jnp.asarray(z32), temperature=temperature
            )
        want = _projection_reference(fit, z_held, x_held, temperature)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"offset {offset}")


def _halfspace(key, q, r):
    return depth.halfspace_depth_from_fit(depth.halfspace_fit(key, r, n_directions=200), q)


def _smooth_halfspace(key, q, r):
    fit = depth.halfspace_fit(key, r, n_directions=200)
    return depth.smooth_halfspace_depth_from_fit(fit, q, temperature=0.05)


EXACT = {
    "halfspace": _halfspace,
    "smooth_halfspace": _smooth_halfspace,
    "simplicial": lambda key, q, r: depth.simplicial_depth(key, q, r, n_simplices=500),
    "halfspace_planar": lambda key, q, r: depth.halfspace_depth_planar(q, r),
    "simplicial_planar": lambda key, q, r: depth.simplicial_depth_planar(q, r),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_float32_at_offset_equals_float32_at_zero_on_the_held_points(key, name):
    f = EXACT[name]
    x, z = _sample()
    for offset in OFFSETS[1:]:
        x32, x_held = _held(x, offset)
        z32, z_held = _held(z, offset)
        # the held points at offset 0 are exact in float32 (a few significant bits)
        assert np.array_equal(x_held.astype(np.float32).astype(np.float64), x_held)
        got = f(key, jnp.asarray(z32), jnp.asarray(x32))
        want = f(key, jnp.asarray(z_held, jnp.float32), jnp.asarray(x_held, jnp.float32))
        np.testing.assert_array_equal(got, want, err_msg=f"offset {offset}")


def test_fermat_graph_stores_the_centre_and_centres_queries(x64):
    x, _ = _sample()
    x32, _ = _held(x, 1e6)
    graph = depth.fermat_fit(jnp.asarray(x32), n_neighbors=8)
    chex.assert_shape(graph.centre, (2,))
    chex.assert_type(graph.centre, jnp.float32)
    # the centre is the offset here (mean rounded to a power of two at the data's scale)
    np.testing.assert_array_equal(graph.centre, [1e6, 1e6])
    np.testing.assert_array_equal(graph.x_ref, x32)  # the reference is kept as given
    # a query equal to a reference point reads that point's row of the distance matrix
    np.testing.assert_allclose(
        depth.fermat_distance_to_reference(graph, graph.x_ref[:3]),
        graph.distances[:3],
        rtol=1e-6,
    )


def test_mahalanobis_location_keeps_the_rounding_of_the_mean(x64):
    x, _ = _sample()
    x32, x_held = _held(x, 1e6)
    fit = depth.mahalanobis_fit(jnp.asarray(x32))
    mean = np.asarray(fit.location, np.float64) + np.asarray(fit.location_correction, np.float64)
    # the mean of the held points to float32 precision at the data's scale (not 0.06)
    np.testing.assert_allclose(mean - 1e6, x_held.mean(axis=0), atol=1e-6)


def test_centring_keeps_gradients(x64):
    # centring does not cut the gradient with respect to the query
    x, z = _sample()
    x32, _ = _held(x, 1e3)
    z0 = jnp.asarray(z[0] + 1e3, jnp.float32)
    fit = depth.mahalanobis_fit(jnp.asarray(x32))
    g = jax.grad(lambda q: depth.mahalanobis_depth_from_fit(fit, q[None])[0])(z0)
    diff = np.asarray(z0, np.float64) - (
        np.asarray(fit.location, np.float64) + np.asarray(fit.location_correction, np.float64)
    )
    p = np.asarray(fit.precision, np.float64)
    r2 = diff @ p @ diff
    np.testing.assert_allclose(g, -2 * p @ diff / (1 + r2) ** 2, rtol=1e-3, atol=1e-6)
