"""The command line as a user meets it: real subprocesses, exit codes, JSON, bad input, kill -9 and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from helpers import EXAMPLE, cli_argv, result_row, store_run, undrift


def test_run_runs_show_json(tmp_path, tiny_model_dir):
    model = f"hf:{tiny_model_dir}"
    result = undrift("run", str(EXAMPLE), "--model", model, "--as", "tiny", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["run"]["name"] == "tiny" and data["run"]["status"] == "complete"
    assert {t["task"] for t in data["tasks"]} == {"refunds", "tone"}
    assert (tmp_path / "undrift.db").exists()  # the default store

    table = undrift("run", "drift", "--model", model, "--tasks", "primes,code", "--limit", "2", "--as", "tiny", "-q",
                    cwd=tmp_path)
    assert table.returncode == 0 and "primes" in table.stdout and "code" in table.stdout
    assert "4 generated" in table.stdout

    listed = json.loads(undrift("runs", "--json", cwd=tmp_path).stdout)
    assert len(listed) == 2 and listed[0]["suite"] == "drift"
    shown = undrift("show", "tiny", "--samples", "1", cwd=tmp_path)
    assert shown.returncode == 0 and "answer:" in shown.stdout and "fingerprint" in shown.stdout
    shown_json = json.loads(undrift("show", listed[1]["id"], "--json", cwd=tmp_path).stdout)
    assert shown_json["run"]["id"] == listed[1]["id"]
    assert "support" not in undrift("suites", cwd=tmp_path).stdout and "drift" in undrift("suites", cwd=tmp_path).stdout
    assert "refunds" in undrift("suites", str(EXAMPLE), cwd=tmp_path).stdout
    models = undrift("models", cwd=tmp_path)
    assert models.returncode == 0 and "tiny" in models.stdout


def test_db_option_and_environment(tmp_path):
    other = tmp_path / "team.db"
    result = undrift("run", "drift", "--model", "echo:", "--tasks", "primes", "--limit", "1", "-q",
                     cwd=tmp_path, env={"UNDRIFT_DB": f"sqlite:///{other}"})
    assert result.returncode == 0 and other.exists() and not (tmp_path / "undrift.db").exists()
    assert len(json.loads(undrift("runs", "--json", "--db", str(other), cwd=tmp_path).stdout)) == 1


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "drfit", "--model", "echo:"], "unknown suite 'drfit'"),
        (["run", "broken.yaml", "--model", "echo:"], "not valid YAML"),
        (["run", "drift", "--model", "llama:7b"], "unknown model spec"),
        (["run", "drift", "--model", "hf:/no/such/model"], "does not exist"),
        (["run", "drift", "--model", "gguf:/no/such.gguf"], "does not exist"),
        (["run", "drift", "--model", "openai:m@http://127.0.0.1:1/v1"], "cannot reach"),
        (["run", "drift", "--model", "echo:", "--tasks", "nope"], "has no task 'nope'"),
        (["run", "drift", "--model", "echo:", "--db", "mysql+nodriver://x/y"], "bad database URL"),
        (["run", "drift", "--model", "echo:", "--repeats", "0"], "repeats (--repeats) must be at least 1"),
        (["run", "drift"], "give a suite and --model"),
        (["runs"], "no undrift database"),
        (["show", "nothing"], "no undrift database"),
        (["run", "--resume", "nothing"], "no undrift database"),
        (["serve", "openai:gpt-4o"], "openai: is not one"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, fragment):
    (tmp_path / "broken.yaml").write_text("name: [")
    before = set(os.listdir(tmp_path))
    result = undrift(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert set(os.listdir(tmp_path)) == before


def test_missing_run_in_an_existing_store(tmp_path):
    assert undrift("run", "drift", "--model", "echo:", "--tasks", "primes", "--limit", "1", "-q",
                   cwd=tmp_path).returncode == 0
    result = undrift("show", "ghost", cwd=tmp_path)
    assert result.returncode == 2 and "no run or model name 'ghost'" in result.stderr


def _count(db, run_id=None):
    with sqlite3.connect(db) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'results'").fetchone():
            return 0
        if run_id is None:
            return connection.execute("SELECT count(*) FROM results").fetchone()[0]
        return connection.execute("SELECT count(*) FROM results WHERE run_id = ?", (run_id,)).fetchone()[0]


def test_kill_9_leaves_a_resumable_run(tmp_path, tiny_model_dir):
    db = tmp_path / "undrift.db"
    command = cli_argv("run", "drift", "--model", f"hf:{tiny_model_dir}?batch_size=4", "--tasks",
                       "primes,arithmetic,instructions", "--limit", "12", "-q")  # 9 batches: one to kill, 8 to resume
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None:
            if db.exists() and _count(db) > 0:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run finished before it could be killed"
    finally:  # killed here as the test means to, or because it failed: never left running
        process.send_signal(signal.SIGKILL)
        process.wait()
    with sqlite3.connect(db) as connection:
        run_id, status, expected = connection.execute("SELECT id, status, expected FROM runs").fetchone()
    done = _count(db, run_id)
    assert status == "running" and 0 < done < expected and done % 4 == 0  # whole batches (batch_size=4) only
    resumed = undrift("run", "--resume", run_id, "--json", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["run"]["status"] == "complete" and data["run"]["done"] == expected
    assert 0 < data["generated"] <= expected - done  # identical prompts share one greedy answer
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(DISTINCT task || sample_id || repeat) FROM results").fetchone()[0] == expected


def test_ctrl_c_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, tiny_model_dir):
    db = tmp_path / "undrift.db"
    command = cli_argv("run", "drift", "--model", f"hf:{tiny_model_dir}?batch_size=4", "--tasks",
                       "primes,arithmetic,instructions", "--limit", "12", "-q")  # 9 batches: one to kill, 8 to resume
    # Ctrl-C as a terminal sends it, even when these tests run in a background job, where SIGINT starts ignored
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None and not (db.exists() and _count(db) > 0):
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:  # a run that ignored Ctrl-C must not outlive the test
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    with sqlite3.connect(db) as connection:
        run_id, status = connection.execute("SELECT id, status FROM runs").fetchone()
    assert status == "interrupted" and f"undrift run --resume {run_id}" in stderr


@pytest.mark.postgres
def test_run_into_postgresql_from_the_command_line(tmp_path, postgres_url):
    result = undrift("run", "drift", "--model", "echo:", "--tasks", "primes", "--limit", "2",
                     "--as", "pg-run", "--db", postgres_url, "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run"]["id"]
    shown = json.loads(undrift("show", "pg-run", "--db", postgres_url, "--json", cwd=tmp_path).stdout)
    assert shown["run"]["id"] == run_id and shown["tasks"][0]["n"] == 2
    assert not (tmp_path / "undrift.db").exists()


ISOLATION_PROBE = '''
import os
import subprocess
import sys


def test_probe(tmp_path):
    (tmp_path / "log.jsonl").write_text('{"id": 1, "prompt": "q", "response": "a"}\\n')
    command = [sys.executable, "-m", "undrift.cli", "import", "log.jsonl", "--format", "jsonl", "--name", "m", "-q"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "undrift.db").exists()
    leaked = {"UNDRIFT_DB", "OPENAI_API_KEY", "OPENAI_BASE_URL", "UNDRIFT_PROXY_TOKEN", "UNDRIFT_SERVE_TOKEN"}
    assert not leaked & set(os.environ), leaked & set(os.environ)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["UNDRIFT_CACHE"].endswith(".pytest-undrift-cache")
'''


def test_the_suite_keeps_out_of_the_users_store_and_keys(tmp_path):
    """A user's UNDRIFT_DB (their team's database), API keys and tokens never reach the tests or the CLI they start."""
    sentinel = tmp_path / "team" / "team.db"
    sentinel.parent.mkdir()
    (tmp_path / "test_probe.py").write_text(ISOLATION_PROBE)
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "UNDRIFT_DB": f"sqlite:///{sentinel}", "OPENAI_API_KEY": "sk-user", "OPENAI_BASE_URL":
           "http://127.0.0.1:1/v1", "UNDRIFT_PROXY_TOKEN": "user-token", "UNDRIFT_SERVE_TOKEN": "user-token",
           "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "test_probe.py"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not sentinel.exists()


def test_default_run_names_are_readable_specs(tmp_path):
    spec = "echo:?text=Be brief."
    result = undrift("run", "drift", "--model", spec, "--tasks", "primes", "--limit", "1", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    assert run["name"] == spec and run["model_spec"] == "echo:?text=Be%20brief."
    versions = json.loads(undrift("registry", "list", "--json", cwd=tmp_path).stdout)
    assert [v["name"] for v in versions] == [spec]
    assert undrift("show", spec, cwd=tmp_path).returncode == 0


def test_version():
    result = undrift("--version", cwd=".")
    from undrift import __version__

    assert result.returncode == 0 and result.stdout.strip() == f"undrift {__version__}"


def test_bracketed_and_hostile_text_prints_as_written_through_every_command(tmp_path, sqlite_url):
    """Rich markup used to eat `[refund]`, `[Yes]` and list literals; control characters must never reach the
    terminal as codes (a model can answer with escape sequences)."""

    from undrift.registry import Registry
    from undrift.store import Store

    store = Store.open(sqlite_url)
    hostile = "[Yes] see [refund] policy, [bold]x[/bold] [1,2] :smile: \x1b[31mred\x1b[0m"
    for name, right in (("bot[v1]", True), ("bot[v2]", False)):
        rows = [result_row("ask[it]", f"s[{i}]", right if i < 3 else True, extracted=f"[{name}]",
                           response=f"{hostile} {name}", prompt=f"Q [{i}]? {hostile}", target="[Yes]")
                for i in range(6)]
        store_run(store, name, rows, suite="suite[x]")
    Registry(store).register("bot[v1]", "test:bot[v1]", kind="run")  # as a run files it
    (tmp_path / "policy.yaml").write_text("rules:\n  - metric: nfr\n    max: 0.01\n")
    commands = [["runs"], ["show", "bot[v1]", "--samples", "2"], ["compare", "bot[v1]", "bot[v2]"],
                ["gate", "bot[v1]", "bot[v2]", "--policy", "policy.yaml"], ["history", "bot[v2]"],
                ["registry", "list"], ["registry", "show", "bot[v1]"], ["card", "bot[v1]"], ["models"]]
    for command in commands:
        result = undrift(*command, "--db", sqlite_url, cwd=tmp_path)
        assert result.returncode in (0, 1, 3), (command, result.stderr)
        assert "\x1b" not in result.stdout + result.stderr, command
        if command[0] in ("show", "compare"):  # each piece as written (a table may wrap between them)
            for piece in ("[Yes]", "[refund]", "[bold]x[/bold]", "[1,2]", ":smile:", "\\x1b[31mred"):
                assert piece in result.stdout, (command, piece)
        assert ("bot[v2]" if command[0] == "history" else "bot[v1]") in result.stdout, command
    missing = undrift("show", "nope[x]", "--db", sqlite_url, cwd=tmp_path)
    assert "nope[x]" in missing.stderr and missing.returncode == 2
    assert "openai:MODEL[@BASE_URL]" in undrift("models", cwd=tmp_path).stdout
