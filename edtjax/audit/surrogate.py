"""A surrogate of the user's own, audited instead of the ensemble the audit trains.

Two forms, for two situations:

* :class:`UserSurrogate`: a JAX function of physical inputs returning a
  :class:`~edtjax.surrogates.Predictive` (mean and variance, or samples) in physical output
  units; optionally a feature map for feature-space indicators. Every stage runs: the Sobol'
  indices, the validity of the declared laws and the bias re-evaluate the function. Only the
  sensitivity to the network's parameters is skipped (the audit does not know them).
* :class:`UserPredictions`: the surrogate's predictive mean and standard deviation at every
  labelled run and every query, matched by row (from any framework, e.g. a CSV written by a
  PyTorch script: :func:`load_predictions`). The stages that must evaluate the surrogate
  elsewhere (its Sobol' indices under declared laws, the share of those laws outside the
  validity domain when an indicator needs the surrogate, parameter sensitivity, the bias over
  new inputs) are skipped and the report says why.

In both cases the labelled rows are split as for the built-in surrogate: the training part is
the reference sample of the domain of validity (the indicators' training inputs), the
calibration part calibrates the conformal intervals and indicators, the test part measures
accuracy and false alarms. If the user's surrogate was trained on some of these rows, its
calibration and test numbers are optimistic: the report states that the surrogate was given,
not trained by the audit. :func:`load_surrogate` imports ``module:function`` from the user's
own Python file, which executes that file's code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._typing import ArrayLike
from edtjax.surrogates import Predictive

__all__ = ["UserPredictions", "UserSurrogate", "load_predictions", "load_surrogate"]


class UserSurrogate(NamedTuple):
    """A surrogate given as a function.

    Attributes:
        predict: ``predict(x) -> Predictive`` for physical inputs ``x`` of shape ``(k, d)``
            (float32, columns in ``data.input_names`` order), with ``mean`` ``(k, o)`` and
            ``variance`` ``(k, o)`` (total predictive variance; ``aleatoric`` optional, its
            difference with ``variance`` is then the epistemic part the spread indicator
            reads) or ``samples`` ``(s, k, o)`` (their variance is used), in physical output
            units. It must be pure and JAX-traceable (it is jitted); for a surrogate in
            another framework, give its predictions instead (:class:`UserPredictions`).
        features: optional ``features(x) -> (k, h)``, a learned representation of the
            physical inputs (e.g. the last hidden layer); enables the ``feature_mahalanobis``
            indicator. JAX-traceable.
        name: the surrogate's name in the report.
        differentiable: whether ``predict`` (and ``features``) can be differentiated by JAX;
            when ``False`` the per-query attribution skips the indicators that read it.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.surrogates import Predictive
        >>> def predict(x):  # a hand-written model: y = x0 + 2 x1 with variance 0.01
        ...     mean = (x[:, 0] + 2.0 * x[:, 1])[:, None]
        ...     return Predictive(mean=mean, variance=jnp.full_like(mean, 0.01))
        >>> sur = UserSurrogate(predict, name="linear")
        >>> sur.predict(jnp.ones((3, 2))).mean.shape
        (3, 1)
    """

    predict: Callable[[jax.Array], Predictive]
    features: Callable[[jax.Array], jax.Array] | None = None
    name: str = "user surrogate"
    differentiable: bool = True


class UserPredictions(NamedTuple):
    """A surrogate given by its predictions at the labelled runs and the queries.

    Attributes:
        mean: ``(n, o)`` predictive means at the ``n`` labelled runs (``data.x``, same order).
        std: ``(n, o)`` predictive standard deviations there (positive).
        queries_mean: ``(m, o)`` means at the ``m`` queries (``data.queries``), or ``None``
            without queries.
        queries_std: ``(m, o)`` standard deviations at the queries, or ``None``.
        name: the surrogate's name in the report.

    Example:
        >>> import numpy as np
        >>> p = UserPredictions(np.zeros((4, 1)), np.ones((4, 1)), None, None)
        >>> p.name
        'user predictions'
    """

    mean: ArrayLike
    std: ArrayLike
    queries_mean: ArrayLike | None = None
    queries_std: ArrayLike | None = None
    name: str = "user predictions"


def check_user_surrogate(surrogate: object, n_rows: int, n_queries: int, n_outputs: int) -> None:
    """Raise ``ValueError`` when ``surrogate`` is neither ``None`` nor a well-formed user
    surrogate for ``n_rows`` labelled runs, ``n_queries`` queries and ``n_outputs`` outputs."""
    if surrogate is None:
        return
    if isinstance(surrogate, UserSurrogate):
        if not callable(surrogate.predict):
            raise ValueError("surrogate.predict must be callable")
        if surrogate.features is not None and not callable(surrogate.features):
            raise ValueError("surrogate.features must be callable or None")
        return
    if not isinstance(surrogate, UserPredictions):
        raise ValueError(
            "surrogate must be None (the audit trains its own), a UserSurrogate or "
            f"UserPredictions, got {type(surrogate).__name__}"
        )
    parts = [("mean", n_rows), ("std", n_rows)]
    if n_queries:
        parts += [("queries_mean", n_queries), ("queries_std", n_queries)]
    elif surrogate.queries_mean is not None or surrogate.queries_std is not None:
        raise ValueError("surrogate.queries_mean/queries_std are given but there are no queries")
    for field, rows in parts:
        value = getattr(surrogate, field)
        if value is None:
            raise ValueError(f"surrogate.{field} is required (one row per {_ROWS[field]})")
        a = np.asarray(value)
        if a.shape != (rows, n_outputs) or not np.issubdtype(a.dtype, np.number):
            raise ValueError(
                f"surrogate.{field} must be a numeric array of shape {(rows, n_outputs)} "
                f"(one row per {_ROWS[field]}), got shape {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"surrogate.{field} must be finite")
        if field.endswith("std") and not np.all(a > 0):
            raise ValueError(f"surrogate.{field} must be positive")


_ROWS = {
    "mean": "labelled run",
    "std": "labelled run",
    "queries_mean": "query",
    "queries_std": "query",
}


def load_predictions(
    path: str | os.PathLike, output_names: Sequence[str], n_rows: int, n_queries: int
) -> UserPredictions:
    """Read a surrogate's predictions from a ``.csv`` or ``.npz`` file.

    The file holds ``n_rows + n_queries`` rows: one per labelled run, in the order of the
    data file, then one per query, in the order of the queries file. For each output ``y`` it
    has the columns ``y_mean`` and ``y_std`` (predictive mean and standard deviation, physical
    units); other columns are ignored. A ``.npz`` archive holds them as 1-D arrays of the same
    names (see :func:`edtjax.audit.read_table`).

    Args:
        path: the predictions file.
        output_names: the data's output names.
        n_rows: number of labelled runs.
        n_queries: number of queries (0 without queries).

    Returns:
        :class:`UserPredictions` named after the file. Cost ``O((n + m) o)``.

    Raises:
        ValueError: one line naming the file and the problem (the errors of
            :func:`~edtjax.audit.read_table`, a wrong number of rows, non-positive standard
            deviations).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "pred.csv").write_text("y_mean,y_std\\n1,0.1\\n2,0.1\\n3,0.2\\n")
        >>> p = load_predictions(folder / "pred.csv", ["y"], 2, 1)
        >>> p.mean.tolist(), p.queries_std.tolist()
        ([[1.0], [2.0]], [[0.2]])
    """
    from edtjax.audit.data import read_table

    columns = [f"{y}_{part}" for part in ("mean", "std") for y in output_names]
    values, _ = read_table(path, columns, min_rows=1)
    expected = n_rows + n_queries
    if values.shape[0] != expected:
        raise ValueError(
            f"{path}: {values.shape[0]} prediction row(s), expected {expected} (one per "
            f"labelled run, {n_rows}, then one per query, {n_queries})"
        )
    o = len(output_names)
    mean, std = values[:, :o], values[:, o:]
    if not np.all(std > 0):
        bad = int(np.flatnonzero(~np.all(std > 0, axis=1))[0])
        raise ValueError(f"{path}: standard deviations must be positive (row {bad + 1} is not)")
    return UserPredictions(
        mean=mean[:n_rows],
        std=std[:n_rows],
        queries_mean=mean[n_rows:] if n_queries else None,
        queries_std=std[n_rows:] if n_queries else None,
        name=Path(path).name,
    )


def load_surrogate(spec: str) -> UserSurrogate:
    """Import a user surrogate from ``"module:function"`` or ``"path/to/file.py:function"``.

    This executes the module's code (as ``import`` does). ``function`` is either a
    :class:`UserSurrogate` or a callable ``predict(x) -> Predictive`` (see
    :class:`UserSurrogate`), or a callable of no argument returning one of them (a factory
    that loads weights, for example).

    Args:
        spec: ``"module:function"`` (a module on ``sys.path``) or ``"file.py:function"``.

    Returns:
        :class:`UserSurrogate` (named ``spec`` unless it is one already).

    Raises:
        ValueError: a malformed ``spec``, a module or file that cannot be imported, or a
            missing or non-callable attribute.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "mine.py").write_text(
        ...     "from edtjax.surrogates import Predictive\\n"
        ...     "def predict(x):\\n    m = x[:, :1]\\n    return Predictive(m, 0 * m + 1)\\n")
        >>> load_surrogate(f"{folder / 'mine.py'}:predict").name.endswith("mine.py:predict")
        True
    """
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise ValueError(f"surrogate must be 'module:function' or 'file.py:function', got {spec!r}")
    where, _, attribute = spec.rpartition(":")
    if not where or not attribute.isidentifier():
        raise ValueError(f"surrogate must be 'module:function' or 'file.py:function', got {spec!r}")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ValueError(f"surrogate file {path}: no such file")
        name = f"_edtjax_user_surrogate_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"surrogate file {path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:  # the user's code: report it in one line
            del sys.modules[name]
            raise ValueError(f"surrogate file {path}: importing it failed: {err!r}") from err
    else:
        try:
            module = importlib.import_module(where)
        except Exception as err:
            raise ValueError(f"surrogate module {where!r} cannot be imported: {err!r}") from err
    if not hasattr(module, attribute):
        raise ValueError(f"surrogate {spec!r}: the module has no attribute {attribute!r}")
    value = getattr(module, attribute)
    if isinstance(value, UserSurrogate):
        return value
    if not callable(value):
        raise ValueError(f"surrogate {spec!r} is not callable")
    if _takes_no_argument(value):
        value = value()
        if isinstance(value, UserSurrogate):
            return value
        if not callable(value):
            raise ValueError(f"surrogate {spec!r}() returned a non-callable {type(value).__name__}")
    return UserSurrogate(predict=value, name=spec)


def _takes_no_argument(fn: Callable) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
    ) and not any(p.kind is p.VAR_POSITIONAL for p in params)


def as_predictive(value: object, k: int, o: int, where: str) -> Predictive:
    """The user's prediction as a :class:`Predictive` with ``variance`` set; ``ValueError``
    naming ``where`` when it is not one of shape ``(k, o)`` with a variance or samples."""
    if not isinstance(value, Predictive):
        raise ValueError(
            f"{where} must return an edtjax.surrogates.Predictive, got {type(value).__name__}"
        )
    mean = jnp.asarray(value.mean)
    if mean.shape != (k, o):
        raise ValueError(f"{where} returned a mean of shape {mean.shape}, expected {(k, o)}")
    variance = value.variance
    if variance is None:
        if value.samples is None:
            raise ValueError(
                f"{where} must return a variance or samples (a point prediction "
                "gives no uncertainty to audit)"
            )
        samples = jnp.asarray(value.samples)
        if samples.ndim != 3 or samples.shape[1:] != (k, o):
            raise ValueError(
                f"{where} returned samples of shape {samples.shape}, expected (s, {k}, {o})"
            )
        variance = jnp.var(samples, axis=0)
    variance = jnp.asarray(variance)
    if variance.shape != (k, o):
        raise ValueError(
            f"{where} returned a variance of shape {variance.shape}, expected {(k, o)}"
        )
    aleatoric = None if value.aleatoric is None else jnp.asarray(value.aleatoric)
    if aleatoric is not None and aleatoric.shape != (k, o):
        raise ValueError(
            f"{where} returned an aleatoric variance of shape {aleatoric.shape}, expected {(k, o)}"
        )
    return Predictive(mean=mean, variance=variance, aleatoric=aleatoric)
