"""The stored result row: typed as stored, and the one definition of what an answer counts for (its outcome), which
compare, check, forgetting and the training sweep share."""

from dataclasses import fields

import pytest
from helpers import result_row, store_run

import undrift
from undrift.analysis.compare import compare_runs
from undrift.analysis.forgetting import forgetting_report
from undrift.analysis.metrics import mean_outcome
from undrift.check import bounded_outcome
from undrift.store import ResultRow, Store
from undrift.store.schema import results


def _errored(task: str, sample_id: str) -> dict:
    """A request that failed: the runner stores no verdict and a value of 0 beside the error."""
    return {**result_row(task, sample_id, None, value=0.0), "error": "HTTP 503 from the server"}


def test_results_are_typed_rows_as_stored(sqlite_url):
    store = Store.open(sqlite_url)
    run = store.create_run(name="m", suite="s", suite_source="builtin:s", suite_digest="d" * 64, model_spec="hf:x",
                           fingerprint={}, config={"tasks": ["t"]}, expected=2)
    written = store.add_results([{**result_row("t", "b", True, details={"k": 1}), "run_id": run.id},
                                 {**_errored("t", "a"), "run_id": run.id}])
    assert [r.sample_id for r in written] == ["b", "a"]  # as given, with the id and time the store gave them
    rows = store.results(run.id)
    assert all(isinstance(r, ResultRow) for r in rows) and undrift.ResultRow is ResultRow
    assert rows == sorted(written, key=lambda r: r.sample_id)
    assert {f.name for f in fields(ResultRow)} == {c.name for c in results.columns} == set(rows[0].to_dict())
    assert rows[1].details == {"k": 1} and rows[1].correct is True and rows[0].error.startswith("HTTP 503")
    with pytest.raises(AttributeError):
        rows[0].value = 1.0  # frozen: a row is what the store holds


def test_one_outcome_for_compare_check_and_forgetting(sqlite_url):
    """An errored row has no outcome; a row with a verdict counts for the verdict (whatever its value); a row without
    one counts for its score.  Compare's flips, check's sequential test and forgetting all read that."""
    store = Store.open(sqlite_url)
    old = store_run(store, "v1", [result_row("graded", "g", None, value=0.4), result_row("judged", "j", False, value=0.7),
                                  _errored("judged", "e")])
    new = store_run(store, "v2", [result_row("graded", "g", None, value=0.9), result_row("judged", "j", True, value=0.2),
                                  result_row("judged", "e", True)])
    stored = {r.sample_id: r for r in store.results(old.id)}
    graded, judged, errored = stored["g"], stored["j"], stored["e"]
    assert (graded.outcome, judged.outcome, errored.outcome) == (0.4, 0.0, None)
    assert [bounded_outcome(r) for r in (graded, judged)] == [0.4, 0.0]  # check: the same numbers, held to [0, 1]
    comparison = compare_runs(store, "v1", "v2")
    flips = {f.sample_id: (f.old_value, f.new_value) for f in comparison.flips}
    assert flips == {"g": (0.4, 0.9), "j": (0.0, 1.0)} and comparison.errored == [("judged", "e")]
    report = forgetting_report(store, ["v1", "v2"])
    assert report.matrix == [[mean_outcome(store.results(old.id))], [mean_outcome(store.results(new.id))]]


def test_forgetting_leaves_errors_out_of_a_score(sqlite_url):
    """A graded suite (no verdicts): a request that failed is no answer, not a score of 0 that reads as forgetting."""
    store = Store.open(sqlite_url)
    store_run(store, "v1", [result_row("g", f"s{i}", None, value=0.6) for i in range(4)], suite="graded")
    store_run(store, "v2", [result_row("g", f"s{i}", None, value=0.6) for i in range(3)] + [_errored("g", "s3")],
              suite="graded")
    report = undrift.forgetting(["v1", "v2"], db=store)
    assert report.matrix == [[pytest.approx(0.6)], [pytest.approx(0.6)]]
    assert report.forgetting == pytest.approx(0.0) and report.bwt == pytest.approx(0.0)
