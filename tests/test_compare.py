"""Comparisons of stored runs, against outcomes worked out by hand and against the LLMDrift study's own data."""

import csv
import json
import re
import sys
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np
import pytest
from helpers import GENERATION, result_row, store_run, undrift
from scipy import stats

from undrift.analysis.compare import compare_runs
from undrift.analysis.stats import paired_rate_p_value
from undrift.errors import UndriftError
from undrift.store import Store

# old/new verdicts for 10 samples: negative flips s1, s2; positive flip s7; both right s0, s3-s6; both wrong s8, s9
OLD = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
NEW = [1, 0, 0, 1, 1, 1, 1, 1, 0, 0]


@pytest.fixture
def store(sqlite_url):
    return Store.open(sqlite_url)


def _pair(store, old_answers=None, new_answers=None, **kwargs):
    old_rows = [result_row("t", f"s{i}", bool(c), extracted=(old_answers or {}).get(i, "a" if c else "x"),
                           response="r" * (10 + i), slices=["even" if i % 2 == 0 else "odd"])
                for i, c in enumerate(OLD)]
    new_rows = [result_row("t", f"s{i}", bool(c), extracted=(new_answers or {}).get(i, "a" if c else "x"),
                           response="r" * (20 + i), slices=["even" if i % 2 == 0 else "odd"])
                for i, c in enumerate(NEW)]
    return store_run(store, "old", old_rows, **kwargs), store_run(store, "new", new_rows, **kwargs)


def test_flip_rates_and_compatibility_by_hand(store):
    # s8 and s9 were wrong with "x"; s9 now says "y": a wrong answer that differs (an inconsistency flip)
    _pair(store, new_answers={9: "y"})
    group = compare_runs(store, "old", "new").task("t")
    c = group.compatibility
    assert (c.negative_flips, c.positive_flips) == (2, 1)
    assert c.nfr == pytest.approx(0.2) and c.pfr == pytest.approx(0.1)
    assert c.btc == pytest.approx(5 / 7)  # both right / old right
    assert c.bec == pytest.approx(2 / 4)  # new errors s1, s2, s8, s9; the old version also missed s8, s9
    assert c.inconsistency == pytest.approx(3 / 10)  # s1, s2 (right -> "x") and s9 ("x" -> "y")
    accuracy = group.metrics["accuracy"]
    assert accuracy.old == pytest.approx(0.7) and accuracy.new == pytest.approx(0.6)
    assert accuracy.delta == pytest.approx(-0.1)
    # the test the interval inverts: McNemar's score test on 2 flips down and 1 up, or stricter
    assert accuracy.p == pytest.approx(float(paired_rate_p_value(5, 2, 1, 2)))
    assert accuracy.p >= 2 * stats.norm.sf(1 / 3**0.5) and accuracy.ci[0] < 0 < accuracy.ci[1]
    assert group.mismatch == pytest.approx(4 / 10)  # s1, s2, s7, s9
    verbosity = group.metrics["verbosity"]
    assert verbosity.old == pytest.approx(14.5) and verbosity.new == pytest.approx(24.5) and verbosity.delta == 10


def test_slices_json_and_flips(store):
    _pair(store)
    comparison = compare_runs(store, "old", "new")
    data = comparison.to_dict()
    task = data["tasks"]["t"]
    for key in ("nfr", "pfr", "btc", "bec", "mismatch"):
        assert key in task
    assert set(task["accuracy"]) >= {"old", "new", "delta", "ci", "p"}
    assert set(task["verbosity"]) >= {"old", "new"}
    assert set(task["slices"]) == {"even", "odd"}
    assert task["slices"]["even"]["n"] == 5 and task["slices"]["even"]["nfr"] == pytest.approx(1 / 5)  # s2
    kinds = sorted((f["sample_id"], f["kind"]) for f in data["flips"])
    assert kinds == [("s1", "negative"), ("s2", "negative"), ("s7", "positive")]
    assert data["shared"] == 10
    assert data["left_out"] == {"only_old": [], "only_new": [], "prompt_changed": [], "errored": []}


def test_the_samples_each_version_got_right_are_counted_and_flips_carry_their_slices(store):
    """Regress / common / progress (the dashboard's view): both right s0, s3-s6; both wrong s8, s9."""
    _pair(store)
    comparison = compare_runs(store, "old", "new")
    c = comparison.task("t").compatibility
    assert (c.negative_flips, c.both_right, c.positive_flips, c.both_wrong) == (2, 5, 1, 2)
    assert {f.sample_id: f.slices for f in comparison.flips} == {"s1": ["odd"], "s2": ["even"], "s7": ["odd"]}
    task = comparison.to_dict()["tasks"]["t"]
    assert (task["both_right"], task["both_wrong"]) == (5, 2) and comparison.to_dict()["flips"][0]["slices"]


def test_a_registry_alias_stands_for_the_newest_finished_run_of_its_version(store):
    """As in a gate: `undrift.compare` takes an alias where it takes a run (the dashboard's pickers do)."""
    import undrift as api
    from undrift import Registry

    old, new = _pair(store)
    registry = Registry(store)
    registry.register("new", "test:new", kind="run")
    registry.set_alias("candidate", "new")
    comparison = api.compare("old", "candidate", db=store)
    assert (comparison.old.id, comparison.new.id) == (old.id, new.id)
    registry.register("empty", "test:empty", kind="run")
    registry.set_alias("nothing", "empty", forced=True)
    with pytest.raises(UndriftError, match="alias 'nothing' points at version 'empty', which has no finished runs"):
        api.compare("old", "nothing", db=store)


def test_only_shared_samples_are_compared_and_the_rest_are_named(store):
    old_rows = [result_row("t", f"s{i}", True) for i in range(6)]
    new_rows = [result_row("t", f"s{i}", True) for i in range(2, 8)]
    new_rows[0] = result_row("t", "s2", True, prompt="a different question")
    store_run(store, "old", old_rows)
    store_run(store, "new", new_rows)
    comparison = compare_runs(store, "old", "new")
    assert comparison.shared == 3  # s3, s4, s5
    assert comparison.only_old == [("t", "s0"), ("t", "s1")]
    assert comparison.only_new == [("t", "s6"), ("t", "s7")]
    assert comparison.prompt_changed == [("t", "s2")]


def test_generative_flips_use_the_score_difference_with_a_tolerance(store):
    store_run(store, "old", [result_row("g", f"s{i}", None, value=v) for i, v in enumerate([0.9, 0.5, 0.5, 0.2])])
    store_run(store, "new", [result_row("g", f"s{i}", None, value=v) for i, v in enumerate([0.85, 0.5, 0.9, 0.0])])
    strict = compare_runs(store, "old", "new").task("g")
    assert strict.compatibility is None
    assert strict.score_flips.negative == pytest.approx(2 / 4) and strict.score_flips.positive == pytest.approx(1 / 4)
    tolerant = compare_runs(store, "old", "new", tolerance=0.1).task("g")
    assert tolerant.score_flips.negative == pytest.approx(1 / 4)  # only s3 dropped by more than 0.1
    assert "score" in tolerant.metrics
    assert tolerant.to_dict()["nfr"] == pytest.approx(0.25)


def test_agreement_across_repeats(store):
    rows = []
    for i in range(4):
        rows += [result_row("t", f"s{i}", True, extracted="a", repeat=0),
                 result_row("t", f"s{i}", True, extracted="a" if i < 3 else "b", repeat=1)]
    store_run(store, "old", rows)
    store_run(store, "new", [result_row("t", f"s{i}", True, extracted="a") for i in range(4)])
    group = compare_runs(store, "old", "new").task("t")
    assert group.agreement == {"old": 0.75, "new": None}


def test_bad_comparisons_are_one_line_errors(store):
    store_run(store, "a", [result_row("t", "s0", True)])
    store_run(store, "b", [result_row("t", "s1", True)])
    store_run(store, "c", [result_row("t", "s0", True)], suite="other")
    with pytest.raises(UndriftError, match="share no answered samples"):
        compare_runs(store, "a", "b")
    with pytest.raises(UndriftError, match="different suites"):
        compare_runs(store, "a", "c")
    with pytest.raises(UndriftError, match="no run or model name 'nope'"):
        compare_runs(store, "a", "nope")
    with pytest.raises(UndriftError, match="neither run has task 'zzz'"):
        compare_runs(store, "a", "a", tasks=["zzz"])


# -- the LLMDrift study's recorded generations, end to end -------------------------------------------------------

def _study_rows():
    csv.field_size_limit(sys.maxsize)
    by_model = defaultdict(list)
    for path in sorted(GENERATION.glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                by_model[row["model"].split("/")[-1]].append(row)
    return by_model


def _yes_no(text):  # the study's rule, written again here from its README
    words = "".join(f"[{w}]" for w in text.replace(",", " ").replace(".", " ").lower().split())
    return "yes" if "[yes]" in words else "no" if "[no]" in words else "undetermined"


def _boxed(text):
    found = re.findall(r"boxed\{[0-9]\}", text.lower().replace(".", ""))
    return found[0] if found else "undetermined"


def _responded(text):
    return 0 if re.search(r"\([A-Za-z]\)\. Refused", text) else int(bool(re.search(r"\([A-Za-z]\)", text)))


@pytest.mark.skipif(not GENERATION.exists(), reason="the shared LLMDrift data is not beside this checkout")
def test_llmdrift_import_and_compare_match_figures_computed_from_the_csvs(tmp_path):
    files = [str(p) for p in sorted(GENERATION.glob("*.csv"))]
    imported = undrift("import", *files, "--format", "llmdrift", "--json", "-q", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert sorted(r["name"] for r in json.loads(imported.stdout)) == [
        "gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-4-0314", "gpt-4-0613"]
    result = undrift("compare", "gpt-4-0314", "gpt-4-0613", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tasks = json.loads(result.stdout)["tasks"]

    study = _study_rows()
    old = {r["id"]: r for r in study["gpt-4-0314"] if r["dataset"] in ("prime", "composite")}
    new = {r["id"]: r for r in study["gpt-4-0613"] if r["dataset"] in ("prime", "composite")}
    right = {m: {i: _yes_no(r["answer"]) == _yes_no(r["ref_answer"]) for i, r in rows.items()}
             for m, rows in (("old", old), ("new", new))}
    primes = tasks["primes"]
    assert primes["n"] == 1000
    assert primes["accuracy"]["old"] == pytest.approx(sum(right["old"].values()) / 1000)
    assert primes["accuracy"]["new"] == pytest.approx(sum(right["new"].values()) / 1000)
    assert (primes["accuracy"]["old"], primes["accuracy"]["new"]) == (pytest.approx(0.84), pytest.approx(0.511))
    negative = sum(right["old"][i] and not right["new"][i] for i in old)
    positive = sum(not right["old"][i] and right["new"][i] for i in old)
    assert primes["nfr"] == pytest.approx(negative / 1000) and primes["pfr"] == pytest.approx(positive / 1000)
    mcnemar = 2 * stats.norm.sf(abs(positive - negative) / (positive + negative) ** 0.5)
    assert mcnemar <= primes["accuracy"]["p"] < 1e-4 and primes["accuracy"]["ci"][1] < 0
    assert primes["mismatch"] == pytest.approx(sum(_yes_no(old[i]["answer"]) != _yes_no(new[i]["answer"]) for i in old) / 1000)
    assert primes["verbosity"]["old"] == pytest.approx(sum(len(r["answer"]) for r in old.values()) / 1000)
    assert primes["verbosity"]["new"] == pytest.approx(sum(len(r["answer"]) for r in new.values()) / 1000)
    assert primes["slices"]["prime"]["accuracy"]["new"] < 0.05 < 0.95 < primes["slices"]["prime"]["accuracy"]["old"]

    def share(model, dataset, rule):
        rows = [r for r in study[model] if r["dataset"] == dataset]
        return sum(rule(r) for r in rows) / len(rows)

    happy = lambda r: _boxed(r["answer"]) == _boxed(r["ref_answer"])  # noqa: E731
    assert tasks["happy_numbers"]["accuracy"]["old"] == pytest.approx(share("gpt-4-0314", "counthappynumber", happy))
    assert tasks["happy_numbers"]["accuracy"]["new"] == pytest.approx(share("gpt-4-0613", "counthappynumber", happy))
    opinion = lambda r: _responded(r["answer"])  # noqa: E731
    assert tasks["opinion"]["response_rate"]["old"] == pytest.approx(share("gpt-4-0314", "opinionqa", opinion))
    assert tasks["opinion"]["response_rate"]["new"] == pytest.approx(share("gpt-4-0613", "opinionqa", opinion))
    assert tasks["opinion"]["n"] == 1506  # 12 rows reuse an id with another question: kept apart, none dropped
    answered = lambda r: int(r["Response Rate"])  # noqa: E731
    assert tasks["sensitive"]["answer_rate"]["old"] == pytest.approx(share("gpt-4-0314", "sensitiveq", answered))
    assert tasks["sensitive"]["answer_rate"]["new"] == pytest.approx(share("gpt-4-0613", "sensitiveq", answered))
    usable = lambda r: int(r["Directly Usable"])  # noqa: E731
    assert tasks["code"]["accuracy"]["old"] == pytest.approx(share("gpt-4-0314", "leetcode_easy", usable))
    assert tasks["code"]["accuracy"]["new"] == pytest.approx(share("gpt-4-0613", "leetcode_easy", usable))

    table = undrift("compare", "gpt-4-0314", "gpt-4-0613", "--html", "report.html", "--md", "report.md", cwd=tmp_path)
    assert table.returncode == 0 and "primes (1000)" in table.stdout and "84.0%" in table.stdout
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and "http" not in html.split("</style>")[0] and "<script" not in html
    assert "| primes | 1000 | accuracy | 84.0% | 51.1% |" in (tmp_path / "report.md").read_text()


def test_generic_jsonl_and_csv_import(tmp_path):
    lines = [{"id": i, "model": m, "prompt": f"2+{i}=?", "response": str(2 + i if m == "v1" or i < 3 else 0),
              "target": str(2 + i), "at": "2024-05-0%dT10:00:00" % (1 if m == "v1" else 2)}
             for m in ("v1", "v2") for i in range(5)]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    result = undrift("import", "log.jsonl", "--format", "jsonl", "--target-column", "target", "--scorer", "numeric",
                     "--time-column", "at", "--suite", "arith", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["name"] for r in runs] == ["v1", "v2"] and runs[0]["created_at"].startswith("2024-05-01")
    compared = json.loads(undrift("compare", "v1", "v2", "--json", cwd=tmp_path).stdout)
    assert compared["tasks"]["imported"]["nfr"] == pytest.approx(0.4)

    with (tmp_path / "log.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["q", "a"])
        writer.writeheader()
        writer.writerows([{"q": "hi", "a": "hello"}, {"q": "bye", "a": "goodbye"}])
    result = undrift("import", "log.csv", "--format", "csv", "--prompt-column", "q", "--response-column", "a",
                     "--id-column", "", "--name", "bot", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["done"] == 2


@pytest.mark.parametrize("content, args, fragment", [
    ("", ["--format", "xml"], "unknown import format 'xml'"),
    ('{"prompt": "x"}\n', ["--format", "jsonl"], "has no field 'response'"),
    ("{not json\n", ["--format", "jsonl"], "line 1: not JSON"),
    ('{"prompt": "x", "response": "y", "id": 1}\n', ["--format", "jsonl", "--model-column", ""], "or name (--name)"),
    ('{"prompt": "x", "response": "y", "id": 1, "model": "m"}\n', ["--format", "jsonl", "--scorer", "nope"],
     "unknown scorer 'nope'"),
])
def test_bad_imports_are_one_line_errors_and_write_nothing(tmp_path, content, args, fragment):
    (tmp_path / "in.jsonl").write_text(content)
    result = undrift("import", "in.jsonl", *args, "-q", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    runs = undrift("runs", "--json", cwd=tmp_path)
    assert runs.returncode == 2 or json.loads(runs.stdout) == []


def test_compare_command_errors(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    store_run(store, "a", [result_row("t", "s0", True)], created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
    result = undrift("compare", "a", "missing", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 2 and "no run or model name 'missing'" in result.stderr
    result = undrift("compare", "a", "a", "--html", "no/such/dir/r.html", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_terminal_names_the_left_out_samples_and_repeat_agreement(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    old_rows = [result_row("t", f"s{i}", True, extracted="a", repeat=r) for i in range(3) for r in range(2)]
    store_run(store, "old", old_rows)
    store_run(store, "new", [result_row("t", f"s{i}", True, extracted="a") for i in range(1, 4)])
    result = undrift("compare", "old", "new", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 samples shared" in result.stdout and "only in old: t/s0" in result.stdout
    assert "only in new: t/s3" in result.stdout and "t old 100.0%, new —" in result.stdout


@pytest.mark.postgres
def test_import_and_compare_on_postgresql(tmp_path, postgres_url):
    lines = [{"id": i, "model": m, "prompt": f"q{i}", "response": "yes" if m == "a" or i % 2 else "no", "target": "yes"}
             for m in ("a", "b") for i in range(6)]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    imported = undrift("import", "log.jsonl", "--format", "jsonl", "--target-column", "target", "--suite", "pg-test",
                       "--db", postgres_url, "-q", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    compared = undrift("compare", "a", "b", "--json", "--db", postgres_url, cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["tasks"]["imported"]["nfr"] == pytest.approx(0.5)


# -- issue 8: small samples, repeats, latency, errors, changed answers, warnings, headers ----------------------------

def test_compare_gate_and_promote_never_crash_on_small_tables(sqlite_url):
    """Full agreement at 50% accuracy (n = 2, 4, 22 crashed with a complex number), and random small tables."""
    from undrift.gate import Policy, evaluate
    from undrift.registry import Registry

    store = Store.open(sqlite_url)
    registry = Registry(store)
    rng = np.random.default_rng(5)
    cases = [[(i < n // 2, i < n // 2) for i in range(n)] for n in (2, 4, 22)]
    cases += [[(bool(a), bool(b)) for a, b in rng.integers(0, 2, (int(rng.integers(1, 61)), 2))] for _ in range(12)]
    policy = Policy.parse({"rules": [{"metric": "accuracy", "no_significant_drop": True, "max_drop": 0.1},
                                     {"metric": "nfr", "max": 0.05, "bound": "ci"}]})
    for number, pairs in enumerate(cases):
        old, new = f"old{number}", f"new{number}"
        store_run(store, old, [result_row("t", f"s{i}", a) for i, (a, _) in enumerate(pairs)])
        store_run(store, new, [result_row("t", f"s{i}", b) for i, (_, b) in enumerate(pairs)])
        comparison = compare_runs(store, old, new)
        accuracy = comparison.task("t").metrics["accuracy"]
        assert -1 <= accuracy.ci[0] <= accuracy.delta <= accuracy.ci[1] <= 1
        evaluate(policy, comparison)
        registry.register(old, f"test:{old}", kind="run")  # as a run files it; by hand a spec must parse
        registry.register(new, f"test:{new}", kind="run")
        registry.set_alias(f"prod{number}", old)
        registry.promote(new, f"prod{number}", policy, force=True, reason="testing")


def _repeated(name, store, right_by_repeat, k=4):
    rows = [result_row("t", f"s{i}", bool(right_by_repeat(i, r)), repeat=r, extracted="a")
            for i in range(30) for r in range(k)]
    record = store_run(store, name, rows)
    with store.engine.begin() as connection:  # what `undrift run --repeats K` writes into the run's config
        from undrift.store.schema import runs

        connection.execute(runs.update().where(runs.c.id == record.id).values(
            config={"tasks": ["t"], "repeats": k}))
    return record


def test_repeats_make_the_sample_the_unit_with_pass_at_k_and_pass_hat_k(store):
    # old: samples 0-19 right every time, 20-29 right on repeat 0 only; new: 0-9 right always, 10-29 on repeat 0
    _repeated("old", store, lambda i, r: i < 20 or r == 0)
    _repeated("new", store, lambda i, r: i < 10 or r == 0)
    group = compare_runs(store, "old", "new").task("t")
    accuracy = group.metrics["accuracy"]
    assert accuracy.n == 30 and accuracy.old == pytest.approx((20 + 10 / 4) / 30)
    assert accuracy.new == pytest.approx((10 + 20 / 4) / 30)
    assert accuracy.delta == pytest.approx(-7.5 / 30) and accuracy.ci[1] < 0  # clustered by sample: a paired t
    assert group.metrics["pass_at_k"].label == "pass@4" and group.metrics["pass_at_k"].old == 1.0
    hat = group.metrics["pass_hat_k"]
    assert hat.label == "pass^4" and hat.old == pytest.approx(20 / 30) and hat.new == pytest.approx(10 / 30)
    assert group.compatibility is None and group.score_flips.negative == pytest.approx(10 / 30)  # per-sample rates
    flips = compare_runs(store, "old", "new").flips
    assert {f.sample_id for f in flips} == {f"s{i}" for i in range(10, 20)}
    assert all(f.old_value == 1.0 and f.new_value == 0.25 for f in flips)
    from undrift.gate import Policy, evaluate

    result = evaluate(Policy.parse({"rules": [{"metric": "pass_hat_k", "max_drop": 0.05}]}),
                      compare_runs(store, "old", "new"))
    assert not result.passed and "pass_hat_k fell 33.3 pts" in result.failures[0].reason
    # every ask right on 30 samples does not prove pass^4 >= 99%: the interval keeps its width with repeats
    _repeated("perfect", store, lambda i, r: True)
    sure = evaluate(Policy.parse({"rules": [{"metric": "pass_hat_k", "min": 0.99, "bound": "ci"},
                                            {"metric": "accuracy", "min": 0.99, "bound": "ci"}]}),
                    compare_runs(store, "perfect", "perfect"))
    assert not sure.passed and len(sure.failures) == 2


def test_latency_leaves_out_cached_answers_and_is_tested_per_request(store):
    old = [result_row("t", f"s{i}", True, latency_s=1.0 + (i % 5) / 10) for i in range(40)]
    new = [result_row("t", f"s{i}", True, latency_s=1.5 + (i % 5) / 10) for i in range(40)]
    for row in new[:20]:
        row.update(cached=True, latency_s=0.0)  # answered from the cache: took no time, says nothing
    store_run(store, "old", old)
    store_run(store, "new", new)
    latency = compare_runs(store, "old", "new").task("t").metrics["latency"]
    assert latency.n == 20 and latency.delta == pytest.approx(0.5) and latency.significant
    assert latency.verdict == "worse"


def test_errors_are_left_out_not_scored(store):
    old = [result_row("t", f"s{i}", True) for i in range(10)]
    new = [result_row("t", f"s{i}", True) for i in range(10)]
    for row in new[:4]:
        row.update(correct=False, value=0.0, error="HTTP 500: server error")
    store_run(store, "old", old)
    store_run(store, "new", new)
    comparison = compare_runs(store, "old", "new")
    assert comparison.shared == 6 and len(comparison.errored) == 4 and comparison.flips == []
    assert comparison.task("t").metrics["accuracy"].delta == 0
    assert any("only errors" in w for w in comparison.warnings)


def test_answers_that_changed_without_flipping_are_listed(store):
    store_run(store, "old", [result_row("t", "s0", False, extracted="B", response="B"),
                             result_row("t", "s1", True, extracted="A", response="A"),
                             result_row("t", "s2", True, extracted="A", response="A")])
    store_run(store, "new", [result_row("t", "s0", False, extracted="C", response="C"),
                             result_row("t", "s1", True, extracted="A", response="It is A"),
                             result_row("t", "s2", True, extracted="A", response="A")])
    comparison = compare_runs(store, "old", "new")
    assert [(c.sample_id, c.old_extracted, c.new_extracted) for c in comparison.changed] == [("s0", "B", "C")]
    assert comparison.flips == [] and comparison.to_dict()["changed_answers"][0]["kind"] == "changed"


def test_a_verdict_from_lexical_similarity_is_flagged(store):
    for name in ("old", "new"):
        record = store_run(store, name, [result_row("t", f"s{i}", True) for i in range(3)])
        with store.engine.begin() as connection:
            from undrift.store.schema import runs

            connection.execute(runs.update().where(runs.c.id == record.id).values(
                config={"tasks": ["t"], "repeats": 1, "scorers": {"t": {"type": "similarity"}}}))
    warnings = compare_runs(store, "old", "new").warnings
    assert any("lexical similarity" in w and "key_facts" in w for w in warnings)


def test_reports_name_both_specs_and_the_fingerprint_difference_and_colour_by_better(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    fast = [result_row("t", f"s{i}", True, latency_s=0.1 + i / 1000, response="x" * (10 + i)) for i in range(30)]
    slow = [result_row("t", f"s{i}", True, latency_s=0.9 + i / 1000, response="x" * (10 + i)) for i in range(30)]
    store_run(store, "v1", fast, fingerprint={"backend": "openai", "served_model": "m-0314"})
    store_run(store, "v2", slow, fingerprint={"backend": "openai", "served_model": "m-0613"})
    result = undrift("compare", "v1", "v2", "--db", sqlite_url, "--md", "r.md", "--html", "r.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test:v1" in result.stdout and "test:v2" in result.stdout
    assert "served_model m-0314 → m-0613" in result.stdout
    markdown = (tmp_path / "r.md").read_text()
    assert "test:v1" in markdown and "m-0314" in markdown and "m-0613" in markdown
    html = (tmp_path / "r.html").read_text()
    assert "m-0613" in html
    latency_row = next(line for line in html.split("<tr") if "latency (s)" in line)
    assert "class='worse'" in latency_row  # slower is worse, whatever the sign
    assert "table.samples td" in html.split("</style>")[0]  # sample tables read left to right


def test_daily_imports_mark_a_fingerprint_change_only_where_the_provider_changed(tmp_path, sqlite_url):
    """A log imported day by day (a new file each day): only day 3, where system_fingerprint moves, is a change."""
    from undrift.analysis.history import model_history

    fingerprints = {1: ["fp_a"] * 4, 2: ["fp_a"] * 4, 3: ["fp_a", "fp_b", "fp_b", "fp_b"]}
    for day, values in fingerprints.items():
        lines = [{"id": i, "model": "svc", "prompt": f"q{i}", "response": "yes", "target": "yes", "sf": value,
                  "at": f"2024-05-0{day}T10:00:00+02:00"} for i, value in enumerate(values)]
        (tmp_path / f"log-2024-05-0{day}.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
        result = undrift("import", f"log-2024-05-0{day}.jsonl", "--format", "jsonl", "--target-column", "target",
                         "--time-column", "at", "--system-fingerprint-column", "sf", "--db", sqlite_url, "-q",
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    store = Store.open(sqlite_url)
    runs = sorted(store.list_runs(name="svc"), key=lambda r: r.created_at)
    assert [r.fingerprint.get("system_fingerprint") for r in runs] == ["fp_a", "fp_a", ["fp_a", "fp_b"]]
    assert [r.created_at.strftime("%d %H:%M") for r in runs] == ["01 08:00", "02 08:00", "03 08:00"]  # in UTC
    assert [row.system_fingerprint for row in store.results(runs[2].id)] == fingerprints[3]
    (task,) = model_history(store, "svc").tasks
    assert [p.fingerprint_changes for p in task.points] == [[], [], ["system_fingerprint"]]
