"""Review in the store (reviewing.py, store/labels.py) on SQLite and on a real PostgreSQL: the queue puts flips
first, a label is checked and kept (the newest one current), and the labels export as the same training data that
the file round trip (`export_for_review`, `import_reviews`) makes of the same labels."""

from __future__ import annotations

import json

import pytest
from helpers import result_row, store_run, undrift as cli
from sqlalchemy import func, select

import undrift
from undrift import UndriftError

# v1 is right on every sample; v2 gets a and b wrong (negative flips), c right and the others as before.
V1 = {"a": True, "b": True, "c": False, "d": True, "e": True, "f": True}
V2 = {"a": False, "b": False, "c": True, "d": True, "e": True, "f": True}


def _world(store):
    """Two runs of one task, `old` and `new`, whose answers flip as V1 and V2 say; returns their ids."""
    old = store_run(store, "old", [result_row("facts", s, ok, response=f"old {s}", prompt=f"ask {s}", target=s)
                                   for s, ok in V1.items()])
    new = store_run(store, "new", [result_row("facts", s, ok, response=f"new {s}", prompt=f"ask {s}", target=s)
                                   for s, ok in V2.items()])
    return old.id, new.id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'labels.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    with undrift.Store.open(url) as opened:
        yield opened


def _label_rows(store) -> int:
    from undrift.store.schema import labels

    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(labels)).scalar_one()


def test_the_queue_puts_negative_then_positive_flips_first_with_prompt_answer_and_target(store):
    old, new = _world(store)
    queue = undrift.review_queue([new], against=old, db=store)
    assert [(i.sample_id, i.flip) for i in queue.items[:3]] == [("a", "negative"), ("b", "negative"),
                                                              ("c", "positive")]
    assert sorted(i.sample_id for i in queue.items[3:]) == ["d", "e", "f"] and not any(i.flip for i in queue.items[3:])
    first = queue.items[0]
    assert (first.run, first.task, first.prompt, first.response, first.target, first.correct, first.label) == \
        (new, "facts", "ask a", "new a", "a", False, None)
    assert queue.total == 6 and queue.flips == 3 and queue.labelled == 0 and queue.against == old
    again = undrift.review_queue([new], against=old, db=store)
    assert [i.sample_id for i in again.items] == [i.sample_id for i in queue.items]  # the same order on every load
    limited = undrift.review_queue([new], against=old, limit=2, db=store)
    assert [i.sample_id for i in limited.items] == ["a", "b"] and limited.total == 6
    assert [i.sample_id for i in undrift.review_queue([new], against=old, only="negative-flips", db=store).items] \
        == ["a", "b"]
    assert not any(i.flip for i in undrift.review_queue([new], db=store).items)  # no comparison run: no flips
    json.dumps(queue.to_dict())


def test_a_label_is_stored_and_the_newest_one_is_current(store):
    old, new = _world(store)
    before = _label_rows(store)
    first = undrift.label(new, "facts", "a", "incorrect", db=store)
    assert (first.label, first.correction, first.reviewer) == ("incorrect", None, None)
    second = undrift.label(new, "facts", "a", " Unsafe ", correction="  a, safely ", reviewer=" ana ", db=store)
    assert (second.label, second.correction, second.reviewer) == ("unsafe", "a, safely", "ana")
    assert second.at >= first.at and second.at.tzinfo is not None
    current = {i.sample_id: i.label for i in undrift.review_queue([new], against=old, db=store).items}
    assert current["a"].label == "unsafe" and current["a"].correction == "a, safely" and current["b"] is None
    assert _label_rows(store) == before + 2  # append-only: the earlier label is kept
    assert undrift.review_queue([old], db=store).labelled == 0  # a label is for one run's answer


@pytest.mark.parametrize("call, words", [
    (lambda new, db: undrift.label(new, "facts", "a", "meh", db=db), "unknown label 'meh': use correct, incorrect or unsafe"),
    (lambda new, db: undrift.label(new, "facts", "zzz", "correct", db=db), "has no sample 'zzz' in task 'facts'"),
    (lambda new, db: undrift.label(new, "nope", "a", "correct", db=db), "has no sample 'a' in task 'nope'"),
    (lambda new, db: undrift.label(new, "", "a", "correct", db=db), "has no sample 'a' in task ''"),
    (lambda new, db: undrift.label("no-such-run", "facts", "a", "correct", db=db), "no run or model name"),
    (lambda new, db: undrift.label(new, "facts", "a", "correct", reviewer="x" * 256, db=db), "at most 255"),
    (lambda new, db: undrift.label(new, "facts", "a", 1, db=db), "verdict takes a str"),
    (lambda new, db: undrift.review_queue([], db=db), "needs at least one run"),
    (lambda new, db: undrift.review_queue([new], only="flips", db=db), "needs against (--against)"),
    (lambda new, db: undrift.review_queue([new], limit=0, db=db), "limit must be 1 or more"),
    (lambda new, db: undrift.export_labels([new], db=db), "no labels for run "),
])
def test_bad_input_is_one_line_and_writes_nothing(store, call, words):
    _, new = _world(store)
    before = _label_rows(store)
    with pytest.raises(UndriftError) as problem:
        call(new, store)
    assert words in str(problem.value) and "\n" not in str(problem.value)
    assert _label_rows(store) == before


def test_an_answer_that_is_an_error_is_not_in_the_queue_and_cannot_be_labelled(store):
    failed = result_row("facts", "x", None, response="")
    failed["error"] = "timeout"
    run = store_run(store, "errs", [result_row("facts", "ok", True, response="fine"), failed])
    assert [i.sample_id for i in undrift.review_queue([run.id], db=store).items] == ["ok"]
    with pytest.raises(UndriftError, match="holds an error, not an answer"):
        undrift.label(run.id, "facts", "x", "correct", db=store)


def test_stored_labels_export_as_the_training_data_a_reviewed_file_makes(store, tmp_path):
    old, new = _world(store)
    verdicts = {"a": ("incorrect", "the answer is a"), "b": ("unsafe", ""), "c": ("correct", ""),
                "d": ("unsafe", "a safe d")}
    undrift.label(new, "facts", "c", "incorrect", db=store)  # changed below: only the newest label counts
    for sample, (verdict, correction) in verdicts.items():
        undrift.label(new, "facts", sample, verdict, correction=correction, db=store)
    out = tmp_path / "labels.jsonl"
    data = undrift.export_labels([new], out, db=store)
    assert data.to_dict() == {"corrected": 2, "accepted": 1, "rejected_without_correction": 1, "unlabelled": 0,
                              "written": 3}
    examples = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert examples == [  # in the order first labelled: c, then a (b teaches nothing), then d
        {"messages": [{"role": "user", "content": "ask c"}, {"role": "assistant", "content": "new c"}]},
        {"messages": [{"role": "user", "content": "ask a"}, {"role": "assistant", "content": "the answer is a"}]},
        {"messages": [{"role": "user", "content": "ask d"}, {"role": "assistant", "content": "a safe d"}]}]
    assert out.read_text(encoding="utf-8") == data.jsonl()
    # the file round trip with the same verdicts writes the same examples
    reviewed = tmp_path / "review.jsonl"
    undrift.export_for_review([new], reviewed, db=store)
    rows = [json.loads(line) for line in reviewed.read_text(encoding="utf-8").splitlines()]
    reviewed.write_text("".join(json.dumps({**r, "label": verdicts.get(r["sample_id"], ("", ""))[0],
                                            "correction": verdicts.get(r["sample_id"], ("", ""))[1]}) + "\n"
                                for r in rows), encoding="utf-8")
    undrift.import_reviews(reviewed, tmp_path / "from-file.jsonl")
    from_file = [json.loads(line) for line in (tmp_path / "from-file.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(map(json.dumps, from_file)) == sorted(map(json.dumps, examples))
    assert undrift.export_labels([old, new], db=store).jsonl() == data.jsonl()  # old has no labels
    with pytest.raises(UndriftError, match="folder .* does not exist"):
        undrift.export_labels([new], tmp_path / "nowhere" / "x.jsonl", db=store)


def test_labels_that_teach_nothing_are_refused_and_no_file_is_written(store, tmp_path):
    _, new = _world(store)
    undrift.label(new, "facts", "a", "unsafe", db=store)
    with pytest.raises(UndriftError, match="no label for run .* teaches anything"):
        undrift.export_labels([new], tmp_path / "out.jsonl", db=store)
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_exports_the_stored_labels(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    with undrift.Store.open(db) as store:
        _, new = _world(store)
    undrift.label(new, "facts", "a", "incorrect", correction="fixed a", db=db)
    done = cli("review", "export-labels", new, "--out", "train.jsonl", "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote 1 examples to train.jsonl (1 corrected, 0 accepted" in done.stdout
    assert json.loads((tmp_path / "train.jsonl").read_text())["messages"][-1]["content"] == "fixed a"
    refused = cli("review", "export-labels", "--out", "all.jsonl", "--db", f"sqlite:///{tmp_path / 'empty.db'}",
                  cwd=tmp_path)
    assert refused.returncode == 2 and "no undrift database" in refused.stderr
