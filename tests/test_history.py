"""History: a model name's series over time, change points from paired tests, fingerprint changes."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import result_row, store_run
from test_cli import undrift

from undrift.analysis.history import model_history
from undrift.errors import UndriftError
from undrift.store import Store

START = datetime(2024, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(sqlite_url):
    """Five weekly runs of `svc` on 200 samples: steady at 80% with small churn, then the provider swaps the model."""
    store = Store.open(sqlite_url)
    for week in range(5):
        if week < 3:
            right = {i for i in range(200) if i < 160} ^ {week}  # one sample flips each week: noise
            fingerprint = {"backend": "openai", "served_model": "m", "system_fingerprint": "fp_a"}
        else:
            right = {i for i in range(200) if i < 100}
            fingerprint = {"backend": "openai", "served_model": "m", "system_fingerprint": "fp_b"}
        rows = [result_row("qa", f"s{i}", i in right, response="x" * (50 if week < 3 else 20)) for i in range(200)]
        store_run(store, "svc", rows, created_at=START + timedelta(weeks=week), fingerprint=fingerprint)
    return store


def test_change_point_and_fingerprint_change_are_flagged_where_they_happen(store):
    series = model_history(store, "svc")
    (qa,) = series.tasks
    assert qa.metric == "accuracy" and [round(p.value, 3) for p in qa.points] == [0.795, 0.795, 0.795, 0.5, 0.5]
    assert [p.change_point for p in qa.points] == [False, False, False, True, False]
    assert [bool(p.fingerprint_changes) for p in qa.points] == [False, False, False, True, False]
    assert qa.points[3].fingerprint_changes == ["system_fingerprint"]
    assert qa.points[3].delta == pytest.approx(-0.295) and qa.points[3].shared == 200


def test_window_and_metric_choice(store):
    verbosity = model_history(store, "svc", metric="verbosity", window=2).tasks[0]
    assert verbosity.kind == "mean" and [p.value for p in verbosity.points] == [50, 50, 50, 20, 20]
    assert verbosity.points[3].change_point and verbosity.points[3].delta == -30
    assert not verbosity.points[4].change_point or verbosity.points[4].delta != 0  # window 2: still half old runs


def test_history_cli_and_errors(tmp_path, store, sqlite_url):
    result = undrift("history", "svc", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "change point" in result.stdout and "fingerprint changed (system_fingerprint)" in result.stdout
    data = json.loads(undrift("history", "svc", "--json", "--db", sqlite_url, cwd=tmp_path).stdout)
    assert len(data["tasks"]["qa"]["points"]) == 5
    bad = undrift("history", "svc", "--metric", "vibes", "--db", sqlite_url, cwd=tmp_path)
    assert bad.returncode == 2 and "unknown metric 'vibes'" in bad.stderr
    with pytest.raises(UndriftError, match="no complete runs named 'nobody'"):
        model_history(store, "nobody")
    with pytest.raises(UndriftError, match="has task 'zzz'"):
        model_history(store, "svc", task="zzz")
