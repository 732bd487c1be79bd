"""The command line: parse arguments, call the library, print.  Nothing here that Python users cannot do."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from . import __version__
from .commands.common import DB_HELP, JSON_HELP, OUTSIDE_HELP, err, interruptible, out, print_json
from .errors import UndriftError
from .files import write_text_atomic
from .report.numbers import pct
from .report.text import clean, literal

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        print(f"undrift {__version__}")
        raise typer.Exit()


@app.callback()
def _app(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Keep an LLM's behaviour steady across time and updates."""


def _tasks(value: Optional[str]) -> Optional[tuple[str, ...]]:
    return tuple(t.strip() for t in value.split(",") if t.strip()) if value else None


@app.command()
def run(
    suite: Optional[str] = typer.Argument(None, help="built-in suite name or suite .yaml file"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model spec, e.g. bundled:smollm2"),
    name: Optional[str] = typer.Option(None, "--as", help="name to file the run under (default: the spec)"),
    tasks: Optional[str] = typer.Option(None, help="comma-separated task names"),
    limit: Optional[int] = typer.Option(None, help="first N samples of each task"),
    repeats: int = typer.Option(1, help="ask every sample K times (measures nondeterminism)"),
    seed: int = typer.Option(0, help="seed for generated suites and sampled decoding"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    resume: Optional[str] = typer.Option(None, help="continue an interrupted run (by id)"),
    cache: Optional[bool] = typer.Option(None, "--cache/--no-cache",
                                         help="reuse stored responses (default: only for deterministic local models)"),
    allow_unsandboxed: bool = typer.Option(False, "--allow-unsandboxed",
                                           help="run model code (code tasks) even where no sandbox can start"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    max_error_rate: float = typer.Option(0.05, help="share of requests that may get errors (left out of every "
                                                    "metric); above it the run ends failed, exit 4"),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=OUTSIDE_HELP),
) -> None:
    """Run a suite against a model and store every response and score.

    Exit status: 0 done, 2 bad input, 4 failed (too many requests got errors: an outage, not a regression; resume it
    once the model answers), 130 interrupted (Ctrl-C or SIGTERM; resume it).
    """
    from .models import ModelSpec, load_model
    from .runner import Runner, RunOptions, select_tasks
    from .store import Store
    from .suites import load_suite

    if resume:
        store = Store.open(db, must_exist=True)
        runner = Runner(store, not quiet, allow_unsandboxed)
        report = interruptible(lambda: runner.resume(resume, allow_outside=allow_outside))
    else:
        if not suite or not model:
            raise UndriftError("give a suite and --model SPEC, e.g. `undrift run drift --model bundled:smollm2`")
        spec = ModelSpec.parse(model)
        options = RunOptions(name=name, tasks=_tasks(tasks), limit=limit, repeats=repeats, seed=seed, use_cache=cache,
                             max_error_rate=max_error_rate)
        options.validate()
        loaded_suite = load_suite(suite, seed=seed, allow_outside=allow_outside)
        select_tasks(loaded_suite, options.tasks, options.limit)
        loaded_model = load_model(spec, lazy=True)
        store = Store.open(db)
        runner = Runner(store, not quiet, allow_unsandboxed)
        report = interruptible(lambda: runner.run(loaded_suite, loaded_model, options, suite))
    if as_json:
        print_json(_report_json(report))
        return
    from .report.terminal import run_header, task_table

    out.print(run_header(report.run))
    out.print(task_table(report.tasks))
    out.print(f"{report.generated} generated, {report.from_cache} from cache, {report.elapsed_s:.1f}s")


def _report_json(report) -> dict:
    return {
        "run": _run_json(report.run),
        "tasks": [s.to_dict() for s in report.tasks],
        "generated": report.generated,
        "from_cache": report.from_cache,
        "elapsed_s": report.elapsed_s,
    }


def _run_json(record) -> dict:
    return asdict(record)


@app.command()
def runs(
    name: Optional[str] = typer.Option(None, help="only runs filed under this name"),
    limit: int = typer.Option(50, help="at most this many, newest first"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List stored runs, newest first."""
    from .report.terminal import runs_table
    from .store import Store

    records = Store.open(db, must_exist=True).list_runs(name=name, limit=limit)
    if as_json:
        print_json([_run_json(r) for r in records])
    elif not records:
        out.print("no runs yet: `undrift run drift --model bundled:smollm2` makes one")
    else:
        out.print(runs_table(records))


@app.command()
def show(
    run_ref: str = typer.Argument(..., metavar="RUN", help="run id, id prefix, or name (its latest run)"),
    task: Optional[str] = typer.Option(None, help="only this task"),
    samples: int = typer.Option(0, help="also print the first N responses"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show one run: its fingerprint, per-task results and, optionally, responses."""
    from .report.terminal import run_header, task_table
    from .store import Store
    from .summary import summarise

    store = Store.open(db, must_exist=True)
    record = store.get_run(run_ref)
    rows = store.results(record.id, task=task)
    if task and not rows:
        raise UndriftError(f"run {record.id} has no results for task {task!r}: its tasks are "
                           f"{', '.join(record.config.get('tasks', []))}")
    summaries = summarise(rows)
    if as_json:
        data = {"run": _run_json(record), "tasks": [s.to_dict() for s in summaries]}
        if samples:
            data["samples"] = rows[:samples]
        print_json(data)
        return
    out.print(run_header(record))
    out.print(task_table(summaries))
    for row in rows[:samples]:
        verdict = {True: "right", False: "wrong", None: "·"}[row["correct"]]
        out.rule(literal(f"{row['task']} / {row['sample_id']} (repeat {row['repeat']}) {verdict}"))
        out.print(Text("prompt: ", style="dim").append(clean(row["messages"][-1]["content"])))
        out.print(Text("answer: ", style="dim").append(clean(row["response"])))
        out.print(Text("extracted: ", style="dim").append(clean(row["extracted"])).append("  target: ", style="dim")
                  .append(clean(row["target"])))


@app.command()
def compare(
    old: str = typer.Argument(..., help="old run: id, id prefix, or model name (its latest run)"),
    new: str = typer.Argument(..., help="new run: id, id prefix, or model name (its latest run)"),
    tasks: Optional[str] = typer.Option(None, help="comma-separated task names (default: all shared)"),
    tolerance: float = typer.Option(0.0, help="score difference D(x) beyond which a sample without a right/wrong "
                                              "verdict counts as flipped (0: the strict definition)"),
    flips: int = typer.Option(5, help="show this many flipped samples side by side"),
    md: Optional[Path] = typer.Option(None, "--md", help="also write a Markdown report here"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON on stdout"),
) -> None:
    """Compare two runs sample by sample: changes with intervals and paired tests, flips, compatibility."""
    from .analysis.compare import compare_runs
    from .store import Store

    for target in (md, html):
        _writable(target)
    comparison = compare_runs(Store.open(db, must_exist=True), old, new, tolerance=tolerance, tasks=_tasks(tasks))
    if md:
        from .report.markdown import comparison_markdown

        write_text_atomic(md, comparison_markdown(comparison))
    if html:
        from .report.html import comparison_html

        write_text_atomic(html, comparison_html(comparison))
    if as_json:
        print_json(comparison.to_dict())
        return
    from .report.terminal import (
        changed_table,
        comparison_header,
        comparison_table,
        flips_table,
        significant_changes_table,
        untested_notes,
    )

    out.print(comparison_header(comparison))
    for table in (comparison_table(comparison), significant_changes_table(comparison), flips_table(comparison, flips),
                  changed_table(comparison, flips)):
        if table is not None:
            out.print(table)
    for note in untested_notes(comparison):
        out.print(note)
    for target in (md, html):
        if target:
            err.print(literal(f"wrote {target}"))


def _writable(target: Optional[Path]) -> None:
    if target is not None and not target.parent.exists():
        raise UndriftError(f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist")


@app.command()
def history(
    name: str = typer.Argument(..., help="model name whose runs to follow"),
    metric: Optional[str] = typer.Option(None, help="metric to follow (default: each task's headline metric)"),
    task: Optional[str] = typer.Option(None, help="only this task"),
    window: int = typer.Option(1, help="the baseline of a regime is the mean of its first WINDOW runs"),
    alpha: float = typer.Option(0.05, help="chance that a series without change shows any change point, at most"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the series as JSON on stdout"),
) -> None:
    """A model name's runs over time: the metric per task, change points, fingerprint changes.

    Exit status: 0 unchanged (every run tested, no change point), 1 changed (a change point), 3 undecided (a run
    could not be tested: a single run, or none shared samples with its baseline).
    """
    from .analysis.history import model_history
    from .store import Store

    series = model_history(Store.open(db, must_exist=True), name, metric=metric, task=task, window=window,
                           alpha=alpha)
    if as_json:
        print_json(series.to_dict())
    else:
        from .report.terminal import fingerprint_notes, history_summary, history_table

        for task_history in series.tasks:
            out.print(history_table(task_history))
            for note in fingerprint_notes(task_history):
                out.print(note)
            if task_history.note:
                out.print(literal(f"  note: {task_history.note}", style="yellow"))
            out.print()
        out.print(history_summary(series))
    raise typer.Exit(DECISION_EXIT[series.decision])


DECISION_EXIT = {"unchanged": 0, "changed": 1, "undecided": 3}


@app.command()
def check(
    reference: str = typer.Argument(..., metavar="OLD", help="earlier run to check against: id, prefix or name"),
    model: str = typer.Option(..., "--model", "-m", help="model spec to check now"),
    direction: str = typer.Option("drop", help="drop: did accuracy fall; any: did it move either way"),
    tolerance: float = typer.Option(0.02, help="a drop (or change) within this counts as unchanged"),
    churn: Optional[float] = typer.Option(None, help="the model's own churn: the share of samples whose outcome "
                                                     "changes between two asks of the same model (default: measured "
                                                     "from the earlier run's --repeats, else the tolerance)"),
    max_calls: Optional[int] = typer.Option(None, help="stop after this many samples even if undecided"),
    alpha: float = typer.Option(0.05, help="error rate: each decision is wrong with probability at most alpha"),
    seed: int = typer.Option(0, help="seed of the random order in which samples are drawn"),
    chunk: int = typer.Option(16, help="samples per batch between looks at the evidence"),
    name: Optional[str] = typer.Option(None, "--as", help="name to file the check's run under (default: the spec)"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    allow_unsandboxed: bool = typer.Option(False, "--allow-unsandboxed",
                                           help="run model code (code tasks) even where no sandbox can start"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=OUTSIDE_HELP),
) -> None:
    """Has a model drifted from an earlier run? Stops as soon as an anytime-valid test decides.

    Exit status: 0 unchanged (no drop beyond the tolerance), 1 changed (accuracy dropped, or moved with
    --direction any), 3 undecided (the samples or --max-calls ran out first), 4 failed (more than 5% of the
    requests got errors: an outage is not a change).
    """
    from .check import check_drift
    from .models import ModelSpec, load_model
    from .store import Store

    store = Store.open(db, must_exist=True)
    store.get_run(reference)  # a missing run is reported before any weights load
    loaded = load_model(ModelSpec.parse(model), lazy=True)
    report = interruptible(lambda: check_drift(store, reference, loaded, tolerance=tolerance, max_calls=max_calls,
                                                alpha=alpha, seed=seed, chunk=chunk, name=name, progress=not quiet,
                                                direction=direction, churn=churn, allow_outside=allow_outside,
                                                allow_unsandboxed=allow_unsandboxed))
    if as_json:
        print_json(report.to_dict())
    else:
        from .report.terminal import check_report

        out.print(check_report(report))
    raise typer.Exit(DECISION_EXIT[report.decision])


@app.command()
def gate(
    old: str = typer.Argument(..., help="the version in service: run id, prefix or name"),
    new: str = typer.Argument(..., help="the candidate: run id, prefix or name"),
    policy: Path = typer.Option(..., help="policy YAML with thresholds (see docs/gate.md)"),
    junit: Optional[Path] = typer.Option(None, help="also write the checks as JUnit XML here"),
    tolerance: float = typer.Option(0.0, help="score-difference tolerance for flips without a verdict"),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="gate even on a run that did not complete or has too many errors"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Pass or fail a new version against the old one: exit 0 on pass, 1 on fail, with the reasons; 2 when a run is
    no evidence (unfinished, or too many errors) unless --allow-incomplete."""
    from .analysis.compare import compare_runs
    from .gate import Policy, evaluate, refuse_unfit
    from .store import Store

    rules = Policy.load(policy)
    _writable(junit)
    store = Store.open(db, must_exist=True)
    refuse_unfit(store.get_run(old), store.get_run(new), allow_incomplete)
    comparison = compare_runs(store, old, new, tolerance=tolerance)
    result = evaluate(rules, comparison, allow_incomplete=allow_incomplete)
    if junit:
        write_text_atomic(junit, result.junit_xml(f"{comparison.old.name} -> {comparison.new.name}"))
    if as_json:
        print_json({"old": comparison.old.id, "new": comparison.new.id, "shared": comparison.shared,
                    **result.to_dict()})
    else:
        from .report.terminal import gate_report

        out.print(gate_report(result, comparison, policy.name))
    if not result.passed:
        raise typer.Exit(1)


@app.command("import")
def import_(
    files: list[Path] = typer.Argument(..., help="files of recorded generations"),
    format: str = typer.Option(..., "--format", "-f", help="llmdrift (the LLMDrift study's CSVs), jsonl or csv"),
    suite: str = typer.Option("imported", help="suite name for jsonl/csv imports (compare needs the same suite)"),
    name: Optional[str] = typer.Option(None, help="run name when the file has no model column"),
    task: str = typer.Option("imported", help="task name when the file has no task column"),
    scorer: str = typer.Option("exact", help="scorer for jsonl/csv records, e.g. exact, numeric, label, refusal"),
    scorer_param: list[str] = typer.Option([], help="scorer parameter KEY=VALUE (VALUE read as YAML); repeatable"),
    prompt_column: str = typer.Option("prompt", help="column with the prompt text or a list of chat messages"),
    response_column: str = typer.Option("response", help="column with the model's answer"),
    id_column: Optional[str] = typer.Option("id", help="column with the sample id ('' numbers the rows)"),
    target_column: Optional[str] = typer.Option(None, help="column with the right answer"),
    model_column: Optional[str] = typer.Option("model", help="column naming the model version ('' with --name)"),
    task_column: Optional[str] = typer.Option(None, help="column naming the task"),
    slice_column: Optional[str] = typer.Option(None, help="column with a slice tag"),
    time_column: Optional[str] = typer.Option(None, help="column with an ISO 8601 time (orders history)"),
    latency_column: Optional[str] = typer.Option(None, help="column with latency in seconds"),
    tokens_column: Optional[str] = typer.Option(None, help="column with output tokens"),
    system_fingerprint_column: Optional[str] = typer.Option(
        None, help="column with the provider's system_fingerprint (kept per response and in the run's fingerprint)"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Import recorded generations as runs, one per model version, scored with each task's scorer."""
    from .importing import Columns, ImportOptions, prepare_import
    from .report.terminal import runs_table
    from .store import Store
    from .suites.schema import ScorerConfig

    columns = Columns(prompt=prompt_column, response=response_column, id=id_column or None,
                      target=target_column, model=(model_column or None) if not name else None, task=task_column,
                      slice=slice_column, time=time_column, latency=latency_column, tokens=tokens_column,
                      system_fingerprint=system_fingerprint_column)
    options = ImportOptions(format=format, suite=suite, name=name, task=task,
                            scorer=ScorerConfig(scorer, _params(scorer_param)), columns=columns)
    records = prepare_import([str(f) for f in files], options, progress=not quiet).write(Store.open(db))
    if as_json:
        print_json([_run_json(r) for r in records])
    else:
        out.print(runs_table(records))


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UndriftError(f"{option} takes comma-separated numbers, e.g. 0.25,0.5,1 (got {text!r})") from None


def _params(pairs: list[str]) -> dict:
    from .userfiles import load_yaml

    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UndriftError(f"--scorer-param {pair!r} is not KEY=VALUE")
        params[key] = load_yaml(value, f"--scorer-param {key}")
    return params


@app.command()
def train(
    base: str = typer.Option(..., help="model spec to start from, e.g. bundled:smollm2"),
    data: Path = typer.Option(..., help="new training data: chat JSONL or prompt/completion JSONL"),
    name: str = typer.Option(..., "--out", help="name of the new version (registered under it)"),
    parent: Optional[str] = typer.Option(None, help="the registered version or alias the new version derives from "
                                                    "(default: the one version whose spec is --base, if any)"),
    out_dir: Optional[Path] = typer.Option(None, help="where the adapter goes (default: FILE.db-adapters/NAME beside "
                                                      "a SQLite store, else a folder for the store in the cache)"),
    replay: Optional[str] = typer.Option(None, help="earlier data to mix in: a JSONL file or a suite name/file"),
    replay_ratio: float = typer.Option(0.0, help="replay examples per new example in every epoch"),
    anchors: Optional[Path] = typer.Option(None, help="anchor prompts for --compat-loss kl (default: the replay)"),
    compat_from: Optional[str] = typer.Option(None, help="the old version to stay compatible with (a spec)"),
    compat_loss: Optional[str] = typer.Option(None, help="muscle, focal or kl"),
    compat_weight: float = typer.Option(1.0, help="weight of the focal or kl term"),
    plain_new: Optional[str] = typer.Option(None, help="muscle: the plain update to distil from (default: train it)"),
    temperature: float = typer.Option(2.0, help="distillation temperature"),
    ce_mix: float = typer.Option(0.0, help="muscle: share of cross-entropy mixed into the loss"),
    lora_r: int = typer.Option(8, help="LoRA rank"),
    lora_alpha: int = typer.Option(16, help="LoRA alpha"),
    epochs: int = typer.Option(2, help="passes over the new data"),
    lr: float = typer.Option(5e-4, help="learning rate (AdamW, warm-up then linear decay)"),
    batch_size: int = typer.Option(8, help="examples per optimisation step"),
    max_length: int = typer.Option(256, help="tokens per example, prompt included"),
    seed: int = typer.Option(0, help="fixes LoRA initialisation and data order"),
    save_every: int = typer.Option(50, help="checkpoint every N steps"),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint in the output folder"),
    sweep_scales: Optional[str] = typer.Option(None, help="adapter scales to try, e.g. 0.25,0.5,0.75,1 (WiSE-FT)"),
    holdout: Optional[str] = typer.Option(None, help="suite on which the sweep measures forgetting"),
    max_forgetting: float = typer.Option(0.02, help="the sweep keeps the largest scale that forgets at most this"),
    db: Optional[str] = typer.Option(None, help=DB_HELP + "; the new version is registered there"),
    as_json: bool = typer.Option(False, "--json", help="print the new version as JSON on stdout"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=OUTSIDE_HELP + " (--replay, --holdout)"),
) -> None:
    """Fine-tune a new version with LoRA, optionally with replay and a compatibility loss, and register it."""
    from .registry import Registry
    from .store import Store
    from .train import TrainConfig
    from .train import train as run_training
    from .train.trainer import TrainingInterrupted

    config = TrainConfig(
        base=base, data=str(data), name=name, out_dir=str(out_dir) if out_dir else None, replay=replay,
        replay_ratio=replay_ratio, anchors=str(anchors) if anchors else None, compat_from=compat_from,
        compat_loss=compat_loss, compat_weight=compat_weight, plain_new=plain_new, temperature=temperature,
        ce_mix=ce_mix, lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs, lr=lr, batch_size=batch_size,
        max_length=max_length, seed=seed, save_every=save_every, resume=resume, store=db, allow_outside=allow_outside)
    config.check_inputs()
    scales = _floats(sweep_scales, "--sweep-scales") if sweep_scales else None
    if scales and not holdout:
        raise UndriftError("--sweep-scales needs --holdout SUITE: the suite on which forgetting is measured")
    if holdout:
        from .suites import load_suite

        load_suite(holdout, allow_outside=allow_outside)
    store = Store.open(db)
    registry = Registry(store)
    registry.check_free(name)
    parent_version = registry.parent_for(base, parent)
    try:
        result = run_training(config, progress=not quiet)
    except TrainingInterrupted as stop:
        err.print(literal(f"interrupted at step {stop.step}: the checkpoint in {stop.out_dir} is kept; continue with "
                          "the same command and --resume"))
        raise typer.Exit(130)
    if scales:
        from .train.sweep import keep_scale
        from .train.sweep import sweep_scales as run_sweep

        sweep = run_sweep(store, name, base, compat_from or base, result.adapter_dir, holdout, scales, max_forgetting,
                          progress=not quiet, allow_outside=allow_outside)
        result.data_hashes["adapter"] = keep_scale(result.adapter_dir, sweep.chosen)
        result.recipe.update(adapter_scale=sweep.chosen, sweep={str(k): v for k, v in sweep.accuracies.items()},
                             sweep_old_accuracy=sweep.old_accuracy, holdout=holdout, max_forgetting=max_forgetting)
        if not sweep.within_bound:
            err.print(Text(f"no scale kept forgetting within {max_forgetting:.1%}; kept {sweep.chosen:g}, the "
                           "least forgetful", style="yellow"))
    version = registry.register(name, result.spec, kind="trained", parent=parent_version, recipe=result.recipe,
                                data_hashes=result.data_hashes)
    if as_json:
        print_json({"version": asdict(version), "steps": result.steps, "final_loss": result.losses[-1],
                    "adapter_dir": str(result.adapter_dir)})
        return
    out.print(Text("trained ").append(clean(version.name), style="bold").append(clean(
        f" in {result.steps} steps (final loss {result.losses[-1]:.4f}); spec {version.spec}")))


@app.command()
def suites(path: Optional[str] = typer.Argument(None, help="a suite file to check and describe"),
           allow_outside: bool = typer.Option(False, "--allow-outside", help=OUTSIDE_HELP)) -> None:
    """List the suites that load by name (built-ins and plugins), or check a suite file and describe it."""
    from .report.plugins import suite_table, suites_listing
    from .suites import installed_suites, load_suite

    out.print(suite_table(load_suite(path, allow_outside=allow_outside)) if path else suites_listing(installed_suites()))


@app.command()
def models(db: Optional[str] = typer.Option(None, help=DB_HELP)) -> None:
    """The model backends (built-ins and plugins), the bundled model's state, and the models the store has runs for."""
    from pathlib import Path

    from rich.table import Table

    from .models import installed_backends
    from .models.gguf_cache import bundled_gguf
    from .report.plugins import backends_table
    from .store import Store, resolve_url

    out.print(backends_table(installed_backends()))
    try:
        out.print(literal(f"bundled model file: {bundled_gguf()}"))
    except UndriftError as problem:
        out.print(Text("bundled model: ").append(clean(problem), style="red"))
    url = resolve_url(db)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return
    seen: dict[str, str] = {}
    for record in Store.open(db).list_runs(limit=10_000):
        seen.setdefault(record.name, record.model_spec)
    if seen:
        names = Table(title="models with runs in the store", title_justify="left", header_style="bold")
        names.add_column("name")
        names.add_column("spec")
        for name_, spec in seen.items():
            names.add_row(literal(name_), literal(spec))
        out.print(names)


@app.command()
def serve(
    spec: str = typer.Argument(..., help="model spec of a local model, e.g. bundled:smollm2"),
    host: str = typer.Option("127.0.0.1", help="address to listen on; beyond localhost --token is required"),
    port: int = typer.Option(8000, help="port to listen on"),
    name: Optional[str] = typer.Option(None, help="model id the server reports (default: a plain id such as "
                                                  "smollm2 or the model folder's name; the spec is accepted too)"),
    token: Optional[str] = typer.Option(None, envvar="UNDRIFT_SERVE_TOKEN",
                                        help="bearer token clients must send (as OPENAI_API_KEY); "
                                             "$UNDRIFT_SERVE_TOKEN keeps it off the command line"),
    timeout: float = typer.Option(300.0, min=0.1, help="seconds one request may generate; then it ends with "
                                                       "finish_reason \"length\" and the text so far"),
    max_prompt_tokens: Optional[int] = typer.Option(None, min=1, help="longest prompt accepted (400 beyond it; "
                                                                      "default: the model's context length)"),
    max_body_bytes: int = typer.Option(1_000_000, min=1, help="largest request body accepted (413 beyond it)"),
    db: Optional[str] = typer.Option(None, help=DB_HELP + "; the served version is registered there"),
) -> None:
    """Serve a local model as an OpenAI-compatible endpoint: chat and text completions, streaming, batched."""
    from .serving import ServeOptions, prepare, run

    options = ServeOptions(token=token, timeout_s=timeout, max_prompt_tokens=max_prompt_tokens,
                           max_body_bytes=max_body_bytes)
    served = prepare(spec, host, name, db, options)
    err.print(literal(f"serving {served.display} as model {served.model_id!r} at http://{host}:{port}/v1 "
                      "(OpenAI-compatible); Ctrl-C stops"))
    run(served.app, host=host, port=port)


@app.command()
def forgetting(
    versions: list[str] = typer.Argument(..., help="versions, oldest first"),
    suites: Optional[str] = typer.Option(None, help="comma-separated suites (default: every suite they ran)"),
    trained_on: Optional[str] = typer.Option(None, help="the suite each version was trained for, one per version "
                                                        "('-' for none), e.g. -,codeword"),
    probe: Optional[Path] = typer.Option(None, help="anchor prompts (JSONL) for perplexity and KL to the previous version"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The accuracy matrix of a sequence of versions on their suites, BWT, forgetting, and an optional cheap probe."""
    from rich.table import Table

    from .analysis.forgetting import forgetting_report
    from .store import Store

    store = Store.open(db, must_exist=True)
    report = forgetting_report(store, versions, suites=list(_tasks(suites) or []) or None,
                               trained_on=[t.strip() for t in trained_on.split(",")] if trained_on else None)
    if probe:
        from .registry import Registry
        from .train.data import load_examples
        from .train.probe import probe as run_probe

        registry = Registry(store)
        specs = [(v, registry.find(v).spec if registry.find(v) else store.get_run(v).model_spec) for v in versions]
        report.probe = run_probe(specs, load_examples(probe))
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title="accuracy R[version][suite]", title_justify="left", header_style="bold")
    table.add_column("version")
    for suite in report.suites:
        table.add_column(literal(suite + f" (learned at {report.versions[report.learned_at[suite]]})"),
                         justify="right")
    for version, row in zip(report.versions, report.matrix):
        table.add_row(literal(version), *[pct(v) for v in row])
    out.print(table)
    bwt = "—" if report.bwt is None else f"{100 * report.bwt:+.1f} points"
    lost = "—" if report.forgetting is None else f"{100 * report.forgetting:.1f} points"
    out.print(f"average accuracy {pct(report.average_accuracy)}, backward transfer {bwt}, forgetting {lost}")
    for entry in report.probe:
        kl = "—" if entry["kl_to_previous"] is None else f"{entry['kl_to_previous']:.4f}"
        out.print(literal(f"probe {entry['version']}: perplexity {entry['perplexity']:.2f}, KL to previous {kl}"))


@app.command()
def card(
    name: str = typer.Argument(..., help="version or alias"),
    output: Optional[Path] = typer.Option(None, "--out", help="write the card here (default: print it)"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
) -> None:
    """Write a model card (Markdown) from the evidence: recipe, data, evaluations, flips, forgetting."""
    from .registry import Registry
    from .report.card import model_card
    from .store import Store

    _writable(output)
    text = model_card(Registry(Store.open(db, must_exist=True)), name)
    if output:
        write_text_atomic(output, text)
        err.print(literal(f"wrote {output}"))
    else:
        print(text, end="")


review_app = typer.Typer(no_args_is_help=True, help="Export responses for labelling; import labels as training data.")
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    runs_: list[str] = typer.Argument(..., metavar="RUN...", help="runs to export (ids, prefixes or names)"),
    output: Path = typer.Option(..., "--out", help="a .jsonl or .csv file"),
    only: str = typer.Option("all", help="all, wrong, flips (negative and positive; with --against), or "
                                         "negative-flips (was right, now wrong)"),
    against: Optional[str] = typer.Option(None, help="the earlier run the flips are counted from (fills the flip "
                                                     "column)"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
) -> None:
    """Write responses with empty label and correction columns for reviewers."""
    from .review import export_for_review
    from .store import Store

    count = export_for_review(Store.open(db, must_exist=True), runs_, output, only=only, against=against)
    out.print(literal(f"wrote {count} responses to {output}: fill in `label` (good/bad) or `correction`, then "
                      f"`undrift review import {output.name} --out train.jsonl`"))


@review_app.command("import")
def review_import(
    reviewed: Path = typer.Argument(..., help="the reviewed .jsonl or .csv"),
    output: Path = typer.Option(..., "--out", help="chat JSONL training data to write"),
) -> None:
    """Turn reviewed responses into training data for the next version."""
    from .review import import_reviews

    _writable(output)
    counts = import_reviews(reviewed, output)
    out.print(literal(f"wrote {counts.written} examples to {output} ({counts.corrected} corrected, {counts.accepted} "
                      f"accepted; skipped {counts.rejected_without_correction} rejected without a correction and "
                      f"{counts.unlabelled} unlabelled)"))


registry_app = typer.Typer(no_args_is_help=True, help="Versions, aliases such as production, promotion, rollback.")
app.add_typer(registry_app, name="registry")


@registry_app.command("list")
def registry_list(db: Optional[str] = typer.Option(None, help=DB_HELP),
                  as_json: bool = typer.Option(False, "--json", help="print the versions as JSON on stdout")):
    """Every registered version with its kind, parent and aliases."""
    from rich.table import Table

    from .registry import Registry
    from .store import Store

    registry = Registry(Store.open(db))
    pointed: dict[str, list[str]] = {}
    for alias, version in registry.aliases().items():
        pointed.setdefault(version, []).append(alias)
    listed = registry.list()
    if as_json:
        print_json([{**asdict(v), "aliases": pointed.get(v.name, [])} for v in listed])
        return
    table = Table(header_style="bold")
    for column in ("version", "kind", "parent", "aliases", "runs", "spec"):
        table.add_column(column, overflow="fold")
    for v in listed:
        table.add_row(literal(v.name), v.kind, literal(v.parent or "—"),
                      literal(", ".join(pointed.get(v.name, [])) or "—"), str(len(registry.runs_of(v.name))),
                      literal(v.spec))
    out.print(table)


@registry_app.command("show")
def registry_show(name: str = typer.Argument(..., help="version or alias"),
                  db: Optional[str] = typer.Option(None, help=DB_HELP),
                  as_json: bool = typer.Option(False, "--json", help="print the version as JSON on stdout")):
    """One version: spec, lineage, recipe, data hashes, runs, and the moves of aliases to it."""
    from .registry import Registry
    from .store import Store

    registry = Registry(Store.open(db, must_exist=True))
    version = registry.get(name)
    runs_ = registry.runs_of(version.name)
    events = [e for e in registry.events() if e.version == version.name or e.previous == version.name]
    if as_json:
        print_json({"version": asdict(version), "lineage": [v.name for v in registry.lineage(version.name)],
                    "runs": [r.id for r in runs_], "alias_events": [asdict(e) for e in events]})
        return
    out.print(Text(clean(version.name), style="bold").append(clean(f" ({version.kind}) {version.spec}")))
    out.print(literal("lineage: " + " ← ".join(v.name for v in registry.lineage(version.name))))
    for key, value in version.recipe.items():
        out.print(literal(f"  recipe {key}: {value}"))
    for key, value in version.data_hashes.items():
        out.print(literal(f"  data {key}: {value[:16]}"))
    out.print(literal(f"runs: {', '.join(f'{r.id} ({r.suite})' for r in runs_) or 'none'}"))
    for e in events:
        line = literal(f"  {e.at:%Y-%m-%d %H:%M} {e.action} {e.alias}: {e.previous or '—'} → {e.version}")
        if e.forced:
            line.append(" forced", style="red")
        out.print(line.append(clean(f" — {e.reason}" if e.reason else "")))


@registry_app.command("register")
def registry_register(name: str = typer.Argument(..., help="name of the new version"),
                      spec: str = typer.Option(..., help="its model spec"),
                      parent: Optional[str] = typer.Option(None, help="the registered version or alias it derives "
                                                                      "from"),
                      db: Optional[str] = typer.Option(None, help=DB_HELP)):
    """Register a version by hand (a served endpoint, a model trained elsewhere)."""
    from .models import ModelSpec
    from .registry import Registry
    from .store import Store

    ModelSpec.parse(spec)
    version = Registry(Store.open(db)).register(name, spec, kind="registered", parent=parent)
    out.print(literal(f"registered {version.name}: {version.spec}"))


@registry_app.command("alias")
def registry_alias(alias: str = typer.Argument(..., help="alias to move or create, e.g. staging"),
                   name: str = typer.Argument(..., help="version to point at"),
                   db: Optional[str] = typer.Option(None, help=DB_HELP)):
    """Point an alias at a version without a gate (use `promote` for stages that need one)."""
    from .registry import Registry
    from .store import Store

    event = Registry(Store.open(db, must_exist=True)).set_alias(alias, name)
    out.print(literal(f"{alias}: {event.previous or '—'} → {event.version}"))


@registry_app.command("promote")
def registry_promote(
    name: str = typer.Argument(..., help="version to promote"),
    to: str = typer.Option("production", help="alias (stage) to move"),
    policy: Optional[Path] = typer.Option(None, help="gate policy (default: NFR <= 2%, no significant accuracy drop)"),
    force: bool = typer.Option(False, "--force", help="promote even if the gate fails (needs --reason)"),
    reason: Optional[str] = typer.Option(None, help="why; recorded with the move"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
):
    """Move an alias to a version after the gate passes against the version it points at now."""
    from .gate import Policy
    from .registry import GateRefused, Registry
    from .store import Store

    rules = Policy.load(policy) if policy else None
    try:
        done = Registry(Store.open(db, must_exist=True)).promote(name, to, rules, force=force, reason=reason)
    except GateRefused as refused:
        for check in refused.result.failures:
            out.print(Text("  FAIL  ", style="red").append(clean(check.reason)))
        err.print(Text("refused: ", style="red").append(clean(f"{refused}; --force --reason TEXT overrides, and is "
                                                              "recorded")))
        raise typer.Exit(1)
    gate_text = Text("no earlier version to gate against") if done.gate is None else (
        Text("gate passed") if done.gate.passed else Text("gate failed, forced", style="red"))
    out.print(literal(f"{to}: {done.previous or '—'} → {done.version} (").append(gate_text).append(")"))


@registry_app.command("rollback")
def registry_rollback(alias: str = typer.Argument("production", help="alias to move back"),
                      reason: Optional[str] = typer.Option(None, help="why; recorded with the move"),
                      db: Optional[str] = typer.Option(None, help=DB_HELP)):
    """Return an alias to the version it pointed at before; again goes one more step back."""
    from .registry import Registry
    from .store import Store

    event = Registry(Store.open(db, must_exist=True)).rollback(alias, reason)
    out.print(literal(f"{alias}: {event.previous} → {event.version} (rolled back)"))


# The commands of other modules join the app here.
from .commands.proxy import proxy  # noqa: E402
from .commands.replay import export_suite, replay  # noqa: E402
from .commands.traffic import traffic_app  # noqa: E402
from .commands.watch import alerts, watch_app  # noqa: E402

app.add_typer(watch_app, name="watch")
app.command()(alerts)
app.command()(proxy)
traffic_app.command("export-suite")(export_suite)
app.add_typer(traffic_app, name="traffic")
app.command()(replay)


def main() -> None:
    """Entry point: usage errors and --help are Typer's; an `UndriftError` is one line on stderr and exit 2."""
    try:
        app()
    except UndriftError as problem:
        err.print(Text("error: ", style="red").append(clean(problem)))
        sys.exit(2)


if __name__ == "__main__":
    main()
