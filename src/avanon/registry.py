"""One registry of methods: recipe names -> classes, with declared, validated parameters.

Every transform, detector and metric is a small class that subclasses :class:`Method`, declares its
parameters once in ``params`` and is registered under a kind and a name::

    @register
    class Pixelate(Obfuscation):
        name = "pixelate"
        params = {"cells": Param(16, Interval(int, 4, 128), "blocks across the face box")}

Constructors only store validated keyword parameters; the work happens in the class's one method.
Every validation error reads the same way, for example::

    The 'alpha' parameter of McAdams must be a float in the range [0.5, 1.0]. Got 1.3 instead.
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from avanon.errors import ParameterError

KINDS = ("detector", "obfuscation", "voice", "video", "metric", "redaction")


class Constraint:
    """A rule a parameter value must satisfy; ``describe`` is used in error messages."""

    def check(self, value: Any) -> Any:  # returns the (possibly coerced) value or raises ValueError
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A number of a type in a range; ``None`` bounds are open-ended."""

    type: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        if self.type is int and not float(value).is_integer():
            raise ValueError
        value = self.type(value)
        lo_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        hi_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        if not (lo_ok and hi_ok):
            raise ValueError
        return value

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        article = "an" if self.type is int else "a"
        return f"{article} {self.type.__name__} in the range {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def check(self, value: Any) -> Any:
        if value not in self.values:
            raise ValueError
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Kind(Constraint):
    """A value of one of the given Python types (lists are converted to tuples)."""

    types: tuple[type, ...]
    length: int | None = None

    def check(self, value: Any) -> Any:
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(value, bool) and bool not in self.types:
            raise ValueError
        if not isinstance(value, self.types):
            raise ValueError
        if self.length is not None and len(value) != self.length:
            raise ValueError
        return value

    def describe(self) -> str:
        names = " or ".join(t.__name__ for t in self.types)
        return f"a {names}" + (f" of length {self.length}" if self.length is not None else "")


@dataclass(frozen=True)
class AnyOf(Constraint):
    """Satisfies at least one of several constraints."""

    options: tuple[Constraint, ...]

    def check(self, value: Any) -> Any:
        for option in self.options:
            try:
                return option.check(value)
            except ValueError:
                continue
        raise ValueError

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)


@dataclass(frozen=True)
class Param:
    """A declared parameter: default value, constraint, and a one-line description with units."""

    default: Any
    constraint: Constraint
    doc: str = ""


class Method(ABC):  # noqa: B024 (the base classes of each kind declare the abstract working method)
    """Base of every registered method: stores validated keyword parameters.

    Subclasses set ``kind``, ``name`` and ``params`` and implement one working method. ``Method``
    is an :class:`abc.ABC`, so a base class may mark that working method ``@abstractmethod`` and a
    subclass that does not implement it cannot be instantiated (``TypeError``).
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise ParameterError(f"{type(self).__name__} got unknown parameter(s) {', '.join(map(repr, unknown))}. Allowed: {allowed}.")
        for key, spec in self.params.items():
            value = kwargs.get(key, spec.default)
            setattr(self, key, validate_param(type(self).__name__, key, value, spec.constraint))

    def get_params(self) -> dict[str, Any]:
        """Parameters as plain data (tuples become lists) for recipes and manifests."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in ((k, getattr(self, k)) for k in self.params)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def validate_param(owner: str, key: str, value: Any, constraint: Constraint) -> Any:
    """Check one value; raise :class:`ParameterError` with the standard message."""
    try:
        return constraint.check(value)
    except (ValueError, TypeError):
        raise ParameterError(f"The {key!r} parameter of {owner} must be {constraint.describe()}. Got {value!r} instead.") from None


M = TypeVar("M", bound=type[Method])
_REGISTRY: dict[str, dict[str, type[Method]]] = {kind: {} for kind in KINDS}


def register(cls: M) -> M:
    """Class decorator: make ``cls`` available to recipes under ``(cls.kind, cls.name)``."""
    if cls.kind not in _REGISTRY:
        raise ParameterError(f"Unknown method kind {cls.kind!r} for {cls.__name__}; allowed: {', '.join(KINDS)}.")
    if not cls.name:
        raise ParameterError(f"{cls.__name__} must set a non-empty 'name' to be registered.")
    existing = _REGISTRY[cls.kind].get(cls.name)
    if existing is not None and existing is not cls:
        raise ParameterError(f"The {cls.kind} name {cls.name!r} is already taken by {existing.__name__}.")
    _REGISTRY[cls.kind][cls.name] = cls
    return cls


def _load_builtins(kind: str | None = None) -> None:
    """Import the modules that register the built-in methods of ``kind`` (all kinds when ``None``; idempotent).

    Only the kind asked for is imported, so that a run does not pay for the evaluation metrics'
    imports (scipy.ndimage, dlib) and a metric listing does not load the detectors.
    """
    import importlib

    for module in BUILTIN_MODULES if kind is None else MODULES_BY_KIND.get(kind, BUILTIN_MODULES):
        importlib.import_module(module)


MODULES_BY_KIND: dict[str, list[str]] = {
    "detector": ["avanon.detect.faces"],
    "obfuscation": ["avanon.video.obfuscate"],
    "voice": ["avanon.audio.mcadams", "avanon.audio.pseudo", "avanon.audio.resynth"],
    "redaction": ["avanon.audio.redact"],
    "video": ["avanon.video.facemesh", "avanon.video.background", "avanon.video.body", "avanon.video.consent"],
    "metric": [
        "avanon.evaluate.faces",
        "avanon.evaluate.speech",
        "avanon.evaluate.video",
        "avanon.evaluate.metadata",
        "avanon.evaluate.reid",
        "avanon.evaluate.turns",
        "avanon.evaluate.linkage",
        "avanon.evaluate.collateral",
        "avanon.evaluate.voice",
    ],
}
BUILTIN_MODULES: list[str] = [module for modules in MODULES_BY_KIND.values() for module in modules]


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    _load_builtins(kind)
    if kind not in _REGISTRY:
        raise ParameterError(f"Unknown method kind {kind!r}; allowed: {', '.join(KINDS)}.")
    return sorted(_REGISTRY[kind])


def get(kind: str, name: str) -> type[Method]:
    """The class registered under ``kind`` and ``name``."""
    available = names(kind)
    if name not in _REGISTRY[kind]:
        raise ParameterError(f"Unknown {kind} {name!r}; allowed: {', '.join(available)}.")
    return _REGISTRY[kind][name]


def create(kind: str, name: str, **params: Any) -> Method:
    """Instantiate a registered method with validated parameters."""
    return get(kind, name)(**params)
