"""A comparison as Markdown, for a pull request comment or a model card."""

from __future__ import annotations

import re

from ..analysis.compare import Comparison, Flip, GroupComparison
from ..analysis.metrics import FLIP_COLUMNS, FLIP_METRICS
from .numbers import p_text, pct
from ..models.base import ModelSpec
from .terminal import fingerprint_differences, format_delta, format_value
from .text import clean


def md_text(text: object) -> str:
    """Outside text made safe for a table cell: one line, control characters shown, every character that Markdown
    (GitHub's included) reads as markup backslash-escaped, so `<img ...>` or `&lt;` in an answer shows as written."""
    text = " ".join(clean(text).split())
    for character in "\\|`*_[]<>#&~":
        text = text.replace(character, "\\" + character)
    return text


def md_code(text: object) -> str:
    """Outside text as an inline code span, shown literally (no link, no emphasis): on one line, fenced with more
    backticks than any run of them inside, and padded where it starts or ends with one (CommonMark)."""
    text = " ".join(clean(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def comparison_markdown(comparison: Comparison, flips: int = 20) -> str:
    old, new = comparison.old, comparison.new
    lines = [
        f"# {md_text(old.name)} → {md_text(new.name)}",
        "",
        f"Suite {md_text(old.suite)}; old run `{old.id}` ({md_text(ModelSpec.readable(old.model_spec))}), new run "
        f"`{new.id}` ({md_text(ModelSpec.readable(new.model_spec))}). {comparison.shared} samples shared, "
        f"{comparison.left_out} left out "
        f"({len(comparison.only_old)} only in old, {len(comparison.only_new)} only in new, "
        f"{len(comparison.prompt_changed)} with a changed prompt, {len(comparison.errored)} with only errors).",
        "",
        _fingerprint_line(comparison),
    ]
    lines += [f"> **warning**: {md_text(w)}" for w in comparison.warnings]
    lines += [
        "",
        "Each change has its 95% interval and the p-value of the test that interval inverts; q is p adjusted across "
        "tasks (Benjamini-Hochberg), and a change counts as significant when q < 0.05.",
        "",
        "| task | n | metric | old | new | change (95% CI) | p | q | "
        + " | ".join(FLIP_METRICS[name] for name in FLIP_COLUMNS) + " |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(FLIP_COLUMNS),
    ]
    lines += [_task_row(group) for group in comparison.tasks]
    significant = [(g, m) for g in comparison.tasks + comparison.slices for m in g.metrics.values() if m.significant]
    if significant:
        lines += ["", "## Significant changes", "", "| task / slice | metric | old | new | change (95% CI) | p | q |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for group, metric in significant:
            lines.append(f"| {md_text(group.where)} | {md_text(metric.label)} | {format_value(metric, metric.old)} | "
                         f"{format_value(metric, metric.new)} | {format_delta(metric)} | {p_text(metric.p)} | "
                         f"{p_text(metric.p_adjusted)} |")
    notes = dict.fromkeys(f"{m.label}: {m.note}" for g in comparison.tasks for m in g.metrics.values() if m.note)
    lines += [""] + [f"Note: {md_text(n)}" for n in notes] if notes else []
    chosen = sorted(comparison.flips, key=lambda f: f.kind != "negative")[:flips]
    if chosen:
        lines += ["", f"## Flipped samples ({len(chosen)} of {len(comparison.flips)})", ""] + _samples(chosen)
    if comparison.changed:
        shown = comparison.changed[:flips]
        lines += ["", f"## Answers that changed without a flip ({len(shown)} of {len(comparison.changed)})", ""]
        lines += _samples(shown)
    return "\n".join(lines) + "\n"


def _fingerprint_line(comparison: Comparison) -> str:
    changes = fingerprint_differences(comparison)
    if not changes:
        return "Both runs have the same model fingerprint."
    return "Fingerprint changed: " + "; ".join(f"{md_text(k)} `{md_text(a)}` → `{md_text(b)}`" for k, (a, b) in changes.items())


def _samples(chosen: list[Flip]) -> list[str]:
    lines = ["| kind | sample | prompt | old answer | new answer | target |", "| --- | --- | --- | --- | --- | --- |"]
    for entry in chosen:
        lines.append(f"| {entry.kind} | {md_text(entry.task)}/{md_text(entry.sample_id)} | {md_text(entry.prompt[:300])} | "
                     f"{md_text(entry.old_response[:300])} | {md_text(entry.new_response[:300])} | {md_text(entry.target)} |")
    return lines


def _task_row(group: GroupComparison) -> str:
    head = group.headline
    c = group.compatibility
    flips = [pct(c.nfr), pct(c.pfr), pct(c.btc), pct(c.bec)] if c else [
        pct(group.score_flips.negative), pct(group.score_flips.positive), "—", "—"]
    if head is None:
        cells = ["—"] * 6
    else:
        cells = [md_text(head.label), format_value(head, head.old), format_value(head, head.new), format_delta(head),
                 p_text(head.p), p_text(head.p_adjusted)]
    return "| " + " | ".join([md_text(group.task), str(group.n), *cells, *flips, pct(group.mismatch)]) + " |"
