"""The one check of argument types at the public API's boundary, read from each function's own annotations.

A Python user who passes `limit="2"`, `model=None` or a list as a policy should get one `UndriftError` that names the
argument, what it got and what it takes, not a `TypeError` from deep inside.  `@checked` reads the annotations the
function already has (`int | None`, `str | ModelSpec | Model`, `Sequence[str]`), so the signature stays the one
statement of what each argument takes.  Where an annotation offers `RunRecord` beside `str` (a run), a `RunRecord`
is taken as its id, which is what a user holding one means.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping
from importlib import import_module
from typing import Any, Callable, TypeVar

from ..errors import UndriftError

F = TypeVar("F", bound=Callable[..., Any])

# What an annotation's names mean: a test of a value, and how a message says it.
_PLAIN: dict[str, tuple[Callable[[Any], bool], str]] = {
    "None": (lambda v: v is None, "None"),
    "str": (lambda v: isinstance(v, str), "a str"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "Path": (lambda v: isinstance(v, os.PathLike), "a Path"),
    "Model": (lambda v: all(callable(getattr(v, m, None)) for m in ("generate", "fingerprint", "prepare")),
              "a loaded model"),
}
# Classes named in annotations, imported only when a value needs testing against them.
_CLASSES = {
    "Store": "undrift.store", "RunRecord": "undrift.store", "ModelSpec": "undrift.models", "Suite": "undrift.suites",
    "ScorerConfig": "undrift.suites", "Policy": "undrift.gate", "Columns": "undrift.importing",
    "Selection": "undrift.replay", "ReplayOptions": "undrift.replay", "TrafficQuery": "undrift.traffic",
    "ProxyOptions": "undrift.proxy",
}
_ANYTHING = ("Any", "Callable", "OnFault")  # callbacks and the like: not checked here


def checked(function: F, label: str | None = None) -> F:
    """Check each argument a call passes against `function`'s annotation; see the module's docstring.  A message
    names the function as `label` (default `undrift.NAME()`, what the public API calls it)."""
    signature = inspect.signature(function)
    tests = {name: _union(str(p.annotation)) for name, p in signature.parameters.items()
             if p.annotation is not inspect.Parameter.empty}
    label = label or f"undrift.{function.__name__}()"

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return function(*args, **kwargs)  # a missing or unknown argument: Python's own message says it best
        for name, value in bound.arguments.items():
            test = tests.get(name)
            if test is not None:
                bound.arguments[name] = _checked(label, name, value, test)
        return function(*bound.args, **bound.kwargs)

    return call  # type: ignore[return-value]


_Test = list[tuple[str, Any]]  # the alternatives of a union: (kind, detail)


def _checked(label: str, name: str, value: Any, alternatives: _Test) -> Any:
    if not alternatives:
        return value
    if ("class", "RunRecord") in alternatives and _is(value, "RunRecord"):
        return value.id
    for kind, detail in sorted(alternatives, key=lambda alternative: alternative[0] != "plain"):  # cheap tests first
        if _matches(value, kind, detail):
            return _run_ids(value) if kind == "sequence" else value
    raise UndriftError(f"{label}: {name} takes {_describe(alternatives)}; got {_shown(value)}")


def _matches(value: Any, kind: str, detail: Any) -> bool:
    if kind == "plain":
        return _PLAIN[detail][0](value)
    if kind == "class":
        return _is(value, detail)
    if kind == "mapping":
        return isinstance(value, Mapping)
    # a sequence: a list or tuple (never a lone str) whose every item passes
    return isinstance(value, (list, tuple)) and all(any(_matches(item, k, d) for k, d in detail) for item in value)


def _run_ids(items: Any) -> Any:
    """A sequence of runs with any `RunRecord` in it as its id."""
    return type(items)(item.id if _is(item, "RunRecord") else item for item in items)


def _is(value: Any, class_name: str) -> bool:
    return isinstance(value, getattr(import_module(_CLASSES[class_name]), class_name))


def _describe(alternatives: _Test) -> str:
    words = []
    for kind, detail in alternatives:
        if kind == "plain":
            words.append(_PLAIN[detail][1])
        elif kind == "class":
            words.append(f"a {detail}")
        elif kind == "mapping":
            words.append("a mapping (a dict)")
        else:
            words.append(f"a list of {' or '.join(str(d) for _, d in detail)}")
    if "a str" in words and ("class", "ModelSpec") in alternatives:
        words[words.index("a str")] = "a model spec (a str such as 'echo:')"
    if "a str" in words and ("class", "RunRecord") in alternatives:
        words[words.index("a str")] = "a run (its id, an id prefix or a name, a str)"
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]


def _shown(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    kind = type(value).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return text if value is None or isinstance(value, bool) else f"{text} ({article} {kind})"


def _union(annotation: str) -> _Test:
    """The alternatives of an annotation such as `str | Sequence[str] | None`; [] (no check) where any part is a
    callback or `Any`.  An unknown name is an error here, when the API module loads, not a silent pass."""
    alternatives: _Test = []
    for part in _split(annotation, "|"):
        if part.startswith(_ANYTHING):
            return []
        if part in _PLAIN:
            alternatives.append(("plain", part))
        elif part in _CLASSES:
            alternatives.append(("class", part))
        elif part.startswith("Mapping["):
            alternatives.append(("mapping", None))
        elif part.startswith("Sequence[") and part.endswith("]"):
            alternatives.append(("sequence", _union(part[len("Sequence["):-1])))
        else:
            raise TypeError(f"@checked does not know the annotation {part!r}: teach undrift/api/arguments.py")
    return alternatives


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside brackets, each part stripped."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == separator and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]
