"""A model card in Markdown, written from the evidence in the store: what the version is, how it was made, how it
scores, how compatible it is with its parent (flips), and what it forgot.  Nothing in it is typed by hand.

Every table is per suite: a comparison of two runs is only meaningful on the same samples, so the card compares
the version with its parent once for each suite both ran, never one suite's run against another's."""

from __future__ import annotations

from ..analysis.compare import compare_runs
from ..analysis.forgetting import forgetting_report
from ..errors import UndriftError
from ..registry import Registry, shared_suite_runs
from ..summary import summarise
from .markdown import comparison_markdown, md_code, md_text
from .numbers import pct


def model_card(registry: Registry, name: str) -> str:
    version = registry.get(name)
    store = registry.store
    lines = [f"# Model card: {md_text(version.name)}", "",
             f"- **spec**: {md_code(version.spec)}",
             f"- **kind**: {version.kind}; registered {version.created_at:%Y-%m-%d %H:%M} UTC",
             f"- **lineage**: {' ← '.join(md_text(v.name) for v in registry.lineage(version.name))}"]
    stages = [alias for alias, target in registry.aliases().items() if target == version.name]
    if stages:
        lines.append(f"- **stages**: {', '.join(map(md_text, stages))}")
    if version.recipe:
        lines += ["", "## Training recipe", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {md_text(key)} | {md_code(value)} |" for key, value in version.recipe.items()
                  if value not in (None, "")]
    if version.data_hashes:
        lines += ["", "## Data (SHA-256)", "", "| input | hash |", "| --- | --- |"]
        lines += [f"| {md_text(key)} | {md_code(value)} |" for key, value in version.data_hashes.items()]
    own_runs = registry.runs_of(version.name)
    lines += ["", "## Evaluations", ""]
    if not own_runs:
        lines.append("No runs yet: `undrift run SUITE --model SPEC --as NAME` adds one.")
    seen = set()
    for run in own_runs:
        if run.suite in seen:
            continue
        seen.add(run.suite)
        lines += [f"Suite {md_code(run.suite)}, run {md_code(run.id)} ({run.created_at:%Y-%m-%d}):", "",
                  "| task | n | accuracy (95% CI) | score | chars |", "| --- | ---: | ---: | ---: | ---: |"]
        for s in summarise(store.results(run.id)):
            accuracy = "—" if s.accuracy is None else f"{pct(s.accuracy)} [{pct(s.accuracy_ci[0])}, {pct(s.accuracy_ci[1])}]"
            score, chars = ("—", "—") if s.n == 0 else (f"{s.score:.3f}", f"{s.verbosity_chars:.0f}")  # only errors
            lines.append(f"| {md_text(s.task)} | {s.n} | {accuracy} | {score} | {chars} |")
        lines.append("")
    parent = registry.find(version.parent) if version.parent else None
    pairs = shared_suite_runs(registry.runs_of(parent.name), own_runs) if parent else []
    lines += ["## Compatibility with the parent", ""]
    if parent is None:
        lines.append(_no_parent(version))
    elif not pairs:
        lines.append("No run of the parent on a suite this version ran: nothing to compare yet.")
    for old, new in pairs:
        body = comparison_markdown(compare_runs(store, old.id, new.id), flips=5).split("\n", 2)[2].splitlines()
        lines += [f"### Suite {md_code(new.suite)}", "", *("##" + line if line.startswith("## ") else line for line in body),
                  ""]
    lineage = [v.name for v in reversed(registry.lineage(version.name))]
    lines += ["", "## Forgetting along the lineage", ""]
    try:
        report = forgetting_report(store, lineage) if len(lineage) > 1 else None
    except UndriftError as problem:
        report = None
        lines.append(f"Not computed: {md_text(problem)}.")
    if report:
        lines += ["| version | " + " | ".join(map(md_text, report.suites)) + " |", "| --- |" + " ---: |" * len(report.suites)]
        lines += [f"| {md_text(v)} | " + " | ".join(pct(x) for x in row) + " |" for v, row in zip(report.versions, report.matrix)]
        lines += ["", f"Average accuracy {pct(report.average_accuracy)}; backward transfer "
                      f"{'—' if report.bwt is None else f'{100 * report.bwt:+.1f} points'}; forgetting "
                      f"{'—' if report.forgetting is None else f'{100 * report.forgetting:.1f} points'}."]
    elif len(lineage) <= 1:
        lines.append("This version has no registered parent.")
    return "\n".join(lines) + "\n"


def _no_parent(version) -> str:
    base = version.recipe.get("base")
    if base:
        return (f"The parent version is unknown: it was trained from {md_code(base)}, which no single registered version "
                "had as its spec (`undrift train --parent NAME` records it).")
    if version.parent:
        return f"The parent version is unknown: {md_text(version.parent)} is not a registered version."
    return "This version has no parent."
