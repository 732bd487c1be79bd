"""Scorers: turn (sample, response) into an extracted answer, a value and a verdict."""

from .base import SCORERS, Score, Scorer, build_scorer, sample_problem

__all__ = ["SCORERS", "Score", "Scorer", "build_scorer", "sample_problem"]
