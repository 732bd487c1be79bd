"""What `undrift replay` and `undrift traffic export-suite` print: the two runs stored and the next commands, the
suite written, and the warning about redaction masks sent as recorded.  Names, paths and specs are printed literally."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.text import Text

from ..replay import ExportReport, ReplayReport, Selected, skipped_text
from .text import clean, literal


def replay_summary(report: ReplayReport, judge: str | None) -> Group:
    """What was replayed and left out, the recorded and the candidate's run, the judge's tally (`judge`: its spec),
    and the `compare` and `gate` commands that read the two runs."""
    selected = report.selected
    old, new = report.recorded, report.candidate.run
    lines = [literal(f"replayed {len(selected.items)} of {selected.distinct} distinct recorded requests "
                     f"({selected.records} records)")]
    left_out = skipped_text(selected)
    if left_out:
        lines.append(literal(f"left out: {left_out}"))
    reused = ", already stored" if report.recorded_reused else ""
    lines.append(literal(f"recorded   {old.name} ({old.id}{reused})"))
    lines.append(literal(f"candidate  {new.name} ({new.id}): {report.candidate.generated} generated, "
                         f"{report.candidate.from_cache} from cache, {new.errors} errors"))
    lines.append(literal(f"suite      {report.suite_path}"))
    if report.judge is not None:
        j = report.judge
        lines.append(literal(f"judge ({judge}): candidate better on {j['candidate']}, recorded better on "
                             f"{j['recorded']}, tie {j['tie']}, no verdict {j['no verdict']} (both orders asked; "
                             "disagreement is a tie)"))
    lines.append(Text("next:", style="bold"))
    lines.extend(literal(f"  {command}") for command in report.next.values())
    return Group(*lines)


def review_file_written(selected: Selected, path: Path) -> Text:
    """`export-suite --for-review`: how many requests went out to label, and the command that reads them back."""
    return literal(f"wrote {len(selected.items)} requests to {path}: label them good or bad, or write corrections, "
                   f"then `undrift traffic export-suite ... --labels {path.name} -o SUITE.yaml` with the same selection")


def suite_written(report: ExportReport, labels: Path | None) -> Group:
    """`export-suite -o`: the samples written (and left out), with `labels` how the review's outcomes counted, and
    the command that runs the suite."""
    left_out = skipped_text(report.selected)
    lines = [literal(f"wrote {report.samples} samples to {report.path}" + (f" (left out: {left_out})" if left_out
                                                                           else ""))]
    if labels is not None:
        o = report.outcomes
        lines.append(literal(f"reviewed: {o.get('corrected', 0)} corrected, {o.get('accepted', 0)} approved, "
                             f"{report.dropped} dropped as bad or unsafe without a correction, "
                             f"{o.get('unlabelled', 0) + o.get('unreviewed', 0)} unreviewed (target: the recorded "
                             "answer)"))
    lines.append(literal(f"run it: undrift run {report.path} --model SPEC"))
    return Group(*lines)


def labelled_elsewhere_note(report: ExportReport, labels: Path) -> Text | None:
    """A note when rows of the review file are not in the selected traffic (exported with another selection)."""
    if not report.labelled_elsewhere:
        return None
    return Text("note: ", style="yellow").append(clean(
        f"{report.labelled_elsewhere} rows of {labels.name} are not in the selected traffic; export with the "
        "selection the review file was written with"))


def redaction_warning(selected: Selected, verb: str) -> Text | None:
    """A warning when masked requests go out as recorded, masks included (printed on stderr, so --json stays clean)."""
    warning = selected.redaction_warning(verb)
    return Text("warning: ", style="yellow").append(clean(warning)) if warning else None
