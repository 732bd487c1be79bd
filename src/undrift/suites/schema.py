"""Suites, tasks and samples: the representative work a model is watched with.

A sample is one thing to ask (messages, or a prompt, or template fields), what a right answer is (`target`), the
slices it belongs to (for per-slice breakdowns), and any data its scorer needs (unit tests, instructions).  A task
groups samples with one prompt template, one set of decoding parameters and one scorer.

The rules a suite keeps (a known scorer that suits every sample, sample ids unique per task, task names unique per
suite, nothing empty) are checked here, when a `Sample`, `Task` or `Suite` is made, so a suite from a YAML file, from
`.build`, from a plugin or from the plain constructors is held to the same rules before any of it reaches a model or
the store.  The loader says the same problems with the file and line (`SuiteProblem.sample`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import UndriftError
from ..hashing import sha256_json
from ..jsonable import jsonable
from ..models.base import Decoding, Request


class SuiteProblem(UndriftError):
    """A suite, task or sample that breaks a rule: `detail` says what and how to mend it, `sample` is the position of
    the sample at fault in its task (None when the fault is the task's or the suite's)."""

    def __init__(self, owner: str, detail: str, sample: int | None = None):
        super().__init__(f"{owner}: {detail}")
        self.detail, self.sample = detail, sample


@dataclass(frozen=True)
class Sample:
    id: str
    messages: tuple[dict[str, str], ...]
    target: Any = None
    slices: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    counterfactual: tuple[dict[str, str], ...] | None = None
    decoding: Decoding | None = None  # overrides the task's: a replayed request is decoded as it was asked

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise SuiteProblem(f"sample {self.id!r}", f"a sample's id is a string: give {str(self.id)!r}")
        if isinstance(self.messages, (str, bytes)) or not isinstance(self.messages, (list, tuple)) or \
                not self.messages or not all(isinstance(m, Mapping) for m in self.messages):
            raise SuiteProblem(f"sample {self.id!r}", "`messages` must be a list of {role, content} mappings, e.g. "
                                                      "({'role': 'user', 'content': 'Hi'},)")

    def row(self) -> dict[str, Any]:
        """The sample as a row of a suite file's samples (its data as top-level fields), which reads back as it."""
        row: dict[str, Any] = {**self.data, "id": self.id, "messages": list(self.messages), "target": self.target,
                               "slices": list(self.slices)}
        if self.counterfactual:
            row["counterfactual"] = {"messages": list(self.counterfactual)}
        if self.decoding is not None:
            row["decoding"] = self.decoding.to_dict()
        return row

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
        return jsonable(out)


@dataclass(frozen=True)
class ScorerConfig:
    """Which scorer a task uses and its parameters, as written in the suite file."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"type": self.type, **self.params})


@dataclass(frozen=True)
class Task:
    name: str
    samples: tuple[Sample, ...]
    scorer: ScorerConfig
    decoding: Decoding = Decoding()
    description: str = ""

    def __post_init__(self) -> None:
        from ..scoring import build_scorer, sample_problem

        owner = f"task {self.name!r}"
        if not isinstance(self.scorer, ScorerConfig):
            raise SuiteProblem(owner, f"the scorer is a ScorerConfig, e.g. ScorerConfig({str(self.scorer)!r}), not "
                                      f"a {type(self.scorer).__name__}")
        try:
            scorer = build_scorer(self.scorer)
        except SuiteProblem:
            raise
        except UndriftError as problem:
            raise SuiteProblem(owner, str(problem)) from None
        if not self.samples:
            raise SuiteProblem(owner, "the task has no samples")
        seen: set[str] = set()
        for index, sample in enumerate(self.samples):
            if sample.id in seen:
                raise SuiteProblem(owner, f"sample id {sample.id!r} is used twice; ids must be unique per task", index)
            problem = sample_problem(scorer, sample)
            if problem:
                raise SuiteProblem(owner, f"sample {sample.id!r} {problem}", index)
            seen.add(sample.id)

    @classmethod
    def build(cls, name: str, samples: Iterable[Mapping[str, Any] | Sample], scorer: str | Mapping[str, Any] |
              ScorerConfig, *, template: str | None = None, system: str | None = None,
              decoding: Mapping[str, Any] | Decoding | None = None, description: str = "") -> "Task":
        """A task built in Python exactly as a suite file's task is read: `samples` are rows as in a suite file (`id`;
        `messages`, `prompt` or the fields of `template`; `target`, `slices`, any data the scorer needs) or `Sample`s;
        the same template expansion and system prompt, the same checks and the same one-line errors (`UndriftError`).
        `scorer` is a type (`"exact"`) or a mapping with `type` and its parameters."""
        from pathlib import Path

        from .loader import task_from_mapping

        raw: dict[str, Any] = {
            "name": name,
            "samples": samples if isinstance(samples, (str, Mapping)) else  # not rows: the loader says so
            [s.row() if isinstance(s, Sample) else dict(s) if isinstance(s, Mapping) else s for s in samples],
            "scorer": scorer.to_dict() if isinstance(scorer, ScorerConfig) else
            (dict(scorer) if isinstance(scorer, Mapping) else scorer),
            "description": description,
        }
        if template is not None:
            raw["template"] = template
        if system is not None:
            raw["system"] = system
        if decoding is not None:
            raw["decoding"] = decoding.to_dict() if isinstance(decoding, Decoding) else \
                dict(decoding) if isinstance(decoding, Mapping) else decoding
        return task_from_mapping(raw, Path.cwd(), None, "Task.build: task 1")

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
        return jsonable({
            "name": self.name,
            "description": self.description,
            "decoding": self.decoding.to_dict(),
            "scorer": self.scorer.to_dict(),
            "samples": [s.to_dict() for s in self.samples],
        })


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[Task, ...]
    description: str = ""
    version: str = "1"
    source: str = ""

    def __post_init__(self) -> None:
        owner = f"suite {self.name!r}"
        if not self.tasks:
            raise SuiteProblem(owner, "`tasks` must be a non-empty list of tasks")
        names = [t.name for t in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SuiteProblem(owner, f"task name {duplicates[0]!r} is used twice; task names must be unique")

    @classmethod
    def build(cls, name: str, tasks: Iterable[Task | Mapping[str, Any]], *, description: str = "",
              version: str = "1") -> "Suite":
        """A suite built in Python: `tasks` are `Task`s (see `Task.build`) or mappings as a suite file writes them.
        The same suite written as a YAML file has the same `digest()`, so runs of either compare with each other."""
        from pathlib import Path

        from .loader import assemble_suite, task_from_mapping

        built = [t if isinstance(t, Task) else task_from_mapping(t, Path.cwd(), None, f"suite {name!r}: task {i + 1}")
                 for i, t in enumerate(tasks)]
        return assemble_suite(name, built, str(version), description, "", f"suite {name!r}")

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def digest(self) -> str:
        """Hash of everything that defines the suite's requests and scoring (not where it was loaded from)."""
        return sha256_json({"name": self.name, "version": self.version, "tasks": [t.to_dict() for t in self.tasks]})
