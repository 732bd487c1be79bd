"""Reading the files users hand to undrift: suites, gate policies, recorded generations, training data, reviews.

Each is UTF-8 text (a byte-order mark is allowed, as spreadsheets write one).  YAML is read with the safe loader
and a bound on what its aliases expand to: a "billion laughs" document of a few hundred bytes names 10^9 values
through nested aliases, and whatever walks it later (hashing a suite, printing a description) hangs.  A CSV row
must have as many fields as its header.  Every problem is one line naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from .errors import UndriftError

MAX_YAML_VALUES = 1_000_000  # values a YAML document may reach through aliases; plain documents are not counted
MAX_PROMPT_CHARS = 1_000_000  # characters one prompt (or training example) may hold: about 250,000 tokens


def read_text(path: Path) -> str:
    """The file's text, or one line saying where it stops being UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UndriftError(f"{path.name} line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file "
                           "as UTF-8") from None


def load_yaml(text: str, where: str) -> Any:
    """A YAML document as Python values (safe loader), refusing aliases that expand beyond `MAX_YAML_VALUES`."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise UndriftError(f"{where}{line} is not valid YAML: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise UndriftError(f"{where} is nested deeper than YAML can be read here: flatten it") from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, where: str) -> None:
    """Count the values the document stands for once every alias is expanded, without expanding anything:
    each node's expanded size is computed once (aliases share nodes), so the count costs as much as the file."""
    sizes: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            open_nodes.discard(key)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise UndriftError(f"{where}: an alias refers to itself (directly or through its own contents); "
                               "write the value out instead")
        open_nodes.add(key)
        distinct += 1
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    if sizes[id(root)] > max(distinct, MAX_YAML_VALUES):
        raise UndriftError(f"{where}: its aliases expand to {sizes[id(root)]:,} values, more than the "
                           f"{MAX_YAML_VALUES:,} allowed; write the values out or use fewer nested aliases")


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def csv_rows(path: Path, required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) for each record of a CSV file with a header; the header must name `required`, and every row
    must have as many fields as the header (a missing or extra field is a broken row, not an empty value)."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = next(reader, None) or []
    missing = [c for c in required if c not in header]
    if missing:
        raise UndriftError(f"{path.name} has no column {missing[0]!r} (its columns: "
                           f"{', '.join(c for c in header if c) or 'none'}); name it with an option")
    while True:
        line = reader.line_num + 1  # where the record starts (a quoted field may span lines)
        fields = next(reader, None)
        if fields is None:
            return
        if not fields:
            continue
        if len(fields) != len(header):
            raise UndriftError(f"{path.name} line {line} has {len(fields)} fields but the header names {len(header)}: "
                               "quote fields that hold commas, and give every column")
        yield line, dict(zip(header, fields))


def jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, value) for each non-blank line of a JSON Lines file."""
    for line, text in enumerate(read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            yield line, json.loads(text)
        except json.JSONDecodeError as exc:
            raise UndriftError(f"{path.name} line {line}: not JSON ({exc.msg}); each line must be one JSON value") \
                from None


def check_prompt_length(messages: Iterable[dict[str, str]], where: str) -> None:
    """Refuse a prompt too long for any model before anything tokenises it (a tokenizer given 50 MB exhausts memory)."""
    length = sum(len(str(m.get("content", ""))) for m in messages)
    if length > MAX_PROMPT_CHARS:
        raise UndriftError(f"{where}: the prompt is {length:,} characters; a prompt may hold at most "
                           f"{MAX_PROMPT_CHARS:,} characters: shorten it or split it into several samples")
