"""Backends, scorers and suites come from entry points, undrift's own and installed plugins' alike.

The example plugin in tests/plugins/ is installed with pip into a temporary folder (never into this environment)
and used from the real CLI in a subprocess whose PYTHONPATH holds that folder; broken and clashing plugins are
real distributions too (a hand-written .dist-info), which is all importlib.metadata reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import QUIZ_SUITE, cli_env, undrift
from undrift.plugins import BACKENDS, SCORERS, SUITES

EXAMPLE_PLUGIN = Path(__file__).resolve().parent / "plugins" / "undrift-example-plugin"



@pytest.fixture(scope="module")
def example_plugin(tmp_path_factory) -> Path:
    """The example plugin built and installed (offline, no build isolation) into a temporary folder."""
    source = tmp_path_factory.mktemp("plugin-source") / "undrift-example-plugin"
    shutil.copytree(EXAMPLE_PLUGIN, source)  # setuptools writes build/ and egg-info beside the sources
    target = tmp_path_factory.mktemp("plugin-target")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--no-cache-dir", "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=120)
    return target


def fake_distribution(folder: Path, name: str, entry_points: str) -> Path:
    """An installed distribution as importlib.metadata sees one: a .dist-info with METADATA and entry_points.txt."""
    info = folder / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    return folder


def test_the_builtins_are_registered_through_the_entry_points_and_all_load():
    assert {"bundled", "hf", "gguf", "openai", "echo", "script"} <= set(BACKENDS.names())
    assert {"exact", "numeric", "code", "judge", "counterfactual", "similarity"} <= set(SCORERS.names())
    assert {"drift", "bias"} <= set(SUITES.names())
    for registry in (BACKENDS, SCORERS, SUITES):
        for entry in registry.installed():
            if entry.plugin.builtin:
                assert entry.problem is None and entry.value is not None, entry


def test_cli_start_up_reads_no_entry_points():
    """Entry points are scanned at the first lookup, so `--help` does not pay for reading every distribution."""
    started = subprocess.run([sys.executable, "-X", "importtime", "-m", "undrift.cli", "--help"], capture_output=True,
                             text=True, timeout=60, env=cli_env())
    assert started.returncode == 0
    assert "importlib.metadata" not in started.stderr and "undrift.plugins" not in started.stderr


def test_echo_runs_a_suite_without_importing_torch(tmp_path):
    runs = subprocess.run([sys.executable, "-c", (
        "import sys\n"
        "sys.argv = ['undrift', 'run', 'drift', '--model', 'echo:', '--limit', '2', '--json', '-q']\n"
        "from undrift.cli import main\n"
        "try:\n    main()\n"
        "finally:\n    print('torch' in sys.modules, 'transformers' in sys.modules, file=sys.stderr)\n")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=cli_env())
    assert runs.returncode == 0, runs.stderr
    assert runs.stderr.split()[-2:] == ["False", "False"]
    report = json.loads(runs.stdout)
    assert report["run"]["status"] == "complete" and report["generated"] == 14
    assert report["run"]["model_spec"] == "echo:"

    fixed = undrift("run", "drift", "--tasks", "primes", "--model", "echo:?text=[Yes]", "--limit", "2", "--json", "-q",
                    cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["tasks"][0]["verbosity_chars"] == len("[Yes]")  # every answer is the fixed text


def test_script_answers_by_prompt_and_a_changed_script_is_another_model(tmp_path):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE)
    script = tmp_path / "answers.jsonl"
    script.write_text('{"prompt": "What is 2+2?", "answer": "4"}\n'
                      '{"prompt": "What is the capital of France?", "answer": "Paris"}\n{"default": "no idea"}\n')

    def run() -> dict:
        result = undrift("run", "quiz.yaml", "--model", f"script:{script}", "--json", "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    first, again = run(), run()
    assert first["tasks"][0]["accuracy"] == pytest.approx(2 / 3) and first["generated"] == 3
    assert again["from_cache"] == 3  # the same script is the same deterministic model
    script.write_text('{"prompt": "What is 2+2?", "answer": "4"}\n{"default": "blue"}\n')
    changed = run()
    assert changed["from_cache"] == 0 and changed["tasks"][0]["accuracy"] == pytest.approx(2 / 3)
    assert changed["run"]["fingerprint"]["weights_sha256"] != first["run"]["fingerprint"]["weights_sha256"]

    (tmp_path / "by-id.yaml").write_text("prompts:\n  What is 2+2?: '4'\nids:\n  sky: blue\ndefault: Lyon\n")
    by_id = undrift("run", "quiz.yaml", "--model", "script:by-id.yaml", "--json", "-q", cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(by_id.stdout)["tasks"][0]["accuracy"] == pytest.approx(2 / 3)
    assert json.loads(by_id.stdout)["run"]["fingerprint"]["deterministic"] is False  # ids: no reuse across samples

    (tmp_path / "no-default.yaml").write_text("prompts:\n  What is 2+2?: '4'\n")  # the rest get errors
    unanswered = undrift("run", "quiz.yaml", "--model", "script:no-default.yaml", "-q", cwd=tmp_path)
    assert unanswered.returncode == 4  # too many requests got errors; nothing was scored as an empty answer
    bad = undrift("run", "quiz.yaml", "--model", "script:missing.jsonl", cwd=tmp_path)
    assert bad.returncode == 2 and "script 'missing.jsonl' does not exist" in bad.stderr


def test_a_plugin_package_adds_a_backend_a_scorer_and_a_suite(tmp_path, example_plugin):
    models = undrift("models", cwd=tmp_path, python_path=(example_plugin,))
    assert models.returncode == 0, models.stderr
    assert "reverse:" in models.stdout and "undrift-example-plugin 0.1.0" in models.stdout
    assert "bundled:smollm2" in models.stdout and "built-in" in models.stdout

    suites = undrift("suites", cwd=tmp_path, python_path=(example_plugin,))
    assert "example-suite" in suites.stdout and "same_words" in suites.stdout and "drift" in suites.stdout

    run = undrift("run", "example-suite", "--model", "reverse:", "--json", "-q", cwd=tmp_path,
                  python_path=(example_plugin,))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["run"]["suite"] == "example-suite"
    assert report["tasks"][0]["accuracy"] == pytest.approx(2 / 3)  # scored by the plugin's same_words scorer

    unknown = undrift("run", "drift", "--model", "nope:x", cwd=tmp_path, python_path=(example_plugin,))
    assert unknown.returncode == 2
    assert "the installed backends are bundled, echo, gguf, hf, llamacpp, openai, reverse, script, vllm" in unknown.stderr
    without = undrift("run", "example-suite", "--model", "reverse:", cwd=tmp_path)
    assert without.returncode == 2 and "(no backend 'reverse')" in without.stderr  # not installed here


def test_a_broken_or_clashing_plugin_is_one_line_and_breaks_nothing_else(tmp_path):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE)
    (tmp_path / "answers.jsonl").write_text('{"default": "4"}\n')
    broken = fake_distribution(tmp_path / "site", "undrift-broken", (
        "[undrift.backends]\nbroken = undrift_missing_module:BACKEND\necho = json:dumps\n"
        "[undrift.scorers]\nbad_scorer = undrift_missing_module:Scorer\n"
        "[undrift.suites]\nbroken-suite = undrift_missing_module:build\n"))

    run = undrift("run", "drift", "--model", "broken:x", cwd=tmp_path, python_path=(broken,))
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert ("the backend 'broken' of undrift-broken 1.0 (undrift_missing_module:BACKEND) does not load "
            "(ModuleNotFoundError: No module named 'undrift_missing_module')") in run.stderr
    clash = undrift("run", "drift", "--model", "echo:", cwd=tmp_path, python_path=(broken,))
    assert clash.returncode == 2
    assert ("the backend 'echo' is registered twice, by undrift 0.1.0 (undrift.models.scripted:ECHO) and "
            "undrift-broken 1.0 (json:dumps): uninstall one of them") in clash.stderr
    suite = undrift("run", "broken-suite", "--model", "script:answers.jsonl", cwd=tmp_path, python_path=(broken,))
    assert suite.returncode == 2 and "the suite 'broken-suite' of undrift-broken 1.0" in suite.stderr

    works = undrift("run", "quiz.yaml", "--model", "script:answers.jsonl", "--json", "-q", cwd=tmp_path,
                    python_path=(broken,))
    assert works.returncode == 0, works.stderr
    models = undrift("models", cwd=tmp_path, python_path=(broken,))
    assert models.returncode == 0 and "broken:" in models.stdout and "hf:PATH" in models.stdout
    suites = undrift("suites", cwd=tmp_path, python_path=(broken,))
    assert suites.returncode == 0 and "broken-suite" in suites.stdout and "primes" in suites.stdout


def test_a_plugin_object_of_the_wrong_kind_is_refused(tmp_path):
    wrong = fake_distribution(tmp_path / "site", "undrift-wrong", "[undrift.backends]\nwrong = json:dumps\n")
    run = undrift("run", "drift", "--model", "wrong:x", cwd=tmp_path, python_path=(wrong,))
    assert run.returncode == 2
    assert "the backend 'wrong' of undrift-wrong 1.0 (json:dumps) is not a Backend" in run.stderr


def test_the_plugins_page_shows_the_example_plugin_exactly():
    page = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    for name, language in (("pyproject.toml", "toml"), ("undrift_example.py", "python")):
        shown = page.split(f"`{name}`:\n\n```{language}\n", 1)[1].split("\n```\n", 1)[0] + "\n"
        assert shown == (EXAMPLE_PLUGIN / name).read_text(), f"docs/plugins.md shows an old {name}"


FAULTY = '''\
"""A throwaway plugin that misbehaves as its spec's target says (`faulty:raises`, `faulty:short`, ...)."""
from undrift.models import Backend, Fingerprint, Generation


class Faulty:
    def __init__(self, spec):
        self.spec, self.how = spec, spec.target

    def fingerprint(self):
        return Fingerprint(backend="faulty", model=self.how, deterministic=False)

    def prepare(self):
        if self.how == "unpreparable":
            raise MemoryError("no room for the weights")

    def generate(self, requests, on_done=None):
        if self.how == "raises":
            raise RuntimeError("the server melted")
        if self.how == "short":
            return [Generation(text="4")]
        if self.how == "number":
            return [Generation(text=4) for _ in requests]
        return [Generation(text="4") for _ in requests]

    def close(self):
        pass


def load(spec, lazy):
    if spec.target == "unloadable":
        raise OSError("weights.bin is missing")
    return Faulty(spec)


FAULTY = Backend("HOW", "misbehaves as told", load)


class Raising:
    def score(self, sample, response, variants):
        return 1 / 0


class Wrong:
    def score(self, sample, response, variants):
        return 1.0
'''


def faulty_plugin(tmp_path: Path) -> Path:
    site = fake_distribution(tmp_path / "site", "undrift-faulty", (
        "[undrift.backends]\nfaulty = undrift_faulty:FAULTY\n"
        "[undrift.scorers]\nraising = undrift_faulty:Raising\nwrong = undrift_faulty:Wrong\n"))
    (site / "undrift_faulty.py").write_text(FAULTY)
    return site


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_backend_that_raises_gives_error_rows_never_answers(tmp_path):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE)
    site = faulty_plugin(tmp_path)
    run = undrift("run", "quiz.yaml", "--model", "faulty:raises", "-q", cwd=tmp_path, python_path=(site,))
    assert run.returncode == 4  # a failed run, as for an outage
    line = one_line(run)
    assert "3 of 3 requests got errors" in line and "RuntimeError: the server melted" in line
    assert "the backend 'faulty' of undrift-faulty 1.0" in line
    shown = json.loads(undrift("show", "faulty:raises", "--samples", "3", "--json", cwd=tmp_path,
                               python_path=(site,)).stdout)
    assert all(row["error"] and row["correct"] is None for row in shown["samples"])


@pytest.mark.parametrize("how, words", [
    ("unloadable", ["could not load 'faulty:unloadable'", "OSError: weights.bin is missing"]),
    ("unpreparable", ["could not load 'faulty:unpreparable'", "MemoryError: no room for the weights"]),
    ("short", ["returned 1 answers for 3 requests"]),
    ("number", ["returned a Generation whose text is a int (4)"]),
])
def test_a_backend_that_cannot_load_or_answers_in_the_wrong_shape_is_one_line(tmp_path, how, words):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE)
    site = faulty_plugin(tmp_path)
    run = undrift("run", "quiz.yaml", "--model", f"faulty:{how}", "-q", cwd=tmp_path, python_path=(site,))
    assert run.returncode == 2
    line = one_line(run)
    assert "the backend 'faulty' of undrift-faulty 1.0 (undrift_faulty:FAULTY)" in line
    assert all(w in line for w in words), line


@pytest.mark.parametrize("scorer, words", [
    ("raising", ["failed on sample 'sum' of task 'facts'", "ZeroDivisionError: division by zero"]),
    ("wrong", ["returned 1.0 for sample 'sum' of task 'facts', where a Score"]),
])
def test_a_scorer_that_raises_or_returns_the_wrong_type_is_one_line(tmp_path, scorer, words):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE.replace("scorer: exact", f"scorer: {scorer}"))
    site = faulty_plugin(tmp_path)
    run = undrift("run", "quiz.yaml", "--model", "echo:", "-q", cwd=tmp_path, python_path=(site,))
    assert run.returncode == 2
    line = one_line(run)
    assert f"the scorer '{scorer}' of undrift-faulty 1.0 (undrift_faulty:" in line
    assert all(w in line for w in words), line


def test_a_clashing_plugin_is_listed_once_as_refused(tmp_path):
    clash = fake_distribution(tmp_path / "site", "undrift-clash", (
        "[undrift.backends]\necho = json:dumps\n[undrift.suites]\ndrift = json:dumps\n"))
    models = undrift("models", cwd=tmp_path, python_path=(clash,))
    assert models.stdout.count("│ echo:") == 1 and "'echo' is registered twice" in models.stdout, models.stdout
    suites = undrift("suites", cwd=tmp_path, python_path=(clash,))
    assert suites.stdout.count("'drift' is registered twice") == 1, suites.stdout


@pytest.mark.parametrize("script, words", [
    ('{"prompt": "What is 2+2?", "answer": 4}\n', ["line 1: the answer to prompt 'What is 2+2?' is int (4)"]),
    ('{"id": "sky", "answer": null}\n', ["line 1: the answer to sample 'sky' is null (None)"]),
    ('{"default": ["blue"]}\n', ["line 1: `default` is list (['blue'])"]),
    ("ids:\n  sky: [blue]\n", ["the answer to id 'sky' is list"]),
    ("prompts:\n  What is 2+2?: 4\n", ["the answer to prompt 'What is 2+2?' is int (4)"]),
])
def test_a_script_refuses_answers_that_are_not_text(tmp_path, script, words):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE)
    name = "answers.yaml" if script.startswith(("ids", "prompts")) else "answers.jsonl"
    (tmp_path / name).write_text(script)
    run = undrift("run", "quiz.yaml", "--model", f"script:{name}", "-q", cwd=tmp_path)
    assert run.returncode == 2
    line = one_line(run)
    assert all(w in line for w in words) and "not text" in line, line
