"""Registry, promotion through the gate, rollback, model cards, forgetting and the review round trip."""

import csv
import json

import pytest
from helpers import result_row, store_run, undrift

from undrift.analysis.forgetting import forgetting_report
from undrift.errors import UndriftError
from undrift.registry import GateRefused, Registry
from undrift.store import Store


def _versions(store):
    """v1 (80/100 right), v2 (v1 minus 5 right answers: NFR 5%), v3 (identical to v1), all on suite `qa`."""
    registry = Registry(store)
    for name, right in (("v1", set(range(80))), ("v2", set(range(5, 80))), ("v3", set(range(80)))):
        registry.register(name, f"hf:/models/{name}", kind="trained", parent="v1" if name != "v1" else None,
                          recipe={"epochs": 2}, data_hashes={"data": "ab" * 32})
        store_run(store, name, [result_row("qa", f"s{i}", i in right, extracted="a" if i in right else "b")
                                for i in range(100)])
    return registry


def test_promote_gates_refuses_records_force_and_rolls_back(sqlite_url):
    store = Store.open(sqlite_url)
    registry = _versions(store)
    first = registry.promote("v1", "production")
    assert first.previous is None and first.gate is None
    with pytest.raises(GateRefused, match="nfr 5.0%"):
        registry.promote("v2", "production")
    assert registry.alias_target("production") == "v1"  # nothing moved
    with pytest.raises(UndriftError, match=r"force=True \(--force\) needs reason \(--reason\)"):
        registry.promote("v2", "production", force=True)
    forced = registry.promote("v2", "production", force=True, reason="hotfix for a security issue")
    assert forced.forced and registry.alias_target("production") == "v2"
    back = registry.rollback("production")
    assert (back.previous, back.version) == ("v2", "v1")
    passed = registry.promote("v3", "production")
    assert passed.gate.passed and not passed.forced
    events = registry.events("production")
    assert [(e.action, e.version, e.forced) for e in events] == [
        ("promote", "v1", False), ("promote", "v2", True), ("rollback", "v1", False), ("promote", "v3", False)]
    assert events[1].reason == "hotfix for a security issue"


def test_registry_errors(sqlite_url):
    store = Store.open(sqlite_url)
    registry = _versions(store)
    with pytest.raises(UndriftError, match="already registered"):
        registry.register("v1", "hf:/x")
    registry.register("v4", "hf:/models/v4")
    with pytest.raises(UndriftError, match="has no runs"):
        registry.promote("v4", "production")
    with pytest.raises(UndriftError, match="no earlier version to roll back"):
        registry.set_alias("staging", "v1")
        registry.rollback("staging")
    with pytest.raises(UndriftError, match="no registered version or alias 'v9'"):
        registry.get("v9")
    with pytest.raises(UndriftError, match="no registered version or alias 'v9'"):
        registry.register("v5", "hf:/models/v5", parent="v9")
    assert registry.find("v5") is None


def test_rollback_walks_back_through_the_history_and_forward_is_a_promotion(sqlite_url):
    registry = _versions(Store.open(sqlite_url))
    assert registry.rollback_target("production") is None  # no such alias yet
    registry.promote("v1", "production")
    assert registry.rollback_target("production") is None  # nowhere to go back to
    registry.promote("v2", "production", force=True, reason="hotfix")
    registry.promote("v3", "production", force=True, reason="hotfix")
    assert registry.rollback_target("production") == "v2"  # what a rollback would do, said before it is done
    assert registry.rollback("production", reason="bad").version == "v2"
    assert registry.rollback_target("production") == "v1"
    assert registry.rollback("production").version == "v1"
    assert registry.rollback_target("production") is None
    with pytest.raises(UndriftError, match="no earlier version to roll back to"):
        registry.rollback("production")
    assert registry.alias_target("production") == "v1"
    again = registry.promote("v3", "production")  # going forward is a promotion, through the gate
    assert again.previous == "v1" and again.gate.passed
    with pytest.raises(GateRefused):
        registry.promote("v2", "production")
    back = registry.rollback("production")
    assert (back.previous, back.version) == ("v3", "v1")
    assert [(e.action, e.previous, e.version) for e in registry.events("production")] == [
        ("promote", None, "v1"), ("promote", "v1", "v2"), ("promote", "v2", "v3"), ("rollback", "v3", "v2"),
        ("rollback", "v2", "v1"), ("promote", "v1", "v3"), ("rollback", "v3", "v1")]
    assert registry.events("production")[3].reason == "bad"


def test_card_compares_with_the_parent_suite_by_suite(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    registry = Registry(store)
    registry.register("v1", "hf:/models/v1")
    registry.register("v2", "hf:/models/v2", parent="v1")
    plan = {("v1", "A"): 80, ("v1", "B"): 50, ("v2", "A"): 75, ("v2", "B"): 60}  # right answers out of 100
    for (name, suite), right in plan.items():
        store_run(store, name, [result_row("t", f"s{i}", i < right, extracted="a" if i < right else "b")
                                for i in range(100)], suite=suite)
    card = undrift("card", "v2", "--db", sqlite_url, cwd=tmp_path)
    assert card.returncode == 0, card.stderr
    compatibility = card.stdout.split("## Compatibility with the parent")[1].split("## Forgetting")[0]
    for suite, old, new in (("A", "80.0%", "75.0%"), ("B", "50.0%", "60.0%")):
        assert f"### Suite `{suite}`" in compatibility
        assert f"| t | 100 | accuracy | {old} | {new} |" in compatibility
    evaluations = card.stdout.split("## Evaluations")[1].split("## Compatibility")[0]
    assert "Suite `A`" in evaluations and "| t | 100 | 75.0%" in evaluations
    assert "Suite `B`" in evaluations and "| t | 100 | 60.0%" in evaluations
    forgetting = card.stdout.split("## Forgetting along the lineage")[1]
    assert "| version | A | B |" in forgetting
    assert "| v1 | 80.0% | 50.0% |" in forgetting and "| v2 | 75.0% | 60.0% |" in forgetting


def test_a_version_whose_parent_is_unknown_says_so(tmp_path, sqlite_url):
    registry = Registry(Store.open(sqlite_url))
    registry.register("v2", "hf:/models/v2+lora:/a", kind="trained", recipe={"base": "hf:/models/v1"})
    card = undrift("card", "v2", "--db", sqlite_url, cwd=tmp_path).stdout
    assert "parent version is unknown" in card and "`hf:/models/v1`" in card
    refused = undrift("registry", "register", "v3", "--spec", "hf:/models/v3", "--parent", "v9", "--db", sqlite_url,
                      cwd=tmp_path)
    assert refused.returncode == 2 and "no registered version or alias 'v9'" in refused.stderr
    assert [v.name for v in registry.list()] == ["v2"]


def test_cli_registry_card_and_promote_exit_codes(tmp_path, sqlite_url):
    _versions(Store.open(sqlite_url))
    db = ["--db", sqlite_url]
    assert undrift("registry", "promote", "v1", *db, cwd=tmp_path).returncode == 0
    refused = undrift("registry", "promote", "v2", *db, cwd=tmp_path)
    assert refused.returncode == 1 and "refused" in refused.stderr and "qa: nfr 5.0%" in refused.stdout
    listed = json.loads(undrift("registry", "list", "--json", *db, cwd=tmp_path).stdout)
    assert {v["name"]: v["aliases"] for v in listed}["v1"] == ["production"]
    assert undrift("registry", "rollback", *db, cwd=tmp_path).returncode == 2  # no earlier version
    shown = undrift("registry", "show", "production", *db, cwd=tmp_path)
    assert "v1 (trained)" in shown.stdout and "promote production" in shown.stdout
    card = undrift("card", "v2", "--out", "v2.md", *db, cwd=tmp_path)
    assert card.returncode == 0, card.stderr
    text = (tmp_path / "v2.md").read_text()
    assert "# Model card: v2" in text and "| epochs | `2` |" in text and "v2 ← v1" in text
    assert "| qa | 100 | accuracy | 80.0% | 75.0% |" in text  # compatibility with the parent
    assert "backward transfer -5.0 points" in text


def test_forgetting_matrix_bwt_and_forgetting(sqlite_url):
    store = Store.open(sqlite_url)
    # suite A learned by m1; m2 learns suite B and loses some of A; m3 recovers part of A
    plan = {"m1": {"A": 0.8, "B": 0.1}, "m2": {"A": 0.6, "B": 0.9}, "m3": {"A": 0.7, "B": 0.85}}
    for name, scores in plan.items():
        for suite, share in scores.items():
            store_run(store, name, [result_row("t", f"s{i}", i < share * 20) for i in range(20)], suite=suite)
    report = forgetting_report(store, ["m1", "m2", "m3"], trained_on=["A", "B", "-"])
    assert report.matrix == [[0.8, 0.1], [0.6, 0.9], [0.7, 0.85]]
    assert report.average_accuracy == pytest.approx((0.7 + 0.85) / 2)
    assert report.bwt == pytest.approx(((0.7 - 0.8) + (0.85 - 0.9)) / 2)
    assert report.forgetting == pytest.approx(((0.8 - 0.7) + (0.9 - 0.85)) / 2)
    with pytest.raises(UndriftError, match="one suite per version"):
        forgetting_report(store, ["m1", "m2"], trained_on=["A"])
    with pytest.raises(UndriftError, match="has no runs"):
        forgetting_report(store, ["m1", "nope"])


def test_review_export_of_flips_both_ways_and_negative_only(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    old_right = [True, True, False, False]
    new_right = [True, False, True, False]  # s1: negative flip, s2: positive flip
    store_run(store, "old", [result_row("t", f"s{i}", right) for i, right in enumerate(old_right)])
    store_run(store, "new", [result_row("t", f"s{i}", right) for i, right in enumerate(new_right)])
    db = ["--db", sqlite_url]
    cases = (("flips", [("s1", "negative"), ("s2", "positive")]), ("negative-flips", [("s1", "negative")]))
    for only, expected in cases:
        exported = undrift("review", "export", "new", "--only", only, "--against", "old", "--out", f"{only}.csv", *db,
                           cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        with (tmp_path / f"{only}.csv").open() as handle:
            assert [(r["sample_id"], r["flip"]) for r in csv.DictReader(handle)] == expected
    lonely = undrift("review", "export", "new", "--only", "negative-flips", "--out", "x.csv", *db, cwd=tmp_path)
    assert lonely.returncode == 2 and "needs against (--against)" in lonely.stderr and not (tmp_path / "x.csv").exists()


def test_the_commands_of_this_module_explain_every_option():
    import typer

    from undrift.cli import app

    root = typer.main.get_command(app)
    commands = [root.commands["train"], root.commands["card"]]
    for group in ("registry", "review"):
        commands += list(root.commands[group].commands.values())
    missing = [f"{command.name} {param.name}" for command in commands for param in command.params
               if not getattr(param, "help", None) and param.name != "help"]
    assert not missing, missing


def test_review_round_trip(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    store_run(store, "old", [result_row("t", f"s{i}", True, response=f"answer {i}") for i in range(4)])
    store_run(store, "new", [result_row("t", f"s{i}", i < 2, response=f"reply {i}") for i in range(4)])
    db = ["--db", sqlite_url]
    exported = undrift("review", "export", "new", "--only", "flips", "--against", "old", "--out", "review.csv", *db,
                       cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with (tmp_path / "review.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["sample_id"] for r in rows] == ["s2", "s3"]
    rows[0]["correction"] = "the right answer"
    rows[1]["label"] = "bad"
    with (tmp_path / "review.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    imported = undrift("review", "import", "review.csv", "--out", "train.jsonl", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "1 corrected" in imported.stdout and "1 rejected without a correction" in imported.stdout
    (example,) = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert example["messages"][-1] == {"role": "assistant", "content": "the right answer"}
    rows[1]["label"] = "meh"
    with (tmp_path / "review.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bad = undrift("review", "import", "review.csv", "--out", "train2.jsonl", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown label 'meh'" in bad.stderr and not (tmp_path / "train2.jsonl").exists()


def _production_at_v3(sqlite_url):
    """production promoted v1, then v2, then v3 (forced): two rollbacks back are possible."""
    registry = _versions(Store.open(sqlite_url))
    registry.promote("v1", "production")
    registry.promote("v2", "production", force=True, reason="hotfix")
    registry.promote("v3", "production", force=True, reason="hotfix")
    return registry


def test_a_move_expected_from_a_stale_view_is_refused_and_changes_nothing(sqlite_url):
    from undrift import AliasMoved

    registry = _production_at_v3(sqlite_url)
    assert registry.rollback("production", expected="v3").version == "v2"
    with pytest.raises(AliasMoved, match=r"^production points at v2 now, not v3 .*nothing moved: reload"):
        registry.rollback("production", expected="v3")  # the double click
    assert registry.alias_target("production") == "v2" and len(registry.events("production")) == 4
    with pytest.raises(UndriftError, match="production points at v2 now, not v1"):
        registry.promote("v3", "production", force=True, reason="x", expected="v1")
    assert registry.promote("v3", "production", force=True, reason="x", expected="v2").previous == "v2"
    registry.set_alias("staging", "v1", expected="")  # "" : the caller saw no such alias yet
    with pytest.raises(UndriftError, match=r"staging points at v1 now, and you expected no alias staging yet"):
        registry.set_alias("staging", "v2", expected="")
    with pytest.raises(UndriftError, match=r"there is no alias canary now, not v1"):
        registry.set_alias("canary", "v2", expected="v1")
    assert registry.aliases() == {"production": "v3", "staging": "v1"} and len(registry.events()) == 6


def test_two_concurrent_rollbacks_from_the_same_view_move_the_alias_once(sqlite_url):
    import threading

    _production_at_v3(sqlite_url)
    start, outcomes = threading.Barrier(2), []

    def roll_back():
        registry = Registry(Store.open(sqlite_url))  # a process of its own, as two dashboard requests are
        start.wait()
        try:
            outcomes.append(registry.rollback("production", expected="v3").version)
        except UndriftError as refused:
            outcomes.append(str(refused))

    threads = [threading.Thread(target=roll_back) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    moved, refused = sorted(outcomes, key=len)
    assert moved == "v2" and refused.startswith("production points at v2 now, not v3")
    registry = Registry(Store.open(sqlite_url))
    assert registry.alias_target("production") == "v2"
    assert [e.action for e in registry.events("production")] == ["promote", "promote", "promote", "rollback"]


@pytest.mark.parametrize("alias", ["a/../b", "a\tb", "a\nb", "a" * 5000, "<script>alert(1)</script>", ""])
def test_an_alias_needs_the_name_rule_of_a_watch_on_every_write_path(tmp_path, sqlite_url, alias):
    _versions(Store.open(sqlite_url))
    db = ["--db", sqlite_url]
    for command in (("registry", "alias", alias, "v1"), ("registry", "promote", "v1", "--to", alias)):
        refused = undrift(*command, *db, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "use letters, digits" in refused.stderr
    with pytest.raises(UndriftError, match="bad alias name|an alias needs a name"):
        Registry(Store.open(sqlite_url)).set_alias(alias, "v1")
    assert Registry(Store.open(sqlite_url)).aliases() == {} and Registry(Store.open(sqlite_url)).events() == []


def test_promoting_the_version_an_alias_points_at_moves_nothing(tmp_path, sqlite_url):
    registry = _versions(Store.open(sqlite_url))
    registry.promote("v1", "production")
    since = registry.events("production")[-1].at
    again = registry.promote("v1", "production")
    assert not again.moved and (again.previous, again.version) == ("v1", "v1")
    assert registry.set_alias("production", "v1") is None
    db = ["--db", sqlite_url]
    for command in (("registry", "promote", "v1"), ("registry", "alias", "production", "v1")):
        cli = undrift(*command, *db, cwd=tmp_path)
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.strip() == "production already points at v1: nothing moved"
    assert len(registry.events("production")) == 1 and registry.events("production")[-1].at == since


def test_cli_expect_refuses_a_move_from_a_stale_view(tmp_path, sqlite_url):
    _production_at_v3(sqlite_url)
    db = ["--db", sqlite_url]
    assert undrift("registry", "rollback", "--expect", "v3", *db, cwd=tmp_path).returncode == 0
    again = undrift("registry", "rollback", "--expect", "v3", *db, cwd=tmp_path)
    assert again.returncode == 2 and "production points at v2 now, not v3" in again.stderr
    stale = undrift("registry", "promote", "v1", "--force", "--reason", "x", "--expect", "v3", *db, cwd=tmp_path)
    assert stale.returncode == 2 and "production points at v2 now, not v3" in stale.stderr
    assert Registry(Store.open(sqlite_url)).alias_target("production") == "v2"
