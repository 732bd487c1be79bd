"""Code generation scored by running the model's code against unit tests, only ever inside the sandbox.

Two numbers per sample, as in the LLMDrift study: is the code *executable* (it compiles and its top level runs), and
what share of the unit tests pass.  Nothing the code does can change the verdict: the tests are split
(`code_tests.py`) so that the solution's sandbox only evaluates the calls into the solution and sends back plain data
(`code_values.py`), and a second sandbox that never held the solution compares those values with the expected ones.
The solution never sees an expected value, so reporting a result itself, exiting early, patching builtins or the
harness, returning an object that equals everything or printing fake result lines all leave it failing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UndriftError
from ..sandbox import Sandbox, SandboxLimits, SandboxResult
from ..suites.schema import Sample
from . import code_tests, code_values
from .base import Score

_FENCE = re.compile(r"```[ \t]*(?:(?:python3|python|py)[ \t]*)?\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_CODEC = Path(code_values.__file__).read_text(encoding="utf-8")

SOLUTION_HARNESS = _CODEC + r"""
import json, os
work = json.load(open("/sandbox/chains.json", encoding="utf-8"))
chains = work["chains"]
channel = os.fdopen(int(os.environ["UNDRIFT_CHANNEL"]), "w", encoding="utf-8")
def send(record):
    channel.write(json.dumps(record) + "\n")
    channel.flush()
def failure(exc):
    builtin = next((c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"), "Exception")
    return {"raised": (type(exc).__name__ + ": " + str(exc))[:200], "type": builtin, "message": str(exc)[:200]}
namespace = {"__name__": "solution"}
for module in work["modules"]:
    namespace[module] = __import__(module)
try:
    exec(compile(open("/sandbox/solution.py", encoding="utf-8").read(), "solution.py", "exec"), namespace)
except BaseException as exc:
    send({"loaded": False, "error": failure(exc)["raised"]})
    raise SystemExit(0)
send({"loaded": True})
for index, steps in enumerate(chains):
    try:
        value = eval(steps[0], namespace)
        for step in steps[1:]:
            value = eval(step, namespace, {"__v__": value})
        send({"i": index, "value": encode(value)})
    except BaseException as exc:
        send({"i": index, **failure(exc)})
"""

CHECK_HARNESS = _CODEC + r"""
import builtins, json, os
payload = json.load(open("/sandbox/check.json", encoding="utf-8"))
class SolutionFailed(Exception):
    pass
read = set()
def value_of(index):
    read.add(index)
    got = payload["values"][index]
    if "value" not in got:
        kind = getattr(builtins, got.get("type", ""), None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            raise kind(got.get("message", ""))  # so `except ValueError:` in a test sees what the solution raised
        raise SolutionFailed(got["raised"])
    value = decode(got["value"])
    for step in payload["rests"][index]:
        value = eval(step, namespace, {"__v__": value})
    return value
namespace = {"__name__": "__main__", "__undrift_value__": value_of}  # one namespace: a test may define a helper
verdicts = []
for check, chains in zip(payload["checks"], payload["chains_of"]):
    read.clear()
    try:
        try:
            exec(compile(check, "test", "exec"), namespace)
        except SystemExit as exc:
            if exc.code not in (None, 0, False):
                raise
        unread = [i for i in chains if i not in read]
        verdicts.append("the test never checked the solution" if unread else None)
    except BaseException as exc:
        verdicts.append((type(exc).__name__ + ": " + str(exc))[:200])
os.write(int(os.environ["UNDRIFT_CHANNEL"]), json.dumps(verdicts).encode())
"""


def extract_code(response: str) -> str:
    """The longest fenced code block, else the whole response."""
    blocks = [b for b in _FENCE.findall(response) if b.strip()]
    return max(blocks, key=len) if blocks else response


class CodeScorer:
    """Runs `extract_code(response)` then each of the sample's `data.tests` (Python statements, usually asserts)."""

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 1024, sandbox: Sandbox | None = None):
        self.limits = SandboxLimits(wall_s=float(timeout_s), cpu_s=max(1, int(timeout_s)), memory_mb=int(memory_mb),
                                    max_processes=8)  # memory is limited per process: few processes, little memory
        self._sandbox = sandbox

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox.detect()
        return self._sandbox

    def sample_problem(self, sample: Sample) -> str | None:
        tests = sample.data.get("tests")
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            return "has no data.tests list of Python statements for the code scorer"
        return code_tests.problem(tests)

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        tests = list(sample.data.get("tests", []))
        problem = code_tests.problem(tests)
        if problem:  # checked when the suite loads; a caller that skipped that gets the same line here
            raise UndriftError(f"sample {sample.id!r} {problem}")
        split = code_tests.split(tests)
        ran = self.sandbox.run_python(
            SOLUTION_HARNESS,
            files={"solution.py": extract_code(response),
                   "chains.json": json.dumps({"chains": list(split.calls), "modules": list(split.modules)})},
            limits=self.limits,
        )
        loaded, values = _read_values(ran, len(split.calls))
        details: dict = {"executable": loaded is True, "timed_out": ran.timed_out, "total": len(tests)}
        if loaded is not True:
            details["error"] = loaded or _last_line(ran)
            verdicts = ["the code did not run"] * len(tests)
        else:
            verdicts = self._check(split, values)
        passed = sum(v is None for v in verdicts)
        details["passed"] = passed
        failures = [f"{test[:120]} -> {verdict}" for test, verdict in zip(tests, verdicts) if verdict is not None]
        if failures:
            details["failures"] = failures[:5]
        share = passed / len(tests) if tests else 0.0
        return Score(share, bool(tests) and passed == len(tests), None, details)

    def _check(self, split: code_tests.SplitTests, values: list[dict]) -> list[str | None]:
        payload = {"checks": list(split.checks), "rests": [list(r) for r in split.rests], "values": values,
                   "chains_of": [list(c) for c in split.chains_of]}
        checked = self.sandbox.run_python(CHECK_HARNESS, files={"check.json": json.dumps(payload)}, limits=self.limits)
        try:
            verdicts = json.loads(checked.channel)
            if isinstance(verdicts, list) and len(verdicts) == len(split.checks):
                return [v if v is None else str(v) for v in verdicts]
        except ValueError:
            pass
        return [f"the check did not finish ({_last_line(checked)})"] * len(split.checks)


def _read_values(ran: SandboxResult, count: int) -> tuple[bool | str | None, list[dict]]:
    """Whether the solution loaded (or its error), and per chain a {"value"} or a {"raised", "type"}.

    Only the first record for each chain counts and every value must decode as plain data: whatever else the
    solution writes to the channel, it can only choose values it does not know the expected ones of.
    """
    loaded: bool | str | None = None
    values: list[dict | None] = [None] * count
    for line in ran.channel.splitlines():
        try:
            record = json.loads(line, parse_constant=_refuse)
        except (ValueError, RecursionError):
            continue
        if not isinstance(record, dict):
            continue
        if loaded is None and "loaded" in record:
            loaded = True if record["loaded"] is True else str(record.get("error", "the code did not run"))[:200]
        index = record.get("i")
        if type(index) is int and 0 <= index < count and values[index] is None:
            values[index] = _plain(record)
    stopped = "timed out" if ran.timed_out else "the solution stopped before this call"
    return loaded, [v if v is not None else {"raised": stopped} for v in values]


def _plain(record: dict) -> dict:
    if "value" in record:
        try:
            code_values.validate(record["value"])  # builds nothing: no hash flood, no huge ints here
            return {"value": record["value"]}
        except (code_values.NotPlainData, ValueError, RecursionError):
            return {"raised": "the solution returned something that is not plain data"}
    return {"raised": str(record.get("raised", "no value"))[:200], "type": str(record.get("type", ""))[:40],
            "message": str(record.get("message", ""))[:200]}


def _refuse(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _last_line(result: SandboxResult) -> str:
    if result.timed_out:
        return "timed out"
    return (result.stderr.strip().splitlines() or ["killed by the sandbox"])[-1][:200]
