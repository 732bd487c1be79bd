"""Code generation scored by running the model's code against unit tests, only ever inside the sandbox.

Two numbers per sample, as in the LLMDrift study: is the code *executable* (it compiles and its top level runs), and
what share of the unit tests pass.  The harness reads a one-time nonce from its environment and removes it before
running the untrusted code, so the code cannot forge the result line.
"""

from __future__ import annotations

import json
import re
import secrets

from ..sandbox import SandboxLimits, run_python
from ..suites.schema import Sample
from .base import Score, register

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)

HARNESS = r'''
import json, os, sys
nonce = os.environ.pop("UNDRIFT_NONCE")
def report(**fields):
    sys.stdout.flush()
    sys.__stdout__.write("\n" + nonce + " " + json.dumps(fields) + "\n")
    sys.__stdout__.flush()
source = open("solution.py", encoding="utf-8").read()
tests = json.load(open("tests.json", encoding="utf-8"))
namespace = {"__name__": "solution"}
try:
    exec(compile(source, "solution.py", "exec"), namespace)
except BaseException as exc:
    report(executable=False, passed=0, total=len(tests), error=type(exc).__name__ + ": " + str(exc)[:200])
    sys.exit(0)
report(executable=True, passed=None, total=len(tests))
passed, failures = 0, []
for test in tests:
    try:
        exec(compile(test, "test", "exec"), namespace)
        passed += 1
    except BaseException as exc:
        failures.append(test[:120] + " -> " + type(exc).__name__)
report(executable=True, passed=passed, total=len(tests), failures=failures[:5])
'''


def extract_code(response: str) -> str:
    """The longest fenced code block, else the whole response."""
    blocks = [b for b in _FENCE.findall(response) if b.strip()]
    return max(blocks, key=len) if blocks else response


@register("code")
class CodeScorer:
    """Runs `extract_code(response)` then each of the sample's `data.tests` (Python statements, usually asserts)."""

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 1024):
        self.limits = SandboxLimits(wall_s=float(timeout_s), cpu_s=max(1, int(timeout_s)), memory_mb=int(memory_mb))

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        tests = list(sample.data.get("tests", []))
        code = extract_code(response)
        nonce = secrets.token_hex(16)
        result = run_python(
            HARNESS,
            files={"solution.py": code, "tests.json": json.dumps(tests)},
            limits=self.limits,
            env={"UNDRIFT_NONCE": nonce},
        )
        reports = [json.loads(line[len(nonce) + 1 :]) for line in result.stdout.splitlines() if line.startswith(nonce + " ")]
        last = reports[-1] if reports else {"executable": False, "passed": 0, "total": len(tests)}
        passed = last.get("passed") or 0
        total = last.get("total") or len(tests)
        details = {
            "executable": bool(last.get("executable")),
            "passed": passed,
            "total": total,
            "timed_out": result.timed_out,
        }
        if last.get("error"):
            details["error"] = last["error"]
        if last.get("failures"):
            details["failures"] = last["failures"]
        if not reports:
            details["error"] = (result.stderr.strip().splitlines() or ["killed by the sandbox"])[-1][:200]
        share = passed / total if total else 0.0
        return Score(share, total > 0 and passed == total, None, details)
