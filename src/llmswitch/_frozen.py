"""A cheaper ``__init__`` for frozen, slotted, keyword-only dataclasses.

The generated ``__init__`` of a frozen dataclass stores each field with
``object.__setattr__(self, name, value)``: a global lookup, an attribute lookup and a
generic setattr that looks the slot up again by name. Here the new instance briefly
takes the class of a plain twin with the same slots (so it is "layout compatible" and
``__class__`` may be assigned), gets its fields by ordinary attribute stores, which the
interpreter specializes to direct slot writes, and takes its own class back. That
stores the same values about a quarter faster than calling each slot descriptor's
``__set__`` (which remains the path for a subclass instance, whose layout may differ),
and counts for the value types built on every call (a request, its messages, the
response, its usage). Same parameters, defaults and default factories; the class stays
frozen.

:func:`maker` gives the same construction as a plain function for the hot paths: calling
a class goes through ``type.__call__``, which packs the keyword arguments into a dict
and unpacks them again for ``__init__`` (CPython 3.11 has no vectorcall for classes
with a Python ``__init__``), and the instance changes class twice. The maker is called
with the same keywords, by vectorcall, and builds the twin and relabels it once: about
half the instructions of the class call for an eight-field Usage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["fast_init", "maker", "positional_maker"]

T = TypeVar("T")
P = ParamSpec("P")

# The class -> its maker (see maker), or until one is asked for, what builds it: made
# on demand, as only a few hot types use one and each costs a compile at import.
_MAKERS: dict[type, Callable[..., Any]] = {}
_PENDING: dict[type, Callable[[], Callable[..., Any]]] = {}

_SET_CLASS = object.__dict__["__class__"].__set__


def fast_init(cls: type[T]) -> type[T]:
    """Replace ``cls.__init__`` (a ``@dataclass(frozen=True, slots=True, kw_only=True)``
    without ``__post_init__`` or ``init=False`` fields) by one that sets the slots directly."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or not all(f.init and f.kw_only for f in fields):
        raise TypeError(f"fast_init does not handle {cls.__name__}")
    # What the generated code refers to (``_FACTORY`` as dataclass's own names it).
    names: dict[str, Any] = {
        "_FACTORY": dataclasses._HAS_DEFAULT_FACTORY,  # type: ignore[attr-defined]
        "__fi_cls__": cls,
        "__fi_set_class__": _SET_CLASS,
        "__fi_type__": type,  # a field may be named "type"
    }
    twin = _twin(cls)
    if twin is not None:
        names["__fi_twin__"] = twin
    params: list[str] = []
    fresh: list[str] = []  # default factories run first: a failing one leaves no twin
    values: list[str] = []
    for f in fields:
        name = f.name
        names[f"__fi_set_{name}__"] = cls.__dict__[name].__set__
        if f.default_factory is not dataclasses.MISSING:
            names[f"__fi_new_{name}__"] = f.default_factory
            params.append(f"{name}=_FACTORY")
            fresh.append(f"    if {name} is _FACTORY:\n        {name} = __fi_new_{name}__()")
        elif f.default is not dataclasses.MISSING:
            names[f"__fi_default_{name}__"] = f.default
            params.append(f"{name}=__fi_default_{name}__")
        else:
            params.append(name)
        values.append(name)
    by_setter = [f"    __fi_set_{name}__(self, {name})" for name in values] or ["    pass"]
    if twin is None or not values:
        body = fresh + by_setter
    else:
        body = [
            *fresh,
            "    if __fi_type__(self) is __fi_cls__:",
            "        __fi_set_class__(self, __fi_twin__)",
            *(f"        self.{name} = {name}" for name in values),
            "        __fi_set_class__(self, __fi_cls__)",
            "        return",
            *by_setter,
        ]
    source = f"def __init__(self, *, {', '.join(params)}) -> None:\n" + "\n".join(body)
    exec(source, names)  # the way dataclasses builds its own __init__
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    # What tools read from a signature (inspect, IDEs): the fields' types, as dataclass's own.
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    cls.__init__ = init  # type: ignore[method-assign]
    _PENDING[cls] = lambda: _make_function(cls, names, params, fresh, values, twin) or cls
    return cls


def maker(cls: Callable[P, T]) -> Callable[P, T]:
    """A function that builds ``cls`` from the same keywords as ``cls(...)``, cheaper (see
    the module docstring); ``cls`` must be a :func:`fast_init` class. Exact instances
    of ``cls`` only, which is what a hot path constructs."""
    made: Any = _MAKERS.get(cls)  # type: ignore[call-overload]
    if made is None:
        # get, not pop: two threads asking first both build one, and either is right.
        build = _PENDING.get(cls)  # type: ignore[call-overload]
        if build is None:
            raise TypeError(f"{cls!r} is not a fast_init class")
        made = _MAKERS[cls] = build()  # type: ignore[index]
    return made  # type: ignore[no-any-return]


def positional_maker(cls: type[T]) -> Callable[..., T]:
    """:func:`maker` taking every field positionally, in declaration order, none left
    out: for the widest types (a request's 16 fields, a response's 20), where CPython
    3.11 matching that many keywords costs more than building the object. Call sites
    name each argument in a comment."""
    if cls not in _MAKERS and cls not in _PENDING:  # as maker(), without compiling its own
        raise TypeError(f"{cls!r} is not a fast_init class")
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    twin = _twin(cls)
    if twin is None:
        return lambda *values: cls(**dict(zip(fields, values, strict=True)))
    scope = {"__fi_twin__": twin, "__fi_cls__": cls}
    return _compile(cls, f"{', '.join(fields)}, /", [], fields, scope, "_positional")


def _make_function(
    cls: type,
    names: dict[str, Any],
    params: list[str],
    fresh: list[str],
    values: list[str],
    twin: type | None,
) -> Callable[..., Any] | None:
    if twin is None or not values:
        return None
    return _compile(cls, f"*, {', '.join(params)}", fresh, values, names, "")


def _compile(
    cls: type,
    signature: str,
    prelude: list[str],
    fields: list[str],
    scope: dict[str, Any],
    suffix: str,
) -> Callable[..., Any]:
    """``def make(<signature>)``: the prelude, then the twin filled with ``fields`` and
    relabelled ``cls`` (``scope`` names ``__fi_twin__`` and ``__fi_cls__``)."""
    body = [
        *prelude,
        # The twin called, not object.__new__(twin): a type's call reaches object_new
        # directly, the builtin method first packs its arguments (a third cheaper).
        "    __fi_self__ = __fi_twin__()",
        *(f"    __fi_self__.{name} = {name}" for name in fields),
        "    __fi_self__.__class__ = __fi_cls__",
        "    return __fi_self__",
    ]
    names = dict(scope)
    exec(f"def make({signature}):\n" + "\n".join(body), names)
    make: Callable[..., Any] = names["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}{suffix}"
    make.__module__ = cls.__module__
    return make


def _twin(cls: type) -> type | None:
    """A plain class with ``cls``'s slots, that an instance of ``cls`` may switch to and
    back; ``None`` when ``cls`` inherits from anything but ``object`` or the switch is
    refused (the layouts differ), so its ``__init__`` keeps the descriptor path."""
    slots = cls.__dict__.get("__slots__")
    if cls.__bases__ != (object,) or not isinstance(slots, tuple):
        return None
    twin = type(f"_{cls.__name__}Fields", (), {"__slots__": slots})
    try:
        probe: Any = object.__new__(cls)
        _SET_CLASS(probe, twin)
        _SET_CLASS(probe, cls)
    except TypeError:
        return None
    return twin
