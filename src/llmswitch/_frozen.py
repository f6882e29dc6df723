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
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")

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
    return cls


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
