"""Write a suite as files `undrift run` loads: the YAML file, and one JSONL samples file per task beside it.

Used where undrift makes a suite from data it holds (recorded traffic): what it writes is the format of
docs/suite-format.md, so a user can read it, edit it and run it like any suite of their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..errors import UndriftError
from ..files import write_text_atomic
from .schema import Sample, Suite


def write_suite(suite: Suite, path: Path) -> list[Path]:
    """Write `suite` to `path` (.yaml) and `<stem>-<task>.jsonl` beside it; the YAML goes last, so a suite file never
    names samples files that are not all there.  Returns the files written."""
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UndriftError(f"{path.name}: a suite file ends in .yaml (or .yml)")
    if not path.parent.is_dir():
        raise UndriftError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    written, tasks = [], []
    for task in suite.tasks:
        samples = path.with_name(f"{path.stem}-{task.name}.jsonl")
        write_text_atomic(samples, "".join(json.dumps(sample_row(s), ensure_ascii=False) + "\n" for s in task.samples))
        written.append(samples)
        entry: dict[str, Any] = {"name": task.name}
        if task.description:
            entry["description"] = task.description
        entry.update(decoding=task.decoding.to_dict(), scorer=task.scorer.to_dict(), samples=samples.name)
        tasks.append(entry)
    document = {"name": suite.name, "version": suite.version, "description": suite.description, "tasks": tasks}
    write_text_atomic(path, yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120))
    return [*written, path]


def sample_row(sample: Sample) -> dict[str, Any]:
    """A sample as one line of a samples file: the loader reads its extra keys back as the sample's data."""
    row: dict[str, Any] = {"id": sample.id, "messages": list(sample.messages)}
    if sample.target is not None:
        row["target"] = sample.target
    if sample.slices:
        row["slices"] = list(sample.slices)
    if sample.decoding is not None:
        row["decoding"] = sample.decoding.to_dict()
    return {**row, **sample.data}
