"""A code score cannot be forged: whatever the solution does, a wrong solution fails and a right one passes.

Each attack is a solution that does not solve the problem (it returns the wrong answer, or nothing) but tries to make
the verdict say it passed.  Before the tests were split into a solution sandbox and a separate check sandbox, every
one of these was scored as passing.
"""

import pytest

from undrift.scoring import build_scorer
from undrift.scoring.code import CodeScorer
from undrift.suites.schema import Sample, ScorerConfig

TESTS = ["assert square(3) == 9", "assert square(-4) == 16", "assert square(0) == 0",
         "assert abs(square(1.5) - 2.25) < 1e-9", "assert square(5) in {25, 26}"]

ATTACKS = {
    "calls the harness's reporter, then exits": (
        "import __main__, os\n"
        "if hasattr(__main__, 'report'):\n"
        "    __main__.report(executable=True, passed=5, total=5)\n"
        "for i in range(5):\n"
        "    if hasattr(__main__, 'send'):\n"
        "        __main__.send({'i': i, 'value': True})\n"
        "os._exit(0)\n"),
    "reads the nonce from /proc/self/environ and prints a result line": (
        "import json, os\n"
        "environ = open('/proc/self/environ', 'rb').read().decode().split('\\0')\n"
        "nonce = [v.split('=', 1)[1] for v in environ if v.startswith('UNDRIFT_NONCE=')]\n"
        "line = json.dumps({'executable': True, 'passed': 5, 'total': 5})\n"
        "print('\\n' + (nonce[0] if nonce else 'x') + ' ' + line, flush=True)\n"
        "os._exit(0)\n"),
    "sys.exit(0) before the tests": "import sys\ndef square(x):\n    return -1\nsys.exit(0)\n",
    "os._exit(0) before the tests": "import os\ndef square(x):\n    return -1\nos._exit(0)\n",
    "patches builtins the tests and the harness use": (
        "import builtins, json\n"
        "real_compile = builtins.compile\n"
        "builtins.compile = lambda *a, **k: real_compile('pass', 'forged', 'exec')\n"
        "builtins.abs = lambda x: 0\n"
        "builtins.AssertionError = type('Nope', (Exception,), {})\n"
        "def square(x):\n    return -1\n"),
    "returns an always-equal object": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n"
        "        return False\n    def __lt__(self, other):\n        return True\n    def __sub__(self, other):\n"
        "        return self\n    def __abs__(self):\n        return 0\n    def __hash__(self):\n        return 25\n"
        "def square(x):\n    return Anything()\n"),
    "returns a lying int subclass": (
        "class Liar(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def square(x):\n    return Liar(-1)\n"),
    "prints fake result lines": (
        "import sys\nfor i in range(5):\n    print('{\"i\": %d, \"value\": 9}' % i)\n"
        "    sys.stderr.write('{\"loaded\": true}\\n')\n"
        "print('{\"executable\": true, \"passed\": 5, \"total\": 5}')\n"
        "def square(x):\n    return -1\n"),
    "writes its own verdict files": (
        "import json, os\n"
        "for name in ('verdicts.json', 'values.jsonl'):\n"
        "    try:\n        open('/sandbox/out/' + name, 'w').write(json.dumps([None] * 5))\n"
        "    except OSError:\n        pass\n"
        "def square(x):\n    return -1\n"),
    "reads the tests to find the expected values": (
        "import json\ncalls = json.load(open('/sandbox/calls.json'))\n"
        "def square(x):\n    return [c for c in calls]\n"),
}


@pytest.fixture(scope="module")
def scorer():
    return build_scorer(ScorerConfig("code", {"timeout_s": 5}))


def _score(scorer, code: str):
    return scorer.score(Sample(id="s", messages=(), data={"tests": TESTS}), f"```python\n{code}```", [])


def test_a_right_solution_passes_every_test(scorer):
    result = _score(scorer, "def square(x):\n    return x * x\n")
    assert result.correct and result.details["passed"] == 5 and result.details["executable"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_cannot_forge_a_pass(scorer, attack):
    result = _score(scorer, ATTACKS[attack])
    assert not result.correct and result.details["passed"] == 0, result.details


def test_a_solution_that_exits_at_the_top_level_is_not_executable(scorer):
    assert not _score(scorer, ATTACKS["os._exit(0) before the tests"]).details["executable"]
    assert not _score(scorer, ATTACKS["sys.exit(0) before the tests"]).details["executable"]


def test_values_keep_their_python_types(scorer):
    tests = ["assert pair() == (1, 2)", "assert pair() != [1, 2]", "assert bag() == {1, 2}",
             "assert table() == {(1, 'a'): b'x', 2: float('inf')}", "assert big() == 10 ** 30"]
    code = ("def pair():\n    return (1, 2)\ndef bag():\n    return {2, 1}\n"
            "def table():\n    return {(1, 'a'): b'x', 2: float('inf')}\ndef big():\n    return 10 ** 30\n")
    result = scorer.score(Sample(id="t", messages=(), data={"tests": tests}), code, [])
    assert result.correct, result.details


def test_a_test_that_passes_the_solution_its_own_names_is_refused_when_the_suite_loads():
    scorer = CodeScorer()
    bad = Sample(id="b", messages=(), data={"tests": ["x = 3\nassert square(x) == 9"]})
    assert "binds itself (x)" in scorer.sample_problem(bad)
    looped = Sample(id="g", messages=(), data={"tests": ["assert [square(v) for v in [1, 2]] == [1, 4]"]})
    assert "binds itself (v)" in scorer.sample_problem(looped)
    assert scorer.sample_problem(Sample(id="ok", messages=(), data={"tests": TESTS})) is None
