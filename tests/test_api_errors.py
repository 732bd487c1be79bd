"""What a Python user meets when something goes wrong: one catchable `UndriftError` family, messages that name the
keyword argument as well as the flag, wrong types refused in one line naming the argument, and stores that reading
functions do not create."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import QUIZ_SUITE
from helpers import undrift as cli

import undrift
from undrift import UndriftError



@pytest.fixture
def quiz(tmp_path):
    (tmp_path / "quiz.yaml").write_text(QUIZ_SUITE)
    return str(tmp_path / "quiz.yaml")


# -- one family of errors -----------------------------------------------------------------------------------------

def test_run_failures_and_interruptions_are_undrift_errors_with_their_exit_codes():
    assert issubclass(undrift.RunFailed, UndriftError) and issubclass(undrift.RunInterrupted, UndriftError)
    assert issubclass(undrift.TrainingInterrupted, UndriftError)
    assert (UndriftError.exit_code, undrift.RunFailed.exit_code, undrift.RunInterrupted.exit_code,
            undrift.TrainingInterrupted.exit_code) == (2, 4, 130, 130)
    stopped = undrift.RunInterrupted("abc123")
    assert stopped.run_id == "abc123" and "undrift.resume('abc123')" in str(stopped)


def test_a_failed_run_is_caught_as_an_undrift_error(tmp_path, quiz):
    with pytest.raises(UndriftError) as caught:  # a script that answers nothing: every request is an error
        undrift.run(quiz, f"script:{_script(tmp_path, '')}", db=str(tmp_path / "s.db"))
    assert isinstance(caught.value, undrift.RunFailed)
    assert "max_error_rate (--max-error-rate)" in str(caught.value)
    # the CLI still exits 4 for a failed run
    failed = cli("run", quiz, "--model", f"script:{_script(tmp_path, '')}", "-q", cwd=tmp_path)
    assert failed.returncode == 4 and "--max-error-rate" in failed.stderr


def _script(tmp_path, default: str | None) -> str:
    """A script that answers nothing (every request an error) or `default` to everything."""
    path = tmp_path / ("empty.yaml" if default == "" else "answers.yaml")
    path.write_text("prompts: {}\n" if default == "" else f"default: {json.dumps(default)}\n")
    return str(path)


# -- messages for both audiences ----------------------------------------------------------------------------------

def test_messages_name_the_keyword_and_the_flag(tmp_path, quiz):
    with pytest.raises(UndriftError, match=r"limit \(--limit\) must be at least 1"):
        undrift.run(quiz, "echo:", limit=0, db=str(tmp_path / "s.db"))
    with pytest.raises(UndriftError, match=r"sample \(--sample\) is a number of requests"):
        undrift.selection(sample="0.5")


# -- wrong types --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, words", [
    (lambda q, db: undrift.run(q, "echo:", limit="2", db=db), ["limit", "'2'", "int"]),
    (lambda q, db: undrift.run(q, None, db=db), ["model", "None", "model spec"]),
    (lambda q, db: undrift.run(q, "echo:", repeats=1.5, db=db), ["repeats", "1.5", "int"]),
    (lambda q, db: undrift.run(q, "echo:", tasks=3, db=db), ["tasks", "3"]),
    (lambda q, db: undrift.run(42, "echo:", db=db), ["suite", "42"]),
    (lambda q, db: undrift.compare("a", 7, db=db), ["new", "7", "run"]),
    (lambda q, db: undrift.gate("a", "b", ["nfr"], db=db), ["policy", "list", "Policy"]),
    (lambda q, db: undrift.history(None, db=db), ["name", "None"]),
    (lambda q, db: undrift.runs(limit="5", db=db), ["limit", "'5'"]),
])
def test_wrong_types_are_one_undrift_error_naming_the_argument(tmp_path, quiz, call, words):
    db = str(tmp_path / "s.db")
    with pytest.raises(UndriftError) as caught:
        call(quiz, db)
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert "takes" in message and "got" in message


def test_a_run_record_is_taken_where_a_run_is_expected(tmp_path, quiz):
    db = str(tmp_path / "s.db")
    first = undrift.run(quiz, f"script:{_script(tmp_path, '4')}", db=db).run
    second = undrift.run(quiz, "echo:", db=db).run
    assert undrift.compare(first, second, db=db).to_dict() == undrift.compare(first.id, second.id, db=db).to_dict()
    verdict = undrift.gate(first, second, {"rules": [{"metric": "nfr", "max": 1.0}]}, db=db)
    assert verdict.passed
    assert undrift.show(first, db=db).run.id == first.id


# -- stores that reading does not create ---------------------------------------------------------------------------

def test_reading_a_store_that_is_not_there_does_not_create_it(tmp_path):
    typo = tmp_path / "typo.db"
    with pytest.raises(UndriftError, match="no undrift database"):
        undrift.Registry(f"sqlite:///{typo}").listing()
    assert not typo.exists()
    listed = cli("registry", "list", "--db", "typo.db", cwd=tmp_path)
    assert listed.returncode == 2 and "no undrift database" in listed.stderr and not typo.exists()
    assert len(listed.stderr.strip().splitlines()) == 1
    # writing creates it
    registered = cli("registry", "register", "v1", "--spec", "echo:", "--db", "typo.db", cwd=tmp_path)
    assert registered.returncode == 0, registered.stderr
    assert [v.name for v in undrift.Registry(str(typo)).list()] == ["v1"]


# -- the store object ---------------------------------------------------------------------------------------------

def test_store_repr_masks_the_password_and_it_is_a_context_manager(tmp_path):
    from undrift.store.db import Store

    with undrift.Store.open(str(tmp_path / "s.db")) as store:
        assert isinstance(store, Store) and repr(store) == f"Store('sqlite:///{tmp_path / 's.db'}')"
        assert store.list_runs() == []
    assert store.engine.pool.checkedin() == 0  # disposed
    masked = Store(store.engine, "postgresql+psycopg://ann:secret@db.example/undrift")
    assert "secret" not in repr(masked) and "ann:***@db.example" in repr(masked)


# -- dir() --------------------------------------------------------------------------------------------------------

def test_dir_is_the_public_api():
    listed = dir(undrift)
    assert "TYPE_CHECKING" not in listed and "sys" not in listed and "types" not in listed
    assert not [n for n in listed if n.startswith("_") and not n.startswith("__")]
    assert set(undrift.__all__) <= set(listed) and "__version__" in listed


# -- an empty name is no name -------------------------------------------------------------------------------------

def test_an_empty_name_is_refused_never_every_run(tmp_path, quiz):
    """`name=""` once filtered nothing: `gate("v1", "")` gated against whichever run was newest, and `history("")`
    mixed every model's runs."""
    db = str(tmp_path / "s.db")
    undrift.run(quiz, f"script:{_script(tmp_path, '4')}", name="v1", db=db)
    undrift.run(quiz, "echo:", name="v2", db=db)
    nfr = {"rules": [{"metric": "nfr", "max": 0.0}]}
    for call in (lambda: undrift.gate("v1", "", nfr, db=db), lambda: undrift.gate("", "v2", nfr, db=db),
                 lambda: undrift.history("", db=db), lambda: undrift.show("", db=db),
                 lambda: undrift.compare("v1", "", db=db)):
        with pytest.raises(UndriftError) as caught:
            call()
        assert "empty" in str(caught.value) or "no complete runs named ''" in str(caught.value), str(caught.value)
    assert undrift.runs(name="", db=db) == []
    for alias in ("", "  "):  # an empty alias would then stand for its version wherever a name is taken
        with pytest.raises(UndriftError, match="an alias needs a name"):
            undrift.Registry(db).promote("v1", alias)
    assert undrift.Registry(db).aliases() == {}
    (tmp_path / "nfr.yaml").write_text("rules:\n  - {metric: nfr, max: 0.0}\n")
    gated = cli("gate", "v1", "", "--policy", "nfr.yaml", "--db", "s.db", cwd=tmp_path)
    assert gated.returncode == 2, gated.stdout + gated.stderr


# -- weird but legal numbers --------------------------------------------------------------------------------------

def test_a_negative_sample_count_or_an_empty_task_list_is_refused(tmp_path, quiz):
    """`show(samples=-1)` once returned every row but the last (a slice), and `tasks=[]` or `--tasks ""` ran every
    task, the opposite of naming none."""
    db = str(tmp_path / "s.db")
    undrift.run(quiz, "echo:", name="v1", db=db)
    with pytest.raises(UndriftError, match=r"samples \(--samples\) must be 0 or more"):
        undrift.show("v1", samples=-1, db=db)
    shown = cli("show", "v1", "--samples", "-1", "--db", "s.db", cwd=tmp_path)
    assert shown.returncode == 2 and "--samples" in shown.stderr, shown.stdout + shown.stderr
    for tasks in ([], "", " , "):
        with pytest.raises(UndriftError, match=r"tasks \(--tasks\) is empty"):
            undrift.run(quiz, "echo:", tasks=tasks, db=db)
        with pytest.raises(UndriftError, match=r"tasks \(--tasks\) is empty"):
            undrift.compare("v1", "v1", tasks=tasks, db=db)
    assert [r.name for r in undrift.runs(db=db)] == ["v1"]
    ran = cli("run", quiz, "--model", "echo:", "--tasks", "", "--db", "s.db", cwd=tmp_path)
    assert ran.returncode == 2 and "--tasks" in ran.stderr, ran.stdout + ran.stderr


def test_a_task_built_in_python_from_the_wrong_shapes_is_one_undrift_error():
    """`Task.build` once called `dict()` on each row and on `decoding`, so a str or a list raised ValueError or
    TypeError; a suite file with the same shapes is one line."""
    for samples, decoding in (("abc", None), ({"id": "a", "prompt": "x"}, None), ([["id", "a"]], None),
                              ([{"id": "a", "prompt": "x", "target": "y"}], [("max_tokens", 4)])):
        with pytest.raises(UndriftError, match="Task.build: task 't'") as caught:
            undrift.Task.build("t", samples, "exact", decoding=decoding)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("call", [lambda: undrift.load_suite(None), lambda: undrift.load_suite(3),
                                  lambda: undrift.ModelSpec.parse(None), lambda: undrift.load_model(None),
                                  lambda: undrift.load_model(3)])
def test_the_building_blocks_refuse_a_wrong_type_in_one_line(call):
    """`load_suite(None)` was a TypeError from `Path`, `ModelSpec.parse(None)` an AttributeError."""
    with pytest.raises(UndriftError, match="got (None|3)"):
        call()


def test_a_watch_refused_leaves_no_store_behind(tmp_path, quiz):
    """`add_watch` opened (so made) the store before checking the schedule, the suite and the model."""
    fresh = tmp_path / "fresh.db"
    for call in (lambda: undrift.add_watch("w", "echo:", quiz, "sometimes", db=str(fresh)),
                 lambda: undrift.add_watch("w", "nope:", quiz, "1d", db=str(fresh)),
                 lambda: undrift.add_watch("w", "echo:", quiz, "1d", baseline="nope", db=str(fresh))):
        with pytest.raises(UndriftError):
            call()
        assert not fresh.exists()
    added = cli("watch", "add", "w", "--model", "echo:", "--suite", quiz, "--every", "sometimes", "--db", "fresh.db",
                cwd=tmp_path)
    assert added.returncode == 2 and not fresh.exists(), added.stderr
    undrift.add_watch("w", "echo:", quiz, "1d", db=str(fresh))  # a good one makes the store
    assert [w.name for w in undrift.list_watches(db=str(fresh))] == ["w"]


def test_a_version_registered_from_python_has_a_spec_that_parses(tmp_path):
    """`undrift registry register --spec nope:` was refused, `Registry(db).register("v1", "nope:")` stored it."""
    db = tmp_path / "s.db"
    with pytest.raises(UndriftError, match="unknown model spec 'nope:'"):
        undrift.Registry(str(db)).register("v1", "nope:")
    assert not db.exists()
    undrift.Registry(str(db)).register("v1", "echo:")
    assert [v.spec for v in undrift.Registry(str(db)).list()] == ["echo:"]


def test_an_unknown_name_says_where_to_look_from_python_and_from_the_cli(tmp_path, quiz):
    """"`undrift runs` lists them" told a Python user only about the command line."""
    db = str(tmp_path / "s.db")
    undrift.run(quiz, "echo:", name="v1", db=db)
    for call, python, command in (
            (lambda: undrift.compare("v1", "nope", db=db), "undrift.runs()", "`undrift runs`"),
            (lambda: undrift.history("nope", db=db), "undrift.runs()", "`undrift runs`"),
            (lambda: undrift.Registry(db).promote("nope", "production"), ".list()", "`undrift registry list`"),
            (lambda: undrift.Registry(db).set_alias("staging", "nope"), ".list()", "`undrift registry list`"),
            (lambda: undrift.Registry(db).rollback("nope"), ".aliases()", "`undrift registry list`")):
        with pytest.raises(UndriftError) as caught:
            call()
        assert python in str(caught.value) and command in str(caught.value), str(caught.value)


def test_a_model_whose_fingerprint_is_not_a_fingerprint_is_one_line_and_files_nothing(tmp_path, quiz):
    """A model object of the user's own (or a plugin's) whose `fingerprint()` returned a dict was an AttributeError."""
    from undrift.models import Generation

    class Mine:
        spec = undrift.ModelSpec.parse("echo:")

        def fingerprint(self):
            return {"model": "mine"}

        def prepare(self):
            pass

        def generate(self, requests, on_done=None):
            return [Generation(text="4") for _ in requests]

        def close(self):
            pass

    db = tmp_path / "s.db"
    with pytest.raises(UndriftError, match=r"a dict from fingerprint\(\), where a Fingerprint belongs"):
        undrift.run(quiz, Mine(), db=str(db))
    assert not db.exists() or undrift.runs(db=str(db)) == []


def test_a_negative_flip_count_at_the_cli_is_refused(tmp_path, quiz):
    """`undrift compare --flips -1` showed every flip but the last (a slice)."""
    db = str(tmp_path / "s.db")
    undrift.run(quiz, "echo:", name="v1", db=db)
    compared = cli("compare", "v1", "v1", "--flips", "-1", "--db", "s.db", cwd=tmp_path)
    assert compared.returncode == 2 and "--flips" in compared.stderr, compared.stdout + compared.stderr


def test_a_path_is_always_a_suite_file_never_a_built_in_name(tmp_path, monkeypatch):
    """`undrift.run(Path("drift"), ...)` means the file ./drift, not the built-in suite of that name."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UndriftError, match="suite file 'drift' does not exist"):
        undrift.run(Path("drift"), "echo:", db=str(tmp_path / "s.db"))
    (tmp_path / "drift").write_text(QUIZ_SUITE)
    assert undrift.run(Path("drift"), "echo:", db=str(tmp_path / "s.db")).run.suite == "quiz"
