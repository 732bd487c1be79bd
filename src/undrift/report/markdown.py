"""A comparison as Markdown, for a pull request comment or a model card."""

from __future__ import annotations

from ..analysis.compare import Comparison, GroupComparison
from .terminal import format_delta, format_value, pct


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def comparison_markdown(comparison: Comparison, flips: int = 20) -> str:
    old, new = comparison.old, comparison.new
    lines = [
        f"# {old.name} → {new.name}",
        "",
        f"Suite `{old.suite}`; old run `{old.id}`, new run `{new.id}`. {comparison.shared} samples shared, "
        f"{comparison.left_out} left out ({len(comparison.only_old)} only in old, {len(comparison.only_new)} only in "
        f"new, {len(comparison.prompt_changed)} with a changed prompt).",
        "",
        "| task | n | metric | old | new | change (95% CI) | p (BH) | NFR | PFR | BTC | BEC | mismatch |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [_task_row(group) for group in comparison.tasks]
    significant = [(g, m) for g in comparison.tasks + comparison.slices for m in g.metrics.values() if m.significant]
    if significant:
        lines += ["", "## Significant changes", "", "| task / slice | metric | old | new | change (95% CI) | p (BH) |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        for group, metric in significant:
            where = group.task + (f" / {group.slice}" if group.slice else "")
            lines.append(f"| {where} | {metric.label} | {format_value(metric, metric.old)} | "
                         f"{format_value(metric, metric.new)} | {format_delta(metric)} | {_p(metric.p_adjusted)} |")
    chosen = sorted(comparison.flips, key=lambda f: f.kind != "negative")[:flips]
    if chosen:
        lines += ["", f"## Flipped samples ({len(chosen)} of {len(comparison.flips)})", "",
                  "| kind | sample | prompt | old answer | new answer | target |", "| --- | --- | --- | --- | --- | --- |"]
        for flip in chosen:
            lines.append(f"| {flip.kind} | {_cell(flip.task)}/{_cell(flip.sample_id)} | {_cell(flip.prompt[:300])} | "
                         f"{_cell(flip.old_response[:300])} | {_cell(flip.new_response[:300])} | {_cell(flip.target)} |")
    return "\n".join(lines) + "\n"


def _p(value: float | None) -> str:
    return "—" if value is None else "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _task_row(group: GroupComparison) -> str:
    head = group.headline
    c = group.compatibility
    flips = [pct(c.nfr), pct(c.pfr), pct(c.btc), pct(c.bec)] if c else [
        pct(group.score_flips.negative), pct(group.score_flips.positive), "—", "—"]
    if head is None:
        cells = ["—"] * 5
    else:
        cells = [head.label, format_value(head, head.old), format_value(head, head.new), format_delta(head),
                 _p(head.p_adjusted)]
    return "| " + " | ".join([group.task, str(group.n), *cells, *flips, pct(group.mismatch)]) + " |"
