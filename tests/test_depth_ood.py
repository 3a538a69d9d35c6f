"""OOD scores: LD-Fermat against Mahalanobis and kNN on two moons and a ring."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import (
    auroc,
    fermat_distance_to_reference,
    fermat_fit,
    knn_distance_score,
    lens_depth_fermat,
    lens_depth_from_distances,
    mahalanobis_fit,
    mahalanobis_score,
    ood,
)


def _moons(key, n, noise=0.05):
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,)) * jnp.pi
    upper = jax.random.bernoulli(k2, 0.5, (n,))[:, None]
    x = jnp.where(
        upper,
        jnp.stack([jnp.cos(t), jnp.sin(t)], 1),
        jnp.stack([1 - jnp.cos(t), 0.5 - jnp.sin(t)], 1),
    )
    return x + noise * jax.random.normal(k3, (n, 2))


def _ring(key, n, noise=0.05):
    k1, k2 = jax.random.split(key)
    t = jax.random.uniform(k1, (n,)) * 2 * jnp.pi
    return jnp.stack([jnp.cos(t), jnp.sin(t)], 1) + noise * jax.random.normal(k2, (n, 2))


def _hanley_mcneil_se(a, n_in, n_out):
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    var = (a * (1 - a) + (n_out - 1) * (q1 - a**2) + (n_in - 1) * (q2 - a**2)) / (n_in * n_out)
    return np.sqrt(max(var, 0.0))


def _far_from(key, generator, low, high, margin, n):
    curve = generator(jax.random.key(99), 4000, noise=0.0)
    c = jax.random.uniform(key, (20 * n, 2)) * (high - low) + low
    dmin = jnp.min(jnp.linalg.norm(c[:, None] - curve[None], axis=-1), axis=1)
    return c[dmin > margin][:n]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "generator", "low", "high"),
    [
        ("moons", _moons, jnp.array([-1.5, -1.0]), jnp.array([2.5, 1.5])),
        ("ring", _ring, jnp.array([-0.7, -0.7]), jnp.array([0.7, 0.7])),  # OOD in the hole
    ],
)
def test_ld_fermat_beats_mahalanobis_on_non_convex_data(key, name, generator, low, high):
    k1, k2, k3 = jax.random.split(key, 3)
    ref, x_in = generator(k1, 500), generator(k2, 300)
    x_out = _far_from(k3, generator, low, high, 0.3, 300)
    assert x_out.shape == (300, 2)
    graph = fermat_fit(ref, alpha=2.0, n_neighbors=10)
    ld = auroc(-lens_depth_fermat(graph, x_in), -lens_depth_fermat(graph, x_out))
    fit = mahalanobis_fit(ref)
    mah = auroc(-mahalanobis_score(fit, x_in), -mahalanobis_score(fit, x_out))
    knn = auroc(knn_distance_score(x_in, ref, n_neighbors=5), knn_distance_score(x_out, ref))
    print(f"{name}: AUROC LD-Fermat {ld:.4f}, Mahalanobis {mah:.4f}, kNN {knn:.4f}")
    se = np.hypot(_hanley_mcneil_se(float(ld), 300, 300), _hanley_mcneil_se(float(mah), 300, 300))
    assert ld - mah > 5 * se  # 5 standard errors of the difference (independence bound)
    assert ld > 0.95


def test_lens_depth_fermat_is_lens_depth_of_fermat_distances(key):
    k1, k2 = jax.random.split(key)
    graph = fermat_fit(jax.random.normal(k1, (80, 2)), alpha=2.0, n_neighbors=6)
    z = jax.random.normal(k2, (7, 2))
    np.testing.assert_allclose(
        lens_depth_fermat(graph, z),
        lens_depth_from_distances(fermat_distance_to_reference(graph, z), graph.distances),
    )


def test_knn_distance_exact_case():
    x = jnp.array([[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]])
    z = jnp.zeros((1, 2))
    assert knn_distance_score(z, x, n_neighbors=1).tolist() == [1.0]
    assert knn_distance_score(z, x, n_neighbors=2).tolist() == [5.0]
    assert knn_distance_score(z, x, n_neighbors=3).tolist() == [10.0]


def test_scores_do_not_retrace(key):
    k1, k2 = jax.random.split(key)
    graph = fermat_fit(jax.random.normal(k1, (30, 2)), n_neighbors=4)
    lens_depth_fermat(graph, jax.random.normal(k1, (3, 2)))
    before = ood._ld_fermat._cache_size()
    lens_depth_fermat(graph, jax.random.normal(k2, (3, 2)))
    assert ood._ld_fermat._cache_size() == before


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_distance_score(jnp.zeros((1, 2)), x, n_neighbors=11)
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_distance_score(jnp.zeros((1, 2)), x, n_neighbors=0)
    with pytest.raises(ValueError, match="x_query"):
        lens_depth_fermat(fermat_fit(x, n_neighbors=3), jnp.zeros((1, 3)))
