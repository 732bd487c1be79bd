"""The store on SQLite and on a real PostgreSQL: migrations, runs, results, one-transaction batches, bad URLs."""

import json
import os
from pathlib import Path

import pytest
from helpers import cli_argv, result_row, store_run, undrift
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from undrift.errors import UndriftError
from undrift.store import Store, resolve_url
from undrift.store.schema import metadata


def _row(run_id, sample_id, **extra):
    row = dict(run_id=run_id, task="t", sample_id=sample_id, repeat=0, slices=["a"],
               messages=[{"role": "user", "content": "q"}], target="x", response="x", variants=[], extracted="x",
               value=1.0, correct=True, details={"k": 1}, latency_s=0.1, tokens_in=3, tokens_out=1,
               finish_reason="stop", system_fingerprint=None, cache_key=f"key-{sample_id}", cached=False, error=None)
    row.update(extra)
    return row


def _exercise(store: Store):
    run = store.create_run(name="m", suite="s", suite_source="builtin:s", suite_digest="d" * 64, model_spec="hf:x",
                           fingerprint={"deterministic": True}, config={"tasks": ["t"]}, expected=3)
    assert run.status == "running" and run.done == 0
    store.add_results([_row(run.id, "a"), _row(run.id, "b", correct=False, value=0.0)])
    with pytest.raises(IntegrityError):  # a batch with a duplicate item lands not at all
        store.add_results([_row(run.id, "c"), _row(run.id, "a")])
    assert store.done_items(run.id) == {("t", "a", 0), ("t", "b", 0)}
    store.finish_run(run.id, "complete", {"deterministic": True, "served_model": "v2"})
    loaded = store.get_run("m")
    assert loaded.id == run.id and loaded.status == "complete" and loaded.done == 2 and loaded.finished_at
    assert loaded.fingerprint["served_model"] == "v2"
    assert store.get_run(run.id[:17]).id == run.id
    assert [r.id for r in store.list_runs()] == [run.id]
    imported = store_run(store, "imported", [result_row("t", f"s{i}", True) for i in range(56)])
    stopped = store.create_run(name="m", suite="s", suite_source="builtin:s", suite_digest="d" * 64, model_spec="hf:x",
                               fingerprint={}, config={}, expected=56)
    store.add_results([_row(stopped.id, f"s{i}") for i in range(16)])
    store.finish_run(stopped.id, "stopped")
    listed = {r.id: r.done for r in [*store.list_runs(), *store.list_runs(name="m"), *store.list_runs(name="imported")]}
    assert listed == {run.id: 2, imported.id: 56, stopped.id: 16}
    rows = store.results(run.id)
    assert [r.sample_id for r in rows] == ["a", "b"] and rows[0].details == {"k": 1}
    assert set(store.cached(["key-a", "key-zzz"])) == {"key-a"}
    with pytest.raises(UndriftError, match="no run or model name 'nothing'"):
        store.get_run("nothing")


def _tables_match_schema(store: Store):
    inspector = inspect(store.engine)
    for table in metadata.sorted_tables:
        migrated = {c["name"] for c in inspector.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name


def test_sqlite_store(sqlite_url):
    store = Store.open(sqlite_url)
    _tables_match_schema(store)
    _exercise(store)
    assert Store.open(sqlite_url).list_runs()  # reopening keeps data and skips migrations


@pytest.mark.postgres
def test_postgres_store(postgres_url):
    store = Store.open(postgres_url)
    _tables_match_schema(store)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM results; DELETE FROM runs")
    _exercise(store)


def test_head_revision_constant_matches_the_migrations():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from undrift.store.db import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_url_resolution(monkeypatch):
    monkeypatch.delenv("UNDRIFT_DB", raising=False)
    assert resolve_url(None) == "sqlite:///undrift.db"
    assert resolve_url("runs.db") == "sqlite:///runs.db"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("UNDRIFT_DB", "sqlite:///team.db")
    assert resolve_url(None) == "sqlite:///team.db"


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("mysql+nodriver://x/y", "bad database URL"),
        ("sqlite:////no/such/folder/u.db", "folder '/no/such/folder' does not exist"),
        ("postgresql://nobody@127.0.0.1:1/db", "cannot open database .*check that the server is up"),
        ("http://example.com/db", "bad database URL"),
    ],
)
def test_bad_urls(url, fragment):
    with pytest.raises(UndriftError, match=fragment):
        Store.open(url)


def test_read_commands_need_an_existing_database(tmp_path):
    with pytest.raises(UndriftError, match="no undrift database"):
        Store.open(f"sqlite:///{tmp_path / 'absent.db'}", must_exist=True)
    assert not (tmp_path / "absent.db").exists()


def test_an_ambiguous_id_prefix_names_the_runs_it_matches(sqlite_url, tmp_path):
    store = Store.open(sqlite_url)
    made = [store_run(store, f"m{i}", [result_row("t", "s0", True)]).id for i in range(7)]
    prefix = os.path.commonprefix(made)
    with pytest.raises(UndriftError) as problem:
        store.get_run(prefix)
    message = str(problem.value)
    assert f"id prefix {prefix!r} matches 7 runs" in message and "give more of the id" in message
    assert sum(run_id in message for run_id in made) == 5 and "\n" not in message
    assert store.get_run(made[3]).name == "m3"
    shown = undrift("show", prefix, "--db", sqlite_url, cwd=tmp_path)
    assert shown.returncode == 2 and "matches 7 runs" in shown.stderr and len(shown.stderr.strip().splitlines()) == 1


OPEN_STORE = "import sys; from undrift.store import Store; Store.open(sys.argv[1]).close()"


def _open_at_once(url: str, count: int = 20) -> list:
    import subprocess
    import sys

    processes = [subprocess.Popen([sys.executable, "-c", OPEN_STORE, url], stderr=subprocess.PIPE, text=True)
                 for _ in range(count)]
    return [(p.wait(timeout=120), p.stderr.read()) for p in processes]


def test_twenty_processes_opening_a_new_sqlite_store_at_once(tmp_path):
    for attempt in range(2):
        url = f"sqlite:///{tmp_path / f'new{attempt}.db'}"
        failures = [err for code, err in _open_at_once(url) if code != 0]
        assert not failures, failures[0]
        _tables_match_schema(Store.open(url))


@pytest.mark.postgres
def test_twenty_processes_opening_a_new_postgres_store_at_once(postgres_url):
    from sqlalchemy import create_engine, make_url

    admin = create_engine(resolve_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS concurrent_first_open")
        connection.exec_driver_sql("CREATE DATABASE concurrent_first_open")
    admin.dispose()
    url = make_url(postgres_url).set(database="concurrent_first_open").render_as_string(hide_password=False)
    failures = [err for code, err in _open_at_once(url) if code != 0]
    assert not failures, failures[0]
    _tables_match_schema(Store.open(url))


def _one_line_exit_2(result, fragment):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "[SQL" not in result.stderr and "parameters" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr, result.stderr


def test_a_database_other_than_sqlite_or_postgresql_is_one_line(tmp_path):
    _one_line_exit_2(undrift("runs", "--db", "mysql://u:p@127.0.0.1/db", cwd=tmp_path), "SQLite or PostgreSQL")
    assert os.listdir(tmp_path) == []


def test_a_port_that_is_not_postgresql_times_out_with_one_line(tmp_path):
    """A listener that accepts and never answers used to hang the command for minutes."""
    import socket
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.perf_counter()
        result = undrift("runs", "--db", f"postgresql://u@127.0.0.1:{port}/db", cwd=tmp_path, timeout=60)
    _one_line_exit_2(result, "cannot open database")
    assert time.perf_counter() - started < 20


def _unprivileged(tmp_path_factory):
    """A folder an unprivileged user (nobody) can reach, and the command prefix that runs as that user."""
    import shutil
    import stat
    import tempfile

    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp()), []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot test as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="undrift-ro-"))
    base.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return base, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def test_a_store_in_a_read_only_folder_can_be_read(tmp_path_factory):
    import shutil
    import subprocess
    import sys

    base, as_nobody = _unprivileged(tmp_path_factory)
    folder = base / "store"
    folder.mkdir()
    url = f"sqlite:///{folder / 'undrift.db'}"
    try:
        store = Store.open(url)
        run = store_run(store, "kept", [result_row("t", "s0", True)])
        store.close()
        (folder / "undrift.db").chmod(0o644)
        folder.chmod(0o555)
        before = sorted(os.listdir(folder))
        for prefix in ([], as_nobody):
            def cli(*args):
                return subprocess.run([*prefix, sys.executable, "-m", "undrift.cli", *args, "--db", url],
                                      cwd=base, capture_output=True, text=True, timeout=120,
                                      env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
                                           "HOME": str(base)})
            listed = cli("runs", "--json")
            assert listed.returncode == 0, listed.stderr
            assert [r["id"] for r in json.loads(listed.stdout)] == [run.id]
            shown = cli("show", run.id)
            assert shown.returncode == 0 and "kept" in shown.stdout, shown.stderr
            if prefix:  # as nobody the folder is really read-only: writing is one line, exit 2
                _one_line_exit_2(cli("registry", "register", "v9", "--spec", "hf:x"), "read-only")
            assert sorted(os.listdir(folder)) == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_a_full_disk_during_import_is_one_line_and_writes_nothing(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: the database cannot grow, as when the disk has no room left."""
    import resource
    import subprocess

    url = f"sqlite:///{tmp_path / 'undrift.db'}"
    Store.open(url).close()
    size = (tmp_path / "undrift.db").stat().st_size
    lines = "".join(json.dumps({"id": i, "prompt": f"q{i} " + "x" * 500, "response": "y" * 2000, "model": "big"}) + "\n"
                    for i in range(400))
    (tmp_path / "big.jsonl").write_text(lines)

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, size + 64 * 1024))

    result = subprocess.run(cli_argv("import", "big.jsonl", "--format", "jsonl", "--db", url, "-q"), cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, preexec_fn=small_disk)
    _one_line_exit_2(result, "cannot write")
    assert Store.open(url).list_runs() == []


def test_one_rule_for_finished_runs_and_no_cap_on_listing_all(tmp_path):
    """`finished` (complete or stopped) is the one rule for a version's evidence: the registry counts those runs and
    no other; listing with no limit returns every run, where the default shows the newest 50."""
    import undrift
    from undrift.store import FINISHED_STATUSES

    store = Store.open(f"sqlite:///{tmp_path / 'u.db'}")
    made = {}
    for status in ("complete", "stopped", "failed", "interrupted", "running"):
        run = store.create_run(name="v1", suite="s", suite_source="builtin:s", suite_digest="d" * 64,
                               model_spec="hf:x", fingerprint={}, config={}, expected=1)
        if status != "running":
            store.finish_run(run.id, status)
        made[run.id] = status
    assert FINISHED_STATUSES == {"complete", "stopped"}
    runs_of = undrift.Registry(store).runs_of("v1")
    assert {made[r.id] for r in runs_of} == {"complete", "stopped"} and all(r.finished for r in runs_of)
    for i in range(55):
        store_run(store, f"n{i}", [result_row("t", "a", True)])
    assert len(undrift.runs(db=store)) == 50
    assert len(undrift.runs(limit=0, db=store)) == len(undrift.runs(limit=None, db=store)) == 60
    with pytest.raises(UndriftError, match=r"limit \(--limit\) must be 0 \(all\)"):
        undrift.runs(limit=-1, db=store)
