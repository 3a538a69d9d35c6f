"""Hallin reference grid: factorisation, radii, directions."""

import chex
import numpy as np
import pytest

from edtjax.transport.reference import (
    grid_factorisation,
    reference_grid,
    reference_points,
    sphere_directions,
)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [2, 3, 10, 97, 100, 1001])
def test_factorisation_properties(n, d):
    n_r, n_s, n_0 = grid_factorisation(n, d)
    assert n_r * n_s + n_0 == n and n_r >= 1 and n_s >= 2 - (d > 1)
    if d == 1:
        assert n_s == 2 and n_0 in (0, 1)
    else:
        assert 0 <= n_0 < min(n_r, n_s)
        assert n_r <= round(n ** (1 / d)) + 1


def test_grid_is_product_of_radii_and_directions():
    g = reference_grid(103, 2)
    assert (g.n_radii, g.n_directions, g.n_origin) == (10, 10, 3)
    pts = np.asarray(g.points, dtype=np.float64)
    radii = np.linalg.norm(pts, axis=1)
    ranks = np.asarray(g.radial_ranks)
    np.testing.assert_allclose(radii, ranks / 11, atol=1e-6)
    # each radius carries n_S points, origin n_0
    assert np.bincount(ranks).tolist() == [3] + [10] * 10
    # d = 2 directions form the regular polygon: sum of unit vectors is zero
    np.testing.assert_allclose(pts[ranks == 1].sum(0), 0.0, atol=1e-5)


@pytest.mark.parametrize(("n", "d", "n_radii"), [(103, 2, None), (50, 3, 3), (9, 1, None)])
def test_reference_points_are_the_grid_in_float64(x64, n, d, n_radii):
    grid = reference_grid(n, d, n_radii=n_radii, dtype=np.float64)
    points = reference_points(n, d, n_radii=n_radii)
    chex.assert_type(points, np.float64)
    np.testing.assert_array_equal(points, np.asarray(grid.points))


def test_reference_points_stay_float64_when_jax_runs_in_float32():
    points = reference_points(103, 2)
    chex.assert_type(points, np.float64)
    # the radii j / (n_R + 1) exactly as float64 computes them, not rounded to float32
    radii = np.linalg.norm(points[:100].reshape(10, 10, 2), axis=2)
    np.testing.assert_allclose(radii, np.arange(1, 11)[:, None] / 11 * np.ones(10), rtol=1e-15)
    assert not np.array_equal(points, points.astype(np.float32).astype(np.float64))


def test_one_dimensional_grid_is_centred_ranks():
    g = reference_grid(7, 1)
    assert sorted(np.asarray(g.points)[:, 0].round(6).tolist()) == [
        -0.75,
        -0.5,
        -0.25,
        0.0,
        0.25,
        0.5,
        0.75,
    ]


@pytest.mark.parametrize("d", [3, 4])
def test_high_dimensional_directions_are_balanced(d):
    s = sphere_directions(2000, d)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0, atol=1e-12)
    # A uniform random design would have |mean| ~ 1/sqrt(n) = 0.022 and second moments
    # within ~ sqrt(2/n) = 0.03 of I/d; the low-discrepancy design must do at least as well.
    assert np.linalg.norm(s.mean(0)) < 0.022
    np.testing.assert_allclose(s.T @ s / len(s), np.eye(d) / d, atol=0.03)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 1, "d": 2}, "n must be >= 2"),
        ({"n": 10, "d": 0}, "d must be >= 1"),
        ({"n": 10, "d": 2, "n_radii": 6}, "n_radii"),
        ({"n": 10, "d": 2, "n_radii": 4}, "n_0"),
        ({"n": 10, "d": 1, "n_radii": 3}, "n_radii"),
        ({"n": 2.5, "d": 2}, "integer"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        reference_grid(**kwargs)
