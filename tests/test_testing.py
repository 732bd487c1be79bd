"""undrift.testing and its pytest plugin, as a team's CI uses them: a user's test file run by pytest (pytester, in a
subprocess with the installed plugin) against a store holding an old version (promoted to `production`), a
compatible candidate, a regressing one and one whose run failed.  The runs are recorded answers imported with
`undrift.import_generations`: the model is not the point here, the gate and the messages are."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import undrift
from undrift.importing import Columns

pytest_plugins = ["pytester"]

WRONG = 8  # of 30 samples the regressing candidate gets wrong that the old version got right


def team_store(folder: Path, wrong: dict[str, int], failed: str | None = None) -> str:
    """A store where each version (in order) answered 30 sums, its first `wrong[version]` of them wrongly; the first
    version is promoted to `production`; the run of `failed` is marked failed.  Returns the store's URL."""
    records = []
    for i in range(30):
        asked = {"id": f"q{i}", "prompt": f"What is {i} + 1?", "target": str(i + 1)}
        records += [{**asked, "model": name, "response": "x\x1b[31m" if i < count else str(i + 1)}
                    for name, count in wrong.items()]
    data = folder / "answers.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    url = f"sqlite:///{folder / 'team.db'}"
    runs = undrift.import_generations([data], "jsonl", task="arith", columns=Columns(target="target"), db=url)
    store = undrift.Store.open(url)
    if failed:
        store.finish_run(next(r.id for r in runs if r.name == failed), "failed")
    undrift.Registry(store).promote(next(iter(wrong)), "production")
    store.close()
    return url


@pytest.fixture
def store_url(tmp_path) -> str:
    """old (production), same (compatible), worse (8 negative flips), broken (compatible answers, failed run).

    Tests ask for it before `pytester`, which forgets the modules imported after it starts (NumPy cannot load twice).
    """
    return team_store(tmp_path, {"old": 0, "same": 0, "worse": WRONG, "broken": 0}, failed="broken")


def plugin_args() -> list[str]:
    """The plugin comes from the `pytest11` entry point once undrift is installed; an environment installed before
    the entry point existed loads it by name."""
    installed = any(e.value == "undrift.pytest_plugin" for e in entry_points(group="pytest11"))
    return [] if installed else ["-p", "undrift.pytest_plugin"]


def run_user_tests(pytester, source: str, *args: str, subprocess: bool = False):
    """pytest on a user's test file: in this process (fast), or in a fresh one where what is imported matters."""
    pytester.makepyfile(test_user=source)
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest_inprocess
    return run(*plugin_args(), *args)


def test_a_compatible_candidate_passes_against_the_production_alias(store_url, pytester):
    result = run_user_tests(pytester, """
        from undrift.testing import assert_nfr_at_most, assert_no_regression, assert_no_significant_drop

        def test_candidate():
            reports = assert_no_regression("same", against="production", max_nfr=0.02)
            assert [r.passed for r in reports] == [True]

        def test_policies_one_by_one():
            assert_no_significant_drop("old", "same")
            assert_nfr_at_most("old", "same", 0.0)
    """, "--undrift-db", store_url)
    result.assert_outcomes(passed=2)


def test_a_regressing_candidate_fails_with_task_metric_interval_and_flipped_samples(store_url, pytester):
    result = run_user_tests(pytester, """
        from undrift.testing import assert_no_regression

        def test_candidate():
            assert_no_regression("worse", against="production", max_nfr=0.02)
    """, "--undrift-db", store_url)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "undrift: 'worse' regresses against 'production' (alias of 'old')" in output
    assert "FAILED nfr max 0.02: arith: nfr 26.7% (limit ≤ 2.0%), 95% CI 14.2% to 44.4%; 8 of 30 samples" in output
    assert "FAILED accuracy no significant drop: arith: significant drop in accuracy (-26.7 pts, 95% CI" in output
    assert f"arith: {WRONG} right before, wrong now: q0 ('1' -> " in output
    assert "\x1b[31m" not in output and "\\x1b[31m" in output  # the model's answer is escaped, not replayed
    assert "undrift/testing.py" not in output  # the helper's frames are hidden: the message is the story


def test_each_assertion_holds_its_own_policy(store_url, pytester):
    result = run_user_tests(pytester, """
        import pytest
        from undrift.testing import assert_nfr_at_most, assert_no_significant_drop

        def test_a_loose_nfr_limit_passes():
            assert_nfr_at_most("old", "worse", 0.30)

        def test_a_tight_one_fails():
            with pytest.raises(AssertionError, match="nfr max 0.2: arith: nfr 26.7%"):
                assert_nfr_at_most("old", "worse", 0.20)

        def test_the_drop_is_significant():
            with pytest.raises(AssertionError, match="significant drop in accuracy"):
                assert_no_significant_drop("production", "worse")
    """, "--undrift-db", store_url)
    result.assert_outcomes(passed=3)


def test_a_run_that_is_no_evidence_fails_with_why(store_url, pytester):
    """The broken candidate's answers are all right, but its run failed: that is no evidence, so no pass."""
    result = run_user_tests(pytester, """
        from undrift.testing import assert_no_regression

        def test_candidate():
            assert_no_regression("broken", against="production")
    """, "--undrift-db", store_url)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "undrift: 'broken' against 'production' (alias of 'old'), suite 'imported': will not gate on the new" in output
    assert "it is failed (30 of 30 items)" in output


def test_an_unknown_reference_or_a_missing_store_fails_in_one_line(store_url, pytester, tmp_path):
    result = run_user_tests(pytester, f"""
        import pytest
        from undrift.testing import assert_no_regression

        def test_unknown_candidate():
            with pytest.raises(AssertionError, match="undrift: no run or model name 'nope'"):
                assert_no_regression("nope", against="production")

        def test_missing_store():
            with pytest.raises(AssertionError, match="undrift: .*missing.db"):
                assert_no_regression("same", against="production", db={str(tmp_path / 'missing.db')!r})
    """, "--undrift-db", store_url)
    result.assert_outcomes(passed=2)
    assert not (tmp_path / "missing.db").exists()


def test_the_ini_key_names_the_store(store_url, pytester):
    pytester.makeini(f"[pytest]\nundrift_db = {store_url}\n")
    result = run_user_tests(pytester, """
        from undrift.testing import assert_no_regression

        def test_candidate():
            assert_no_regression("same", against="production")
    """)
    result.assert_outcomes(passed=1)


def test_the_fixture_is_a_fresh_store_never_the_users(pytester, tmp_path, monkeypatch):
    users = tmp_path / "users.db"
    monkeypatch.setenv("UNDRIFT_DB", f"sqlite:///{users}")
    data = tmp_path / "answers.jsonl"
    data.write_text("".join(json.dumps({"model": m, "id": f"q{i}", "prompt": f"{i}?", "response": str(i),
                                        "target": str(i)}) + "\n" for i in range(5) for m in ("a", "b")))
    result = run_user_tests(pytester, f"""
        import undrift
        from undrift.importing import Columns
        from undrift.testing import assert_no_regression

        def test_own_runs(undrift_store):
            assert undrift.runs(db=undrift_store) == []
            undrift.import_generations([{str(data)!r}], "jsonl", columns=Columns(target="target"), db=undrift_store)
            assert_no_regression("b", against="a", db=undrift_store)
    """)
    result.assert_outcomes(passed=1)
    assert not users.exists()


def test_the_plugin_is_inert_until_used(pytester):
    """Installed, it loads in every pytest run of the environment: it must not import the store or torch."""
    result = run_user_tests(pytester, """
        import sys

        def test_nothing_heavy_loaded(request):
            assert request.config.pluginmanager.hasplugin("undrift.pytest_plugin") or \\
                request.config.pluginmanager.hasplugin("undrift")
            heavy = [m for m in ("undrift.store", "undrift.testing", "sqlalchemy", "torch", "numpy")
                     if m in sys.modules]
            assert heavy == []
    """, subprocess=True)
    result.assert_outcomes(passed=1)



@pytest.fixture(params=[0, WRONG], ids=["compatible", "regressing"])
def release_store(request, tmp_path) -> tuple[str, int]:
    """support-v1 in production and a support-v2 that gets `wrong` of its answers wrong, as docs/testing.md has it."""
    return team_store(tmp_path, {"support-v1": 0, "support-v2": request.param}), request.param


def test_the_docs_example_passes_a_compatible_candidate_and_fails_a_regressing_one(release_store, pytester):
    """docs/testing.md's test file, run with the command the page gives for CI."""
    url, wrong = release_store
    text = (Path(__file__).parents[1] / "docs" / "testing.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    result = run_user_tests(pytester, example, "--undrift-db", url)
    if wrong:
        result.assert_outcomes(failed=2)
        assert "'support-v2' regresses against 'production' (alias of 'support-v1')" in result.stdout.str()
    else:
        result.assert_outcomes(passed=2)


def test_the_gate_and_the_assertions_choose_the_same_runs(tmp_path):
    """`undrift.gate` and `undrift.testing` pick runs by one rule: a name (or an alias) stands for its newest run of
    each suite, paired with the other side's run of the same suite.  Where the two share one suite, both gate it,
    whichever suite each name ran last; where they share several, the assertions gate each and `undrift.gate`, whose
    answer is one comparison, asks which (`suite=`) rather than picking one."""
    from undrift.testing import assert_gate

    for suite in ("sums", "more"):
        (tmp_path / f"{suite}.yaml").write_text(
            f"name: {suite}\ntasks:\n  - name: add\n    scorer: exact\n    samples:\n"
            "      - {id: a, prompt: '1 + 1?', target: '2'}\n      - {id: b, prompt: '2 + 2?', target: '4'}\n",
            encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'pairs.db'}"
    nfr = {"rules": [{"metric": "nfr", "max": 0.02}]}
    for name, suites in (("v1", ("sums", "more")), ("v2", ("sums",)), ("v3", ("sums", "more"))):
        for suite in suites:
            undrift.run(str(tmp_path / f"{suite}.yaml"), "echo:?text=2", name=name, db=db)
    # v1 ran `more` last, v2 only `sums`: both gate the `sums` runs
    (asserted,) = assert_gate("v1", "v2", nfr, db=db)
    gated = undrift.gate("v1", "v2", nfr, db=db)
    assert (gated.comparison.old.id, gated.comparison.new.id) == (asserted.comparison.old.id,
                                                                  asserted.comparison.new.id)
    assert gated.comparison.new.suite == "sums" and gated.to_dict() == asserted.to_dict()
    undrift.Registry(db).promote("v1", "production")
    assert undrift.gate("production", "v2", nfr, db=db).to_dict() == gated.to_dict()  # an alias, as testing takes
    # v1 and v3 share two suites: the assertions gate each, the gate asks which
    assert [r.comparison.new.suite for r in assert_gate("v1", "v3", nfr, db=db)] == ["more", "sums"]
    with pytest.raises(undrift.UndriftError, match="'v3' and 'v1' both ran the suites 'more' and 'sums': say which "
                                                   "to gate with suite="):
        undrift.gate("v1", "v3", nfr, db=db)
    for suite in ("more", "sums"):
        one = undrift.gate("v1", "v3", nfr, suite=suite, db=db)
        (same,) = assert_gate("v1", "v3", nfr, suite=suite, db=db)
        assert one.comparison.new.suite == suite and one.to_dict() == same.to_dict()
    with pytest.raises(undrift.UndriftError, match="'v2' and 'v1' have no runs of the suite 'more'"):
        undrift.gate("v1", "v2", nfr, suite="more", db=db)


def test_an_empty_or_missing_reference_fails_rather_than_standing_for_every_run(store_url):
    """`""` or None as a side once meant "every run in the store", so a regressing store passed; a `RunRecord` (what
    `undrift.gate` takes) is its run, not a TypeError."""
    from undrift.testing import assert_no_regression

    for nothing in ("", None):
        with pytest.raises(AssertionError, match="undrift: "):
            assert_no_regression(nothing, against="production", db=store_url)
        with pytest.raises(AssertionError, match="undrift: "):
            assert_no_regression("worse", against=nothing, db=store_url)
    worse = undrift.runs(name="worse", db=store_url)[0]
    with pytest.raises(AssertionError, match="'worse' regresses against 'production'|regresses against"):
        assert_no_regression(worse, against="production", db=store_url)


def test_a_refused_run_is_not_offered_a_switch_the_assertions_do_not_have(store_url):
    """The gate's refusal ended "or pass allow_incomplete=True (--allow-incomplete)", which no assertion takes."""
    from undrift.testing import assert_no_regression

    with pytest.raises(AssertionError) as caught:
        assert_no_regression("broken", against="production", db=store_url)
    message = str(caught.value)
    assert "it is failed (30 of 30 items)" in message and "undrift.resume(" in message
    assert "allow_incomplete" not in message and "--allow-incomplete" not in message
