"""Plain data that crosses the sandbox wall: what a solution's call returned, as JSON with tags for Python's types.

Only exact built-in types are encoded (None, bool, int, float, str, bytes, list, tuple, set, frozenset, dict), so an
object whose `__eq__` always says yes, or a subclass of `int` that lies, cannot cross: it arrives as an error.  This
file is also the source the sandbox harnesses run (it imports nothing), so both sides use one definition.
"""

MAX_DEPTH = 100
MAX_ITEMS = 200000


class NotPlainData(ValueError):
    pass


def encode(value, _depth=0, _budget=None):
    """`value` as JSON-ready data, or NotPlainData."""
    budget = [MAX_ITEMS] if _budget is None else _budget
    budget[0] -= 1
    if budget[0] < 0 or _depth > MAX_DEPTH:
        raise NotPlainData("the value is too large or too deeply nested")
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"float": repr(value)}
    inner = lambda items: [encode(item, _depth + 1, budget) for item in items]  # noqa: E731
    if kind is list:
        return inner(value)
    if kind is tuple:
        return {"tuple": inner(value)}
    if kind is set or kind is frozenset:
        return {kind.__name__: inner(value)}
    if kind is dict:
        return {"dict": [inner(pair) for pair in value.items()]}
    if kind is bytes:
        return {"bytes": value.hex()}
    raise NotPlainData("a " + kind.__name__ + " is not plain data (return built-in values)")


def decode(data, _depth=0):
    """The value `encode` was given; anything that `encode` cannot have written is NotPlainData."""
    if _depth > MAX_DEPTH:
        raise NotPlainData("too deeply nested")
    kind = type(data)
    if data is None or kind in (bool, int, str, float):
        return data
    if kind is list:
        return [decode(item, _depth + 1) for item in data]
    if kind is dict and len(data) == 1:
        tag, body = next(iter(data.items()))
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "bytes" and type(body) is str:
            return bytes.fromhex(body)
        if type(body) is list:
            items = [decode(item, _depth + 1) for item in body]
            try:
                if tag == "tuple":
                    return tuple(items)
                if tag == "set":
                    return set(items)
                if tag == "frozenset":
                    return frozenset(items)
                if tag == "dict" and all(type(pair) is list and len(pair) == 2 for pair in items):
                    return {key: item for key, item in items}
            except TypeError:
                raise NotPlainData("an unhashable key") from None
    raise NotPlainData("not an encoded value")
