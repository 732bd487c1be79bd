"""The public Python API: `import undrift` exposes what the CLI does, and `.to_dict()` is what `--json` prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLE, REPO
from helpers import undrift as cli

import undrift
from undrift import UndriftError

POLICY = REPO / "docs" / "examples" / "policy.yaml"


def test_public_names_are_listed_documented_and_load():
    assert "run" in dir(undrift) and "Registry" in dir(undrift)
    for name in undrift.__all__:
        value = getattr(undrift, name)
        if value.__module__.startswith("undrift.traffic"):
            continue  # re-exported as it is (issue 10's work); its docstring is that module's
        assert (value.__doc__ or "").strip() or isinstance(value, type), f"undrift.{name} has no docstring"
    with pytest.raises(AttributeError):
        undrift.no_such_name  # noqa: B018


def test_functions_keep_their_names_beside_modules_of_the_same_name():
    import undrift.check  # noqa: F401 - the modules check.py, gate.py, train/ and replay.py exist too
    import undrift.gate  # noqa: F401
    from undrift.train import trainer  # noqa: F401

    assert callable(undrift.check) and undrift.check.__module__ == "undrift.api.analysis"
    assert undrift.gate.__module__ == "undrift.api.analysis" and undrift.train.__module__ == "undrift.api.training"
    from undrift.gate import Policy

    assert Policy is undrift.Policy


@pytest.mark.parametrize("module, heavy", [("undrift", "'sqlalchemy', 'numpy', 'torch', 'typer'"),
                                           ("undrift.cli", "'sqlalchemy', 'numpy', 'torch'")])
def test_import_stays_light(module, heavy):
    """`import undrift` and the CLI's start load no database, array or model library until a command needs one."""
    code = f"import sys, {module}; print(sorted(m for m in ({heavy}) if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_py_typed_ships():
    assert (Path(undrift.__file__).parent / "py.typed").is_file()


def test_python_suite_equals_yaml_suite(tmp_path):
    (tmp_path / "geo.yaml").write_text(
        "name: geo\ntasks:\n  - name: capitals\n    template: 'Capital of {country}? One word.'\n"
        "    system: Answer briefly.\n    decoding: {max_tokens: 8}\n    scorer: exact\n    samples:\n"
        "      - {id: fr, country: France, target: Paris}\n      - {id: it, country: Italy, target: Rome, "
        "slices: [europe]}\n", encoding="utf-8")
    from_yaml = undrift.load_suite(str(tmp_path / "geo.yaml"))
    task = undrift.Task.build("capitals", [{"id": "fr", "country": "France", "target": "Paris"},
                                           {"id": "it", "country": "Italy", "target": "Rome", "slices": ["europe"]}],
                              "exact", template="Capital of {country}? One word.", system="Answer briefly.",
                              decoding={"max_tokens": 8})
    built = undrift.Suite.build("geo", [task])
    assert built.digest() == from_yaml.digest()
    assert built.tasks[0].samples[0].messages[-1]["content"] == "Capital of France? One word."
    again = undrift.Suite.build("geo", [undrift.Task.build("capitals", list(task.samples), "exact",
                                                           decoding={"max_tokens": 8})])
    assert again.digest() == from_yaml.digest()  # Samples read back as they were built


def test_python_suite_is_checked_like_a_file():
    with pytest.raises(UndriftError, match="the template needs field 'country'"):
        undrift.Task.build("capitals", [{"id": "fr"}], "exact", template="Capital of {country}?")
    with pytest.raises(UndriftError, match="unknown scorer|scorer"):
        undrift.Task.build("t", [{"id": "a", "prompt": "hi"}], "no-such-scorer")
    task = undrift.Task.build("t", [{"id": "a", "prompt": "hi"}], "exact")
    with pytest.raises(UndriftError, match="used twice"):
        undrift.Suite.build("s", [task, task])


def test_db_takes_a_store_a_url_or_the_environment(tmp_path, monkeypatch):
    with pytest.raises(UndriftError, match="no undrift database"):
        undrift.runs(db=str(tmp_path / "missing.db"))
    store = undrift.Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    assert undrift.runs(db=store) == []
    assert undrift.runs(db=tmp_path / "a.db") == []  # a Path, as a str path is taken
    with pytest.raises(UndriftError, match=r"db takes a Store, a str, a Path or None; got 5 \(an int\)"):
        undrift.runs(db=5)
    monkeypatch.setenv("UNDRIFT_DB", f"sqlite:///{tmp_path / 'a.db'}")
    assert undrift.runs() == [] and undrift.Registry().list() == []


def test_run_compare_gate_history_from_python_match_the_cli(tmp_path, tiny_model_dir):
    db = f"sqlite:///{tmp_path / 'api.db'}"
    model = f"hf:{tiny_model_dir}"
    first = undrift.run(str(EXAMPLE), model, name="v1", limit=2, db=db)
    second = undrift.run(str(EXAMPLE), undrift.ModelSpec.parse(model), name="v2", limit=2, db=db)
    assert first.run.status == "complete" and second.run.name == "v2"
    assert json.loads(json.dumps(first.to_dict(), default=str))["run"]["name"] == "v1"

    def same(api_result, *args):
        result = cli(*args, "--db", db, "--json", cwd=tmp_path)
        assert result.returncode in (0, 1, 3), result.stderr
        printed = json.loads(result.stdout)
        from undrift.commands.common import to_json

        assert printed == json.loads(to_json(api_result.to_dict()))

    same(undrift.show("v1", samples=2, db=db), "show", "v1", "--samples", "2")
    same(undrift.compare("v1", "v2", db=db), "compare", "v1", "v2")
    same(undrift.gate("v1", "v2", POLICY, db=db), "gate", "v1", "v2", "--policy", str(POLICY))
    same(undrift.history("v1", db=db), "history", "v1")
    greedy = undrift.gate("v1", "v2", {"rules": [{"metric": "nfr", "max": 0.02}]}, db=db)
    assert greedy.passed  # the same greedy model twice: nothing flips
    assert undrift.history("v2", db=db).decision == "undecided"  # one run: nothing to test


def test_registry_promote_and_rollback_from_python(tmp_path, tiny_model_dir):
    db = f"sqlite:///{tmp_path / 'reg.db'}"
    model = f"hf:{tiny_model_dir}"
    for name in ("v1", "v2"):
        undrift.run(str(EXAMPLE), model, name=name, limit=2, db=db)
    registry = undrift.Registry(db)
    registry.promote("v1", "production")
    done = registry.promote("v2", "production")
    assert done.previous == "v1" and done.gate.passed
    assert registry.rollback("production").version == "v1"
    printed = json.loads(cli("registry", "show", "v2", "--db", db, "--json", cwd=tmp_path).stdout)
    from undrift.commands.common import to_json

    assert printed == json.loads(to_json(registry.detail("v2").to_dict()))
    assert "v2" in undrift.model_card("v2", db=db)


def _recorded(tmp_path: Path) -> Path:
    rows = []
    for model, answers in (("v1", ["4", "6", "8", "9"]), ("v2", ["4", "6", "7", "9"])):
        for i, answer in enumerate(answers):
            rows.append({"id": f"q{i}", "prompt": f"What is {i} + {i + 4}?", "response": answer,
                         "target": str(2 * i + 4), "model": model, "time": f"2026-11-0{1 + int(model[1])}T10:00:00"})
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_forgetting_and_registry_from_python_match_the_cli(tmp_path):
    from undrift.commands.common import to_json

    db = f"sqlite:///{tmp_path / 'imp.db'}"
    records = undrift.import_generations([_recorded(tmp_path)], "jsonl", suite="sums",
                                         columns=undrift.Columns(target="target", time="time"), db=db)
    assert sorted(r.name for r in records) == ["v1", "v2"] and all(r.status == "complete" for r in records)

    def printed(*args):
        result = cli(*args, "--db", db, "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert printed("runs") == json.loads(to_json([r.to_dict() for r in undrift.runs(db=db)]))
    assert printed("registry", "list") == json.loads(to_json([v.to_dict() for v in undrift.Registry(db).listing()]))
    report = undrift.forgetting(["v1", "v2"], db=db)
    assert report.matrix == [[0.75], [0.5]]
    assert printed("forgetting", "v1", "v2") == json.loads(to_json(report.to_dict()))
    assert printed("compare", "v1", "v2") == json.loads(to_json(undrift.compare("v1", "v2", db=db).to_dict()))


def test_import_with_a_name_ignores_the_model_column(tmp_path):
    db = f"sqlite:///{tmp_path / 'one.db'}"
    records = undrift.import_generations([_recorded(tmp_path)], "jsonl", name="all", db=db,
                                         columns=undrift.Columns(target="target"))
    assert [r.name for r in records] == ["all"]


def test_bad_input_is_one_error_and_writes_nothing(tmp_path):
    db = tmp_path / "untouched.db"
    with pytest.raises(UndriftError, match="unknown suite"):
        undrift.run("no-such-suite", "hf:/nowhere", db=f"sqlite:///{db}")
    with pytest.raises(UndriftError, match=r"repeats \(--repeats\) must be at least 1"):
        undrift.run("drift", "hf:/nowhere", repeats=0, db=f"sqlite:///{db}")
    with pytest.raises(UndriftError, match="a policy is a mapping"):
        undrift.gate("a", "b", {"rules": []}, db=f"sqlite:///{db}")
    assert not db.exists()


def test_resume_of_a_complete_run_is_refused(tmp_path):
    db = f"sqlite:///{tmp_path / 'done.db'}"
    (record,) = undrift.import_generations([_recorded(tmp_path)], "jsonl", name="all", db=db,
                                           columns=undrift.Columns(target="target"))
    with pytest.raises(UndriftError, match="already complete"):
        undrift.resume(record.id, db=db)
