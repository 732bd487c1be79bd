"""One conversion of a result to what JSON holds, so that every `.to_dict()` is what `--json` prints.

A result's `to_dict()` passes its data through `jsonable`, and `json.dumps(result.to_dict())` then works and reads
back equal: times become ISO 8601 text (`2026-11-24T19:00:00+00:00`), tuples and sets become lists, NumPy numbers
become numbers, dataclasses become mappings, and other values JSON has no type for (paths, ids) become their
text.  The CLI's `--json` only dumps it.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` as JSON's types only (dict with str keys, list, str, int, float, bool, None), recursively."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, numbers.Integral):  # NumPy's integers too, which JSON would otherwise write as text
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key if isinstance(key, str) else str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(item) for item in value), key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value))
    return str(value)
