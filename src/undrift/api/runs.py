"""Runs: a suite against a model (stored with every response and score), resuming one, listing and reading them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import UndriftError, option
from ..jsonable import jsonable
from ..store import ResultRow, RunRecord, Store, as_store
from .arguments import checked

if TYPE_CHECKING:
    from ..models import Model, ModelSpec
    from ..runner import RunReport
    from ..suites import Suite
    from ..summary import TaskSummary


def task_names(tasks: str | Sequence[str] | None, keyword: str = "tasks") -> tuple[str, ...] | None:
    """Task names from a sequence or from comma-separated text (`"primes,code"`, as the CLI takes them); None is
    every task, and an empty list is refused rather than read as every task."""
    if tasks is None:
        return None
    items = tasks.split(",") if isinstance(tasks, str) else tasks
    names = tuple(t.strip() for t in items if t.strip())
    if not names:
        raise UndriftError(f"{option(keyword)} is empty: name at least one, or leave it out for all of them")
    return names


@checked
def run(suite: str | Path | Suite, model: str | ModelSpec | Model, *, name: str | None = None,
        tasks: str | Sequence[str] | None = None, limit: int | None = None, repeats: int = 1, seed: int = 0,
        cache: bool | None = None, max_error_rate: float = 0.05, db: Store | str | Path | None = None,
        progress: bool = False, allow_unsandboxed: bool = False, allow_outside: bool = False) -> RunReport:
    """Run `suite` (a built-in name, a suite file or a `Suite`) against `model` (a spec such as `bundled:smollm2`, a
    `ModelSpec` or a loaded model) and store every response and score as one new run.

    Everything a user can get wrong is checked before the store is opened.  `cache=None` reuses stored responses only
    for deterministic local models.  Raises `RunFailed` when more than `max_error_rate` of the requests got errors
    (an outage, not a regression) and `RunInterrupted` on Ctrl-C; either run can be `resume`d.
    """
    from ..models import ModelSpec, load_model
    from ..runner import Runner, RunOptions, select_tasks
    from ..suites import Suite, load_suite

    spec = ModelSpec.parse(model) if isinstance(model, str) else model
    options = RunOptions(name=name, tasks=task_names(tasks), limit=limit, repeats=repeats, seed=seed, use_cache=cache,
                         max_error_rate=max_error_rate)
    options.validate()
    if isinstance(suite, Suite):
        loaded_suite, suite_ref = suite, None
    else:
        # a Path is always a suite file, even one named like a built-in suite; a str may be either
        loaded_suite = load_suite(suite if isinstance(suite, Path) else str(suite), seed=seed, allow_outside=allow_outside)
        suite_ref = str(suite)
    select_tasks(loaded_suite, options.tasks, options.limit)
    loaded_model = load_model(spec, lazy=True) if isinstance(spec, ModelSpec) else spec
    runner = Runner(as_store(db), progress, allow_unsandboxed)
    return runner.run(loaded_suite, loaded_model, options, suite_ref)


@checked
def resume(run_id: str | RunRecord, *, suite: Suite | None = None, model: Model | None = None,
           db: Store | str | Path | None = None, progress: bool = False, allow_unsandboxed: bool = False,
           allow_outside: bool = False) -> RunReport:
    """Finish an interrupted or failed run with its suite, model and options.  A run of a suite built in Python needs
    that `suite` again; `model` reuses a model already loaded (else its spec is loaded)."""
    from ..runner import Runner

    runner = Runner(as_store(db, must_exist=True), progress, allow_unsandboxed)
    return runner.resume(run_id, model=model, allow_outside=allow_outside, suite=suite)


@checked
def runs(*, name: str | None = None, limit: int | None = 50, db: Store | str | Path | None = None
         ) -> list[RunRecord]:
    """Stored runs, newest first (only those filed under `name`, if given), at most `limit` (None or 0: all)."""
    if limit is not None and limit < 0:
        raise UndriftError(f"{option('limit')} must be 0 (all) or more (got {limit})")
    return as_store(db, must_exist=True).list_runs(name=name, limit=limit or None)


@dataclass
class RunResults:
    """One stored run: its record, a summary per task and, if asked for, its first result rows."""

    run: RunRecord
    tasks: list[TaskSummary]
    samples: list[ResultRow] | None = None

    def to_dict(self) -> dict[str, Any]:
        """What `undrift show --json` prints."""
        data: dict[str, Any] = {"run": self.run.to_dict(), "tasks": [s.to_dict() for s in self.tasks]}
        if self.samples is not None:
            data["samples"] = [row.to_dict() for row in self.samples]
        return jsonable(data)


@checked
def show(run: str | RunRecord, *, task: str | None = None, samples: int = 0,
         db: Store | str | Path | None = None) -> RunResults:
    """A run (id, id prefix, or name for its latest run) with its per-task results and its first `samples` rows."""
    from ..summary import summarise

    if samples < 0:
        raise UndriftError(f"{option('samples')} must be 0 or more (got {samples})")
    store = as_store(db, must_exist=True)
    record = store.get_run(run)
    rows = store.results(record.id, task=task)
    if task and not rows:
        raise UndriftError(f"run {record.id} has no results for task {task!r}: its tasks are "
                           f"{', '.join(record.config.get('tasks', []))}")
    return RunResults(record, summarise(rows), rows[:samples] if samples else None)
