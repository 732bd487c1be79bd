"""The anytime-valid drift check: coverage at every look, decisions, and `undrift check` end to end."""

import json
import re

import numpy as np
import pytest
from test_cli import undrift

from undrift.analysis.sequential import BettingConfidenceSequence, SequentialDriftCheck
from undrift.check import check_drift
from undrift.errors import UndriftError
from undrift.models.base import Fingerprint, Generation, ModelSpec
from undrift.runner import Runner, RunOptions
from undrift.store import Store
from undrift.suites import load_suite


def test_confidence_sequence_covers_the_mean_at_every_look():
    rng = np.random.default_rng(3)
    truth, misses, trials = -0.05, 0, 300
    for _ in range(trials):
        sequence = BettingConfidenceSequence(-1, 1, alpha=0.05)
        values = rng.choice([-1, 0, 1], size=800, p=[0.08, 0.89, 0.03])
        missed = False
        for start in range(0, 800, 8):  # look after every 8: peeking must not break the guarantee
            sequence.update(values[start:start + 8])
            low, high = sequence.interval
            missed |= not low <= truth <= high
        misses += missed
    assert misses / trials <= 0.06
    assert sequence.interval[1] - sequence.interval[0] < 0.1  # and it does narrow


def test_confidence_sequence_rejects_values_out_of_range():
    with pytest.raises(ValueError, match=r"lie in \[0.0, 1.0\]"):
        BettingConfidenceSequence(0, 1).update([1.5])


def test_identical_answers_are_unchanged_and_a_regression_is_changed():
    rng = np.random.default_rng(0)
    same = SequentialDriftCheck(tolerance=0.02)
    for _ in range(100):
        old = (rng.random(16) < 0.7).astype(float)
        state = same.update(old, old)
        if state.decision:
            break
    assert state.decision == "unchanged" and state.n < 800
    worse = SequentialDriftCheck(tolerance=0.02)
    for _ in range(100):
        old = (rng.random(16) < 0.7).astype(float)
        new = old * (rng.random(16) > 0.2)  # a fifth of right answers turn wrong
        state = worse.update(old, new)
        if state.decision:
            break
    assert state.decision == "changed" and state.difference_ci[1] < 0 and state.n < 200


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
    assert report.state.decision == "changed" and report.state.nfr_ci[0] > 0.02 and report.state.nfr > 0.3
    assert report.samples < report.suite_size == 100 and broken.calls == report.calls == report.samples
    assert store.get_run(report.run.id).status == "stopped" and len(store.results(report.run.id)) == report.samples
    same = check_drift(store, "oracle", ScriptedModel("oracle-again", _prime), tolerance=0.1, progress=False)
    assert same.state.decision == "unchanged" and same.samples < 100
    capped = check_drift(store, "oracle", ScriptedModel("again", _prime), tolerance=0.01, max_calls=20, progress=False)
    assert capped.state.decision is None and capped.samples == 20


def test_check_refuses_imported_runs_and_bad_options(sqlite_url, tmp_path):
    store = Store.open(sqlite_url)
    Runner(store, progress=False).run(load_suite("drift"), ScriptedModel("oracle", _prime),
                                      RunOptions(name="oracle", tasks=("primes",), limit=5), "drift")
    with pytest.raises(UndriftError, match="--tolerance must lie between 0 and 1"):
        check_drift(store, "oracle", ScriptedModel("x", _prime), tolerance=0)
    (tmp_path / "log.jsonl").write_text('{"id": 1, "model": "m", "prompt": "p", "response": "r"}\n')
    assert undrift("import", "log.jsonl", "--format", "jsonl", "--db", sqlite_url, "-q", cwd=tmp_path).returncode == 0
    with pytest.raises(UndriftError, match="was imported, not run"):
        check_drift(store, "m", ScriptedModel("x", _prime))


def test_check_command_with_a_real_local_model(tmp_path, tiny_model_dir):
    model = f"hf:{tiny_model_dir}"
    made = undrift("run", "drift", "--model", model, "--tasks", "primes", "--as", "tiny", "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = undrift("check", "tiny", "--model", model, "--tolerance", "0.1", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["decision"] == "unchanged" and data["samples"] < data["suite_size"] == 100
    assert data["calls"] == 0  # same weights, greedy: every answer came from the cache
    text = undrift("check", "tiny", "--model", model, "--tolerance", "0.1", "-q", cwd=tmp_path)
    assert "UNCHANGED" in text.stdout and "of 100 samples asked" in text.stdout
    missing = undrift("check", "nope", "--model", model, cwd=tmp_path)
    assert missing.returncode == 2 and "no run or model name 'nope'" in missing.stderr
