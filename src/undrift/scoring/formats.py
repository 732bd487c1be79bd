"""Format checks: is the response the JSON that was asked for?"""

from __future__ import annotations

import json
import re

from ..suites.schema import Sample
from .base import Score

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool, "array": list, "object": dict}


def parse_json_response(text: str) -> tuple[object | None, str | None]:
    """Parse JSON from a response, accepting a ```json fence around it; returns (value, error)."""
    fenced = _FENCE.search(text)
    candidate = (fenced.group(1) if fenced else text).strip()
    try:
        return json.loads(candidate), None
    except json.JSONDecodeError as exc:
        return None, exc.msg


class JsonScorer:
    """The response is valid JSON, has the `required` keys, and their values have the `types` given."""

    def __init__(self, required: list[str] | None = None, types: dict[str, str] | None = None):
        self.required = list(required or [])
        self.types = dict(types or {})
        unknown = sorted(set(self.types.values()) - set(_TYPES))
        if unknown:
            raise ValueError(f"unknown JSON type {unknown[0]!r}; use {', '.join(_TYPES)}")

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        value, error = parse_json_response(response)
        problems = [f"not JSON: {error}"] if error else []
        required = self.required + list(sample.data.get("required_keys", []))
        if not error:
            if required and not isinstance(value, dict):
                problems.append("not a JSON object")
            elif isinstance(value, dict):
                problems += [f"missing key {k!r}" for k in required if k not in value]
                problems += [
                    f"key {k!r} is not {t}" for k, t in self.types.items() if k in value and not _is_type(value[k], t)
                ]
        correct = not problems
        return Score(float(correct), correct, None if error else json.dumps(value, sort_keys=True), {"problems": problems})


def _is_type(value: object, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])
