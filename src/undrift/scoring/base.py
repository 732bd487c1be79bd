"""The scorer protocol, the `Score` it returns, and how a suite file's scorer config becomes a scorer."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..errors import UndriftError
from ..plugins import SCORERS
from ..suites.schema import Sample, ScorerConfig


@dataclass
class Score:
    """How good one response is.

    `value` is the scorer's number (1/0 for right/wrong, a fraction for partial credit, a similarity, a rate);
    `correct` is the binary verdict where the scorer has one (None where it does not, e.g. a response rate);
    `extracted` is the answer pulled out of the response, which is what "answer mismatch" compares.
    """

    value: float
    correct: bool | None
    extracted: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Scorer(Protocol):
    """What a suite's task names by its scorer `type`: an `undrift.scorers` entry point is a class (or factory) that
    takes the task's scorer parameters as keyword arguments and returns one of these (see docs/plugins.md)."""

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        """Score `response` to `sample`; `variants` are the responses to the sample's counterfactual twins."""
        ...


SANDBOX_PARAMETER = "sandbox"


def _factory(config: ScorerConfig) -> Callable[..., Scorer]:
    """The scorer registered as the task's `type` (built-in or plugin), through the `undrift.scorers` entry points."""
    factory = SCORERS.get(config.type)
    if factory is None:
        raise SCORERS.unknown(f"scorer {config.type!r}")
    return factory


def runs_code(config: ScorerConfig) -> bool:
    """Whether this scorer executes model output, so it must be given a sandbox (a `sandbox` parameter says so)."""
    return SANDBOX_PARAMETER in inspect.signature(_factory(config)).parameters


def build_scorer(config: ScorerConfig, sandbox: Any = None) -> Scorer:
    """Build a scorer from its suite-file config; unknown types and parameters are one-line errors.

    `sandbox` is handed to scorers that run model output; a suite file cannot set it, so only the caller (the CLI's
    `--allow-unsandboxed`) decides whether code may run without isolation.
    """
    factory = _factory(config)
    accepted = set(inspect.signature(factory).parameters) - {SANDBOX_PARAMETER}
    unknown = sorted(set(config.params) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "no parameters"
        raise UndriftError(f"scorer {config.type!r} has no parameter {unknown[0]!r} (it takes {allowed})")
    extra = {SANDBOX_PARAMETER: sandbox} if sandbox is not None and runs_code(config) else {}
    try:
        return factory(**config.params, **extra)
    except (TypeError, ValueError) as exc:
        raise UndriftError(f"scorer {config.type!r}: {exc}") from None


def sample_problem(scorer: Scorer, sample: Sample) -> str | None:
    """What keeps `scorer` from judging `sample` fairly (a target it can never match, missing reference data), or None.

    Checked once per sample when a suite file loads, so a mistake is a one-line error there rather than a run in
    which every answer is quietly scored wrong.  Scorers that need something of each sample define
    `sample_problem(sample)`, returning the problem as a phrase that follows "sample 'ID'".
    """
    check = getattr(scorer, "sample_problem", None)
    return check(sample) if check else None


def targets(sample: Sample) -> list[str]:
    """The sample's acceptable answers as strings (a target may be one value or a list)."""
    if sample.target is None:
        return []
    values = sample.target if isinstance(sample.target, list) else [sample.target]
    return [str(v) for v in values]
