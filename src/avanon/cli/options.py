"""Groups of command-line options that reach the command as one value object.

Typer makes one command-line option of each parameter of a command function. Related options (how
a run executes, how an evaluation samples) are declared once here, next to the frozen dataclass
they fill, and :func:`grouped` adds them to a command: the command function takes the one object,
so it stays short, and two commands that share a group declare its options in one place::

    @grouped("evaluation", EvaluationSettings, EVALUATION_OPTIONS)
    def evaluate(original_dir: Path, anonymized_dir: Path, out: Path, evaluation: EvaluationSettings) -> None: ...
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from typer.models import OptionInfo

F = TypeVar("F", bound=Callable[..., Any])


def grouped(param: str, build: Callable[..., Any], options: Mapping[str, tuple[type, OptionInfo]]) -> Callable[[F], F]:
    """Decorator: expose ``options`` as command-line options; the command gets ``build(**values)`` as ``param``.

    Parameters
    ----------
    param : str
        Name of the command function's parameter that receives the object.
    build : callable
        Makes the object from the option values (keyword arguments named as in ``options``).
    options : mapping of str to (type, typer.Option)
        Each option's parameter name, Python type and Typer declaration (default, flags, help).
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        if param not in signature.parameters:
            raise TypeError(f"{func.__name__} has no parameter {param!r} for the option group")
        clash = set(options) & set(signature.parameters)
        if clash:
            raise TypeError(f"{func.__name__} already has parameters named {sorted(clash)}")
        kept = [p for p in signature.parameters.values() if p.name != param]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind) for name, (kind, info) in options.items()]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in options}
            return func(*args, **kwargs, **{param: build(**values)})

        annotations = {k: v for k, v in inspect.get_annotations(func, eval_str=True).items() if k != param}
        command.__annotations__ = {**annotations, **{name: kind for name, (kind, _) in options.items()}}
        command.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p.replace(annotation=annotations.get(p.name, p.annotation)) for p in kept] + added
        )
        return command  # type: ignore[return-value]

    return decorate
