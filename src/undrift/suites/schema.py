"""Suites, tasks and samples: the representative work a model is watched with.

A sample is one thing to ask (messages, or a prompt, or template fields), what a right answer is (`target`), the
slices it belongs to (for per-slice breakdowns), and any data its scorer needs (unit tests, instructions).  A task
groups samples with one prompt template, one set of decoding parameters and one scorer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..hashing import sha256_json
from ..models.base import Decoding, Request


@dataclass(frozen=True)
class Sample:
    id: str
    messages: tuple[dict[str, str], ...]
    target: Any = None
    slices: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    counterfactual: tuple[dict[str, str], ...] | None = None
    decoding: Decoding | None = None  # overrides the task's: a replayed request is decoded as it was asked

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "messages": list(self.messages), "target": self.target}
        if self.decoding is not None:
            out["decoding"] = self.decoding.to_dict()
        if self.slices:
            out["slices"] = list(self.slices)
        if self.data:
            out["data"] = self.data
        if self.counterfactual:
            out["counterfactual"] = list(self.counterfactual)
        return out


@dataclass(frozen=True)
class ScorerConfig:
    """Which scorer a task uses and its parameters, as written in the suite file."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclass(frozen=True)
class Task:
    name: str
    samples: tuple[Sample, ...]
    scorer: ScorerConfig
    decoding: Decoding = Decoding()
    description: str = ""

    def requests(self, sample: Sample, seed: int | None) -> list[Request]:
        """The requests one sample needs: its messages, then its counterfactual twin if it has one."""
        decoding = sample.decoding or self.decoding
        if not decoding.greedy and decoding.seed is None and seed is not None:
            decoding = Decoding(decoding.max_tokens, decoding.temperature, decoding.top_p, decoding.stop, seed)
        requests = [Request.chat(list(sample.messages), decoding, sample.id)]
        if sample.counterfactual:
            requests.append(Request.chat(list(sample.counterfactual), decoding, sample.id))
        return requests

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "decoding": self.decoding.to_dict(),
            "scorer": self.scorer.to_dict(),
            "samples": [s.to_dict() for s in self.samples],
        }


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[Task, ...]
    description: str = ""
    version: str = "1"
    source: str = ""

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def digest(self) -> str:
        """Hash of everything that defines the suite's requests and scoring (not where it was loaded from)."""
        return sha256_json({"name": self.name, "version": self.version, "tasks": [t.to_dict() for t in self.tasks]})
