"""Watches: added and checked whole, ticked by `watch run --due` or the daemon under a lease, cheap when nothing
moved, alerting as state (one open alert while a gate fails, resolved when it passes), delivered to real webhooks
and commands with retries, a fingerprint change reported even when the metrics hold.  Models here are scripted
OpenAI-shaped servers; the whole loop on the real bundled model is in test_watch_bundled.py."""

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from helpers import cli_argv, ServerThread, free_port, undrift
from scripted_http import OK_BODY, ScriptedServer, WebhookReceiver

from undrift.errors import UndriftError
from undrift.monitor import Schedule

NO_BODY = {**OK_BODY, "choices": [{"message": {"role": "assistant", "content": "[No]"}, "finish_reason": "stop"}]}


def _add(server, cwd, *extra, name="w", limit=12):
    return undrift("watch", "add", name, "--model", f"openai:m@{server.base_url}?retries=0", "--suite", "drift",
                   "--tasks", "primes", "--limit", str(limit), "--every", "1h", "--alert-backoff", "0", *extra, cwd=cwd)


def _tick(cwd, *args):
    result = undrift("watch", "run", *args, "--json", "-q", cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result, (json.loads(result.stdout) if result.stdout.strip() else [])


def _alerts(cwd, *args):
    return json.loads(undrift("alerts", "--json", *args, cwd=cwd).stdout)


def test_a_watch_sets_its_baseline_stays_quiet_alerts_once_and_resolves(tmp_path):
    with ScriptedServer() as server, WebhookReceiver() as hook:
        added = _add(server, tmp_path, "--alert-webhook", hook.url)
        assert added.returncode == 0, added.stderr

        first, outcomes = _tick(tmp_path, "--due")
        assert first.returncode == 0 and outcomes[0]["tick"]["status"] == "baseline"
        baseline = outcomes[0]["tick"]["full_run"]
        assert json.loads(undrift("watch", "show", "w", "--json", cwd=tmp_path).stdout)["baseline"] == baseline
        again, outcomes = _tick(tmp_path, "--due")
        assert again.returncode == 0 and outcomes == []  # ticked: not due for an hour

        calm, outcomes = _tick(tmp_path, "w")
        tick = outcomes[0]["tick"]
        assert calm.returncode == 0 and tick["status"] == "passed" and not tick["events"]
        assert tick["calls"] >= 6 and tick["tokens_in"] > 0  # the canaries count too
        assert _alerts(tmp_path) == [] and hook.received == []

        server.chat = (200, {**NO_BODY, "model": "m-2"})  # the model behind the name changed
        failed, outcomes = _tick(tmp_path, "w")
        assert failed.returncode == 1, failed.stderr
        tick, alert = outcomes[0]["tick"], outcomes[0]["alert"]
        assert tick["status"] == "failed" and tick["full_run"] and outcomes[0]["alert_event"] == "opened"
        assert [e["kind"] for e in tick["events"]] == ["fingerprint"] and tick["events"][0]["served_changed"]
        events = [p["event"] for p in hook.received]
        assert sorted(events) == ["notice", "opened"]
        opened = next(p for p in hook.received if p["event"] == "opened")
        assert opened["watch"] == "w" and opened["failed_rules"] and opened["flips"]
        assert opened["fingerprint"]["before"]["served"]["model"] == "m-1"
        assert opened["fingerprint"]["after"]["served"]["model"] == "m-2"
        assert "accuracy" in opened["metrics"]["primes"] and opened["metrics"]["primes"]["accuracy"]["ci"]
        assert opened["command"].startswith(f"undrift compare {baseline} ")

        still, outcomes = _tick(tmp_path, "w")
        assert still.returncode == 1 and outcomes[0]["alert_event"] == "ongoing"
        assert outcomes[0]["alert"]["id"] == alert["id"] and len(_alerts(tmp_path, "--open")) == 1
        assert [p["event"] for p in hook.received].count("opened") == 1  # one alert, not one per tick

        server.chat = (200, OK_BODY)
        back, outcomes = _tick(tmp_path, "w")
        assert back.returncode == 0 and outcomes[0]["alert_event"] == "resolved"
        assert _alerts(tmp_path, "--open") == []
        listed = _alerts(tmp_path)
        regression = next(a for a in listed if a["kind"] == "regression")
        assert regression["status"] == "resolved" and regression["resolved_tick"] == outcomes[0]["tick"]["id"]
        assert {d["event"] for d in regression["deliveries"]} == {"opened", "resolved"}
        assert all(d["delivered"] and d["attempts"] == 1 for d in regression["deliveries"])
        assert datetime.fromisoformat(regression["opened_at"]) and "T" in regression["opened_at"]  # ISO 8601

        history = json.loads(undrift("watch", "history", "w", "--json", cwd=tmp_path).stdout)
        assert [t["status"] for t in reversed(history)] == ["baseline", "passed", "failed", "failed", "passed"]
        table = undrift("watch", "history", "w", cwd=tmp_path)
        assert table.returncode == 0 and "fingerprint" in table.stdout and "failed" in table.stdout
        reused = [t["full_run"] for t in history if t["full_run"] and t["full_run"] == t["check_run"]]
        assert reused and all(table.stdout.count(run) == 1 for run in reused), table.stdout  # reused check: once
        shown = undrift("watch", "show", "w", cwd=tmp_path).stdout
        assert "primes, first 12 samples of each; tolerance 0.02, direction drop" in shown and "{" not in shown


def test_an_outage_is_an_error_tick_that_leaves_alerts_alone(tmp_path):
    with ScriptedServer() as server:
        assert _add(server, tmp_path).returncode == 0
        assert _tick(tmp_path, "w")[0].returncode == 0
        server.chat = (500, {"error": {"message": "down"}})
        down, outcomes = _tick(tmp_path, "w")
        assert down.returncode == 3 and outcomes[0]["tick"]["status"] == "error"
        assert outcomes[0]["alert"] is None and _alerts(tmp_path) == []


def test_a_webhook_that_is_down_is_retried_and_recorded_and_the_watch_goes_on(tmp_path):
    record = tmp_path / "alert.json"
    command = f"{sys.executable} -c \"import sys; open({str(record)!r}, 'w').write(sys.stdin.read())\""
    with ScriptedServer() as server, WebhookReceiver(status=503) as hook:
        assert _add(server, tmp_path, "--alert-webhook", hook.url, "--alert-attempts", "3",
                    "--alert-command", command).returncode == 0
        assert _tick(tmp_path, "w")[0].returncode == 0
        server.chat = (200, NO_BODY)
        failed, outcomes = _tick(tmp_path, "w")
        assert failed.returncode == 1 and outcomes[0]["alert_event"] == "opened"
        sent = {d["target"]: d["delivered"] for d in outcomes[0]["deliveries"]}  # the tick says what failed
        assert sent == {hook.url: False, command: True}
        server.chat = (200, OK_BODY)
        shown = undrift("watch", "run", "w", "-q", cwd=tmp_path)
        assert "resolved: passing again" in shown.stdout and "not delivered after 3 attempts" in shown.stdout
    assert hook.attempts >= 6
    alert = next(a for a in _alerts(tmp_path) if a["kind"] == "regression")
    by_target = {d["target"]: d for d in alert["deliveries"]}
    assert by_target[hook.url]["delivered"] is False and by_target[hook.url]["attempts"] == 3
    assert by_target[hook.url]["response_status"] == 503
    assert by_target[command]["delivered"] is True
    assert json.loads(record.read_text())["event"] == "resolved"  # the last event it was given


@pytest.mark.parametrize("args, message", [
    (("--every", "sometimes"), "bad schedule"),
    (("--every", "cron: 99 * * * *"), "not a five-field cron expression"),
    (("--every", "10s"), "at most once a minute"),
    (("--suite", "no-such-suite"), "no-such-suite"),
    (("--baseline", "no-such-run"), "no undrift database"),  # a baseline run needs a store; none is made
    (("--alert-webhook", "ftp://x"), "bad webhooks (--alert-webhook)"),
    (("--model", "nonsense:x"), "nonsense"),
    (("--tasks", "nope"), "no task 'nope'"),
    (("--max-calls", "0"), "--max-calls"),
    (("--limit", "-3"), "limit (--limit) must be at least 1"),
    (("--direction", "sideways"), "direction (--direction) must be"),
    (("--tolerance", "-5"), "tolerance (--tolerance) must lie"),
    (("--alert-command", "'unterminated"), "runs without a shell"),
    (("--alert-command", "  "), "give the program to run"),
    (("--every", "99999999999999999999d"), "at least once a year"),
    (("--every", "cron: 0 6 31 2 *"), "never falls due"),
    (("--every", "cron: * * * * * *"), "five-field"),
])
def test_bad_watches_are_one_line_and_nothing_is_stored(tmp_path, args, message):
    base = {"--model": "openai:m@http://127.0.0.1:9/v1", "--suite": "drift", "--every": "1h"}
    flags = dict(base)
    flags.update(dict(zip(args[::2], args[1::2])))
    rest = [x for pair in flags.items() for x in pair]
    result = undrift("watch", "add", "w", *rest, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    listed = undrift("watch", "list", "--json", cwd=tmp_path)
    assert listed.returncode != 0 or json.loads(listed.stdout) == []


def test_unknown_watches_and_duplicates_are_one_line(tmp_path):
    with ScriptedServer() as server:
        assert _add(server, tmp_path).returncode == 0
        duplicate = _add(server, tmp_path)
        assert duplicate.returncode == 2 and "exists" in duplicate.stderr
    for args in (("watch", "show", "nope"), ("watch", "history", "nope"), ("watch", "remove", "nope"),
                 ("watch", "run", "nope"), ("watch", "run"), ("watch", "run", "w", "--due"),
                 ("alerts", "--watch", "nope")):
        result = undrift(*args, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    assert undrift("watch", "remove", "w", cwd=tmp_path).returncode == 0
    assert json.loads(undrift("watch", "list", "--json", cwd=tmp_path).stdout) == []


def _race(url, cwd, processes=6):
    commands = [cli_argv("watch", "run", "--due", "--json", "-q", "--db", url)
                for _ in range(processes)]
    started = [subprocess.Popen(c, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for c in commands]
    finished = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in started]
    assert all(code == 0 for code, _, _ in finished), finished
    return sum(len(json.loads(out)) for _, out, _ in finished)


def _concurrent_due_runs_tick_once(url, cwd):
    with ScriptedServer(delay_s=0.05) as server:
        added = undrift("watch", "add", "race", "--model", f"openai:m@{server.base_url}?retries=0", "--suite", "drift",
                        "--tasks", "primes", "--limit", "4", "--every", "1h", "--db", url, cwd=cwd)
        assert added.returncode == 0, added.stderr
        assert _race(url, cwd) == 1
        history = json.loads(undrift("watch", "history", "race", "--json", "--db", url, cwd=cwd).stdout)
        assert len(history) == 1 and history[0]["status"] == "baseline"


def test_concurrent_cron_jobs_tick_a_watch_once_on_sqlite(tmp_path, sqlite_url):
    _concurrent_due_runs_tick_once(sqlite_url, tmp_path)


@pytest.mark.postgres
def test_concurrent_cron_jobs_tick_a_watch_once_on_postgres(tmp_path, postgres_url):
    from undrift.store import Store

    with Store.open(postgres_url).engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM watches WHERE name = 'race'; DELETE FROM watch_ticks WHERE watch = 'race'")
    _concurrent_due_runs_tick_once(postgres_url, tmp_path)


def test_the_daemon_ticks_serves_metrics_stops_on_sigterm_and_resumes_the_schedule(tmp_path):
    port = free_port()
    with ScriptedServer() as server:
        assert _add(server, tmp_path).returncode == 0
        daemon = subprocess.Popen(cli_argv("watch", "daemon", "--poll", "1", "--metrics-port", str(port)),
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 120
            history = []
            while time.time() < deadline and not history:
                time.sleep(1)
                history = json.loads(undrift("watch", "history", "w", "--json", cwd=tmp_path).stdout)
                history = [t for t in history if t["status"] != "running"]
            assert [t["status"] for t in history] == ["baseline"]
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert 'undrift_watch_ticks_total{status="baseline",watch="w"} 1.0' in metrics
            assert "undrift_open_alerts 0.0" in metrics
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
        assert code == 0, daemon.stderr.read()
        shown = json.loads(undrift("watch", "show", "w", "--json", cwd=tmp_path).stdout)
        due = datetime.fromisoformat(shown["next_due_at"])
        assert due > datetime.now(timezone.utc) + timedelta(minutes=50) and shown["lease_owner"] is None
        calls = server.calls
        restarted = subprocess.Popen(cli_argv("watch", "daemon", "--poll", "1"),
                                     cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(4)
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=30) == 0
        assert server.calls == calls  # the restarted daemon read the schedule: nothing was due


def test_schedules():
    start = datetime(2026, 11, 24, 5, 30, tzinfo=timezone.utc)
    assert Schedule.parse("6h").next_after(start) == start + timedelta(hours=6)
    assert Schedule.parse("every 1d").text == "1d"
    assert Schedule.parse("cron: 0 6 * * *").next_after(start) == datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    assert Schedule.parse("cron: 0 6 * * *").next_after(start.replace(hour=6)) == datetime(2026, 11, 25, 6, 0,
                                                                                           tzinfo=timezone.utc)
    for bad in ("", "6x", "cron:", "cron: a b c", "30s", "cron: 0 6 * * * *", "400d"):
        with pytest.raises(UndriftError):
            Schedule.parse(bad)


def test_canaries_take_first_token_logprobs_where_the_server_offers_them(tiny_model_dir):
    from dataclasses import replace


    from undrift.models import load_model
    from undrift.monitor.canaries import CANARIES, change, take
    from undrift.serving import create_app

    with ServerThread(create_app(load_model(f"hf:{tiny_model_dir}"), model_id="tiny")) as base_url:
        client = load_model(f"openai:tiny@{base_url}")
        fingerprint, calls, tokens_in, _ = take(client)
        again, _, _, _ = take(client)
    assert calls == 2 * len(CANARIES) and tokens_in > 0
    assert set(fingerprint.logprobs) == set(CANARIES) and all(1 <= len(t) <= 5 for t in fingerprint.logprobs.values())
    assert change(fingerprint, again, deterministic=True) is None  # the same server twice: nothing moved

    def shifted(by: float):
        top = {token: logprob + by for token, logprob in fingerprint.logprobs["arithmetic"].items()}
        return replace(fingerprint, logprobs={**fingerprint.logprobs, "arithmetic": top})

    assert change(fingerprint, shifted(0.01), deterministic=True) is None  # jitter
    moved = change(fingerprint, shifted(0.2), deterministic=True)  # same greedy text, another distribution
    assert moved is not None and moved.moved == ["arithmetic"]
    with ScriptedServer() as server:  # a server without logprobs: answers only
        plain, calls, _, _ = take(load_model(f"openai:m@{server.base_url}?retries=0"))
    assert plain.logprobs == {} and len(plain.answers) == len(CANARIES)
    assert calls == len(CANARIES) + 1  # one probe finds no logprobs; the other five are not made


def test_a_delivery_cannot_hang_a_tick(tmp_path, sqlite_url):
    """A webhook that trickles its answer a byte a second, and a command that leaves a child holding its output or
    floods it: each costs at most its deadline, and each delivery is recorded as it ends."""
    from undrift.monitor import deliveries
    from undrift.monitor.alerts import REGRESSION, raise_alert
    from undrift.monitor.delivery import RetryPolicy, deliver
    from undrift.store import Store

    store = Store.open(sqlite_url)
    alert = raise_alert(store, "w", REGRESSION, 1, "a test alert", {})
    background = f"{sys.executable} -c \"import subprocess, sys; subprocess.Popen(['sleep', '30']); print('queued')\""
    flood = f"{sys.executable} -c \"import sys; [sys.stdout.write('x' * 1000000) for _ in range(200)]\""
    retry = RetryPolicy(attempts=1, webhook_deadline_s=2, command_deadline_s=20)
    with WebhookReceiver(trickle=True) as slow, WebhookReceiver() as fine:
        started = time.monotonic()
        done = deliver(store, alert, "opened", {"event": "opened"}, (slow.url, fine.url), background, retry)
        elapsed = time.monotonic() - started
        assert len(fine.received) == 1
    assert elapsed < 12, elapsed
    assert [d.delivered for d in done] == [False, True, True] and "within 2s" in done[0].error
    assert [d.target for d in deliveries(store, alert.id)] == [slow.url, fine.url, background]
    flooded = deliver(store, alert, "opened", {}, (), flood, retry)
    assert flooded[0].delivered


def test_a_killed_tick_reads_interrupted_and_frees_its_lease_at_once(tmp_path):
    with ScriptedServer(delay_s=0.5) as server:
        assert _add(server, tmp_path).returncode == 0
        ticking = subprocess.Popen(cli_argv("watch", "run", "w", "-q"), cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while server.calls < 3 and time.time() < deadline:
            time.sleep(0.2)
        ticking.kill()
        ticking.wait()
        history = json.loads(undrift("watch", "history", "w", "--json", cwd=tmp_path).stdout)
        assert [t["status"] for t in history] == ["interrupted"]
        server.delay_s = 0
        again, outcomes = _tick(tmp_path, "--due")  # the dead process's lease is free, and the watch still due
        assert again.returncode == 0 and [o["tick"]["status"] for o in outcomes] == ["baseline"]


def test_sigterm_ends_a_tick_as_interrupted_and_leaves_the_watch_due(tmp_path):
    with ScriptedServer(delay_s=0.5) as server:
        assert _add(server, tmp_path).returncode == 0
        ticking = subprocess.Popen(cli_argv("watch", "run", "--due", "-q"),
                                   cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while server.calls < 3 and time.time() < deadline:
            time.sleep(0.2)
        ticking.send_signal(signal.SIGTERM)
        assert ticking.wait(timeout=60) == 130 and "interrupted" in ticking.stderr.read()
        history = json.loads(undrift("watch", "history", "w", "--json", cwd=tmp_path).stdout)
        assert [(t["status"], t["error"]) for t in history] == [("error", "interrupted")]
        server.delay_s = 0
        again, outcomes = _tick(tmp_path, "--due")
        assert [o["tick"]["status"] for o in outcomes] == ["baseline"]


def test_a_new_watch_of_a_removed_name_starts_afresh(tmp_path):
    with ScriptedServer() as server:
        assert _add(server, tmp_path).returncode == 0
        assert _tick(tmp_path, "w")[0].returncode == 0
        assert _tick(tmp_path, "w")[0].returncode == 0
        server.chat = (200, {**NO_BODY, "model": "m-2"})
        assert _tick(tmp_path, "w")[0].returncode == 1
        assert len(_alerts(tmp_path, "--open")) == 1
        assert undrift("watch", "remove", "w", cwd=tmp_path).returncode == 0
        assert _alerts(tmp_path, "--open") == []  # nothing watches it any more
        kept = json.loads(undrift("watch", "history", "w", "--json", cwd=tmp_path).stdout)
        assert [t["status"] for t in reversed(kept)] == ["baseline", "passed", "failed"]  # its history stays
        assert {a["kind"] for a in _alerts(tmp_path, "--watch", "w")} == {"regression", "fingerprint"}
        time.sleep(0.01)
        assert _add(server, tmp_path).returncode == 0
        assert json.loads(undrift("watch", "history", "w", "--json", cwd=tmp_path).stdout) == []
        first, outcomes = _tick(tmp_path, "w")
        assert outcomes[0]["tick"]["status"] == "baseline" and outcomes[0]["tick"]["events"] == []


def test_a_watch_another_process_is_ticking_is_one_line(tmp_path):
    """`watch run NAME` while another process holds the watch's lease: the library's sentence, exit 2."""
    import undrift as api
    from undrift.monitor.watches import claim, release

    (tmp_path / "s.yaml").write_text("name: s\ntasks:\n  - {name: t, scorer: exact, samples: [{id: a, prompt: hi, "
                                     "target: hi}]}\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'busy.db'}"
    api.add_watch("w", "echo:", str(tmp_path / "s.yaml"), "1d", db=db)
    store = api.Store.open(db)
    held = claim(store, "w", due_only=False)
    try:
        busy = undrift("watch", "run", "w", "--db", db, cwd=tmp_path)
    finally:
        release(store, "w", held.next_due_at)
        store.close()
    assert busy.returncode == 2
    assert busy.stderr.strip() == "error: watch 'w' is being ticked by another process now: `undrift watch show w`"
