"""Suites of representative tasks: built-ins and YAML/JSONL files."""

from .loader import builtin_suites, load_suite, load_suite_file
from .schema import Sample, ScorerConfig, Suite, Task

__all__ = ["Sample", "ScorerConfig", "Suite", "Task", "builtin_suites", "load_suite", "load_suite_file"]
