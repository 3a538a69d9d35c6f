"""Fingerprints of functions, so that a checkpoint is resumed only by the code that wrote it.

:func:`fingerprint` hashes what decides a Markov chain's transitions: a function's code,
constants, defaults and closed-over values, recursively, and not where it was defined, so the
same kernel built in a new process has the same fingerprint while another kernel, observable or
parameter value gets another one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import types
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["fingerprint"]

_FINGERPRINT_DEPTH = 8  # nesting levels of closures, partials and objects described
_FINGERPRINT_NODES = 20_000  # objects described at most (then the rest is summarised)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class _Fingerprint:
    """SHA-256 of a canonical description of functions: what decides the transitions.

    A function is described by its module, qualified name, code (bytecode, names, constants,
    nested code), default arguments, the values in its closure, and the functions and scalar
    or array constants of its own module that its code names; ``functools.partial``, bound
    methods, wrappers (``__wrapped__``, e.g. ``jax.jit``), dataclasses and other objects by
    their parts, arrays by dtype, shape and bytes. Source positions (file, line numbers) and
    object addresses are left out, so the same code gives the same fingerprint in another
    process, while another kernel, observable or parameter value gives another one.
    """

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.seen: set[int] = set()
        self.keep: list[Any] = []  # visited objects stay alive: their ids are not reused
        self.nodes = 0

    def feed(self, *parts: Any) -> None:
        for part in parts:
            self.hash.update(part if isinstance(part, bytes) else str(part).encode())
            self.hash.update(b"\0")

    def digest(self, obj: object) -> str:
        self.walk(obj, 0)
        return self.hash.hexdigest()

    def walk(self, obj: object, depth: int) -> None:
        try:
            self._walk(obj, depth)
        except Exception as err:  # an object that cannot be inspected: describe its type
            self.feed("uninspectable", type(obj).__module__, type(obj).__qualname__, type(err))

    def _walk(self, obj: Any, depth: int) -> None:
        self.nodes += 1
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            self.feed(type(obj).__name__, repr(obj))
            return
        if depth > _FINGERPRINT_DEPTH or self.nodes > _FINGERPRINT_NODES:
            self.feed("deep", type(obj).__module__, type(obj).__qualname__)
            return
        if id(obj) in self.seen:
            self.feed("seen", type(obj).__qualname__)
            return
        self.seen.add(id(obj))
        self.keep.append(obj)
        depth += 1
        if isinstance(obj, jax.core.Tracer):
            self.feed("tracer", obj.aval)
        elif isinstance(obj, (jax.Array, np.ndarray, np.generic)):
            if isinstance(obj, jax.Array) and jnp.issubdtype(obj.dtype, jax.dtypes.prng_key):
                self.feed("key", jax.random.key_impl(obj))
                obj = jax.random.key_data(obj)
            arr = np.ascontiguousarray(np.asarray(obj))
            self.feed("array", arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).digest())
        elif isinstance(obj, (set, frozenset)):
            parts = sorted(_Fingerprint().digest(item) for item in obj)
            self.feed(type(obj).__name__, *parts)
        elif isinstance(obj, (tuple, list)):
            self.feed(type(obj).__module__, type(obj).__qualname__, len(obj))
            for item in obj:
                self.walk(item, depth)
        elif isinstance(obj, dict):
            self.feed("dict", len(obj))
            for k, v in sorted(obj.items(), key=lambda kv: _ADDRESS.sub("", repr(kv[0]))):
                self.walk(k, depth)
                self.walk(v, depth)
        elif isinstance(obj, functools.partial):
            self.feed("partial", type(obj).__qualname__)
            self.walk(obj.func, depth)
            self.walk(obj.args, depth)
            self.walk(obj.keywords, depth)
        elif isinstance(obj, types.MethodType):
            self.feed("method")
            self.walk(obj.__func__, depth)
            self.walk(obj.__self__, depth)
        elif isinstance(obj, types.FunctionType):
            self._function(obj, depth)
        elif isinstance(obj, types.CodeType):
            self._code(obj, depth)
        elif isinstance(obj, types.ModuleType):
            self.feed("module", obj.__name__)
        elif isinstance(obj, type):
            self.feed("class", obj.__module__, obj.__qualname__)
        elif callable(getattr(obj, "__wrapped__", None)):  # jax.jit, functools.wraps, cache
            self.feed("wrapper", type(obj).__qualname__)
            self.walk(obj.__wrapped__, depth)
        elif dataclasses.is_dataclass(obj):
            self.feed("dataclass", type(obj).__module__, type(obj).__qualname__)
            for field in dataclasses.fields(obj):
                self.feed(field.name)
                self.walk(getattr(obj, field.name), depth)
        elif isinstance(getattr(obj, "__dict__", None), dict) and not isinstance(
            obj, (types.BuiltinFunctionType, np.ufunc)
        ):
            self.feed("object", type(obj).__module__, type(obj).__qualname__)
            self.walk(vars(obj), depth)
        else:
            text = _ADDRESS.sub("", repr(obj))
            self.feed("other", type(obj).__module__, type(obj).__qualname__, text[:10_000])

    def _function(self, fn: types.FunctionType, depth: int) -> None:
        self.feed("function", fn.__module__, fn.__qualname__)
        self.walk(fn.__code__, depth)
        self.walk(fn.__defaults__, depth)
        self.walk(fn.__kwdefaults__, depth)
        for cell in fn.__closure__ or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                self.feed("empty cell")
                continue
            self.walk(content, depth)
        # module-level helpers and constants that the code names (not other modules' code)
        for name in sorted(_code_names(fn.__code__)):
            value = fn.__globals__.get(name)
            own_function = (
                isinstance(value, types.FunctionType) and value.__module__ == fn.__module__
            )
            constant = isinstance(value, (bool, int, float, complex, np.ndarray, jax.Array))
            if own_function or constant:
                self.feed("global", name)
                self.walk(value, depth)

    def _code(self, code: types.CodeType, depth: int) -> None:
        self.feed(
            "code",
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
            code.co_code,
            code.co_names,
            code.co_varnames,
            code.co_freevars,
        )
        for const in code.co_consts:
            self.walk(const, depth)


def _code_names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by ``code`` and the code nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def fingerprint(fn: Callable[..., object]) -> str:
    """A hex SHA-256 fingerprint of the function ``fn`` (see :class:`_Fingerprint`).

    Example:
        >>> def step(key, x):
        ...     return 0.5 * x, {}
        >>> fingerprint(step) == fingerprint(step), len(fingerprint(step))
        (True, 64)
    """
    return _Fingerprint().digest(fn)
