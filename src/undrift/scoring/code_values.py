"""Plain data that crosses the sandbox wall: what a solution's call returned, as JSON with tags for Python's types.

Only built-in values are encoded (None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict), so
an object whose `__eq__` always says yes, or a subclass of `int` that lies, cannot cross: it arrives as an error.  This
file is also the source the sandbox harnesses run (it imports nothing), so both sides use one definition.
"""

MAX_DEPTH = 100
MAX_ITEMS = 200000


class NotPlainData(ValueError):
    pass


def encode(value, _depth=0, _budget=None):
    """`value` as JSON-ready data, or NotPlainData.

    Subclasses of the containers (Counter, OrderedDict, defaultdict, namedtuple) cross as the base container, read
    through the base type's own methods, so an overridden method of theirs is never called.
    """
    budget = [MAX_ITEMS] if _budget is None else _budget
    budget[0] -= 1
    if budget[0] < 0 or _depth > MAX_DEPTH:
        raise NotPlainData("the value is too large or too deeply nested")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value if value.bit_length() <= 64 else {"int": hex(value)}  # hex: linear, no digit limit
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"float": repr(value)}
    if kind is complex:
        return {"complex": [encode(value.real, _depth + 1, budget), encode(value.imag, _depth + 1, budget)]}
    inner = lambda items: [encode(item, _depth + 1, budget) for item in items]  # noqa: E731
    try:
        if isinstance(value, dict):
            return {"dict": [inner(pair) for pair in dict.items(value)]}
        if isinstance(value, list):
            return inner(list.__iter__(value))
        if isinstance(value, tuple):
            return {"tuple": inner(tuple.__iter__(value))}
        if isinstance(value, frozenset):
            return {"frozenset": inner(frozenset.__iter__(value))}
        if isinstance(value, set):
            return {"set": inner(set.__iter__(value))}
    except TypeError:
        raise NotPlainData("a " + kind.__name__ + " that only claims to be a container") from None
    if kind is bytes:
        return {"bytes": value.hex()}
    raise NotPlainData("a " + kind.__name__ + " is not plain data (return built-in values)")


TAGS = ("int", "float", "complex", "bytes", "tuple", "set", "frozenset", "dict")


def validate(data, _depth=0, _budget=None):
    """Check that `data` is what `encode` writes, building nothing: cheap on any input (no hashing, no big ints)."""
    budget = [MAX_ITEMS] if _budget is None else _budget
    budget[0] -= 1
    if budget[0] < 0 or _depth > MAX_DEPTH:
        raise NotPlainData("the value is too large or too deeply nested")
    kind = type(data)
    if data is None or kind in (bool, int, str, float):
        return
    if kind is list:
        for item in data:
            validate(item, _depth + 1, budget)
        return
    if kind is dict and len(data) == 1:
        tag, body = next(iter(data.items()))
        if tag in ("int", "bytes") and type(body) is str and len(body) <= 1 << 20:
            return
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return
        if tag in TAGS and type(body) is list and (tag != "complex" or len(body) == 2):
            for item in body:
                if tag == "dict" and not (type(item) is list and len(item) == 2):
                    raise NotPlainData("not an encoded value")
                validate(item, _depth + 1, budget)
            return
    raise NotPlainData("not an encoded value")


def decode(data, _depth=0):
    """The value `encode` was given (after `validate`); anything else is NotPlainData."""
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
        if tag == "int" and type(body) is str:
            return int(body, 16)
        if type(body) is list:
            items = [decode(item, _depth + 1) for item in body]
            try:
                if tag == "complex" and len(items) == 2:
                    return complex(*items)
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
