"""`undrift forgetting` in the terminal: the accuracy matrix, BWT and forgetting, and the probe's lines."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..analysis.forgetting import ForgettingReport
from .numbers import pct
from .text import literal


def forgetting_table(report: ForgettingReport) -> Table:
    table = Table(title="accuracy R[version][suite]", title_justify="left", header_style="bold")
    table.add_column("version")
    for suite in report.suites:
        table.add_column(literal(suite + f" (learned at {report.versions[report.learned_at[suite]]})"),
                         justify="right")
    for version, row in zip(report.versions, report.matrix):
        table.add_row(literal(version), *[pct(v) for v in row])
    return table


def forgetting_lines(report: ForgettingReport) -> list[Text]:
    bwt = "—" if report.bwt is None else f"{100 * report.bwt:+.1f} points"
    lost = "—" if report.forgetting is None else f"{100 * report.forgetting:.1f} points"
    lines = [Text(f"average accuracy {pct(report.average_accuracy)}, backward transfer {bwt}, forgetting {lost}")]
    for entry in report.probe:
        kl = "—" if entry["kl_to_previous"] is None else f"{entry['kl_to_previous']:.4f}"
        lines.append(literal(f"probe {entry['version']}: perplexity {entry['perplexity']:.2f}, KL to previous {kl}"))
    return lines
