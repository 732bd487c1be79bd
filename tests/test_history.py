"""History: a model name's series over time, change points from paired tests, fingerprint changes."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from helpers import result_row, store_run, undrift

from undrift.analysis.history import change_points, model_history, spend
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


def test_a_slice_is_followed_on_its_own_samples(tmp_path, sqlite_url):
    """Samples tagged `hard` go from right to wrong at the fourth run, `easy` ones stay right: the whole task shows
    a change, the `easy` slice shows none, the `hard` slice shows it at full size; each history lists the tags."""
    store = Store.open(sqlite_url)
    for week in range(5):
        rows = [result_row("qa", f"s{i}", i % 2 == 0 or week < 3, slices=["easy"] if i % 2 == 0 else ["hard", "x"])
                for i in range(200)]
        store_run(store, "svc", rows, created_at=START + timedelta(weeks=week))
    whole, easy, hard = (model_history(store, "svc", slice=s) for s in (None, "easy", "hard"))
    assert [p.value for p in whole.tasks[0].points] == [1, 1, 1, 0.5, 0.5] and whole.decision == "changed"
    assert [p.n for p in easy.tasks[0].points] == [100] * 5 and easy.decision == "unchanged"
    assert [p.value for p in hard.tasks[0].points] == [1, 1, 1, 0, 0] and hard.tasks[0].points[3].change_point
    assert whole.slices == easy.slices == ["easy", "hard", "x"] and hard.slice == "hard"
    with pytest.raises(UndriftError, match="no sample of 'svc' is tagged with slice 'medium': its slices are easy, "
                                           "hard, x"):
        model_history(store, "svc", slice="medium")
    result = undrift("history", "svc", "--slice", "easy", "--json", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["slice"] == "easy"


def test_history_cli_and_errors(tmp_path, store, sqlite_url):
    result = undrift("history", "svc", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # a change point: exit 1, like `check` and `gate`
    assert "CHANGED" in result.stdout
    assert "change point" in result.stdout and "fingerprint changed (system_fingerprint)" in result.stdout
    data = json.loads(undrift("history", "svc", "--json", "--db", sqlite_url, cwd=tmp_path).stdout)
    assert len(data["tasks"]["qa"]["points"]) == 5
    bad = undrift("history", "svc", "--metric", "vibes", "--db", sqlite_url, cwd=tmp_path)
    assert bad.returncode == 2 and "unknown metric 'vibes'" in bad.stderr
    with pytest.raises(UndriftError, match="no complete runs named 'nobody'"):
        model_history(store, "nobody")
    with pytest.raises(UndriftError, match="has task 'zzz'"):
        model_history(store, "svc", task="zzz")


# -- calibration of the online change-point test on simulated series (seeded) -------------------------------------

def _series(rng, n=200, runs=50, step_at=None, decline_from=None):
    """Runs of a model with 70% accuracy whose answers churn 2% each way between runs (8% of samples are a coin
    flip), optionally losing 8 points at `step_at` or 1 point per run from `decline_from`."""
    uncertain = rng.random(n) < 0.08
    right = ~uncertain & (rng.random(n) < 0.66 / 0.92)
    chance = np.where(uncertain, 0.5, right.astype(float))
    losing = rng.permutation(np.flatnonzero(right))
    series = []
    for run in range(runs):
        lost = 0
        if step_at is not None and run >= step_at:
            lost += round(0.08 * n)
        if decline_from is not None and run >= decline_from:
            lost += round(0.01 * n * (run - decline_from + 1))
        now = chance.copy()
        now[losing[:lost]] = 0.0
        outcome = rng.random(n) < now
        series.append({f"s{i}": (float(outcome[i]), 1) for i in range(n)})
    return series


def _first_flag(steps):
    return next((index + 1 for index, step in enumerate(steps) if step.change_point), None)


def test_series_without_change_show_change_points_rarely_at_any_window():
    rng = np.random.default_rng(1)
    for window in (1, 3):
        flagged = sum(_first_flag(change_points(_series(rng), "rate", window)) is not None for _ in range(60))
        assert flagged / 60 <= 0.05, (window, flagged)


def test_a_step_and_a_slow_decline_are_found_within_a_few_runs():
    rng = np.random.default_rng(2)
    step_delays = [(_first_flag(change_points(_series(rng, step_at=25), "rate")) or 99) - 25 for _ in range(40)]
    # no flag before the step; on 200 samples, flagged within 5 runs in 80% of series (bench/history.py measures more)
    assert min(step_delays) >= 0 and np.quantile(step_delays, 0.8) <= 5
    decline_delays = [(_first_flag(change_points(_series(rng, decline_from=10), "rate")) or 99) - 10
                      for _ in range(40)]
    assert np.quantile(decline_delays, 0.9) <= 12  # within 12 runs in 90% of series


def test_flags_never_change_when_runs_are_added():
    rng = np.random.default_rng(3)
    series = _series(rng, step_at=20, decline_from=30)
    whole = change_points(series, "rate")
    for length in (10, 21, 25, 35):
        prefix = change_points(series[:length], "rate")
        assert [(s.p, s.change_point, s.baseline) for s in prefix] == [
            (s.p, s.change_point, s.baseline) for s in whole[:length - 1]]
    assert any(s.change_point for s in whole)


def test_spending_adds_up_to_alpha():
    assert sum(spend(j) for j in range(1, 200_000)) == pytest.approx(1.0, abs=1e-4)
    assert spend(1) == spend(50) > spend(51) > spend(52) > 0


def test_history_exit_codes(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    rows = [result_row("qa", f"s{i}", i < 80) for i in range(100)]
    store_run(store, "steady", rows, created_at=START)
    assert undrift("history", "steady", "--db", sqlite_url, cwd=tmp_path).returncode == 3  # one run: undecided
    store_run(store, "steady", [dict(r) for r in rows], created_at=START + timedelta(days=1))
    assert undrift("history", "steady", "--db", sqlite_url, cwd=tmp_path).returncode == 0
