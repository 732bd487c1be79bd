"""A Rich progress bar on stderr (rate, elapsed, time left), or nothing when progress is off."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .report.text import clean


class ProgressBar:
    def __init__(self, description: str, total: int, enabled: bool = True):
        self.description, self.total, self.enabled = description, total, enabled and total > 0
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}", markup=False),  # run names are users' text, not markup
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(clean(self.description), total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and n:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
