"""Unit tests split so that the solution never sees, and never runs, the part that decides the verdict.

A test such as `assert rotate(list(range(7))) == list(range(7))[5:] + list(range(7))[:5]` becomes two things: the
call `rotate(list(range(7)))`, which runs in the solution's sandbox and sends back plain data, and the check
`assert __undrift_value__(0) == list(range(7))[5:] + list(range(7))[:5]`, which runs in a second sandbox that never
held the solution.  Every use of a name the test does not define (the solution's functions, classes, constants) is cut
out whole with what follows it (`Solution().solve(3)[0]`), so the expected value, the comparison and the builtins it
uses are all out of the solution's reach.  A test must therefore call the solution with values, not with names it
binds itself; `problem()` says so when a suite is loaded.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

VALUE_OF = "__undrift_value__"


@dataclass(frozen=True)
class SplitTests:
    calls: tuple[str, ...]  # expressions the solution's sandbox evaluates, in order
    checks: tuple[str, ...]  # one rewritten test per original test, calling VALUE_OF(i) for the i-th call's value


def split(tests: list[str]) -> SplitTests:
    calls: list[str] = []
    checks = []
    for test in tests:
        tree = ast.parse(test, mode="exec")
        rewritten = _CutSolution(_foreign_names(tree), calls).visit(tree)
        checks.append(ast.unparse(ast.fix_missing_locations(rewritten)))
    return SplitTests(tuple(calls), tuple(checks))


def problem(tests: list[str]) -> str | None:
    """Why these tests cannot be checked outside the solution, as a phrase; None when they can."""
    for number, test in enumerate(tests, 1):
        try:
            tree = ast.parse(test, mode="exec")
        except SyntaxError as exc:
            return f"has test {number} that is not Python ({exc.msg}, line {exc.lineno})"
        bound = _bound_names(tree)
        for call in _CutSolution(_foreign_names(tree), []).cut(tree):
            inside = {node.id for node in ast.walk(call) if isinstance(node, ast.Name)} & bound
            if inside:
                return (f"has test {number} that passes the solution a name the test binds itself "
                        f"({sorted(inside)[0]}); call the solution with values instead")
    return None


def _bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _foreign_names(tree: ast.AST) -> set[str]:
    """Names the test uses but neither defines nor gets from Python: they can only come from the solution."""
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return used - _bound_names(tree) - set(dir(builtins))


class _CutSolution(ast.NodeTransformer):
    """Replaces each outermost expression rooted at a solution name with VALUE_OF(i), recording its source."""

    def __init__(self, foreign: set[str], calls: list[str]):
        self.foreign = foreign
        self.calls = calls

    def _root(self, node: ast.AST) -> ast.AST:
        while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
            node = node.func if isinstance(node, ast.Call) else node.value
        return node

    def _rooted_in_solution(self, node: ast.AST) -> bool:
        root = self._root(node)
        return isinstance(root, ast.Name) and root.id in self.foreign

    def cut(self, tree: ast.AST) -> list[ast.AST]:
        """The expressions that would be cut, outermost first (without rewriting)."""
        found: list[ast.AST] = []

        def walk(node: ast.AST) -> None:
            if isinstance(node, ast.expr) and self._rooted_in_solution(node):
                found.append(node)
                return
            for child in ast.iter_child_nodes(node):
                walk(child)

        walk(tree)
        return found

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.expr) and self._rooted_in_solution(node):
            self.calls.append(ast.unparse(node))
            return ast.Call(ast.Name(VALUE_OF, ast.Load()), [ast.Constant(len(self.calls) - 1)], [])
        return super().generic_visit(node)
