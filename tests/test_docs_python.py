"""docs/python.md runs: its ```python blocks, in order, in an empty folder with a store of its own.

The fast test swaps the bundled model for the tiny Llama of conftest.py; the integration test runs the page as
written, on the bundled model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def run_page(folder: Path, monkeypatch, model: str | None = None) -> None:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("UNDRIFT_DB", f"sqlite:///{folder / 'env.db'}")
    namespace: dict = {}
    for number, code in enumerate(blocks(), 1):
        if model:
            code = code.replace("bundled:smollm2", model)
        exec(compile(code, f"{DOC.name} block {number}", "exec"), namespace)  # noqa: S102 - our own documentation
    assert (folder / "tour.db").exists() and (folder / "gate.xml").exists()


def test_page_has_the_tour():
    text = "\n".join(blocks())
    for call in ("undrift.run(", "undrift.show(", "undrift.compare(", "undrift.gate(", "undrift.check(",
                 "undrift.history(", ".promote(", ".rollback(", "undrift.train(", "undrift.add_watch("):
        assert call in text, f"docs/python.md has no example of {call}"


def test_python_page_runs_on_the_tiny_model(tmp_path, monkeypatch, tiny_model_dir):
    run_page(tmp_path, monkeypatch, f"hf:{tiny_model_dir}")


@pytest.mark.integration
def test_python_page_runs_as_written(tmp_path, monkeypatch):
    run_page(tmp_path, monkeypatch)
