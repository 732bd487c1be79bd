"""The gate: policies, pass/fail with reasons and exit codes, JUnit XML, and malformed policies."""

import json
from xml.etree import ElementTree

import pytest
from helpers import result_row, store_run, undrift

from undrift.analysis.compare import compare_runs
from undrift.errors import UndriftError
from undrift.gate import Policy, evaluate
from undrift.store import Store


@pytest.fixture
def store_with_versions(sqlite_url):
    """v1 -> v2: 100 samples, 3 negative flips and 1 positive one; v1 -> v3: identical answers."""
    store = Store.open(sqlite_url)
    old = [result_row("qa", f"s{i}", i < 80, response="x" * 100) for i in range(100)]
    new = [result_row("qa", f"s{i}", (i < 80 and i not in (0, 1, 2)) or i == 95, response="x" * 150)
           for i in range(100)]
    store_run(store, "v1", old)
    store_run(store, "v2", new)
    store_run(store, "v3", [dict(r) for r in old])
    return store


def test_thresholds_pass_and_fail_with_reasons(store_with_versions):
    policy = Policy.parse({"rules": [
        {"metric": "nfr", "max": 0.02},
        {"metric": "accuracy", "no_significant_drop": True, "max_drop": 0.05},
        {"metric": "verbosity", "max_relative_change": 0.3},
    ]})
    result = evaluate(policy, compare_runs(store_with_versions, "v1", "v2"))
    verdicts = {c.rule: c.passed for c in result.checks}
    assert verdicts == {"nfr max 0.02": False, "accuracy no significant drop": True, "accuracy max drop 0.05": True,
                        "verbosity max relative change 0.3": False}
    assert not result.passed
    reasons = " ".join(c.reason for c in result.failures)
    assert "nfr 3.0% (limit ≤ 2.0%)" in reasons and "+50.0%" in reasons
    same = evaluate(policy, compare_runs(store_with_versions, "v1", "v3"))
    assert same.passed and len(same.checks) == 4


def test_ci_bound_is_stricter_than_the_estimate(store_with_versions):
    comparison = compare_runs(store_with_versions, "v1", "v3")  # NFR 0 of 100: upper bound about 3.7%
    assert evaluate(Policy.parse({"rules": [{"metric": "nfr", "max": 0.02}]}), comparison).passed
    strict = evaluate(Policy.parse({"rules": [{"metric": "nfr", "max": 0.02, "bound": "ci"}]}), comparison)
    assert not strict.passed and "upper 95% bound 3.7%" in strict.failures[0].reason


def test_rules_for_metrics_no_task_measures_are_noted_not_failed(store_with_versions):
    result = evaluate(Policy.parse({"rules": [{"metric": "response_rate", "max_drop": 0.05}]}),
                      compare_runs(store_with_versions, "v1", "v2"))
    assert result.passed and result.checks == [] and "none measures response_rate" in result.notes[0]


def test_cli_exit_codes_and_junit(tmp_path, store_with_versions, sqlite_url):
    (tmp_path / "policy.yaml").write_text("rules:\n  - metric: nfr\n    max: 0.02\n")
    failed = undrift("gate", "v1", "v2", "--policy", "policy.yaml", "--junit", "gate.xml", "--db", sqlite_url,
                     cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert "FAIL" in failed.stdout and "qa: nfr 3.0%" in failed.stdout
    suite = ElementTree.parse(tmp_path / "gate.xml").getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == "1"
    assert suite.find("testsuite/testcase/failure").get("message").startswith("qa: nfr 3.0%")
    passed = undrift("gate", "v1", "v3", "--policy", "policy.yaml", "--json", "--db", sqlite_url, cwd=tmp_path)
    assert passed.returncode == 0 and json.loads(passed.stdout)["passed"] is True


@pytest.mark.parametrize("text, fragment", [
    ("rules: [", "is not valid YAML"),
    ("thresholds: []", "unknown key 'thresholds'"),
    ("rules: []", "non-empty list `rules:`"),
    ("rules:\n  - metric: acuracy\n    max: 0.1", "unknown metric 'acuracy'"),
    ("rules:\n  - metric: nfr", "give a threshold"),
    ("rules:\n  - metric: nfr\n    max: lots", "max must be a number"),
    ("rules:\n  - metric: nfr\n    maximum: 0.1", "unknown key 'maximum'"),
    # a share's limit given in percent would pass any regression (nfr 50% under "max: 5") or never pass
    ("rules:\n  - metric: nfr\n    max: 5", "for 5% write 0.05"),
    ("rules:\n  - metric: accuracy\n    min: 70", "accuracy is a share between 0 and 1"),
    ("rules:\n  - metric: accuracy\n    max_drop: 2", "for 2% write 0.02"),
    ("rules:\n  - metric: nfr\n    max: -0.01", "between 0 and 1"),
    ("rules:\n  - metric: latency\n    max_rise: -1", "cannot be negative"),
])
def test_malformed_policies_are_one_line_errors(tmp_path, store_with_versions, sqlite_url, text, fragment):
    (tmp_path / "policy.yaml").write_text(text)
    result = undrift("gate", "v1", "v2", "--policy", "policy.yaml", "--junit", "gate.xml", "--db", sqlite_url,
                     cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "gate.xml").exists()


def test_missing_policy_file(tmp_path):
    with pytest.raises(UndriftError, match="no policy file"):
        Policy.load(tmp_path / "absent.yaml")


def test_reasons_say_rise_or_fall_and_count_checks_right(tmp_path, store_with_versions, sqlite_url):
    # v2 -> v1 is a rise of 2 points in accuracy: a max_drop rule passes and says it rose, not "drop -2.0"
    result = evaluate(Policy.parse({"rules": [{"metric": "accuracy", "max_drop": 0.05}]}),
                      compare_runs(store_with_versions, "v2", "v1"))
    assert result.passed and result.checks[0].reason == "qa: accuracy rose 2.0 pts (limit: drop ≤ 5.0 pts)"
    (tmp_path / "policy.yaml").write_text("rules:\n  - metric: nfr\n    max: 0.02\n")
    text = undrift("gate", "v1", "v2", "--policy", "policy.yaml", "--db", sqlite_url, cwd=tmp_path).stdout
    assert "gate FAILED (1 check)" in text and "1 checks" not in text


def test_a_rule_for_a_task_the_comparison_lacks_is_a_note(store_with_versions):
    result = evaluate(Policy.parse({"rules": [{"metric": "nfr", "max": 0.1, "tasks": ["nope"]}]}),
                      compare_runs(store_with_versions, "v1", "v2"))
    assert result.passed and result.checks == [] and "names task 'nope', which the comparison lacks" in result.notes[0]


def test_untested_latency_is_noted_not_gated(sqlite_url):
    """Latency of a local model is shared by a batch: a significance rule on it is skipped with a note."""
    store = Store.open(sqlite_url)
    for name, latency in (("a", 0.1), ("b", 0.3)):
        rows = [result_row("qa", f"s{i}", True, latency_s=latency + i / 1000) for i in range(40)]
        store_run(store, name, rows, fingerprint={"backend": "hf", "weights_sha256": name})
    comparison = compare_runs(store, "a", "b")
    latency = comparison.task("qa").metrics["latency"]
    assert latency.p is None and latency.ci is None and not latency.significant and "batch" in latency.note
    result = evaluate(Policy.parse({"rules": [{"metric": "latency", "no_significant_change": True},
                                              {"metric": "latency", "max_relative_change": 0.5}]}), comparison)
    assert [c.rule for c in result.checks] == ["latency max relative change 0.5"] and not result.passed
    assert "latency is not tested" in result.notes[0]


@pytest.mark.parametrize("metric, key, fitting", [("latency", "no_significant_drop", "no_significant_rise"),
                                                  ("accuracy", "no_significant_rise", "no_significant_drop"),
                                                  ("verbosity", "no_significant_drop", "no_significant_change")])
def test_significance_rules_that_would_pass_a_worse_version_are_refused(metric, key, fitting):
    with pytest.raises(UndriftError, match=f"would pass a worse {metric} and fail a better one; use {fitting}"):
        Policy.parse({"rules": [{"metric": metric, key: True}]})


def test_no_significant_rise_fails_a_slower_served_model(sqlite_url):
    store = Store.open(sqlite_url)
    for name, latency in (("a", 0.1), ("b", 0.3)):
        store_run(store, name, [result_row("qa", f"s{i}", True, latency_s=latency + i / 1000) for i in range(40)])
    result = evaluate(Policy.parse({"rules": [{"metric": "latency", "no_significant_rise": True}]}),
                      compare_runs(store, "a", "b"))
    assert not result.passed and "significant rise in latency" in result.failures[0].reason
    assert evaluate(Policy.parse({"rules": [{"metric": "latency", "no_significant_rise": True}]}),
                    compare_runs(store, "b", "a")).passed
