"""Turn recorded generations (from another harness, a log, a published study) into runs, one per model version.

Every record is scored with its task's scorer exactly as a live run would be, so an imported run compares with
any other.  The whole import is validated and scored before the store is even opened (`prepare_import`), and then
written in one transaction (`PreparedImport.write`): a bad file leaves the store as it was, or leaves no store.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import UndriftError, option
from .hashing import sha256_file, sha256_json
from .progress import ProgressBar
from .scoring.base import build_scorer
from .store import RunRecord, Store
from .suites.schema import Sample, ScorerConfig
from .userfiles import csv_rows, jsonl_rows

FORMATS = ("llmdrift", "jsonl", "csv")


@dataclass
class Record:
    """One recorded response: which model gave it, to what, and what it said."""

    model: str
    task: str
    sample_id: str
    messages: tuple[dict[str, str], ...]
    response: str
    target: Any = None
    slices: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    latency_s: float = 0.0
    tokens_out: int = 0
    recorded_at: datetime | None = None
    system_fingerprint: str | None = None


@dataclass(frozen=True)
class Columns:
    """Where a generic JSONL/CSV file keeps each field (`undrift import --format jsonl|csv` options)."""

    prompt: str = "prompt"
    response: str = "response"
    id: str | None = "id"
    target: str | None = None
    model: str | None = "model"
    task: str | None = None
    slice: str | None = None
    time: str | None = None
    latency: str | None = None
    tokens: str | None = None
    system_fingerprint: str | None = None


@dataclass(frozen=True)
class ImportOptions:
    format: str
    suite: str = "imported"
    name: str | None = None  # run name when the file names no model
    task: str = "imported"  # task name when the file names none
    scorer: ScorerConfig = ScorerConfig("exact")
    columns: Columns = Columns()


# The LLMDrift study's datasets (its `dataset` column): task name, scorer with the study's own rules, slice.
LLMDRIFT_TASKS: dict[str, tuple[str, ScorerConfig]] = {
    "prime": ("primes", ScorerConfig("label", {"profile": "llmdrift"})),
    "composite": ("primes", ScorerConfig("label", {"profile": "llmdrift"})),
    "counthappynumber": ("happy_numbers", ScorerConfig("numeric", {"profile": "llmdrift"})),
    "opinionqa": ("opinion", ScorerConfig("choice", {"profile": "llmdrift"})),
    "sensitiveq": ("sensitive", ScorerConfig("recorded", {"field": "Response Rate", "detail": "answered",
                                                           "labels": ["refused", "answered"]})),
    "leetcode_easy": ("code", ScorerConfig("recorded", {"field": "Directly Usable", "verdict": True,
                                                         "detail": "directly_usable", "labels": ["rejected", "accepted"]})),
}
LLMDRIFT_TARGETLESS = {"opinionqa", "sensitiveq", "leetcode_easy"}  # their ref_answer column is a placeholder


@dataclass
class PreparedImport:
    """Records read, validated and scored: one batch (run fields, result rows) per model version."""

    batches: list[tuple[dict[str, Any], list[dict[str, Any]]]]

    def write(self, store: Store) -> list[RunRecord]:
        """Write every run in one transaction and register its model version; returns the new runs."""
        records = store.add_complete_runs(self.batches)
        from .registry import Registry

        registry = Registry(store)
        for record in records:
            registry.ensure(record.name, record.model_spec, "imported")
        return records


def import_files(store: Store, paths: list[str], options: ImportOptions, progress: bool = True) -> list[RunRecord]:
    """Import `paths` into `store`: one complete run per model version found; returns the new runs."""
    return prepare_import(paths, options, progress).write(store)


def prepare_import(paths: list[str], options: ImportOptions, progress: bool = True) -> PreparedImport:
    """Read, check and score `paths` without touching any store."""
    if options.format not in FORMATS:
        raise UndriftError(f"unknown import format {options.format!r}: use one of {', '.join(FORMATS)}")
    files = [_existing(p) for p in paths]
    if not files:
        raise UndriftError("give at least one file to import")
    if options.format == "llmdrift":
        records = [r for f in files for r in _read_llmdrift(f)]
        scorers = {task: scorer for task, scorer in LLMDRIFT_TASKS.values()}
        suite = "llmdrift"
    else:
        records = [r for f in files for r in _read_table(f, options)]
        scorers = {options.task: options.scorer}
        suite = options.suite
    if not records:
        raise UndriftError(f"no records in {', '.join(map(str, files))}")
    source = f"import:{options.format}:" + ",".join(f.name for f in files)
    provenance = {"imported": options.format, "files": {f.name: sha256_file(f) for f in files}}
    return prepare_records(records, scorers, suite, source, provenance, progress=progress)


def prepare_records(records: list[Record], scorers: dict[str, ScorerConfig], suite: str, suite_source: str,
                    provenance: dict[str, Any], suite_digest: str | None = None, origin: str = "import",
                    progress: bool = True) -> PreparedImport:
    """Score recorded responses (from files, or from the proxy's traffic) into one complete run per model version.

    `suite_digest` is the digest of the suite the records answer where there is one (a replay's suite file, so that
    `check` and `resume` accept the runs beside it); else a digest of the samples' prompts.  `origin` prefixes the
    runs' model specs (`import:gpt-4-0613`, `traffic:gpt-4o`).
    """
    built = {task: build_scorer(config) for task, config in scorers.items()}
    by_model: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_model[record.model].append(record)
    batches = []
    with ProgressBar("scoring", len(records), enabled=progress) as bar:
        for model, model_records in by_model.items():
            rows = _score(model_records, built, bar)
            tasks = list(dict.fromkeys(r.task for r in model_records))
            times = [r.recorded_at for r in model_records if r.recorded_at]
            fields = dict(
                name=model, suite=suite, suite_source=suite_source,
                suite_digest=suite_digest or sha256_json(sorted((r["task"], r["sample_id"], sha256_json(r["messages"]))
                                                                for r in rows)),
                model_spec=f"{origin}:{model}",
                fingerprint=_fingerprint(model, model_records),
                config={"tasks": tasks, "repeats": max(r["repeat"] for r in rows) + 1, **provenance,
                        "scorers": {t: scorers[t].to_dict() for t in tasks}},
                created_at=min(times) if times else datetime.now(timezone.utc),
            )
            batches.append((fields, rows))
    return PreparedImport(batches)


def _fingerprint(model: str, records: list[Record]) -> dict[str, Any]:
    """What identifies the model behind an imported run: its name and the provider's system_fingerprint(s).

    The files it came from are provenance (kept in the run's config), not identity: a log imported day by day
    from a new file each day is one model until the model or its system_fingerprint changes.
    """
    fingerprint: dict[str, Any] = {"backend": "import", "served_model": model, "deterministic": False}
    seen = sorted({r.system_fingerprint for r in records if r.system_fingerprint})
    if seen:
        fingerprint["system_fingerprint"] = seen[0] if len(seen) == 1 else seen
    return fingerprint


def _existing(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise UndriftError(f"no file {path!r} to import")
    return file


def _score(records: list[Record], scorers: dict, bar: ProgressBar) -> list[dict[str, Any]]:
    """Score every record; a sample id met twice with the same prompt is a repeat, with another prompt a new id."""
    rows = []
    prompts: dict[tuple[str, str], str] = {}
    repeats: dict[tuple[str, str], int] = defaultdict(int)
    for record in records:
        digest = sha256_json(record.messages)
        sample_id = record.sample_id
        if prompts.setdefault((record.task, sample_id), digest) != digest:
            sample_id = f"{record.sample_id}~{digest[:8]}"
        repeat = repeats[(record.task, sample_id)]
        repeats[(record.task, sample_id)] += 1
        sample = Sample(id=sample_id, messages=record.messages, target=record.target, slices=record.slices,
                        data=record.data)
        try:
            score = scorers[record.task].score(sample, record.response, [])
        except ValueError as problem:
            raise UndriftError(f"cannot score {record.model} {record.task}/{record.sample_id}: {problem}") from None
        rows.append(dict(
            task=record.task, sample_id=sample_id, repeat=repeat, slices=list(record.slices),
            messages=list(record.messages), target=record.target, response=record.response, variants=[],
            extracted=score.extracted, value=float(score.value), correct=score.correct, details=score.details,
            latency_s=record.latency_s, tokens_in=0, tokens_out=record.tokens_out, finish_reason="recorded",
            system_fingerprint=record.system_fingerprint, cache_key=None, cached=False, error=None,
        ))
        bar.advance()
    return rows


# -- LLMDrift ---------------------------------------------------------------------------------------------------

LLMDRIFT_COLUMNS = ("model", "dataset", "id", "query", "ref_answer", "answer")


def _read_llmdrift(path: Path) -> Iterator[Record]:
    """Rows of the study's generation CSVs; the model version (`openaichat/gpt-4-0314`) names the run."""
    for line, row in csv_rows(path, LLMDRIFT_COLUMNS):
        dataset = row["dataset"]
        if dataset not in LLMDRIFT_TASKS:
            raise UndriftError(f"{path.name} line {line}: unknown LLMDrift dataset {dataset!r} "
                               f"(known: {', '.join(LLMDRIFT_TASKS)}); use {option('format', repr('csv'))} for other "
                               "files")
        task, _ = LLMDRIFT_TASKS[dataset]
        data = {k: row[k] for k in ("Response Rate", "Directly Usable") if row.get(k) not in (None, "")}
        yield Record(
            model=row["model"].split("/", 1)[-1], task=task, sample_id=row["id"],
            messages=({"role": "user", "content": row["query"]},), response=row["answer"],
            target=None if dataset in LLMDRIFT_TARGETLESS else row["ref_answer"],
            slices=(dataset,) if task == "primes" else (), data=data,
            latency_s=_number(row.get("latency"), float, 0.0), tokens_out=_number(row.get("answer_token"), int, 0),
            recorded_at=_llmdrift_time(row.get("timestamp")),
        )


def _llmdrift_time(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text or "", "%m/%d/%Y, %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


# -- generic JSONL / CSV -------------------------------------------------------------------------------------------


def _read_table(path: Path, options: ImportOptions) -> Iterator[Record]:
    c = options.columns
    if not c.model and not options.name:
        raise UndriftError(f"say which model the records come from: {option('columns.model', flag='--model-column')} "
                           f"or {option('name')}")
    named = (c.id, c.target, c.model, c.task, c.slice, c.system_fingerprint)
    required = [c.prompt, c.response] + [x for x in named if x]
    rows = csv_rows(path, required) if options.format == "csv" else _jsonl_rows(path, required)
    for line, row in rows:
        prompt = row[c.prompt]
        messages = tuple(prompt) if isinstance(prompt, list) else ({"role": "user", "content": str(prompt)},)
        if not all(isinstance(m, dict) and "content" in m for m in messages):
            raise UndriftError(f"{path.name} line {line}: column {c.prompt!r} must be text or a list of chat messages")
        slice_value = row[c.slice] if c.slice else None
        yield Record(
            model=str(row[c.model]) if c.model else str(options.name),
            task=str(row[c.task]) if c.task else options.task,
            sample_id=str(row[c.id]) if c.id else str(line),
            messages=messages, response="" if row[c.response] is None else str(row[c.response]),
            target=row[c.target] if c.target else None,
            slices=tuple(slice_value) if isinstance(slice_value, list) else (str(slice_value),) if slice_value else (),
            data={k: v for k, v in row.items() if k not in (c.prompt, c.response)},
            latency_s=_number(row.get(c.latency) if c.latency else None, float, 0.0),
            tokens_out=_number(row.get(c.tokens) if c.tokens else None, int, 0),
            recorded_at=_iso_time(row.get(c.time), path, line) if c.time else None,
            system_fingerprint=_text(row.get(c.system_fingerprint)) if c.system_fingerprint else None,
        )


def _jsonl_rows(path: Path, required: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, row in jsonl_rows(path):
        if not isinstance(row, dict):
            raise UndriftError(f"{path.name} line {line}: each line must be a JSON object")
        missing = [c for c in required if c not in row]
        if missing:
            raise UndriftError(f"{path.name} line {line} has no field {missing[0]!r}; say where each field is, "
                               f"e.g. {option('columns.prompt', flag='--prompt-column')}")
        yield line, row


def _text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _number(text: Any, kind, default):
    try:
        return kind(float(text)) if kind is int else kind(text)
    except (TypeError, ValueError):
        return default


def _iso_time(value: Any, path: Path, line: int) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise UndriftError(f"{path.name} line {line}: time {value!r} is not ISO 8601 (e.g. 2024-05-01T12:00:00Z)") from None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
