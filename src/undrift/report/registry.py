"""The registry in the terminal: the versions table, one version's details, a promotion's outcome."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..registry import ListedVersion, Promotion, VersionDetail
from .text import clean, literal


def versions_table(listed: list[ListedVersion]) -> Table:
    table = Table(header_style="bold")
    for column in ("version", "kind", "parent", "aliases", "runs", "spec"):
        table.add_column(column, overflow="fold")
    for entry in listed:
        v = entry.version
        table.add_row(literal(v.name), v.kind, literal(v.parent or "—"), literal(", ".join(entry.aliases) or "—"),
                      str(entry.runs), literal(v.spec))
    return table


def version_lines(detail: VersionDetail) -> list[Text]:
    version = detail.version
    lines = [Text(clean(version.name), style="bold").append(clean(f" ({version.kind}) {version.spec}")),
             literal("lineage: " + " ← ".join(v.name for v in detail.lineage))]
    lines += [literal(f"  recipe {key}: {value}") for key, value in version.recipe.items()]
    lines += [literal(f"  data {key}: {value[:16]}") for key, value in version.data_hashes.items()]
    lines.append(literal(f"runs: {', '.join(f'{r.id} ({r.suite})' for r in detail.runs) or 'none'}"))
    for e in detail.events:
        line = literal(f"  {e.at:%Y-%m-%d %H:%M} {e.action} {e.alias}: {e.previous or '—'} → {e.version}")
        if e.forced:
            line.append(" forced", style="red")
        lines.append(line.append(clean(f" — {e.reason}" if e.reason else "")))
    return lines


def refusal_lines(failures) -> list[Text]:
    """The failed checks of a gate that refused a promotion."""
    return [Text("  FAIL  ", style="red").append(clean(check.reason)) for check in failures]


def promotion_line(to: str, done: Promotion) -> Text:
    gate_text = Text("no earlier version to gate against") if done.gate is None else (
        Text("gate passed") if done.gate.passed else Text("gate failed, forced", style="red"))
    return literal(f"{to}: {done.previous or '—'} → {done.version} (").append(gate_text).append(")")
