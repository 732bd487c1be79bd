"""The command line is a thin layer, checked mechanically: a command parses its options, makes one call into the
public API and renders the result with `report/`.  So no command module (nor cli.py) builds a table, opens the
store itself, prints JSON other than through `print_json`, or spells out the shared --db and --json options."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "undrift"
COMMANDS = sorted(p for p in (SRC / "commands").glob("*.py") if p.name not in ("__init__.py", "common.py"))
CLI_MODULES = [*COMMANDS, SRC / "cli.py"]


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_no_tables_built_outside_report(path):
    problems = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("rich.table"):
            problems.append(f"line {node.lineno}: imports rich.table")
        if isinstance(node, ast.Import) and any(a.name == "rich.table" for a in node.names):
            problems.append(f"line {node.lineno}: imports rich.table")
        if isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] == "Table":
            problems.append(f"line {node.lineno}: builds a Table (tables belong in report/)")
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_commands_use_the_api_and_print_json(path):
    problems = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called.endswith("Store.open"):
                problems.append(f"line {node.lineno}: opens the store (pass db= to the API instead)")
            if called == "json.dumps":
                problems.append(f"line {node.lineno}: json.dumps (use print_json with a result's .to_dict())")
            for keyword in node.keywords:
                if keyword.arg == "help" and isinstance(keyword.value, ast.Name) and \
                        keyword.value.id in ("DB_HELP", "JSON_HELP"):
                    problems.append(f"line {node.lineno}: defines --db/--json inline (use Db and Json from common)")
    assert not problems, f"{path.name}: " + "; ".join(problems)
