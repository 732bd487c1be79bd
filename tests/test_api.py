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


def _ask(sample_id: str, text: str = "hi") -> undrift.Sample:
    return undrift.Sample(sample_id, ({"role": "user", "content": text},), target=text)


@pytest.mark.parametrize("make, message", [
    (lambda: undrift.Suite("s", (undrift.Task("t", (_ask("a"), _ask("a", "again")), undrift.ScorerConfig("exact")),)),
     "task 't': sample id 'a' is used twice; ids must be unique per task"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (_ask("a"),), undrift.ScorerConfig("exact")),
                                 undrift.Task("t", (_ask("b"),), undrift.ScorerConfig("exact")))),
     "suite 's': task name 't' is used twice; task names must be unique"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (), undrift.ScorerConfig("exact")),)),
     "task 't': the task has no samples"),
    (lambda: undrift.Suite("s", ()), "suite 's': `tasks` must be a non-empty list of tasks"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (_ask("a"),), undrift.ScorerConfig("exactt")),)),
     "task 't': unknown scorer 'exactt'"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (undrift.Sample("a", ({"role": "user", "content": "hi"},)),),
                                              undrift.ScorerConfig("key_facts")),)),
     "task 't': sample 'a' has neither `facts` nor `target`"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (undrift.Sample(1, ({"role": "user", "content": "hi"},)),),
                                              undrift.ScorerConfig("exact")),)),
     "sample 1: a sample's id is a string: give '1'"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (undrift.Sample("a", "hi"),), undrift.ScorerConfig("exact")),)),
     "sample 'a': `messages` must be a list of {role, content} mappings"),
    (lambda: undrift.Suite("s", (undrift.Task("t", (_ask("a"),), "exact"),)),
     "task 't': the scorer is a ScorerConfig, e.g. ScorerConfig('exact')"),
], ids=["duplicate sample id", "duplicate task name", "empty task", "no tasks", "bad scorer", "sample unfit for scorer",
        "sample id not text", "messages not a list", "scorer not a ScorerConfig"])
def test_suites_built_with_their_constructors_are_checked(tmp_path, make, message):
    """A suite made with `Suite(...)`/`Task(...)`/`Sample(...)` rather than `.build` is held to the rules a suite
    file is: one line, before anything reaches the store (a duplicate id was an IntegrityError traceback)."""
    db = tmp_path / "untouched.db"
    with pytest.raises(UndriftError) as error:
        undrift.run(make(), "echo:", db=f"sqlite:///{db}")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not db.exists()


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
    assert json.loads(json.dumps(first.to_dict()))["run"]["name"] == "v1"

    def same(api_result, *args):
        result = cli(*args, "--db", db, "--json", cwd=tmp_path)
        assert result.returncode in (0, 1, 3), result.stderr
        assert json.loads(result.stdout) == api_result.to_dict()

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
    assert printed == registry.detail("v2").to_dict()
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


def test_import_forgetting_and_registry_from_python(tmp_path):
    db = f"sqlite:///{tmp_path / 'imp.db'}"
    records = undrift.import_generations([_recorded(tmp_path)], "jsonl", suite="sums",
                                         columns=undrift.Columns(target="target", time="time"), db=db)
    assert sorted(r.name for r in records) == ["v1", "v2"] and all(r.status == "complete" for r in records)

    assert [v.name for v in undrift.Registry(db).list()] == ["v1", "v2"]
    assert undrift.forgetting(["v1", "v2"], db=db).matrix == [[0.75], [0.5]]


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


# --- every public result's `.to_dict()` is plain JSON, and is what `--json` prints -----------------------------------

SUMS = """name: sums
tasks:
  - name: add
    scorer: exact
    samples:
      - {id: a, prompt: "1 + 1?", target: "2"}
      - {id: b, prompt: "2 + 2?", target: "4"}
      - {id: c, prompt: "3 + 3?", target: "6"}
"""


def _to_dict_classes() -> dict[str, list[type]]:
    """Every class in src/undrift with a `to_dict` method, by name (found in the source, then imported)."""
    import importlib
    import re

    src = Path(undrift.__file__).parent
    found: dict[str, list[type]] = {}
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "def to_dict" not in text:
            continue
        module = importlib.import_module(".".join(("undrift", *path.relative_to(src).with_suffix("").parts)))
        for name in re.findall(r"^class (\w+)", text, flags=re.M):
            value = getattr(module, name)
            if hasattr(value, "to_dict"):
                found.setdefault(name, []).append(value)
    return found


def _public_result_types() -> set[type]:
    """The classes with `to_dict` reachable from `undrift.__all__`: what public functions and methods return and
    what the fields of those results hold, followed through their annotations."""
    import dataclasses
    import inspect
    import re

    with_to_dict = _to_dict_classes()
    public_classes = {c.__name__: c for c in map(lambda n: getattr(undrift, n), undrift.__all__) if isinstance(c, type)}

    def named(annotation) -> list[type]:
        words = re.findall(r"[A-Za-z_]\w*", annotation if isinstance(annotation, str) else repr(annotation))
        return [c for w in words for c in with_to_dict.get(w, []) or ([public_classes[w]] if w in public_classes
                                                                        else [])]

    def returns(function) -> list[type]:
        try:
            return named(inspect.signature(function).return_annotation)
        except (TypeError, ValueError):
            return []

    seen: set[type] = set()
    todo = [c for n in undrift.__all__ for c in ([getattr(undrift, n)] if isinstance(getattr(undrift, n), type)
                                                 else returns(getattr(undrift, n)))]
    while todo:
        cls = todo.pop()
        if cls in seen or not cls.__module__.startswith("undrift"):
            continue
        seen.add(cls)
        if dataclasses.is_dataclass(cls):
            todo += [c for f in dataclasses.fields(cls) for c in named(f.type)]
        for attr, member in vars(cls).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(member, property):
                todo += returns(member.fget)
            elif callable(member) or isinstance(member, (classmethod, staticmethod)):
                todo += returns(getattr(cls, attr))
    return {c for c in seen if hasattr(c, "to_dict") and not issubclass(c, BaseException)}


@pytest.fixture(scope="module")
def scripted_world(tmp_path_factory):
    """A store with two scripted versions of a three-sum suite (v2 gets one wrong), v1 promoted, a watch whose
    gate failed (an open alert), recorded traffic and its replay; and every public result made from it."""
    from datetime import datetime, timedelta, timezone

    from undrift.store.traffic import TrafficRecord, add_traffic
    from undrift.traffic.embed import model_dir

    folder = tmp_path_factory.mktemp("scripted")
    suite = folder / "sums.yaml"
    suite.write_text(SUMS, encoding="utf-8")
    (folder / "right.yaml").write_text("ids: {a: '2', b: '4', c: '6'}\n", encoding="utf-8")
    (folder / "wrong.yaml").write_text("ids: {a: '2', b: '5', c: '6'}\ndefault: '?'\n", encoding="utf-8")
    right, wrong = f"script:{folder / 'right.yaml'}", f"script:{folder / 'wrong.yaml'}"
    db = f"sqlite:///{folder / 'world.db'}"
    results: dict[str, object] = {}
    results["run"] = undrift.run(str(suite), right, name="v1", db=db)
    results["run v2"] = undrift.run(str(suite), wrong, name="v2", db=db)
    results["show"] = undrift.show("v1", samples=2, db=db)
    results["compare"] = undrift.compare("v1", "v2", db=db)
    results["gate"] = undrift.gate("v1", "v2", POLICY, db=db)
    results["check"] = undrift.check("v1", right, name="v1-check", db=db)
    results["history"] = undrift.history("v1", db=db)
    results["forgetting"] = undrift.forgetting(["v1", "v2"], db=db)
    registry = undrift.Registry(db)
    results["promotion"] = registry.promote("v1", "production")
    results["registry show"] = registry.detail("v1")
    results["versions"] = registry.list()
    results["suite"] = undrift.load_suite(str(suite)).tasks
    nfr_zero = folder / "strict.yaml"
    nfr_zero.write_text("rules:\n  - {metric: nfr, max: 0}\n", encoding="utf-8")
    results["watch"] = undrift.add_watch("sums", wrong, str(suite), "1d", baseline="v1", policy=nfr_zero,
                                         alert_command="true", db=db)
    results["watch run"] = undrift.tick_watch("sums", db=db)
    results["watch list"] = undrift.watch_summaries(db=db)
    results["watch show"] = undrift.watch_status("sums", db=db)
    results["watch history"] = undrift.watch_history("sums", db=db)
    results["alerts"] = undrift.alert_records(db=db)
    results["alert list"] = undrift.list_alerts(db=db)
    start = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    store = undrift.Store.open(db)
    add_traffic(store, [TrafficRecord(at=start + timedelta(hours=day * 24 + i), method="POST",
                                      path="/v1/chat/completions", upstream="http://up/v1", stream=False, status=200,
                                      latency_s=0.5, request={"model": "m", "messages": [{"role": "user",
                                                                                          "content": f"q{i}"}]},
                                      response={"choices": [{"message": {"role": "assistant", "content": f"a{i}"}}]},
                                      response_text=f"a{i}", model="m", served_model="m-1", tokens_out=1)
                        for day in range(2) for i in range(3)])
    shifted = datetime(2026, 4, 1, tzinfo=timezone.utc)  # before the range above: model "m2", whose errors rise
    add_traffic(store, [TrafficRecord(at=shifted + timedelta(days=day, minutes=i), method="POST",
                                      path="/v1/chat/completions", upstream="http://up/v1", stream=False,
                                      status=502 if day else 200, latency_s=0.5, response_text=None if day else "ok",
                                      model="m2") for day in range(2) for i in range(30)])
    store.close()
    results["traffic shift"] = undrift.analyse_traffic(undrift.TrafficQuery.parse(model="m2", meaning=False), db=db)
    results["traffic models"] = undrift.recorded_models(db=db)
    meaning = model_dir() is not None  # the embeddings extra
    results["traffic"] = undrift.analyse_traffic(undrift.TrafficQuery.parse(since="2026-05-01", meaning=meaning),
                                                 db=db)
    results["traffic plain"] = undrift.analyse_traffic(undrift.TrafficQuery.parse(since="2026-05-01", meaning=False),
                                                       db=db)
    results["replay"] = undrift.replay(undrift.selection(since="2026-05-01"), "echo:", db=db)
    results["runs"] = undrift.runs(db=db)  # the store as the CLI finds it, the replay's runs included
    results["registry list"] = registry.listing()
    results["catalog"] = undrift.model_catalog(db=db)
    reviewed = folder / "review.jsonl"
    undrift.export_for_review(["v1"], reviewed, db=db)
    rows = [json.loads(line) for line in reviewed.read_text(encoding="utf-8").splitlines()]
    reviewed.write_text("".join(json.dumps({**r, "label": "good"}) + "\n" for r in rows), encoding="utf-8")
    results["review import"] = undrift.import_reviews(reviewed, folder / "labels.jsonl")
    results["label"] = undrift.label("v2", rows[0]["task"], rows[0]["sample_id"], "incorrect", correction="4", db=db)
    results["review queue"] = undrift.review_queue(["v2"], against="v1", db=db)
    results["labels export"] = undrift.export_labels(["v2"], db=db)
    return folder, db, results


def _results_with_to_dict(value) -> list:
    """`value` and every result held in it (in lists, tuples, dicts and dataclass fields) that has `to_dict`."""
    import dataclasses

    found, todo = [], [value]
    while todo:
        item = todo.pop()
        if isinstance(item, (list, tuple)):
            todo += item
        elif isinstance(item, dict):
            todo += item.values()
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            if hasattr(item, "to_dict"):
                found.append(item)
            todo += [getattr(item, f.name) for f in dataclasses.fields(item)]
    return found


def _plain_json(result) -> None:
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data, type(result).__name__


def test_every_public_result_to_dict_is_plain_json(scripted_world):
    from undrift.traffic.embed import model_dir

    _, _, results = scripted_world
    made = [r for value in results.values() for r in _results_with_to_dict(value)]
    for result in made:
        _plain_json(result)
    elsewhere = {"TrainedVersion"}  # test_a_trained_version_to_dict_is_plain_json: it needs torch
    if model_dir() is None:
        elsewhere |= {"MeaningDrift", "Example"}  # the embeddings extra is not installed
    missing = {c.__qualname__ for c in _public_result_types()} - {type(r).__qualname__ for r in made} - elsewhere
    assert not missing, f"no instance made of {sorted(missing)}: add one to scripted_world"


@pytest.mark.parametrize("key, args", [
    ("runs", ["runs"]), ("show", ["show", "v1", "--samples", "2"]), ("compare", ["compare", "v1", "v2"]),
    ("gate", ["gate", "v1", "v2", "--policy", str(POLICY)]), ("history", ["history", "v1"]),
    ("forgetting", ["forgetting", "v1", "v2"]), ("registry list", ["registry", "list"]),
    ("registry show", ["registry", "show", "v1"]), ("watch list", ["watch", "list"]),
    ("watch show", ["watch", "show", "sums"]), ("watch history", ["watch", "history", "sums"]),
    ("alerts", ["alerts"]), ("traffic plain", ["traffic", "--since", "2026-05-01", "--no-meaning"]),
    ("catalog", ["models"]),
])
def test_json_option_prints_to_dict(scripted_world, key, args):
    folder, db, results = scripted_world
    printed = cli(*args, "--db", db, "--json", cwd=folder)
    assert printed.returncode in (0, 1, 3), printed.stderr  # 1 and 3: a verdict (gate failed, history undecided)
    value = results[key]
    assert json.loads(printed.stdout) == (value.to_dict() if hasattr(value, "to_dict") else [v.to_dict()
                                                                                             for v in value])


def test_a_trained_version_to_dict_is_plain_json(tmp_path, tiny_model_dir):
    data = tmp_path / "new.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Code word for {w}?", "completion": w[::-1]}) + "\n"
                            for w in ("apple", "stone", "river", "cloud")), encoding="utf-8")
    trained = undrift.train(f"hf:{tiny_model_dir}", data, "v-t", epochs=1, batch_size=4, out_dir=tmp_path / "v-t",
                            db=f"sqlite:///{tmp_path / 'train.db'}")
    _plain_json(trained)
    assert trained.to_dict()["version"]["name"] == "v-t"
