"""Replay recorded traffic against a candidate model, and turn recorded traffic into a suite.

The proxy records what callers asked and what the model served.  `replay` samples those chat requests, makes them a
suite (one sample per distinct request: its messages, its decoding, the recorded answer as the target) written as a
suite file beside the store, and stores both sides as runs of that suite: the recorded answers as a complete run
written like an import (`importing.prepare_records`), the candidate's answers as a run made by the runner, with its
progress, errors, cache and `run --resume`.  So `compare` and `gate` read them as any two runs: similarity to the
recorded answer (flips with `--tolerance`), refusals, JSON validity, length, latency.

Everything that can be refused is checked before anything is written: the selection, the candidate (loaded), the
judge.  `export_suite` writes the same samples as a suite file a user keeps, with reviewed answers as targets.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import UndriftError, option
from .hashing import sha256_json
from .importing import Record, prepare_records
from .jsonable import jsonable
from .models import load_model
from .models.base import Decoding, ModelSpec
from .paths import store_folder
from .review import read_reviews, review_row, write_for_review
from .store import RunRecord, Store
from .store.traffic import TrafficRecord, read_traffic
from .suites.loader import load_suite_file
from .suites.schema import Sample, ScorerConfig, Suite, Task
from .suites.writer import write_suite

TASK = "traffic"
MAX_TOKENS_CAP = 4096  # a replayed request never asks for more, whatever the caller asked
MAX_TOKENS_UNSET = 1024  # where the caller set no limit (the server's own default applied when it was recorded)
CHAT_PATH = "/chat/completions"
RECORDED_MODELS_SHOWN = 3  # served models named in the recorded run's default name
SHORT_WORDS = 5  # a reviewed answer this short (one line) is matched exactly after normalisation, not by similarity


@dataclass(frozen=True)
class Selection:
    """Which recorded traffic to use: `since <= at < until`, one caller tag, N distinct requests drawn with `seed`."""

    since: datetime | None = None
    until: datetime | None = None
    tag: str | None = None
    sample: int | None = None
    seed: int = 0

    def validate(self) -> None:
        if self.sample is not None and self.sample < 1:
            raise UndriftError(f"{option('sample')} must be at least 1, got {self.sample}")
        if self.since and self.until and self.until <= self.since:
            raise UndriftError(f"{option('until')} must be later than {option('since')}")

    def describe(self) -> str:
        parts = [f"since {self.since:%Y-%m-%d %H:%M}" if self.since else "",
                 f"until {self.until:%Y-%m-%d %H:%M}" if self.until else "", f"tag {self.tag!r}" if self.tag else ""]
        return " ".join(p for p in parts if p) or "at any time"


@dataclass(frozen=True)
class Replayable:
    """One distinct recorded chat request: the sample it becomes, and the record it came from (the first of its kind)."""

    sample: Sample
    record: TrafficRecord
    recorded: str


@dataclass
class Selected:
    items: list[Replayable]
    records: int  # records in range
    distinct: int  # distinct replayable requests, before sampling
    repeated: int  # replayable records whose request an earlier record already made
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> records
    redacted: int = 0  # selected requests whose messages hold the proxy's redaction mask

    def redaction_warning(self, verb: str) -> str | None:
        """What a user must know when masked requests go out: they are sent as recorded, masks included."""
        if not self.redacted:
            return None
        from .proxy.redact import MASK

        many = self.redacted > 1
        return (f"{self.redacted} of the {len(self.items)} {verb} requests {'hold' if many else 'holds'} a redaction "
                f"mask ({MASK}): {'they are' if many else 'it is'} used as recorded, masks included (the proxy "
                "masked secrets and e-mail addresses before storing), so answers to "
                f"{'them' if many else 'it'} may differ for that reason alone")


def select_traffic(store: Store, selection: Selection) -> Selected:
    """The recorded chat requests in range, one per distinct request, sampled; the records skipped, by reason."""
    selection.validate()
    records = read_traffic(store, selection.since, selection.until, selection.tag)
    if not records:
        raise UndriftError(f"no recorded traffic {selection.describe()} in {store.safe_url}: widen {option('since')}/{option('until')}, "
                           "check --tag, or record some with `undrift proxy`")
    skipped: Counter[str] = Counter()
    distinct: dict[str, Replayable] = {}
    repeated = 0
    for record in records:
        made = replayable(record)
        if isinstance(made, str):
            skipped[made] += 1
        elif made.sample.id in distinct:
            repeated += 1
        else:
            distinct[made.sample.id] = made
    if not distinct:
        raise UndriftError(f"none of the {len(records)} recorded requests {selection.describe()} can be replayed "
                           f"({_reasons(skipped)})")
    ids = sorted(distinct)
    if selection.sample is not None and selection.sample < len(ids):
        ids = sorted(random.Random(selection.seed).sample(ids, selection.sample))
    items = [distinct[i] for i in ids]
    return Selected(items, len(records), len(distinct), repeated, dict(skipped), sum(map(_masked, items)))


def _masked(item: Replayable) -> bool:
    from .proxy.redact import MASK  # here: the proxy package is slow to import, and only this needs it

    return any(MASK in m["content"] for m in item.sample.messages)


def replayable(record: TrafficRecord) -> Replayable | str:
    """The sample a recorded request becomes, or why it cannot be replayed."""
    if not record.path.rstrip("/").endswith(CHAT_PATH):
        return "not a chat completion"
    request = record.request
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list) or not request["messages"]:
        return "not a chat completion"
    if record.status != 200 or record.error:
        return "failed when recorded"
    recorded = record.response_text if record.response_text is not None else _response_text(record.response)
    if recorded is None:
        return "no recorded answer"
    messages = [_text_message(m) for m in request["messages"]]
    if any(m is None for m in messages):
        return "not plain text (tools, images or other parts)"
    decoding = request_decoding(request)
    if decoding is None:
        return "unreadable decoding parameters"
    data = {"json": True} if _asks_for_json(request) else {}
    sample_id = "t" + sha256_json({"messages": messages, "model": request.get("model"),
                                   "decoding": decoding.to_dict(), **data})[:16]
    sample = Sample(id=sample_id, messages=tuple(messages), target=recorded,
                    slices=(record.tag,) if record.tag else (), data=data, decoding=decoding)
    return Replayable(sample, record, recorded)


def request_decoding(request: dict[str, Any]) -> Decoding | None:
    """The request's own decoding where it set one, capped; greedy where it set no temperature (the server's default
    is the server's: replaying it greedily makes the candidate's answer reproducible).  None if unreadable."""
    try:
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        max_tokens = MAX_TOKENS_UNSET if limit is None else min(MAX_TOKENS_CAP, max(1, int(limit)))
        temperature = min(2.0, max(0.0, float(request.get("temperature") or 0.0)))
        top_p = request.get("top_p")
        top_p = 1.0 if top_p is None else min(1.0, max(0.01, float(top_p)))
        stop = request.get("stop") or ()
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        if not all(isinstance(s, str) for s in stop):
            return None
        seed = request.get("seed")
        return Decoding(max_tokens, temperature, top_p, stop[:4], None if seed is None else int(seed))
    except (TypeError, ValueError):
        return None


def _text_message(message: Any) -> dict[str, str] | None:
    """A message as {role, content} text; None for tool calls, tool results and non-text parts."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str) or message["role"] == "tool":
        return None
    if message.get("tool_calls") or message.get("function_call"):
        return None
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            return None
        content = "\n".join(p["text"] for p in content)
    return {"role": message["role"], "content": content} if isinstance(content, str) else None


def _response_text(response: Any) -> str | None:
    try:
        content = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _asks_for_json(request: dict[str, Any]) -> bool:
    response_format = request.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


def _reasons(skipped: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1]))


def skipped_text(selected: Selected) -> str:
    """What was left out, for the report: records that cannot be replayed, and repeats of a request."""
    parts = [_reasons(selected.skipped)] if selected.skipped else []
    if selected.repeated:
        parts.append(f"{selected.repeated} repeats of a request already taken")
    return "; ".join(parts)


# -- replay -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayOptions:
    name: str | None = None  # the candidate's run name (default: its spec)
    recorded_name: str | None = None  # the recorded run's name (default: the model that served the traffic)
    judge: str | None = None  # spec of a pairwise judge
    metric: str = "rouge_l"
    seed: int = 0
    max_error_rate: float = 0.05


@dataclass
class ReplayReport:
    recorded: RunRecord
    recorded_reused: bool
    candidate: Any  # runner.RunReport
    selected: Selected
    suite_path: Path
    judge: dict[str, int] | None  # preference -> samples
    next: dict[str, str] = field(default_factory=dict)  # the `compare` and `gate` commands that read the two runs

    def to_dict(self) -> dict[str, Any]:
        """What `undrift replay --json` prints."""
        old, new, selected = self.recorded, self.candidate.run, self.selected
        return jsonable({
            "recorded": {"id": old.id, "name": old.name, "reused": self.recorded_reused},
            "candidate": {"id": new.id, "name": new.name, "generated": self.candidate.generated,
                          "from_cache": self.candidate.from_cache, "errors": new.errors},
            "suite": str(self.suite_path), "replayed": len(selected.items), "distinct": selected.distinct,
            "records": selected.records, "repeated": selected.repeated, "skipped": selected.skipped,
            "judge": self.judge, "redacted": selected.redacted, "next": self.next,
        })


def replay_suite(selected: Selected, scorer: ScorerConfig) -> Suite:
    """The suite of the selected requests; its name follows from the requests, so replays of the same traffic line
    up with each other and with the recorded run."""
    samples = tuple(item.sample for item in selected.items)
    name = "traffic-" + sha256_json(sorted(s.id for s in samples))[:12]
    task = Task(TASK, samples, scorer, description="recorded requests; the target is the recorded answer")
    return Suite(name, (task,), description="Sampled from recorded traffic by `undrift replay`.")


def replay(store: Store, selection: Selection, candidate: ModelSpec, options: ReplayOptions, progress: bool = True):
    """Store the recorded answers and the candidate's as two runs of one suite; returns a `ReplayReport`.

    In this order, so that nothing is written unless all of it can be: the traffic is selected, the candidate (and
    the judge) loaded, then the suite file, the recorded run and the candidate's run are written.
    """
    from .runner import Runner, RunOptions

    run_options = RunOptions(name=options.name, seed=options.seed, max_error_rate=options.max_error_rate)
    run_options.validate()
    judge_spec = ModelSpec.parse(options.judge) if options.judge else None
    selected = select_traffic(store, selection)
    params: dict[str, Any] = {"metric": options.metric}
    if judge_spec is not None:
        params["judge"] = str(judge_spec)
    suite = replay_suite(selected, ScorerConfig("replay", params))
    if store.read_only:
        raise UndriftError(f"the store {store.safe_url} is read-only here: replay writes two runs into it")
    model = load_model(candidate, lazy=True)
    model.prepare()  # a candidate that cannot load leaves nothing behind, not even the recorded run
    judge = load_model(judge_spec, lazy=True) if judge_spec else None
    if judge is not None:
        judge.prepare()
    path = store_folder(store.url, "replays", "replays") / suite.name / "suite.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_suite(suite, path)
    suite = load_suite_file(path)  # what `run --resume` will load: the runs name this file
    recorded, reused = _recorded_run(store, suite, selected, selection, options)
    runner = Runner(store, progress)
    if judge is not None:
        runner.add_judge(judge)
    report = runner.run(suite, model, run_options, str(path))
    return ReplayReport(recorded, reused, report, selected, path, _judge_summary(store, report.run) if judge else None)


def _recorded_run(store: Store, suite: Suite, selected: Selected, selection: Selection,
                  options: ReplayOptions) -> tuple[RunRecord, bool]:
    """The run of the recorded answers: one already stored for this very suite under this name, else a new one."""
    name = options.recorded_name or recorded_name(selected)
    for run in store.list_runs(name=name, limit=None):
        if run.suite_digest == suite.digest() and run.status == "complete" and run.config.get("imported") == "traffic":
            return run, True
    task = suite.tasks[0]
    records = [Record(model=name, task=task.name, sample_id=s.id, messages=s.messages, response=item.recorded,
                      target=s.target, slices=s.slices, data=s.data, latency_s=item.record.latency_s,
                      tokens_out=item.record.tokens_out or 0, recorded_at=item.record.at,
                      system_fingerprint=item.record.system_fingerprint)
               for s, item in zip(task.samples, selected.items)]
    provenance = {"imported": "traffic", "traffic": {
        "since": selection.since.isoformat() if selection.since else None,
        "until": selection.until.isoformat() if selection.until else None,
        "tag": selection.tag, "sample": selection.sample, "seed": selection.seed,
        "records": [i.record.id for i in selected.items]}}
    prepared = prepare_records(records, {task.name: task.scorer}, suite.name, suite.source, provenance,
                               suite_digest=suite.digest(), origin="traffic", progress=False)
    return prepared.write(store)[0], False


def recorded_name(selected: Selected) -> str:
    """The recorded run's default name: the model that served the traffic (the requested one where the upstream
    named none); `recorded:A+B` where several did, the first three and a count beyond; `recorded` where none is
    known."""
    served = sorted({i.record.served_model or i.record.model or "" for i in selected.items} - {""})
    if len(served) <= 1:
        return served[0] if served else "recorded"
    more = len(served) - RECORDED_MODELS_SHOWN
    return "recorded:" + "+".join(served[:RECORDED_MODELS_SHOWN]) + (f"+{more} more" if more > 0 else "")


def _judge_summary(store: Store, run: RunRecord) -> dict[str, int]:
    counts = Counter(str((row.details or {}).get("judge")) for row in store.results(run.id) if row.answered)
    return {"candidate": counts["candidate"], "recorded": counts["recorded"], "tie": counts["tie"],
            "no verdict": counts["None"]}


# -- export as a suite ----------------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    path: Path
    selected: Selected
    samples: int
    outcomes: dict[str, int]  # reviewed outcome -> samples (unreviewed included)
    dropped: int  # labelled bad (wrong, unsafe) without a correction
    labelled_elsewhere: int  # reviewed rows whose request is not in the selected traffic


def export_for_review(store: Store, selection: Selection, path: Path) -> Selected:
    """Write the selected requests and their recorded answers in `undrift review`'s shape, to label or correct."""
    selected = select_traffic(store, selection)
    rows = [review_row(f"traffic/{i.sample.id}", "traffic", TASK, i.sample.id, list(i.sample.messages), i.recorded)
            for i in selected.items]
    write_for_review(path, rows)
    return selected


def export_suite(store: Store, selection: Selection, path: Path, labels: Path | None = None) -> ExportReport:
    """Write the selected requests as a suite file.  The target is the recorded answer, or with `labels` (a reviewed
    file from `export_for_review`) the approved or corrected one; a request labelled bad without a correction is
    left out.  Short one-line targets are matched exactly after normalisation, longer ones by similarity."""
    reviewed = {r.sample_id: r for r in read_reviews(labels)} if labels else {}  # a bad file first: it is cheap
    selected = select_traffic(store, selection)
    outcomes: Counter[str] = Counter()
    short, text = [], []
    for item in selected.items:
        review = reviewed.get(item.sample.id)
        outcome = review.outcome if review else "unreviewed"
        outcomes[outcome] += 1
        if outcome == "rejected_without_correction":
            continue
        target = review.answer if review and review.answer is not None else item.recorded
        status = {"corrected": "corrected", "accepted": "approved"}.get(outcome, "unreviewed")
        sample = Sample(item.sample.id, item.sample.messages, target, (*item.sample.slices, status),
                        item.sample.data, decoding=item.sample.decoding)
        (short if _is_short(target) else text).append(sample)
    if not short and not text:
        raise UndriftError(f"every selected request was labelled bad without a correction in {labels}: nothing to "
                           "export; correct some answers or label them good")
    tasks = []
    if text:
        tasks.append(Task("text", tuple(text), ScorerConfig("similarity"),
                          description="free-text answers: similarity to the recorded or reviewed answer"))
    if short:
        tasks.append(Task("short", tuple(short), ScorerConfig("normalized"),
                          description="short answers: equal to the recorded or reviewed answer after normalisation"))
    suite = Suite(path.stem, tuple(tasks), description=f"Recorded traffic {selection.describe()}, exported by undrift.")
    write_suite(suite, path)
    matched = sum(1 for i in selected.items if i.sample.id in reviewed)
    return ExportReport(path, selected, len(short) + len(text), dict(outcomes),
                        outcomes["rejected_without_correction"], len(reviewed) - matched)


def _is_short(target: str) -> bool:
    return "\n" not in target.strip() and 0 < len(target.split()) <= SHORT_WORDS
