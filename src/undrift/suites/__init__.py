"""Suites of representative tasks: by name (built-ins and plugins, from the `undrift.suites` entry points) and
YAML/JSONL files."""

from .loader import installed_suites, load_suite, load_suite_file
from .schema import Sample, ScorerConfig, Suite, Task

__all__ = ["Sample", "ScorerConfig", "Suite", "Task", "installed_suites", "load_suite", "load_suite_file"]
