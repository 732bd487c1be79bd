"""A code score cannot be forged: whatever the solution does, a wrong solution fails and a right one passes.

Each attack is a solution that does not solve the problem (it returns the wrong answer, or nothing) but tries to make
the verdict say it passed.  Before the tests were split into a solution sandbox and a separate check sandbox, every
one of these was scored as passing.
"""

import time

import pytest

from undrift.scoring import build_scorer
from undrift.scoring.code import CodeScorer, extract_code
from undrift.suites.schema import Sample, ScorerConfig

ASK = ({"role": "user", "content": "Write the function."},)  # the prompt plays no part in scoring

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
    return scorer.score(Sample(id="s", messages=ASK, data={"tests": TESTS}), f"```python\n{code}```", [])


def test_a_right_solution_passes_every_test(scorer):
    result = _score(scorer, "def square(x):\n    return x * x\n")
    assert result.correct and result.details["passed"] == 5 and result.details["executable"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_cannot_forge_a_pass(scorer, attack):
    result = _score(scorer, ATTACKS[attack])
    assert not result.correct and result.details["passed"] == 0, result.details


REVIEW_TESTS = ["assert math.isclose(h(2.0), 1.4142135, rel_tol=1e-6)", "assert h(16.0) == math.sqrt(16)",
                "assert f('abc').endswith('c')", "assert g([3, 1, 2]).__eq__([1, 2, 3])",
                "assert g([2, 1])[0] == 1"]
REVIEW_ATTACKS = {  # found by an adversarial review of the first split
    "defines the math module the tests use": (
        "class math:\n    isclose = staticmethod(lambda *a, **k: True)\n    sqrt = staticmethod(lambda x: 0)\n"
        "def h(x):\n    return 0\ndef f(s):\n    return ''\ndef g(xs):\n    return []\n"),
    "returns objects whose methods lie": (
        "class Liar:\n    def __eq__(self, other):\n        return True\n    def endswith(self, *a):\n"
        "        return True\n    def __getitem__(self, i):\n        return 1\n    def isclose(self, *a, **k):\n"
        "        return True\n"
        "def h(x):\n    return Liar()\ndef f(s):\n    return Liar()\ndef g(xs):\n    return Liar()\n"),
    "makes the functions classes whose instances lie": (
        "class Liar:\n    def __init__(self, *a):\n        pass\n    def __eq__(self, other):\n        return True\n"
        "    def endswith(self, *a):\n        return True\n    def __getitem__(self, i):\n        return 1\n"
        "h = f = g = Liar\n"),
}


@pytest.mark.parametrize("attack", sorted(REVIEW_ATTACKS))
def test_review_attacks_cannot_forge_a_pass(scorer, attack):
    result = scorer.score(Sample(id="r", messages=ASK, data={"tests": REVIEW_TESTS}), REVIEW_ATTACKS[attack], [])
    assert result.details["passed"] == 0, result.details


def test_the_same_tests_pass_an_honest_solution(scorer):
    honest = ("import math\ndef h(x):\n    return math.sqrt(x)\ndef f(s):\n    return s\n"
              "def g(xs):\n    return sorted(xs)\n")
    result = scorer.score(Sample(id="r", messages=ASK, data={"tests": REVIEW_TESTS}), honest, [])
    assert result.correct, result.details


def test_leetcode_style_classes_still_work(scorer):
    tests = ["assert Solution().two_sum([2, 7, 11], 9) == [0, 1]", "assert Solution().two_sum([3, 3], 6)[1] == 1"]
    honest = ("class Solution:\n    def two_sum(self, nums, target):\n        seen = {}\n"
              "        for i, n in enumerate(nums):\n            if target - n in seen:\n"
              "                return [seen[target - n], i]\n            seen[n] = i\n")
    assert scorer.score(Sample(id="l", messages=ASK, data={"tests": tests}), honest, []).correct


def test_an_exception_the_test_expects_reaches_the_check(scorer):
    tests = ["try:\n    root(-1)\n    assert False\nexcept ValueError:\n    pass", "assert root(9) == 3"]
    honest = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return int(x ** 0.5)\n"
    assert scorer.score(Sample(id="e", messages=ASK, data={"tests": tests}), honest, []).correct
    silent = "def root(x):\n    return 3\n"
    assert scorer.score(Sample(id="e", messages=ASK, data={"tests": tests}), silent, []).details["passed"] == 1


def test_a_solution_that_exits_at_the_top_level_is_not_executable(scorer):
    assert not _score(scorer, ATTACKS["os._exit(0) before the tests"]).details["executable"]
    assert not _score(scorer, ATTACKS["sys.exit(0) before the tests"]).details["executable"]


def test_values_keep_their_python_types(scorer):
    tests = ["assert pair() == (1, 2)", "assert pair() != [1, 2]", "assert bag() == {1, 2}",
             "assert table() == {(1, 'a'): b'x', 2: float('inf')}", "assert big() == 10 ** 30"]
    code = ("def pair():\n    return (1, 2)\ndef bag():\n    return {2, 1}\n"
            "def table():\n    return {(1, 'a'): b'x', 2: float('inf')}\ndef big():\n    return 10 ** 30\n")
    result = scorer.score(Sample(id="t", messages=ASK, data={"tests": tests}), code, [])
    assert result.correct, result.details


def test_a_test_that_passes_the_solution_its_own_names_is_refused_when_the_suite_loads():
    scorer = CodeScorer()
    bad = Sample(id="b", messages=ASK, data={"tests": ["x = 3\nassert square(x) == 9"]})
    assert "binds itself (x)" in scorer.sample_problem(bad)
    looped = Sample(id="g", messages=ASK, data={"tests": ["assert [square(v) for v in [1, 2]] == [1, 4]"]})
    assert "binds itself (v)" in scorer.sample_problem(looped)
    assert scorer.sample_problem(Sample(id="ok", messages=ASK, data={"tests": TESTS})) is None
    candidate = Sample(id="h", messages=ASK, data={"tests": ["def check(c):\n    assert c(2) == 4\ncheck(square)"]})
    assert "check(candidate) style" in scorer.sample_problem(candidate)
    unknown = Sample(id="n", messages=ASK, data={"tests": ["assert np.isclose(square(2), 4)"]})
    assert "np." in scorer.sample_problem(unknown)


SECOND_REVIEW = {  # a second adversarial review: test shapes whose checks never ran, names like builtins, helpers
    "a main guard": (["if __name__ == '__main__':\n    assert square(3) == 9"], True),
    "a pytest-style function nobody calls": (["def test_square():\n    assert square(3) == 9"], False),
    "a helper defined by another test": (["def is_nine(v):\n    return v == 9", "assert is_nine(square(3))"], True),
}


@pytest.mark.parametrize("shape", sorted(SECOND_REVIEW))
def test_checks_that_never_read_the_solution_do_not_pass_it(scorer, shape):
    tests, honest_passes = SECOND_REVIEW[shape]
    wrong = "is_nine = lambda v: True\ndef square(x):\n    return -1\n"
    assert not scorer.score(Sample(id="w", messages=ASK, data={"tests": tests}), wrong, []).correct
    honest = scorer.score(Sample(id="h", messages=ASK, data={"tests": tests}), "def square(x):\n    return x * x\n", [])
    assert honest.correct is honest_passes, honest.details


def test_tests_that_cannot_be_kept_from_the_solution_are_refused_at_load():
    scorer = CodeScorer()
    refused = {"assert pow(2, 3) == 8": "named like a Python builtin",
               "from math import *\nassert f(16) == sqrt(16)": "import *"}
    for test, why in refused.items():
        assert why in scorer.sample_problem(Sample(id="r", messages=ASK, data={"tests": [test]}))
    lam = Sample(id="l", messages=ASK, data={"tests": ["assert apply_twice(lambda v: v * 2, 3) == 12"]})
    assert scorer.sample_problem(lam) is None


def test_honest_values_of_many_kinds_cross(scorer):
    tests = ["assert freq('aab') == {'a': 2, 'b': 1}", "assert polar() == complex(1, 2)",
             "assert fact(2000) > 10 ** 5000", "assert point() == (1, 2)", "assert double(math.pi) == 2 * math.pi",
             "try:\n    root(-1)\n    assert False\nexcept ValueError as e:\n    assert str(e) == 'negative'"]
    code = ("import collections, math\ndef freq(s):\n    return collections.Counter(s)\n"
            "def polar():\n    return 1 + 2j\n"
            "def fact(n):\n    return math.factorial(n)\nP = collections.namedtuple('P', 'x y')\ndef point():\n"
            "    return P(1, 2)\ndef double(x):\n    return 2 * x\nclass Negative(ValueError):\n    pass\n"
            "def root(x):\n    raise Negative('negative')\n")
    result = scorer.score(Sample(id="k", messages=ASK, data={"tests": tests}), code, [])
    assert result.correct, result.details


def test_hostile_channel_records_cost_the_parent_little(scorer):
    """A set of ints that all hash alike would take the parent minutes to build: it only validates them."""
    flood = ("import json, os\nfd = int(os.environ['UNDRIFT_CHANNEL'])\n"
             "os.write(fd, (json.dumps({'i': 0, 'value': {'set': [k * (2 ** 61 - 1) + 5 for k in range(60000)]}})"
             " + '\\n').encode())\ndef square(x):\n    return -1\n")
    started = time.perf_counter()
    result = _score(scorer, flood)
    assert not result.correct and time.perf_counter() - started < 30


def test_degenerate_fences_are_read_in_linear_time():
    started = time.perf_counter()
    extract_code("```" + " " * 200_000 + "x")
    assert time.perf_counter() - started < 2
