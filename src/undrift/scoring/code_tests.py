"""Unit tests split so that the solution never sees, and never runs, the part that decides the verdict.

A test such as `assert rotate(list(range(7))) == list(range(7))[5:] + list(range(7))[:5]` becomes two things: the
chain `rotate(list(range(7)))`, which runs in the solution's sandbox and sends back plain data, and the check
`assert __undrift_value__(0) == list(range(7))[5:] + list(range(7))[:5]`, which runs in a second sandbox that never
held the solution.  A chain is every use of a name the test does not define, with what follows it
(`Solution().solve(3)[0].endswith('c')`).  The solution's sandbox runs it only up to its first subscript or
attribute of plain data (`[0]`, `.endswith`, `.__eq__`), fixed here and not by anything in the solution's reach, and
must send that value as plain data; the rest runs in the check on the decoded value, as do the expected value, the
comparison and the builtins they use.  Standard-library modules
used as `math.isclose(...)` are imported by the check itself, never taken from the solution.

A sample's tests run one after another in one namespace (a test may define a helper the next one uses).  A test
must call the solution with values, not with names the tests bind themselves, and not hand the solution's function
to a helper (`check(candidate)`); a test that asserts without calling the solution (its function named like a
builtin) or imports with `*` is refused too: `problem()` says so when a suite is loaded.
"""

from __future__ import annotations

import ast
import builtins
import sys
from dataclasses import dataclass

VALUE_OF = "__undrift_value__"
PREVIOUS = "__v__"  # the value of the chain so far, inside a step


# Subscripts and these attributes belong to plain data (`.endswith`, `.count`, `.__eq__`): a chain reaches them only
# in the check, on the decoded value, so the solution cannot answer them with an object of its own.
PLAIN_ATTRIBUTES = frozenset().union(*(dir(t) for t in (str, bytes, int, float, bool, list, tuple, dict, set,
                                                         frozenset, type(None))))


@dataclass(frozen=True)
class SplitTests:
    calls: tuple[tuple[str, ...], ...]  # per chain, the steps the solution's sandbox runs: its root name, then
    #                                     each next step applied to __v__, up to the value it must send as plain data
    rests: tuple[tuple[str, ...], ...]  # per chain, the steps the check applies to that value
    checks: tuple[str, ...]  # one rewritten test per original test, calling VALUE_OF(i) for the i-th chain's value
    chains_of: tuple[tuple[int, ...], ...]  # per test, its chains: a test passes only if it read every one of them
    modules: tuple[str, ...]  # standard-library modules the tests use by name, imported on both sides


def split(tests: list[str]) -> SplitTests:
    chains: list[tuple[str, ...]] = []
    checks, chains_of, modules = [], [], set()
    trees = [ast.parse(test, mode="exec") for test in tests]
    bound = set().union(*map(_bound_names, trees))
    for tree in trees:
        scope = _Scope(tree, bound)
        first = len(chains)
        rewritten = _CutChains(scope, chains).visit(tree)
        rewritten.body[:0] = [ast.Import([ast.alias(module)]) for module in sorted(scope.modules)]
        checks.append(ast.unparse(ast.fix_missing_locations(rewritten)))
        chains_of.append(tuple(range(first, len(chains))))
        modules |= scope.modules
    cuts = [_solution_part(steps) for steps in chains]
    return SplitTests(tuple(steps[:cut] for steps, cut in zip(chains, cuts)),
                      tuple(steps[cut:] for steps, cut in zip(chains, cuts)), tuple(checks), tuple(chains_of),
                      tuple(sorted(modules)))


def _solution_part(steps: tuple[str, ...]) -> int:
    """How many steps run in the solution's sandbox: all of them up to the first subscript or plain-data attribute."""
    for index, step in enumerate(steps[1:], 1):
        node = ast.parse(step, mode="eval").body
        if isinstance(node, ast.Subscript) or (isinstance(node, ast.Attribute) and node.attr in PLAIN_ATTRIBUTES):
            return index
    return len(steps)


def problem(tests: list[str]) -> str | None:
    """Why these tests cannot be checked outside the solution, as a phrase; None when they can."""
    trees = []
    for number, test in enumerate(tests, 1):
        try:
            trees.append(ast.parse(test, mode="exec"))
        except SyntaxError as exc:
            return f"has test {number} that is not Python ({exc.msg}, line {exc.lineno})"
    bound = set().union(*map(_bound_names, trees))
    for number, tree in enumerate(trees, 1):
        if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree)):
            return f"has test {number} with `import *`: name what it imports, so the solution's names are known"
        scope = _Scope(tree, bound)
        if scope.unknown_namespaces:
            name = sorted(scope.unknown_namespaces)[0]
            return (f"has test {number} that uses {name}.… as a module, and it is neither a standard-library module "
                    f"nor called like the solution's function: import it in the test, or call the solution directly")
        chains = _CutChains(scope, []).find(tree)
        if not chains and any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
            return (f"has test {number} that checks nothing the solution defines (is its function named like a "
                    f"Python builtin? give it a name of its own)")
        for chain in chains:
            names = {node.id for node in ast.walk(chain) if isinstance(node, ast.Name)}
            inside = names & scope.bound - _bound_names(chain)  # a lambda's own parameters are its own
            if inside:
                return (f"has test {number} that passes the solution a name the test binds itself "
                        f"({sorted(inside)[0]}); call the solution with values instead")
            if isinstance(chain, ast.Name) and isinstance(scope.parents.get(chain), ast.Call):
                return (f"has test {number} that hands the solution's {chain.id} itself to a function "
                        f"(check(candidate) style); write asserts that call {chain.id} with values")
    return None


class _Scope:
    """Which names in a test are the test's own, which are standard-library modules, and which are the solution's."""

    def __init__(self, tree: ast.AST, bound: set[str]):
        self.parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        self.bound = bound  # by any test of the sample: they run one after another in one namespace
        used = {node for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        foreign = {node.id for node in used} - self.bound - set(dir(builtins))
        as_namespace = {n.id for n in used if isinstance(self.parents.get(n), ast.Attribute)}
        called_or_bare = {n.id for n in used if not isinstance(self.parents.get(n), ast.Attribute)}
        namespaces = (foreign & as_namespace) - called_or_bare
        self.modules = {name for name in namespaces if name in sys.stdlib_module_names}
        self.unknown_namespaces = namespaces - self.modules
        self.solution = foreign - self.modules


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
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def _links(node: ast.AST) -> list[ast.AST]:
    """The chain from its root name outwards: `f(2)[0]` is [Name f, Call, Subscript]."""
    links = [node]
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
        links.append(node)
    return links[::-1]


def _steps(chain: ast.AST) -> tuple[str, ...]:
    """Each link as source applied to the value before it (PREVIOUS)."""
    links = _links(chain)
    steps = [ast.unparse(links[0])]
    previous = ast.Name(PREVIOUS, ast.Load())
    for link in links[1:]:
        if isinstance(link, ast.Call):
            step = ast.Call(previous, link.args, link.keywords)
        elif isinstance(link, ast.Attribute):
            step = ast.Attribute(previous, link.attr, ast.Load())
        else:
            step = ast.Subscript(previous, link.slice, ast.Load())
        steps.append(ast.unparse(ast.fix_missing_locations(step)))
    return tuple(steps)


class _CutChains(ast.NodeTransformer):
    """Replaces each outermost chain rooted at a solution name with VALUE_OF(i), recording its steps."""

    def __init__(self, scope: _Scope, chains: list[tuple[str, ...]]):
        self.scope = scope
        self.chains = chains

    def _is_chain(self, node: ast.AST) -> bool:
        root = _links(node)[0] if isinstance(node, ast.expr) else None
        return isinstance(root, ast.Name) and root.id in self.scope.solution

    def find(self, tree: ast.AST) -> list[ast.AST]:
        """The chains that would be cut, outermost first (without rewriting)."""
        found: list[ast.AST] = []

        def walk(node: ast.AST) -> None:
            if self._is_chain(node):
                found.append(node)
                return
            for child in ast.iter_child_nodes(node):
                walk(child)

        walk(tree)
        return found

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if self._is_chain(node):
            self.chains.append(_steps(node))
            return ast.Call(ast.Name(VALUE_OF, ast.Load()), [ast.Constant(len(self.chains) - 1)], [])
        return super().generic_visit(node)
