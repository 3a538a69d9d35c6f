# %% [markdown]
# # Center-outward quantiles and optimal-transport shift tests
#
# A surrogate is trained on inputs from one distribution and queried on another. To describe
# the training inputs and to decide whether new inputs come from the same place we need
# multivariate notions of quantile, rank and depth, and tests of $P = Q$ that do not assume
# Gaussianity. In one dimension, $F$ maps data to $U(0, 1)$; Hallin et al. (2021) define the
# multivariate **center-outward distribution function** $\mathbf F_\pm$ as the optimal
# transport map (squared Euclidean cost) pushing the data distribution onto the uniform
# distribution on the unit ball. Then
#
# * $\lVert \mathbf F_\pm(x) \rVert$ is a center-outward rank in $[0, 1)$ and
#   $\mathbf F_\pm(x)/\lVert\mathbf F_\pm(x)\rVert$ a multivariate sign;
# * the quantile region of order $\tau$ is $\{x : \lVert\mathbf F_\pm(x)\rVert \le \tau\}$,
#   with probability content $\tau$, whatever the shape of the distribution, and its boundary
#   $\mathbf Q_\pm(\tau S^{d-1})$ is the quantile contour;
# * the Monge-Kantorovich depth is $D(x) = 1 - \lVert\mathbf F_\pm(x)\rVert$
#   (Chernozhukov et al. 2017).
#
# edtjax computes exact empirical ranks by assignment to Hallin's reference grid
# (`center_outward_ranks`) and smooth, differentiable $\mathbf F_\pm$, $\mathbf Q_\pm$ from an
# entropic transport map (`center_outward_fit`, Pooladian and Niles-Weed 2021). Two
# permutation tests of $P = Q$ follow: the Sinkhorn divergence (Feydy et al. 2019) and the
# energy distance between center-outward ranks, which is distribution-free (Deb and Sen 2021).

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from edtjax.transport import (
    center_outward_distribution,
    center_outward_fit,
    center_outward_ranks,
    monge_kantorovich_depth,
    quantile_contour,
    quantile_region,
    rank_energy_shift_test,
    sinkhorn_shift_test,
)

SMALL = os.environ.get("EDTJAX_NOTEBOOK_SMALL") == "1"
FIGURES = os.environ.get("EDTJAX_FIGURES", "notebooks/figures")
os.makedirs(FIGURES, exist_ok=True)

N = 500 if SMALL else 1500
N_TEST = 300
N_NULL = 100 if SMALL else 200
NUM_REPEATS = 20 if SMALL else 40
NUM_PERMUTATIONS = 199
TAUS = (0.2, 0.5, 0.8, 0.9)

# %% [markdown]
# ## 1. A check against the exact answer: the standard Gaussian
#
# For a spherically symmetric distribution $\mathbf F_\pm(x) = F_R(\lVert x\rVert)\,x /
# \lVert x\rVert$ with $F_R$ the distribution function of the radius. For the standard
# bivariate Gaussian $\lVert x\rVert^2 \sim \chi^2_2$, so $\lVert\mathbf F_\pm(x)\rVert =
# 1 - e^{-\lVert x\rVert^2/2}$ and the quantile contour of order $\tau$ is the circle of
# radius $\sqrt{-2\ln(1-\tau)}$. The inner contours are the least precise: few points and the
# entropic blur of about one grid step both act on a small radius.

# %%
gauss = jax.random.normal(jax.random.key(0), (N, 2))
gauss_fit = center_outward_fit(gauss)
print(f"{'tau':>5} {'exact radius':>13} {'contour radius':>18}")
for tau in TAUS:
    radius = jnp.linalg.norm(quantile_contour(gauss_fit, tau, 64), axis=1)
    exact_radius = float(np.sqrt(-2 * np.log(1 - tau)))
    print(
        f"{tau:5.2f} {exact_radius:13.3f} {float(radius.mean()):10.3f} +- {float(radius.std()):.3f}"
    )

fresh = jax.random.normal(jax.random.key(10), (4000, 2))
rank_fit = jnp.linalg.norm(center_outward_distribution(gauss_fit, fresh), axis=1)
rank_exact = 1.0 - jnp.exp(-0.5 * jnp.sum(fresh**2, axis=1))
mean_error = float(jnp.mean(jnp.abs(rank_fit - rank_exact)))
n_radii = center_outward_ranks(gauss).grid.n_radii
print(f"mean |F_hat - F| over fresh points: {mean_error:.3f} (n = {N}, {n_radii} radii)")
# Scientific claim: the smooth estimate converges (Glivenko-Cantelli, Hallin et al. 2021,
# Prop. 2.3); its error is of the order of the reference grid's radial step 1/(n_R + 1) plus
# the sampling error n^(-1/2), and we require less than twice their sum.
assert mean_error < 2 * (1 / (n_radii + 1) + 1 / np.sqrt(N))

# %% [markdown]
# ## 2. A non-elliptical sample: ranks, contours and depth
#
# Training inputs rarely look Gaussian. We take a "banana",
# $x_1 \sim \mathcal N(0, 1)$, $x_2 = c\,(x_1^2 - 1) + \tfrac12\varepsilon$ with curvature
# $c = 0.5$, where Mahalanobis-type descriptions (ellipses) fail.


# %%
def banana(key, n, curvature=0.5):
    k1, k2 = jax.random.split(key)
    x1 = jax.random.normal(k1, (n,))
    x2 = curvature * (x1**2 - 1.0) + 0.5 * jax.random.normal(k2, (n,))
    return jnp.stack([x1, x2], axis=1)


x = banana(jax.random.key(1), N)
ranks = center_outward_ranks(x)
fit = center_outward_fit(x)
n_r = ranks.grid.n_radii
print(f"reference grid: {n_r} radii x {ranks.grid.n_directions} directions", end=" ")
print(f"(+ {ranks.grid.n_origin} at the origin)")

# exact empirical ranks: each rank value j/(n_R + 1) is taken by the same number of points
counts = np.bincount(np.asarray(ranks.ranks))[1:]
print(f"points per radial rank: min {counts.min()}, max {counts.max()}")
assert counts.min() == counts.max() == ranks.grid.n_directions

# the smooth F_pm agrees with the exact ranks
smooth_norm = jnp.linalg.norm(center_outward_distribution(fit, x), axis=1)
exact_norm = jnp.linalg.norm(ranks.distribution, axis=1)
corr = float(jnp.corrcoef(smooth_norm, exact_norm)[0, 1])
print(f"correlation of smooth and exact center-outward ranks: {corr:.3f}")
assert corr > 0.95

# probability content of the smooth quantile regions, measured on new points
x_new = banana(jax.random.key(2), 4000)
for tau in TAUS:
    content = float(quantile_region(fit, x_new, tau).mean())
    print(f"probability content of the region of order {tau}: {content:.3f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
sc = axes[0].scatter(x[:, 0], x[:, 1], c=np.asarray(ranks.ranks) / (n_r + 1), s=6, cmap="viridis")
fig.colorbar(sc, ax=axes[0], label="center-outward rank")
axes[0].set_title("exact center-outward ranks")
signs = np.asarray(ranks.signs)
axes[1].scatter(x[:, 0], x[:, 1], c=np.arctan2(signs[:, 1], signs[:, 0]), s=6, cmap="hsv")
for tau in TAUS:
    c = np.asarray(quantile_contour(fit, tau, 200))
    axes[1].plot(*np.vstack([c, c[:1]]).T, "k-", lw=1)
    axes[1].annotate(f"{tau}", c[0], fontsize=8)
axes[1].set_title(r"signs (colour) and quantile contours $\tau$")
g1, g2 = np.meshgrid(np.linspace(-3.5, 3.5, 120), np.linspace(-2.5, 5.0, 120))
grid = jnp.stack([g1.ravel(), g2.ravel()], axis=1)
depth = np.asarray(monge_kantorovich_depth(fit, grid)).reshape(g1.shape)
cs = axes[2].contourf(g1, g2, depth, levels=20, cmap="magma")
axes[2].scatter(x[:, 0], x[:, 1], s=2, c="w", alpha=0.4)
fig.colorbar(cs, ax=axes[2], label="MK depth")
axes[2].set_title("Monge-Kantorovich depth")
for ax in axes:
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "center_outward_banana.png"), dpi=100)

# %% [markdown]
# The smooth regions contain somewhat more than their nominal $\tau$ of new points at this
# sample size: the entropic blur pulls $\hat{\mathbf F}_\pm$ towards the centre, most in the
# curved tails (the exact ranks, by construction, put exactly a fraction $j/n_R$ of the points
# in the first $j$ rank levels). Calibrating a threshold on held-out data, as
# `edtjax.reliability.calibrate` does, removes this bias where coverage matters.
#
# The contours follow the banana instead of an ellipse, and the depth is highest along its
# spine: a query in the sparse region inside the bend, such as $(0, 2)$, has low depth although
# the 95% covariance ellipse of the data contains it, which is what an out-of-domain indicator
# must see.
#
# ## 3. Testing for a shift
#
# Two situations: a second sample from the same banana (no shift), and a new context whose
# inputs are bent more ($c = 0.8$ instead of $0.5$) and moved by $0.3$ along $x_1$. Both
# permutation
# tests relabel the pooled sample `NUM_PERMUTATIONS` times; the p-value is
# $(1 + \#\{T_b \ge T\})/(B + 1)$, exact under $P = Q$.

# %%
x_ref = x[:N_TEST]
same = banana(jax.random.key(3), N_TEST)
shifted = banana(jax.random.key(4), N_TEST, curvature=0.8) + jnp.array([0.3, 0.0])
tests = {}
for name, test in (("Sinkhorn", sinkhorn_shift_test), ("rank energy", rank_energy_shift_test)):
    for label, y in (("no shift", same), ("shift", shifted)):
        tests[name, label] = test(jax.random.key(5), x_ref, y, num_permutations=NUM_PERMUTATIONS)
        print(
            f"{name:>12} {label:>9}: statistic {float(tests[name, label].statistic):.4f}, "
            f"p = {float(tests[name, label].p_value):.3f}"
        )
# Scientific claim (power): the rank energy test detects the shift at the 1% level. (In six
# pilot repetitions of this design its p-value was 0.005 every time, while the Sinkhorn test
# reached 1% in two of six: against this shift it has less power at n = 300.)
assert float(tests["rank energy", "shift"].p_value) <= 0.01

# %% [markdown]
# ### Are the tests calibrated?
#
# Under $P = Q$ a valid test rejects at level 5% in 5% of repetitions. We repeat the no-shift
# experiment `NUM_REPEATS` times with fresh samples and count rejections.

# %%
rejections = {}
p_values = {}
for name, test in (("Sinkhorn", sinkhorn_shift_test), ("rank energy", rank_energy_shift_test)):
    ps = []
    for r in range(NUM_REPEATS):
        k = jax.random.fold_in(jax.random.key(6), r)
        a = banana(jax.random.fold_in(k, 0), N_NULL)
        b = banana(jax.random.fold_in(k, 1), N_NULL)
        ps.append(
            float(test(jax.random.fold_in(k, 2), a, b, num_permutations=NUM_PERMUTATIONS).p_value)
        )
    p_values[name] = np.array(ps)
    rejections[name] = int(np.sum(p_values[name] <= 0.05))
    print(f"{name:>12}: {rejections[name]} rejections at 5% in {NUM_REPEATS} null repetitions")
# Scientific claim (validity): the number of false rejections is at most its expectation plus
# 5 binomial standard deviations (false-failure rate below 1e-6).
limit = 0.05 * NUM_REPEATS + 5 * np.sqrt(0.05 * 0.95 * NUM_REPEATS)
assert all(v <= limit for v in rejections.values())

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for ax, name in zip(axes[:2], ("Sinkhorn", "rank energy"), strict=True):
    for label, color in (("no shift", "C0"), ("shift", "C3")):
        res = tests[name, label]
        ax.hist(
            np.asarray(res.null_statistics),
            bins=30,
            color=color,
            alpha=0.35,
            density=True,
            label=f"permutation null, {label}",
        )
        ax.axvline(
            float(res.statistic),
            color=color,
            lw=2,
            label=f"observed, {label}: p = {float(res.p_value):.3f}",
        )
    ax.set_title(f"{name} statistic")
    ax.legend(fontsize=8)
for name in p_values:
    axes[2].plot(
        np.sort(p_values[name]),
        np.arange(1, NUM_REPEATS + 1) / NUM_REPEATS,
        drawstyle="steps-post",
        label=name,
    )
axes[2].plot([0, 1], [0, 1], "k:", lw=1)
axes[2].set_xlabel("p-value")
axes[2].set_ylabel("empirical CDF")
axes[2].set_title(f"null p-values ({NUM_REPEATS} repetitions)")
axes[2].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "ot_shift_tests.png"), dpi=100)

# %% [markdown]
# **What we learnt.** Center-outward quantiles give the training inputs a shape-aware
# description (ranks, signs, contours of prescribed probability content, a depth) with the
# exact answer recovered for the Gaussian. Both OT tests keep their level under no shift; the
# distribution-free rank energy test detects the bent and moved context reliably, while the
# Sinkhorn test (differentiable in the samples, hence usable inside training or design loops)
# has less power against this shift at n = 300.
#
# **References.** Hallin, del Barrio, Cuesta-Albertos and Matrán, Ann. Statist. 49, 1139
# (2021); Chernozhukov, Galichon, Hallin and Henry, Ann. Statist. 45, 223 (2017); Pooladian
# and Niles-Weed, arXiv:2109.12004 (2021); Feydy et al., AISTATS (2019); Deb and Sen, J. Amer.
# Statist. Assoc. 118, 192 (2023); Ramdas, García Trillos and Cuturi, Entropy 19, 47 (2017).
