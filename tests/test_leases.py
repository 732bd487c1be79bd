"""Crash safety: a killed run shows `interrupted` (its owner is gone), SIGTERM is Ctrl-C, a slow run is written as
it goes, and a run another process is still running cannot be resumed beside it."""

import json
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta, timezone

from scripted_http import ScriptedServer
from helpers import cli_argv, undrift

from undrift.store import Store


def _start(server, tmp_path, limit=12):
    command = cli_argv("run", "drift", "--model", f"openai:m@{server.base_url}?concurrency=2&retries=0", "--tasks",
                       "primes", "--limit", str(limit), "--as", "slow", "-q")
    return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'results'").fetchone():
            return 0
        return connection.execute("SELECT count(*) FROM results").fetchone()[0]


def _wait_for_rows(process, db, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and _rows(db) == 0:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it wrote anything: " + process.communicate()[1]


def _status(tmp_path) -> dict:
    (run,) = json.loads(undrift("runs", "--json", cwd=tmp_path).stdout)
    return run


def test_sigkill_mid_run_keeps_each_written_batch_and_shows_interrupted(tmp_path):
    db = tmp_path / "undrift.db"
    with ScriptedServer(delay_s=0.25) as server:
        process = _start(server, tmp_path)
        _wait_for_rows(process, db)
        process.send_signal(signal.SIGKILL)
        process.wait()
        written = _rows(db)
        assert 0 < written < 12  # a run of 12 items is no longer one chunk
        run = _status(tmp_path)
        assert run["status"] == "interrupted" and run["done"] == written
        shown = undrift("show", run["id"], cwd=tmp_path)
        assert "interrupted" in shown.stdout
        resumed = undrift("run", "--resume", run["id"], "--json", "-q", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["run"]["status"] == "complete" and _rows(db) == 12


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    db = tmp_path / "undrift.db"
    with ScriptedServer(delay_s=0.25) as server:
        process = _start(server, tmp_path)
        _wait_for_rows(process, db)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    run = _status(tmp_path)
    assert run["status"] == "interrupted" and f"undrift run --resume {run['id']}" in stderr
    with sqlite3.connect(db) as connection:  # stored as interrupted, not only shown so
        assert connection.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"


def test_resuming_a_run_that_is_still_running_is_refused(tmp_path):
    db = tmp_path / "undrift.db"
    with ScriptedServer(delay_s=0.25) as server:
        process = _start(server, tmp_path, limit=40)
        try:
            _wait_for_rows(process, db)
            run = _status(tmp_path)
            assert run["status"] == "running"
            second = undrift("run", "--resume", run["id"], "-q", cwd=tmp_path)
            assert second.returncode == 2 and "Traceback" not in second.stderr
            assert len(second.stderr.strip().splitlines()) == 1 and "still running" in second.stderr, second.stderr
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)


def test_a_lease_not_renewed_in_time_reads_as_interrupted(sqlite_url):
    """An owner on another machine cannot be asked whether it lives: its heartbeat going stale says it died."""
    store = Store.open(sqlite_url)
    run = store.create_run(name="m", suite="s", suite_source="s", suite_digest="d" * 64, model_spec="hf:x",
                           fingerprint={}, config={}, expected=1)
    assert store.get_run(run.id).status == "running"  # this process owns it and is alive
    from undrift.store.schema import runs

    def owned_elsewhere(seconds_ago):
        beat = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
        with store.engine.begin() as connection:
            connection.execute(runs.update().values(owner="4242@another-host", heartbeat_at=beat))
        return store.get_run(run.id).status

    assert owned_elsewhere(2) == "running"
    assert owned_elsewhere(600) == "interrupted"
