"""Scorers: turn (sample, response) into an extracted answer, a value and a verdict.

Which scorer a task's `type` names is looked up in the `undrift.scorers` entry points (`undrift.plugins.SCORERS`),
where undrift's own scorers are registered like any plugin's.
"""

from .base import Score, Scorer, build_scorer, sample_problem

__all__ = ["Score", "Scorer", "build_scorer", "sample_problem"]
