"""A comparison as one self-contained HTML file: inline CSS and SVG plots, no script, nothing fetched.

It opens offline, can be attached to a ticket or stored as a CI artifact, and prints well.
"""

from __future__ import annotations

from html import escape

from ..analysis.compare import Comparison, Flip, GroupComparison
from ..analysis.metrics import FLIP_COLUMNS, FLIP_METRICS
from .numbers import p_text, pct
from ..models.base import ModelSpec
from .terminal import fingerprint_differences, format_delta, format_value

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:right;vertical-align:top}th:first-child,td:first-child{text-align:left}
.worse{color:#b00020;font-weight:600}.better{color:#1b7f3b;font-weight:600}.changed{color:#8a6d00;font-weight:600}
.muted{color:#777}.warning{background:#fff4ce;padding:4px 8px}table.samples td,table.samples th{text-align:left}
pre{white-space:pre-wrap;margin:0;max-height:14em;overflow:auto;font-size:12px}svg text{font:12px system-ui,sans-serif}
"""


def comparison_html(comparison: Comparison, flips: int = 200) -> str:
    old, new = comparison.old, comparison.new
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>undrift: {escape(old.name)} → {escape(new.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(old.name)} → {escape(new.name)}</h1>",
        f"<p>Suite <code>{escape(old.suite)}</code>; old run <code>{escape(old.id)}</code> "
        f"(<code>{escape(ModelSpec.readable(old.model_spec))}</code>), new run <code>{escape(new.id)}</code> "
        f"(<code>{escape(ModelSpec.readable(new.model_spec))}</code>). <b>{comparison.shared}</b> samples shared, "
        f"<b>{comparison.left_out}</b> left out ({len(comparison.only_old)} only in old, {len(comparison.only_new)} "
        f"only in new, {len(comparison.prompt_changed)} with a changed prompt, {len(comparison.errored)} with only "
        "errors).</p>",
        _fingerprint(comparison),
        *[f"<p class='warning'>warning: {escape(w)}</p>" for w in comparison.warnings],
        "<p class='muted'>Each change has its 95% interval and the p-value of the test that interval inverts; q is p "
        "adjusted across tasks (Benjamini-Hochberg). Green is better, red worse, amber a change with no better "
        "direction (length, tokens); only changes with q &lt; 0.05 are coloured.</p>",
        "<h2>Change of each task's headline metric (95% CI)</h2>",
        _forest_plot(comparison.tasks),
        "<h2>Flip rates</h2>",
        _flip_bars(comparison.tasks),
        "<h2>By task</h2>",
        _task_table(comparison.tasks),
    ]
    if comparison.slices:
        parts += ["<h2>By slice</h2>", _task_table(comparison.slices)]
    parts += ["<h2>Flipped samples</h2>", _flips(comparison, flips)]
    if comparison.changed:
        parts += ["<h2>Answers that changed without a flip</h2>",
                  _samples(comparison.changed[:flips], f"{len(comparison.changed)} answers changed")]
    parts.append("</body></html>")
    return "\n".join(parts)


def _fingerprint(comparison: Comparison) -> str:
    changes = fingerprint_differences(comparison)
    if not changes:
        return "<p>Both runs have the same model fingerprint.</p>"
    items = "".join(f"<li><code>{escape(k)}</code>: <code>{escape(str(a))}</code> → <code>{escape(str(b))}</code></li>"
                    for k, (a, b) in changes.items())
    return f"<p>Fingerprint changed:</p><ul>{items}</ul>"


def _forest_plot(groups: list[GroupComparison]) -> str:
    """Each task's change as a point with its interval on a shared axis around zero."""
    rows = [(g.task, g.headline) for g in groups if g.headline is not None and g.headline.kind == "rate"]
    if not rows:
        return "<p class='muted'>no rate metrics</p>"
    width, left, row_h = 760, 180, 26
    height = row_h * len(rows) + 30
    def x(value: float) -> float:
        return left + (value + 1) / 2 * (width - left - 20)
    svg = [f"<svg width='{width}' height='{height}' role='img' aria-label='changes with intervals'>",
           f"<line x1='{x(0)}' y1='0' x2='{x(0)}' y2='{height - 20}' stroke='#999' stroke-dasharray='4'/>"]
    for tick in (-1, -0.5, 0, 0.5, 1):
        svg.append(f"<text x='{x(tick)}' y='{height - 5}' text-anchor='middle'>{100 * tick:+.0f} pts</text>")
    for i, (task, metric) in enumerate(rows):
        y = 15 + i * row_h
        colour = {"worse": "#b00020", "better": "#1b7f3b", "changed": "#8a6d00"}.get(metric.verdict or "", "#555")
        low, high = metric.ci if metric.ci is not None else (metric.delta, metric.delta)
        svg += [f"<text x='5' y='{y + 4}'>{escape(task)} ({escape(metric.label)})</text>",
                f"<line x1='{x(low)}' y1='{y}' x2='{x(high)}' y2='{y}' stroke='{colour}' stroke-width='2'/>",
                f"<circle cx='{x(metric.delta)}' cy='{y}' r='4' fill='{colour}'>"
                f"<title>{escape(format_delta(metric))}</title></circle>"]
    svg.append("</svg>")
    return "".join(svg)


def _flip_bars(groups: list[GroupComparison]) -> str:
    """Negative (red, left) and positive (green, right) flip rates per task."""
    width, left, row_h, half = 760, 180, 24, 280
    height = row_h * len(groups) + 10
    centre = left + half
    svg = [f"<svg width='{width}' height='{height}' role='img' aria-label='flip rates'>",
           f"<line x1='{centre}' y1='0' x2='{centre}' y2='{height}' stroke='#999'/>"]
    for i, group in enumerate(groups):
        c = group.compatibility
        nfr, pfr = (c.nfr, c.pfr) if c else (group.score_flips.negative, group.score_flips.positive)
        y = 5 + i * row_h
        svg += [f"<text x='5' y='{y + 13}'>{escape(group.task)}</text>",
                f"<rect x='{centre - nfr * half}' y='{y}' width='{nfr * half}' height='16' fill='#b00020'>"
                f"<title>{FLIP_METRICS['nfr']} {pct(nfr)}</title></rect>",
                f"<rect x='{centre}' y='{y}' width='{pfr * half}' height='16' fill='#1b7f3b'>"
                f"<title>{FLIP_METRICS['pfr']} {pct(pfr)}</title></rect>",
                f"<text x='{centre - nfr * half - 4}' y='{y + 13}' text-anchor='end'>{pct(nfr)}</text>",
                f"<text x='{centre + pfr * half + 4}' y='{y + 13}'>{pct(pfr)}</text>"]
    svg.append("</svg>")
    return "".join(svg)


def _task_table(groups: list[GroupComparison]) -> str:
    head = ("task", "n", "metric", "old", "new", "change (95% CI)", "p", "q", *(FLIP_METRICS[n] for n in FLIP_COLUMNS))
    rows = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for group in groups:
        for metric in group.metrics.values():
            css = f" class='{metric.verdict}'" if metric.verdict else ""
            first = metric is group.headline
            c = group.compatibility
            compat = [pct(c.nfr), pct(c.pfr), pct(c.btc), pct(c.bec)] if (c and first) else [""] * 4
            change = format_delta(metric) if metric.tested or metric.ci else f"{format_delta(metric)} (not tested)"
            cells = [group.where if first else "", str(metric.n), metric.label, format_value(metric, metric.old),
                     format_value(metric, metric.new), change, p_text(metric.p), p_text(metric.p_adjusted), *compat,
                     pct(group.mismatch) if first else ""]
            rows.append(f"<tr{css}>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>")
    rows.append("</table>")
    return "".join(rows)


def _flips(comparison: Comparison, limit: int) -> str:
    chosen = sorted(comparison.flips, key=lambda f: f.kind != "negative")[:limit]
    if not chosen:
        return "<p class='muted'>no flips</p>"
    return _samples(chosen, f"{len(comparison.flips)} flips; showing {len(chosen)}, negative first.")


def _samples(chosen: list[Flip], caption: str) -> str:
    rows = [f"<p>{escape(caption)}</p><table class='samples'><tr>"
            "<th>sample</th><th>prompt</th><th>old answer</th><th>new answer</th><th>target</th></tr>"]
    for entry in chosen:
        css = {"negative": "worse", "positive": "better"}.get(entry.kind, "changed")
        rows.append(
            f"<tr><td class='{css}'>{escape(entry.kind)}<br>{escape(entry.task)}/{escape(entry.sample_id)}</td>"
            f"<td><pre>{escape(entry.prompt)}</pre></td>"
            f"<td><pre>{escape(entry.old_response)}</pre><span class='muted'>→ {escape(str(entry.old_extracted))}</span></td>"
            f"<td><pre>{escape(entry.new_response)}</pre><span class='muted'>→ {escape(str(entry.new_extracted))}</span></td>"
            f"<td>{escape(str(entry.target))}</td></tr>")
    rows.append("</table>")
    return "".join(rows)
