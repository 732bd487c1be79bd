"""The runner: the only code that calls models.

It expands a suite into work items (task, sample, repeat), skips what a resumed run already holds, serves what it
can from the response cache, generates the rest in batches, scores them (code in the sandbox, judges through the
same generation path), and writes each batch to the store in one transaction.  A batch is as wide as the model
generates at once (a local model's batch size, a server's concurrency), so Ctrl-C, SIGTERM or a kill loses at most
the batch in flight; `resume` carries on.  While it runs, the run's lease is renewed (store/lease.py), so a run whose
process died reads as interrupted, and a second process cannot resume it beside the first.

An error (a failed request, a malformed answer) is stored as an error, never scored as an answer.  A run whose share
of errors passes `max_error_rate` ends `failed` (`RunFailed`): an outage is not a regression.  Its errored items are
asked again on resume.  A model version is registered only once a run of it has ended with answers.

The cache is used only where it is sound: the model's fingerprint says it is deterministic (local weights, greedy
decoding) and the request is identical.  Hosted APIs are never served from the cache unless `use_cache=True`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UndriftError, option
from .hashing import sha256_json
from .jsonable import jsonable
from .models import Fingerprint, Generation, Model, ModelSpec, Request, cannot_load, load_model
from .plugins import BACKENDS, SCORERS, reason
from .progress import ProgressBar
from .sandbox import Sandbox
from .scoring import Score, build_scorer
from .scoring.base import runs_code
from .store import ResultRow, RunRecord, Store
from .store.db import DEFAULT_MAX_ERROR_RATE
from .store.lease import Heartbeat
from .suites import Sample, Suite, Task, load_suite
from .summary import TaskSummary, summarise

CHUNK_ITEMS = 64  # the most items written in one transaction; a model that generates fewer at once sets less


@dataclass(frozen=True)
class RunOptions:
    name: str | None = None
    tasks: tuple[str, ...] | None = None
    limit: int | None = None
    repeats: int = 1
    seed: int = 0
    use_cache: bool | None = None  # None: cache exactly where the model is deterministic
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE  # above it the run ends `failed`; a run of only errors always does

    def validate(self) -> None:
        if self.repeats < 1:
            raise UndriftError(f"{option('repeats')} must be at least 1, got {self.repeats}")
        if self.limit is not None and self.limit < 1:
            raise UndriftError(f"{option('limit')} must be at least 1, got {self.limit}")
        if not 0 <= self.max_error_rate <= 1:
            raise UndriftError(f"{option('max_error_rate')} is a share between 0 and 1, e.g. 0.05 "
                               f"(got {self.max_error_rate})")


@dataclass
class RunReport:
    run: RunRecord
    tasks: list[TaskSummary]
    generated: int = 0
    from_cache: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """What `undrift run --json` prints."""
        return jsonable({"run": self.run.to_dict(), "tasks": [s.to_dict() for s in self.tasks],
                         "generated": self.generated, "from_cache": self.from_cache, "elapsed_s": self.elapsed_s})


class RunInterrupted(UndriftError):
    """Raised after Ctrl-C (or SIGTERM, which the CLI turns into one), once the run is marked interrupted; carries
    the id to resume."""

    exit_code = 130

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id} was interrupted and keeps what finished: continue it with "
                         f"undrift.resume({run_id!r}) (`undrift run --resume {run_id}`)")
        self.run_id = run_id


class RunFailed(UndriftError):
    """Raised once a run is marked failed because too many of its requests got errors; the message says how many
    and what to do.  The input was fine, the model (or its server) was not: the CLI exits 4, not 2."""

    exit_code = 4

    def __init__(self, run_id: str, message: str):
        super().__init__(message)
        self.run_id = run_id


@dataclass(frozen=True)
class WorkItem:
    task: Task
    sample: Sample
    repeat: int
    requests: tuple[Request, ...]


def select_tasks(suite: Suite, names: tuple[str, ...] | None, limit: int | None) -> list[Task]:
    """The tasks to run, each cut to its first `limit` samples; unknown task names are an error."""
    if names:
        known = {t.name for t in suite.tasks}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UndriftError(f"suite {suite.name!r} has no task {unknown[0]!r}: its tasks are {', '.join(sorted(known))}")
        chosen = [suite.task(n) for n in names]
    else:
        chosen = list(suite.tasks)
    if limit:
        chosen = [Task(t.name, t.samples[:limit], t.scorer, t.decoding, t.description) for t in chosen]
    return chosen


class Runner:
    def __init__(self, store: Store, progress: bool = True, allow_unsandboxed: bool = False):
        self.store = store
        self.progress = progress
        self.allow_unsandboxed = allow_unsandboxed
        self._judges: dict[str, Model] = {}
        self._sandbox: Sandbox | None = None

    def add_judge(self, model: Model) -> None:
        """Use this loaded model wherever a scorer asks for a judge of its spec (loaded, and so checked, in advance)."""
        self._judges[str(model.spec)] = model

    def sandbox_for(self, tasks: list[Task]) -> Sandbox | None:
        """The sandbox for tasks whose scorer runs model output (found once, before any work), else None."""
        if not any(runs_code(t.scorer) for t in tasks):
            return None
        if self._sandbox is None:
            self._sandbox = Sandbox.detect(self.allow_unsandboxed)
        return self._sandbox

    def run(self, suite: Suite, model: Model, options: RunOptions, suite_ref: str | None = None) -> RunReport:
        """Run `suite` against a loaded `model` and store everything as a new run."""
        options.validate()
        tasks = select_tasks(suite, options.tasks, options.limit)
        expected = sum(len(t.samples) for t in tasks) * options.repeats
        record = self._create(suite, model, tasks, options, suite_ref, expected)
        return self._execute(record, tasks, model, options)

    def _create(self, suite: Suite, model: Model, tasks: list[Task], options: RunOptions, suite_ref: str | None,
                expected: int) -> RunRecord:
        """Load the weights (unless every answer is cached), then file the run; a model that cannot load files nothing."""
        sandbox = self.sandbox_for(tasks)  # no sandbox and no permission to go without: nothing is filed
        fingerprint = _fingerprint(model)
        use_cache = _reuse_allowed(fingerprint.deterministic, options)
        keys = {_cache_key(fingerprint.identity(), item) for item in _work_items(tasks, options, set())}
        if not (use_cache and None not in keys and len(self.store.cached(sorted(keys))) == len(keys)):
            _prepare(model)  # load weights now, so a model that cannot load leaves no run behind
        config = {
            "suite_ref": suite_ref or suite.source or suite.name,
            "seed": options.seed,
            "tasks": [t.name for t in tasks],
            "limit": options.limit,
            "repeats": options.repeats,
            "use_cache": options.use_cache,
            "decoding": {t.name: t.decoding.to_dict() for t in tasks},
            "scorers": {t.name: t.scorer.to_dict() for t in tasks},
            "cache_identity": fingerprint.identity(),
            "latency_scope": getattr(model, "latency_scope", "request"),
            "max_error_rate": options.max_error_rate,
        }
        if sandbox is not None:
            config["sandbox"] = sandbox.isolation.describe()
        record = self.store.create_run(
            name=options.name or model.spec.display(),
            suite=suite.name,
            suite_source=suite.source,
            suite_digest=suite.digest(),
            model_spec=str(model.spec),
            fingerprint=fingerprint.to_dict(),
            config=config,
            expected=expected,
        )
        return record

    def resume(self, run_ref: str, model: Model | None = None, allow_outside: bool = False,
               suite: Suite | None = None) -> RunReport:
        """Finish an interrupted, killed or failed run with the same suite, model and options (errored items are
        asked again); a run that another process is still running is refused.  `suite`: the suite the run began
        with, for a suite built in Python (one from a file or a built-in is loaded again)."""
        record = self.store.get_run(run_ref)
        if record.status == "complete":
            raise UndriftError(f"run {record.id} is already complete: nothing to resume")
        if record.status == "running":
            self.store.claim_run(record.id)  # refuses, naming the process that runs it
        config = record.config
        suite = suite or load_suite(config["suite_ref"], seed=config["seed"], allow_outside=allow_outside)
        if suite.digest() != record.suite_digest:
            raise UndriftError(f"suite {config['suite_ref']!r} changed since run {record.id} began: start a new run")
        model = model or load_model(ModelSpec.parse(record.model_spec))
        if _fingerprint(model).identity() != config["cache_identity"]:
            raise UndriftError(f"model {record.model_spec} is not the one run {record.id} began with: start a new run")
        options = RunOptions(
            name=record.name, tasks=tuple(config["tasks"]), limit=config["limit"], repeats=config["repeats"],
            seed=config["seed"], use_cache=config["use_cache"],
            max_error_rate=config.get("max_error_rate", DEFAULT_MAX_ERROR_RATE),
        )
        self.sandbox_for(select_tasks(suite, options.tasks, options.limit))
        self.store.claim_run(record.id)
        return self._execute(record, select_tasks(suite, options.tasks, options.limit), model, options)

    # -- the loop ---------------------------------------------------------------------------------------------

    def run_until(self, suite: Suite, model: Model, options: RunOptions, order: list[tuple[str, str]],
                  stop: Callable[[list[ResultRow]], bool], chunk_items: int, suite_ref: str | None = None
                  ) -> RunReport:
        """Run the samples named in `order` (task, sample id), in that order, until `stop(rows)` says enough.

        `stop` sees each chunk's stored rows as soon as they are written; the sequential drift check decides there.
        A run that stopped early is marked `stopped`: every answer it holds is kept and can be compared.
        """
        tasks = select_tasks(suite, options.tasks, None)
        by_key = {(t.name, s.id): (t, s) for t in tasks for s in t.samples}
        items = [WorkItem(*by_key[key], 0, tuple(by_key[key][0].requests(by_key[key][1], options.seed)))
                 for key in order if key in by_key]
        record = self._create(suite, model, tasks, options, suite_ref, expected=len(items))
        return self._execute(record, tasks, model, options, items=items, stop=stop, chunk_items=chunk_items)

    def _execute(self, record: RunRecord, tasks: list[Task], model: Model, options: RunOptions,
                 items: list[WorkItem] | None = None, stop: Callable[[list[ResultRow]], bool] | None = None,
                 chunk_items: int | None = None) -> RunReport:
        started = time.perf_counter()
        chunk_items = chunk_items or _batch_width(model)
        if items is None:
            items = _work_items(tasks, options, self.store.done_items(record.id))
        identity = record.config["cache_identity"]
        use_cache = _reuse_allowed(bool(record.fingerprint.get("deterministic")), options)
        generated = from_cache = 0
        errors: list[str] = []
        hopeless = options.max_error_rate * record.expected  # more errors than this and the run cannot pass
        total_requests = sum(len(i.requests) for i in items)
        status = "complete"
        try:
            with Heartbeat(lambda: self.store.renew_lease(record.id)), \
                    ProgressBar(f"{record.name} · {record.suite}", total_requests, enabled=self.progress) as bar:
                for start in range(0, len(items), chunk_items):
                    chunk = items[start : start + chunk_items]
                    rows, new, reused = self._run_chunk(record.id, chunk, model, identity, use_cache, bar)
                    stored = self.store.add_results(rows)
                    generated, from_cache = generated + new, from_cache + reused
                    errors += [row.error for row in stored if row.error is not None]
                    if len(errors) > hopeless:
                        break  # judged below: no need to wait out the rest of an outage
                    if stop is not None and stop(stored):
                        status = "stopped" if start + chunk_items < len(items) else "complete"
                        break
        except KeyboardInterrupt:
            self._end(record.id, "interrupted", model)
            raise RunInterrupted(record.id) from None
        except Exception:  # a fault (a scorer, the store, a model) ends the run as failed, not "running" for ever
            self._end(record.id, "failed", model)
            raise
        failure = _failure(self.store.get_run(record.id), errors)
        self._end(record.id, "failed" if failure else status, model)
        if failure:
            raise RunFailed(record.id, failure)
        final = self.store.get_run(record.id)
        from .registry import Registry

        Registry(self.store).ensure(final.name, final.model_spec, "run")
        return RunReport(final, summarise(self.store.results(record.id)), generated, from_cache,
                         time.perf_counter() - started)

    def _end(self, run_id: str, status: str, model: Model) -> None:
        """Record how the run ended.  Where the store itself is what failed (a full disk), the run is left as it
        is: its lease lapses and it reads as interrupted, which is true."""
        try:
            self.store.finish_run(run_id, status, _fingerprint(model).to_dict())
        except UndriftError:
            if status != "failed":
                raise

    def _run_chunk(self, run_id: str, chunk: list[WorkItem], model: Model, identity: str, use_cache: bool,
                   bar: "ProgressBar") -> tuple[list[dict[str, Any]], int, int]:
        keys = [_cache_key(identity, item) for item in chunk]
        cached = self.store.cached([k for k in keys if k]) if use_cache else {}
        outputs: dict[int, list[Generation]] = {}
        for index, key in enumerate(keys):
            if key in cached:
                hit = cached[key]
                texts = [hit["response"], *hit["variants"]]
                outputs[index] = [
                    Generation(text=t, tokens_in=hit["tokens_in"], tokens_out=hit["tokens_out"],
                               latency_s=0.0, finish_reason=hit["finish_reason"])
                    for t in texts
                ]
                bar.advance(len(texts))
        # Generate each distinct request once: repeats of a deterministic request share one answer.
        pending = [i for i in range(len(chunk)) if i not in outputs]
        flat: list[Request] = []
        slots: list[list[int]] = []
        position_of: dict[Request, int] = {}
        for i in pending:
            positions = []
            for request in chunk[i].requests:
                shareable = use_cache and request.decoding.greedy
                if shareable and request in position_of:
                    positions.append(position_of[request])
                    continue
                if shareable:
                    position_of[request] = len(flat)
                positions.append(len(flat))
                flat.append(request)
            slots.append(positions)
        generations = _generate(model, flat, on_done=bar.advance) if flat else []
        bar.advance(sum(len(p) for p in slots) - len(flat))
        for i, positions in zip(pending, slots):
            outputs[i] = [generations[p] for p in positions]
        scores = self._score(chunk, outputs)
        rows = []
        for index, item in enumerate(chunk):
            main, *variants = outputs[index]
            score = scores[index]
            rows.append(
                dict(
                    run_id=run_id, task=item.task.name, sample_id=item.sample.id, repeat=item.repeat,
                    slices=list(item.sample.slices), messages=list(item.sample.messages), target=item.sample.target,
                    response=main.text, variants=[v.text for v in variants], extracted=score.extracted,
                    value=float(score.value), correct=score.correct, details=score.details,
                    latency_s=main.latency_s, tokens_in=main.tokens_in, tokens_out=main.tokens_out,
                    finish_reason=main.finish_reason, system_fingerprint=main.system_fingerprint,
                    cache_key=keys[index] if main.error is None else None, cached=keys[index] in cached,
                    error=main.error,
                )
            )
        return rows, len(flat), len(chunk) - len(pending)

    def _score(self, chunk: list[WorkItem], outputs: dict[int, list[Generation]]) -> list[Score]:
        tasks = {item.task.name: item.task for item in chunk}
        scorers = {name: build_scorer(task.scorer, self.sandbox_for([task])) for name, task in tasks.items()}
        scores: list[Score | None] = [None] * len(chunk)
        # A scorer with a `judge_model` asks that model (its `judge_requests`) and reads the verdicts; a failed
        # judge request reaches it as None, never as a verdict.
        judged = [i for i, item in enumerate(chunk)
                  if getattr(scorers[item.task.name], "judge_model", None) and outputs[i][0].error is None]
        if judged:
            by_judge: dict[str, list[int]] = {}
            for i in judged:
                by_judge.setdefault(scorers[chunk[i].task.name].judge_model, []).append(i)
            for spec, indices in by_judge.items():
                asks = [scorers[chunk[i].task.name].judge_requests(chunk[i].sample, outputs[i][0].text) for i in indices]
                answers = iter(_generate(self._judge(spec), [r for requests in asks for r in requests]))
                for i, requests in zip(indices, asks):
                    verdicts = [g.text if g.error is None else None for g in (next(answers) for _ in requests)]
                    judge = scorers[chunk[i].task.name]
                    scores[i] = _checked_score(chunk[i], lambda: judge.score_with_verdicts(
                        chunk[i].sample, outputs[i][0].text, verdicts))

        def score_one(i: int) -> Score:
            item, (main, *variants) = chunk[i], outputs[i]
            if main.error is not None:  # an error is not an answer: no verdict (the row's error says why)
                return Score(0.0, None, None, {"error": main.error})
            return _checked_score(item, lambda: scorers[item.task.name].score(item.sample, main.text,
                                                                               [v.text for v in variants]))

        rest = [i for i in range(len(chunk)) if scores[i] is None]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for i, score in zip(rest, pool.map(score_one, rest)):
                scores[i] = score
        return [s for s in scores if s is not None]

    def _judge(self, spec: str) -> Model:
        if spec not in self._judges:
            self._judges[spec] = load_model(spec)
        return self._judges[spec]


def _prepare(model: Model) -> None:
    """`model.prepare()`, where a lazy backend loads its weights: its own fault is one line naming its package."""
    try:
        model.prepare()
    except UndriftError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise cannot_load(model.spec, exc) from None


def _fingerprint(model: Model) -> Fingerprint:
    """The model's fingerprint, held to the protocol: anything else is the backend's bug, said in one line."""
    fingerprint = model.fingerprint()
    if not isinstance(fingerprint, Fingerprint):
        raise UndriftError(f"{BACKENDS.culprit(model.spec.backend)} returned a {type(fingerprint).__name__} from "
                           "fingerprint(), where a Fingerprint belongs: a bug in that package")
    return fingerprint

def _generate(model: Model, requests: list[Request], on_done: Callable[[int], None] | None = None
              ) -> list[Generation]:
    """`model.generate`, held to its contract, since a backend may come from any package.  One that raises (other
    than an `UndriftError`) gives each request of the batch an error, never an answer; one that answers in the
    wrong shape (not one `Generation` with text per request) is a one-line error naming its package."""
    try:
        generations = model.generate(requests, on_done=on_done)
    except UndriftError:
        raise
    except Exception as exc:  # noqa: BLE001 - any fault of the backend's code is an error for these requests
        error = f"{reason(exc)} (raised by {BACKENDS.culprit(model.spec.backend)})"
        return [Generation(text="", error=error) for _ in requests]
    culprit = BACKENDS.culprit(model.spec.backend)
    if not isinstance(generations, (list, tuple)) or len(generations) != len(requests):
        got = f"{len(generations)} answers" if isinstance(generations, (list, tuple)) else \
            f"a {type(generations).__name__}"
        raise UndriftError(f"{culprit} returned {got} for {len(requests)} requests from generate(), not one "
                           "Generation per request: a bug in that package")
    for generation in generations:
        if not isinstance(generation, Generation) or not isinstance(generation.text, str):
            what = (f"a Generation whose text is a {type(generation.text).__name__} ({generation.text!r:.60})"
                    if isinstance(generation, Generation) else f"a {type(generation).__name__} ({generation!r:.60})")
            raise UndriftError(f"{culprit} returned {what} from generate(), where a Generation with text (a str) "
                               "belongs: a bug in that package")
    return list(generations)


def _checked_score(item: WorkItem, score: Callable[[], Score]) -> Score:
    """A scorer's verdict on one item, held to its contract as `_generate` holds a backend: a scorer that raises
    (other than an `UndriftError`) or returns anything but a `Score` is a one-line error naming its package."""
    name = item.task.scorer.type
    where = f"sample {item.sample.id!r} of task {item.task.name!r}"
    try:
        verdict = score()
    except UndriftError:
        raise
    except Exception as exc:  # noqa: BLE001 - a scorer's fault is reported as its package's, in one line
        raise UndriftError(f"{SCORERS.culprit(name)} failed on {where} ({reason(exc)}): a bug in that package, or "
                           "a parameter it cannot take") from None
    numeric = isinstance(getattr(verdict, "value", None), (int, float)) and not isinstance(verdict.value, bool)
    if not isinstance(verdict, Score) or not numeric or verdict.correct not in (True, False, None):
        raise UndriftError(f"{SCORERS.culprit(name)} returned {verdict!r:.80} for {where}, where a Score with a "
                           "numeric value and correct True, False or None belongs: a bug in that package")
    return verdict


def _batch_width(model: Model) -> int:
    """Items per transaction: what the model generates at once (a local batch, a server's concurrent requests),
    at most `CHUNK_ITEMS`, so every finished batch is stored before the next begins; or the model's own `queue_size`
    where it batches continuously (the local engine keeps its rows full only while prompts are waiting)."""
    queue = getattr(model, "queue_size", None)
    if queue:
        return max(1, int(queue))
    width = getattr(model, "batch_size", None) or getattr(model, "concurrency", None) or CHUNK_ITEMS
    return max(1, min(CHUNK_ITEMS, int(width)))


def _failure(record: RunRecord, seen: list[str]) -> str | None:
    """Why the run failed, or None: its errors pass the threshold, or it holds no answer at all."""
    if not record.too_many_errors:
        return None
    example = f"; the first: {seen[0][:120]}" if seen else ""
    return (f"run {record.id} failed: {record.errors} of {record.done} requests got errors, more than "
            f"{option('max_error_rate')} {record.max_error_rate:.0%} allows{example}. Errors are not scored; once the "
            f"model answers again, undrift.resume({record.id!r}) (`undrift run --resume {record.id}`) asks them again")


def _reuse_allowed(deterministic: bool, options: RunOptions) -> bool:
    """Stored answers stand in for new ones by default only for a deterministic model; `use_cache` overrides."""
    return deterministic if options.use_cache is None else options.use_cache


def _work_items(tasks: list[Task], options: RunOptions, done: set[tuple[str, str, int]]) -> list[WorkItem]:
    return [
        WorkItem(task, sample, repeat, tuple(task.requests(sample, options.seed + repeat)))
        for task in tasks
        for repeat in range(options.repeats)
        for sample in task.samples
        if (task.name, sample.id, repeat) not in done
    ]


def _cache_key(identity: str, item: WorkItem) -> str | None:
    """Every greedy item gets a key; whether a stored answer may be *reused* is the separate `use_cache` policy."""
    if not all(r.decoding.greedy for r in item.requests):
        return None
    return sha256_json([identity, [r.key() for r in item.requests]])
