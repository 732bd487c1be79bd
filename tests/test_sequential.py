"""The anytime-valid drift check: its error rates at every look (seeded simulations), decisions, and `undrift check`."""

import json
import re

import numpy as np
import pytest
from helpers import undrift

from undrift.analysis.sequential import BettingConfidenceSequence, MixtureBettingTest, SequentialDriftCheck, own_churn
from undrift.check import check_drift
from undrift.errors import UndriftError
from undrift.models.base import Fingerprint, Generation, ModelSpec
from undrift.runner import Runner, RunOptions
from undrift.store import Store
from undrift.suites import load_suite

ACCURACY = 0.70


def _answers(rng, n, churn, drop=0.0):
    """Old and new outcomes at 70% accuracy: `churn` of all samples flip each way, plus `drop` more flip down."""
    old = rng.random(n) < ACCURACY
    u = rng.random(n)
    new = np.where(old, u >= (churn + drop) / ACCURACY, u < churn / (1 - ACCURACY))
    return old.astype(float), new.astype(float)


def test_confidence_sequence_covers_the_mean_at_every_look():
    rng = np.random.default_rng(3)
    truth, misses, trials = -0.05, 0, 300
    for _ in range(trials):
        sequence = BettingConfidenceSequence(-1, 1, alpha=0.05)
        lows, highs = sequence.update(rng.choice([-1, 0, 1], size=800, p=[0.08, 0.89, 0.03]))
        misses += bool(np.any((lows > truth) | (highs < truth)))  # a look after every one of the 800
    assert misses / trials <= 0.06
    assert highs[-1] - lows[-1] < 0.1  # and it does narrow


def test_looking_in_chunks_or_one_by_one_gives_the_same_sequence():
    values = np.random.default_rng(4).choice([-1, 0, 1], size=200, p=[0.1, 0.8, 0.1])
    whole, pieces = BettingConfidenceSequence(-1, 1), BettingConfidenceSequence(-1, 1)
    lows, highs = whole.update(values)
    for start in range(0, 200, 9):
        pieces.update(values[start:start + 9])
    assert whole.interval == pieces.interval == (lows[-1], highs[-1])


def test_confidence_sequence_rejects_values_out_of_range():
    with pytest.raises(ValueError, match=r"lie in \[0.0, 1.0\]"):
        BettingConfidenceSequence(0, 1).update([1.5])


def test_no_false_changed_from_churn_alone_looking_after_every_answer():
    """Accuracy unchanged, answers flipping both ways: "changed" in at most 5% of runs (issue 8: it was 100%).

    Only discordant pairs move the e-value (a concordant pair multiplies every gambler's wealth by 1), so the
    e-value after each of 3000 answers is the e-value after the discordant pairs among them: those are simulated.
    """
    rng = np.random.default_rng(5)
    rates = {}
    for churn in (0.02, 0.05, 0.10):
        for direction in ("drop", "any"):
            alarms = 0
            for _ in range(1000):
                discordant = rng.binomial(3000, 2 * churn)
                test = MixtureBettingTest(0.05, direction)
                test.update(rng.choice([-1.0, 1.0], discordant))  # no drop: a flip goes either way at 1/2
                alarms += test.rejected
            rates[churn, direction] = alarms / 1000
    assert np.mean(list(rates.values())) <= 0.05 and max(rates.values()) <= 0.065, rates


def test_drawing_a_finite_suite_without_replacement_keeps_the_false_alarm_rate():
    """`check` asks a finite suite in random order; with as many flips down as up in it, "changed" stays rare."""
    rng = np.random.default_rng(6)
    for down, size in ((20, 100), (60, 300)):
        suite = np.array([-1.0] * down + [1.0] * down + [0.0] * (size - 2 * down))
        alarms = 0
        for _ in range(1000):
            test = MixtureBettingTest(0.05, "drop")
            test.update(rng.permutation(suite))
            alarms += test.rejected
        assert alarms / 1000 <= 0.05


def test_churn_is_reported_apart_from_the_headline():
    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(8):
        check = SequentialDriftCheck(tolerance=0.02, churn=0.0, churn_source="repeats")
        old, new = _answers(rng, 1500, churn=0.05)
        verdicts.append(check.update(old, new))
    assert all(s.decision != "changed" for s in verdicts)
    assert all(s.churn_decision == "above" for s in verdicts)  # answers did change: more than a deterministic model's
    steady = SequentialDriftCheck(tolerance=0.02, churn=0.15, churn_source="declared")
    state = steady.update(*_answers(rng, 3000, churn=0.05))
    assert state.churn_decision == "within" and state.decision != "changed"


def test_a_regression_is_changed_and_identical_answers_unchanged():
    rng = np.random.default_rng(0)
    same = SequentialDriftCheck(tolerance=0.02)
    old, _ = _answers(rng, 2000, 0.0)
    state = same.update(old, old)
    assert state.decision == "unchanged" and state.decided_at < 800
    worse = SequentialDriftCheck(tolerance=0.02)
    state = worse.update(*_answers(rng, 2000, churn=0.02, drop=0.14))
    assert state.decision == "changed" and state.difference_ci[1] < 0 and state.decided_at < 200


def test_a_ten_point_drop_is_found_with_a_fraction_of_a_fixed_tests_calls():
    """At 2% churn each way, 80% of checks find a 10-point drop within 0.13x the calls of the exact McNemar test
    sized for a 2-point drop at 80% power (1244 calls, two-sided, bench/detection.py); the bench measures more."""
    rng = np.random.default_rng(10)
    calls = []
    for _ in range(1000):
        old, new = _answers(rng, 600, churn=0.02, drop=0.10)
        test = MixtureBettingTest(0.05, "drop")
        test.update(new - old)
        calls.append(test.rejected_at or 10**6)
    assert np.quantile(calls, 0.8) <= 0.13 * 1244


def test_own_churn_from_repeats():
    assert own_churn([[1, 1, 1], [0, 0, 0]]) == 0.0
    assert own_churn([[1, 0], [1, 1]]) == pytest.approx(0.5)
    assert own_churn([[1, 0, 0]]) == pytest.approx(2 / 3)  # pairs (1,0) (1,0) (0,0)
    assert own_churn([[1], [0]]) is None


class ScriptedModel:
    """Answers prime questions by a fixed rule; the check's logic is under test here, not a model."""

    def __init__(self, name, rule):
        self.spec = ModelSpec.parse(f"openai:{name}@http://127.0.0.1:9/v1")
        self.rule = rule
        self.calls = 0

    def fingerprint(self):
        return Fingerprint(backend="scripted", model=str(self.spec), deterministic=False)

    def prepare(self):
        pass

    def generate(self, requests, on_done=None):
        self.calls += len(requests)
        answers = []
        for request in requests:
            n = int(re.search(r"Is (\d+) a prime", request.message_dicts()[-1]["content"]).group(1))
            answers.append(Generation(text="[Yes]" if self.rule(n) else "[No]", tokens_out=2))
        if on_done:
            on_done(len(requests))
        return answers

    def close(self):
        pass


def _prime(n):
    return n > 1 and all(n % f for f in range(2, int(n**0.5) + 1))


def test_check_stops_early_and_stores_what_it_asked(sqlite_url):
    store = Store.open(sqlite_url)
    suite = load_suite("drift")
    runner = Runner(store, progress=False)
    runner.run(suite, ScriptedModel("oracle", _prime), RunOptions(name="oracle", tasks=("primes",)), "drift")
    broken = ScriptedModel("always-yes", lambda n: True)  # right on primes only: half the answers turn wrong
    report = check_drift(store, "oracle", broken, tolerance=0.02, progress=False)
    assert report.state.decision == "changed" and report.state.e_value >= 20 and report.state.difference < 0
    assert report.samples < report.suite_size == 100 and broken.calls == report.calls == report.samples
    assert store.get_run(report.run.id).status == "stopped" and len(store.results(report.run.id)) == report.samples
    same = check_drift(store, "oracle", ScriptedModel("oracle-again", _prime), tolerance=0.1, progress=False)
    assert same.state.decision == "unchanged" and same.samples < 100
    capped = check_drift(store, "oracle", ScriptedModel("again", _prime), tolerance=0.01, max_calls=20, progress=False)
    assert capped.state.decision is None and capped.samples == 20
    better = ScriptedModel("better", _prime)
    assert check_drift(store, "oracle", better, direction="any", tolerance=0.1, progress=False).decision == "unchanged"


def test_check_refuses_imported_runs_and_bad_options(sqlite_url, tmp_path):
    store = Store.open(sqlite_url)
    Runner(store, progress=False).run(load_suite("drift"), ScriptedModel("oracle", _prime),
                                      RunOptions(name="oracle", tasks=("primes",), limit=5), "drift")
    with pytest.raises(UndriftError, match=r"tolerance \(--tolerance\) must lie between 0 and 1"):
        check_drift(store, "oracle", ScriptedModel("x", _prime), tolerance=0)
    with pytest.raises(UndriftError, match=r"direction \(--direction\) must be drop or any"):
        check_drift(store, "oracle", ScriptedModel("x", _prime), direction="up")
    with pytest.raises(UndriftError, match=r"churn \(--churn\) must lie in"):
        check_drift(store, "oracle", ScriptedModel("x", _prime), churn=1.5)
    (tmp_path / "log.jsonl").write_text('{"id": 1, "model": "m", "prompt": "p", "response": "r"}\n')
    assert undrift("import", "log.jsonl", "--format", "jsonl", "--db", sqlite_url, "-q", cwd=tmp_path).returncode == 0
    with pytest.raises(UndriftError, match="was imported, not run"):
        check_drift(store, "m", ScriptedModel("x", _prime))


def test_check_command_and_its_exit_codes(tmp_path):
    model = "echo:?text=[Yes]"
    made = undrift("run", "drift", "--model", model, "--tasks", "primes", "--as", "tiny", "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = undrift("check", "tiny", "--model", model, "--tolerance", "0.1", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # 0: unchanged
    data = json.loads(result.stdout)
    assert data["decision"] == "unchanged" and data["samples"] < data["suite_size"] == 100
    assert data["calls"] == 0  # the same deterministic model: every answer came from the cache
    assert data["churn_source"] == "deterministic" and data["churn"] == 0.0 and data["flip_rate"] == 0.0
    text = undrift("check", "tiny", "--model", model, "--tolerance", "0.1", "-q", cwd=tmp_path)
    assert "UNCHANGED" in text.stdout and "of 100 samples asked" in text.stdout
    undecided = undrift("check", "tiny", "--model", model, "--tolerance", "0.01", "--max-calls", "5", "-q",
                        cwd=tmp_path)
    assert undecided.returncode == 3 and "UNDECIDED" in undecided.stdout  # 3: the samples ran out first
    missing = undrift("check", "nope", "--model", model, cwd=tmp_path)
    assert missing.returncode == 2 and "no run or model name 'nope'" in missing.stderr


def test_check_exits_1_when_changed(tmp_path):
    base, other = "echo:?text=[Yes]", "echo:?text=maybe"  # right on the primes (half), then never right
    assert undrift("run", "drift", "--model", base, "--tasks", "primes", "--as", "tiny", "-q",
                   cwd=tmp_path).returncode == 0
    result = undrift("check", "tiny", "--model", other, "--direction", "any", "--json", "-q", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["decision"] == "changed" and result.returncode == 1, result.stderr
