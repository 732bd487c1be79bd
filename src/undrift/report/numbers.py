"""How numbers are written everywhere (terminal, Markdown, HTML, gate reasons): one definition each."""

from __future__ import annotations


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal; a dash where there is none."""
    return "—" if value is None else f"{100 * value:.1f}%"


def points(value: float, signed: bool = True) -> str:
    """A change of a rate in percentage points."""
    return f"{100 * value:+.1f} pts" if signed else f"{100 * abs(value):.1f} pts"


def number(value: float, signed: bool = False) -> str:
    """A mean or a change of a mean: whole numbers from 100 on, else three significant digits (never 1e+03)."""
    sign = "+" if signed else ""
    return f"{value:{sign},.0f}" if abs(value) >= 100 else f"{value:{sign}.3g}"


def p_text(value: float | None) -> str:
    """A p-value: four decimals below 0.01, three above, and "<1e-4" below that; a dash where none was tested."""
    if value is None:
        return "—"
    return "<1e-4" if value < 1e-4 else f"{value:.4f}" if value < 0.01 else f"{value:.3f}"
