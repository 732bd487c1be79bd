"""The red / amber / green state of a model name on the overview, by one rule (docs/ui.md repeats it)."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.history import ModelHistory
from ..store import RunRecord


@dataclass(frozen=True)
class State:
    colour: str  # "red", "amber" or "green"
    reason: str


def model_state(latest: RunRecord, history: ModelHistory | None, open_alerts: int) -> State:
    """The state of a model name from its newest run, the history of its complete runs and the open alerts of the
    watch of the same name (a watch files its runs under its own name).

    - red: an alert is open, or the newest run failed or was interrupted, or the newest complete run is a change
      point in some task (its behaviour changed significantly there, either way: drift is what undrift warns of;
      the history page shows which way);
    - amber: the newest run is still running, or an earlier run was a change point, or the model's fingerprint
      changed at the newest complete run without a significant change (yet);
    - green: none of these: every test of its history found no change, or there is nothing to test against yet.
    """
    if open_alerts:
        return State("red", f"{open_alerts} open alert{'s' if open_alerts != 1 else ''}")
    if latest.status in ("failed", "interrupted"):
        return State("red", f"newest run {latest.status}")
    series = history.tasks if history is not None else []
    changed_now = [t.task for t in series if t.points and t.points[-1].change_point]
    if changed_now:
        return State("red", f"changed at the newest run: {', '.join(changed_now)}")
    if latest.status == "running":
        return State("amber", "a run is in progress")
    if any(p.change_point for t in series for p in t.points):
        return State("amber", "changed at an earlier run")
    if any(t.points and t.points[-1].fingerprint_changes for t in series):
        return State("amber", "fingerprint changed at the newest run")
    return State("green", "no change detected")
