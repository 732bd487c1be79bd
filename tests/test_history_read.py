"""How a history reads the store.  Every field of every point of a few histories is pinned: reading the store
faster must not change one of them.  `Store.result_columns`, the history's narrow read, gives what `ResultRow`s
hold, and each metric reads only the columns it names (`Metric.reads`), so the history may fetch just those.

The store mixes what the history has to get right: several tasks (a right/wrong one, a graded one without verdicts,
one with refusals only), repeats, errors (one sample errored in every repeat), cached answers, a run that failed, a
task that appears late, samples missing from some runs, a fingerprint change, a change point, and a name whose
latency is shared by batches.  `history_pinned.json` holds the histories as `ModelHistory.to_dict()` gives them (and
the one-line refusals) from the code before the store read them in one query; floats are compared exactly.
They were written again once, when the normal quantile moved from scipy's `ndtri` to the standard library's
`NormalDist` (so that a cached run's summary does not import scipy): no float moved by more than 2e-15 of itself.  The
same histories come out of PostgreSQL (checked against the old code there too).

    PYTHONPATH=src python tests/test_history_read.py   # writes the file anew, after a change meant to alter it
"""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import result_row, store_run

from undrift.analysis.history import _sample_values, model_history
from undrift.analysis.metrics import METRICS, by_sample, sample_value
from undrift.errors import UndriftError
from undrift.store import ResultRow, Store

PINNED = Path(__file__).with_name("history_pinned.json")
START = datetime(2025, 6, 1, tzinfo=timezone.utc)
# (name, metric, task, window, alpha): what is asked of the store
ASKS = [("svc", None, None, 1, 0.05), ("svc", None, None, 2, 0.05), ("svc", None, "graded", 1, 0.2),
        *[("svc", metric, None, 1, 0.05) for metric in
          ("accuracy", "answer_rate", "refusal_rate", "response_rate", "executable", "determined", "json_valid",
           "score", "verbosity", "latency", "tokens")],
        ("local", None, None, 1, 0.05), ("local", "latency", None, 1, 0.05), ("svc", None, "missing", 1, 0.05),
        ("nobody", None, None, 1, 0.05), ("errored", None, None, 1, 0.05)]


def build(url: str) -> Store:
    store = Store.open(url)
    rng = random.Random(12)
    for run in range(6):
        rows = []
        for i in range(40):
            if run in (1, 3) and i % 9 == 0:
                continue  # samples missing from a run: fewer shared with the baseline
            for repeat in range(4 if i < 4 else 2 if i < 10 else 1):  # the first ten samples are asked 4 or 2 times
                right = rng.random() < (0.85 if run < 4 else 0.35)  # a drop at run 4
                row = result_row("qa", f"q{i:02d}", right, repeat=repeat, response="answer " * rng.randint(1, 9),
                                 details={"answered": rng.random() > 0.1, "determined": i % 4 != 0},
                                 latency_s=round(rng.uniform(0.1, 3.0), 3), tokens_out=rng.randint(1, 90))
                if i == 5 or (i == 7 and repeat == 1) or (i == 11 and run == 2):
                    row.update(correct=None, value=0.0, response="", details={}, error="HTTP 500: server error")
                if i % 13 == 1:
                    row.update(cached=True)
                rows.append(row)
        for i in range(25):  # graded: a score and whether it responded, no verdict
            rows.append(result_row("graded", f"g{i:02d}", None, value=rng.random() / 3 * (1 + run % 2),
                                   response="x" * rng.randint(0, 40),
                                   details={"responded": rng.random() > 0.2, "json_valid": i % 3 == 0},
                                   latency_s=rng.uniform(0.1, 1.0)))
        if run >= 2:  # a task the name ran only from its third run on
            rows += [result_row("refusals", f"r{i}", None, details={"answered": i % (run + 1) != 0},
                                value=0.5, response="no") for i in range(15)]
        fingerprint = {"backend": "openai", "served_model": "m", "system_fingerprint": "a" if run < 4 else "b"}
        store_run(store, "svc", rows, created_at=START + timedelta(days=run), fingerprint=fingerprint)
    failed = store.create_run(name="svc", suite="unit", suite_source="test", suite_digest="0" * 64,
                              model_spec="test:svc", fingerprint={}, config={}, expected=3)
    store.finish_run(failed.id, "failed")  # not complete: left out of the history
    for run in range(3):  # a local model: latency shared by batches, shown but not tested
        rows = [result_row("qa", f"q{i}", i % (run + 2) != 0, latency_s=0.5 + run, details={"executable": i % 2 == 0})
                for i in range(12)]
        store_run(store, "local", rows, created_at=START + timedelta(days=run),
                  fingerprint={"backend": "hf", "weights": f"w{run // 2}"})
    errored = [{**result_row("qa", f"e{i}", None), "error": "timeout", "value": 0.0} for i in range(3)]
    store_run(store, "errored", errored, created_at=START)
    return store


def histories(store: Store) -> list[dict]:
    """Each ask's history as a dict, or the one line it was refused with."""
    out = []
    for name, metric, task, window, alpha in ASKS:
        try:
            found = model_history(store, name, metric=metric, task=task, window=window, alpha=alpha).to_dict()
        except UndriftError as problem:
            found = {"refused": str(problem)}
        out.append({"ask": [name, metric, task, window, alpha], "history": found})
    text = json.dumps(out)  # as the file holds them: tuples as lists
    records = sorted(store.list_runs(limit=None), key=lambda r: (r.name, r.created_at))
    for index, record in enumerate(records):  # run ids are made at random: name them by their place
        text = text.replace(record.id, f"{record.name}-{index}")
    return json.loads(text)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def found(request, tmp_path_factory) -> list[dict]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('pinned') / 'undrift.db'}"
    else:
        url = _fresh_database(request.getfixturevalue("postgres_url"), "history_pinned")
    with build(url) as store:
        found = histories(store)
    if request.param == "postgres":  # its times come back aware, SQLite's naive (both UTC): compare the numbers
        found = json.loads(json.dumps(found).replace('+00:00"', '"'))
    return found


def _fresh_database(server: str, name: str) -> str:
    from sqlalchemy import create_engine, make_url

    from undrift.store.db import resolve_url

    admin = create_engine(resolve_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def test_every_history_is_as_pinned(found):
    pinned = json.loads(PINNED.read_text())
    assert [f["ask"] for f in found] == [p["ask"] for p in pinned]
    for now, then in zip(found, pinned):
        if "refused" not in now["history"]:  # pinned before a history could follow a slice: here, every sample
            assert now["history"].pop("slice") is None and isinstance(now["history"].pop("slices"), list)
        assert now == then, f"history of {now['ask']} changed"


def test_the_pinned_store_covers_what_it_should(found):
    """The pins are worth something only if the store holds the hard cases."""
    default = found[0]["history"]
    assert list(default["tasks"]) == ["graded", "qa", "refusals"]
    qa = default["tasks"]["qa"]["points"]
    assert any(p["change_point"] for p in qa) and any(p["fingerprint_changes"] for p in qa)
    assert len({p["shared"] for p in qa[1:]}) > 1  # runs with samples missing
    assert default["tasks"]["graded"]["metric"] == "response_rate"
    assert found[ASKS.index(("local", "latency", None, 1, 0.05))]["history"]["tasks"]["qa"]["note"]
    assert "refused" in found[-1]["history"] and "refused" in found[-2]["history"]



# -- the narrow read -------------------------------------------------------------------------------------------

# Scorers write booleans; a plugin may write anything, and the history must read it as `metrics._detail` does.
ODD_DETAILS = [{"answered": True, "responded": False}, {"answered": 0, "executable": 1.5}, {"answered": ""},
               {"answered": "no", "json_valid": []}, {"answered": [0], "determined": {}}, {"answered": {"a": 1}},
               {"answered": None}, {}, {"answered": "\u0000", "responded": -0.0}]
COLUMNS = ("correct", "value", "response", "cached", "latency_s", "tokens_out", "details.answered",
           "details.responded", "details.executable", "details.determined", "details.json_valid")


def _rows(offset: int) -> list[dict]:
    rows = []
    for i, details in enumerate(ODD_DETAILS):
        row = result_row("b-task" if i % 2 else "a-task", f"s{(i * 7 + offset) % 10}", [True, False, None][i % 3],
                         value=i / 7 - 0.5, response="é" * i, details=details, latency_s=i / 3, tokens_out=i * offset)
        row.update(cached=i % 4 == 0, repeat=i % 2)
        if i == 3:
            row.update(error="HTTP 500", correct=None, value=0.0)
        rows.append(row)
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'undrift.db'}" if request.param == "sqlite"
           else _fresh_database(request.getfixturevalue("postgres_url"), "result_columns"))
    with Store.open(url) as store:
        for offset in (1, 2):
            store_run(store, f"run{offset}", _rows(offset), created_at=datetime(2025, 1, offset, tzinfo=timezone.utc))
        yield store


def _expected(store: Store, run_ids: list[str], tasks: set[str] | None = None) -> dict[str, list]:
    rows = [r for run_id in sorted(run_ids) for r in store.results(run_id) if tasks is None or r.task in tasks]
    found = {name: [getattr(r, name) for r in rows] for name in ("run_id", "task", "sample_id")}
    found["answered"] = [r.error is None for r in rows]
    for column in COLUMNS:
        key = column.split(".", 1)[1] if column.startswith("details.") else None
        found[column] = [r.details.get(key) if key else getattr(r, column) for r in rows]
    return found


def _typed(columns: dict[str, list]) -> dict[str, list]:
    return {name: [(type(v).__name__, v) for v in values] for name, values in columns.items()}


def test_result_columns_hold_what_result_rows_hold(store):
    run_ids = [r.id for r in store.list_runs(limit=None)]
    assert _typed(store.result_columns(run_ids, COLUMNS)) == _typed(_expected(store, run_ids))
    assert _typed(store.result_columns(run_ids[:1], COLUMNS, tasks=["b-task"])) == \
        _typed(_expected(store, run_ids[:1], {"b-task"}))
    assert store.result_columns(run_ids, ("correct",), tasks=["no-such-task"])["run_id"] == []
    with pytest.raises(ValueError, match="no column 'details'"):
        store.result_columns(run_ids, ("details",))


def test_sample_values_are_those_of_the_rows(tmp_path):
    """Each sample's value and count, over its answered repeats, as `metrics.sample_value` makes them of `ResultRow`s,
    to the last bit on this Python (whose `sum` of floats compensates its rounding from 3.12 on)."""
    rng = random.Random(5)
    with Store.open(f"sqlite:///{tmp_path / 'undrift.db'}") as store:
        for run in range(2):
            rows = [result_row(f"t{i % 2}", f"s{i}", rng.random() < 0.5, value=rng.random() * 10 ** rng.randint(-3, 3),
                               repeat=r, latency_s=rng.random(), details={"answered": rng.random() < 0.7})
                    for i in range(30) for r in range(i % 7)]
            for row in rows[::9]:
                row.update(error="timeout", correct=None, value=0.0)
            store_run(store, "m", rows, created_at=datetime(2025, 1, 1 + run, tzinfo=timezone.utc))
        run_ids = sorted(r.id for r in store.list_runs(limit=None))
        for metric in METRICS.values():
            expected = {}
            for run_id in run_ids:
                for (task, sample), repeats in by_sample(store.results(run_id)).items():
                    samples = expected.setdefault((run_id, task), {})
                    value = sample_value(metric, repeats)
                    if value is not None:
                        samples[sample] = (value, sum(metric.read(r) is not None for r in repeats if r.answered))
            assert _sample_values(store.result_columns(run_ids, metric.reads), metric) == expected, metric.name


def test_each_metric_reads_only_the_columns_it_names():
    base = ResultRow(id=1, run_id="r", task="t", sample_id="s", repeat=0, slices=[], messages=[], target=None,
                     response="", variants=[], extracted=None, value=0.0, correct=None, details={}, latency_s=0.0,
                     tokens_in=0, tokens_out=0, finish_reason="stop", system_fingerprint=None, cache_key=None,
                     cached=False, error=None, created_at=datetime(2025, 1, 1))
    rows = [dataclasses.replace(base, correct=correct, details=details, value=i / 3, response="x" * i,
                                cached=i % 3 == 0, latency_s=i / 5, tokens_out=i)
            for i, (correct, details) in enumerate(zip([True, False, None] * 3, ODD_DETAILS))]
    for metric in METRICS.values():
        read = metric.column_reader()
        for row in rows:
            values = [row.details.get(c.split(".", 1)[1]) if c.startswith("details.") else getattr(row, c)
                      for c in metric.reads]
            assert read(values) == metric.read(row), metric.name


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder, build(f"sqlite:///{Path(folder) / 'undrift.db'}") as store:
        PINNED.write_text(json.dumps(histories(store), indent=1) + "\n")
    print(f"wrote {PINNED}")
