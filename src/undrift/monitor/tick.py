"""One tick of a watch: as few model calls as the evidence allows, then a verdict, alerts and deliveries.

1. The behavioural fingerprint (a few greedy canaries) and the served one, compared with the last tick's.
2. With no baseline yet (`--baseline first`), a full run that becomes the baseline.
3. Otherwise the sequential `check` against the baseline, stopped at `max_calls`; only when it says "changed" or
   cannot decide, a full run, the comparison and the gate.  "Unchanged" passes without them.  A check that asked
   every sample of a small suite without deciding has made the full run already: it is compared and gated as is.
4. A failing gate opens (or keeps) the watch's alert, a passing one resolves it; a fingerprint change is a notice.
   An error (the model unreachable, too many errors) gives no verdict and leaves the alert as it was.
Every generated answer is counted with its tokens; answers the cache supplied cost nothing and are not counted.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..analysis.compare import Comparison, compare_runs
from ..check import check_drift
from ..errors import UndriftError
from ..gate import GateResult, Policy, evaluate, refuse_unfit
from ..jsonable import jsonable
from ..models import ModelSpec, load_model
from ..runner import RunInterrupted, Runner, RunOptions
from ..store import Store
from ..store.db import as_utc
from ..suites import load_suite
from . import alerts as alert_state
from .alerts import FINGERPRINT, REGRESSION, Alert, Delivery
from .canaries import BehaviouralFingerprint, change, take
from .delivery import RetryPolicy, deliver
from .ticks import Tick, finish_tick, last_fingerprint, start_tick
from .watches import Watch, set_baseline, watch_exists

# Without --policy a watch fails on what any user would call a regression: a significant accuracy drop on a task,
# or more than 5% of the samples going from right to wrong.
DEFAULT_POLICY = {"description": "undrift watch default",
                  "rules": [{"metric": "accuracy", "no_significant_drop": True}, {"metric": "nfr", "max": 0.05}]}
FLIPS_IN_PAYLOAD = 20


@dataclass
class TickOutcome:
    tick: Tick
    alert: Alert | None  # the regression alert this tick opened, kept open or resolved
    alert_event: str | None  # opened, ongoing, resolved
    notices: list[Alert]
    deliveries: list[Delivery] = field(default_factory=list)  # what this tick sent, and whether it arrived

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"tick": self.tick.to_dict(),
                         "alert": self.alert.to_dict(payload=False) if self.alert else None,
                         "alert_event": self.alert_event, "notices": [n.to_dict(payload=False) for n in self.notices],
                         "deliveries": [d.to_dict() for d in self.deliveries]})


def policy_of(watch: Watch) -> Policy:
    import yaml

    if watch.policy:
        return Policy.parse(yaml.safe_load(watch.policy), f"watch {watch.name}'s policy")
    return Policy.parse(DEFAULT_POLICY, "the default watch policy")


def run_tick(store: Store, watch: Watch, progress: bool = False, allow_unsandboxed: bool = False) -> TickOutcome:
    """Tick `watch` once (the caller holds its lease)."""
    tick = start_tick(store, watch.name)
    comparison: Comparison | None = None
    result: GateResult | None = None
    previous = last_fingerprint(store, watch)
    fingerprint_change = None
    try:
        model = load_model(ModelSpec.parse(watch.model_spec), lazy=True)
        try:
            behaviour, calls, tokens_in, tokens_out = take(model)
            tick.calls += calls
            tick.tokens_in += tokens_in
            tick.tokens_out += tokens_out
            tick.fingerprint = behaviour.to_dict()
            if previous:
                fingerprint_change = change(BehaviouralFingerprint.from_dict(previous), behaviour,
                                            model.fingerprint().deterministic)
            comparison, result = _measure(store, watch, model, tick, progress, allow_unsandboxed)
        finally:
            model.close()
    except (RunInterrupted, KeyboardInterrupt):  # SIGTERM or Ctrl-C (before UndriftError, which RunInterrupted is)
        tick.status, tick.error = "error", "interrupted"
        finish_tick(store, tick)
        raise
    except UndriftError as problem:  # bad input, or a run that failed (RunFailed)
        tick.status, tick.error = "error", str(problem)
    except Exception as problem:  # noqa: BLE001 - a watch runs unattended: a fault is its tick's error, not its end
        tick.status, tick.error = "error", f"internal error: {type(problem).__name__}: {problem}"
    if fingerprint_change is not None:
        tick.events.append({"kind": "fingerprint", **fingerprint_change.to_dict()})
    finish_tick(store, tick)
    if not watch_exists(store, watch.name):  # removed while it ticked: nobody is left to alert
        return TickOutcome(tick, None, None, [])
    return _alerting(store, watch, tick, previous, comparison, result)


def _measure(store: Store, watch: Watch, model, tick: Tick, progress: bool, allow_unsandboxed: bool
             ) -> tuple[Comparison | None, GateResult | None]:
    options = watch.options
    runner = Runner(store, progress=progress, allow_unsandboxed=allow_unsandboxed)
    run_options = RunOptions(name=watch.name, tasks=tuple(options.get("tasks") or ()) or None,
                             limit=options.get("limit"), seed=int(options.get("seed", 0)))
    if watch.baseline == "first":
        suite = load_suite(watch.suite, seed=run_options.seed)
        report = runner.run(suite, model, run_options, watch.suite)
        _spend(store, tick, report.run.id)
        tick.full_run = tick.baseline_run = report.run.id
        if report.run.too_many_errors:
            raise UndriftError(f"the baseline run {report.run.id} got too many errors to stand as a baseline")
        set_baseline(store, watch.name, report.run.id)
        tick.status = "baseline"
        return None, None
    tick.baseline_run = watch.baseline
    check = check_drift(store, watch.baseline, model, tolerance=float(options.get("tolerance", 0.02)),
                        max_calls=watch.max_calls, direction=options.get("direction", "drop"),
                        name=f"{watch.name}/check", progress=progress, allow_unsandboxed=allow_unsandboxed)
    tick.check_run, tick.check_decision = check.run.id, check.decision
    _spend(store, tick, check.run.id)
    if check.decision == "unchanged":
        tick.status = "passed"
        return None, None
    latest = store.get_run(check.run.id)
    if latest.status == "complete" and latest.expected == check.suite_size:
        tick.full_run = latest.id  # the check asked every sample: its run is the full run, asked once
    else:
        report = runner.run(load_suite(watch.suite, seed=run_options.seed), model, run_options, watch.suite)
        tick.full_run = report.run.id
        _spend(store, tick, report.run.id)
    baseline, full = store.get_run(watch.baseline), store.get_run(tick.full_run)
    refuse_unfit(baseline, full)
    comparison = compare_runs(store, baseline.id, full.id)
    result = evaluate(policy_of(watch), comparison)
    tick.gate = result.to_dict()
    tick.status = "passed" if result.passed else "failed"
    return comparison, result


def _spend(store: Store, tick: Tick, run_id: str) -> None:
    """Count the answers a run generated (not those from the cache) and their tokens."""
    for row in store.results(run_id):
        if not row.cached and row.answered:
            tick.calls += 1
            tick.tokens_in += row.tokens_in
            tick.tokens_out += row.tokens_out


def _alerting(store: Store, watch: Watch, tick: Tick, previous: dict | None, comparison: Comparison | None,
              result: GateResult | None) -> TickOutcome:
    retry = RetryPolicy.from_options(watch.options)
    notices, sent = [], []
    for event in tick.events:
        if event["kind"] == "fingerprint":
            moved = ", ".join(event["moved"]) or "none"
            summary = (f"the model behind {watch.name} changed: served {'changed' if event['served_changed'] else 'same'}, "
                       f"canaries moved: {moved}")
            payload = _payload(store, watch, tick, previous, comparison, result, "notice", summary)
            notice = alert_state.raise_alert(store, watch.name, FINGERPRINT, tick.id, summary, payload)
            sent += deliver(store, notice, "notice", payload, watch.webhooks, watch.alert_command, retry)
            notices.append(notice)
    current = alert_state.open_alert(store, watch.name)
    if tick.status == "failed":
        if current is not None:
            return TickOutcome(tick, alert_state.keep_open(store, current, tick.id), "ongoing", notices, sent)
        failed = ", ".join(sorted({f"{c.rule} on {c.task}" for c in result.failures})) if result else "the gate"
        summary = f"{watch.name}: the gate failed ({failed})"
        payload = _payload(store, watch, tick, previous, comparison, result, "opened", summary)
        opened = alert_state.raise_alert(store, watch.name, REGRESSION, tick.id, summary, payload)
        sent += deliver(store, opened, "opened", payload, watch.webhooks, watch.alert_command, retry)
        return TickOutcome(tick, opened, "opened", notices, sent)
    if tick.status == "passed" and current is not None:
        resolved = alert_state.resolve(store, current, tick.id)
        summary = f"{watch.name}: passing again (tick {tick.id}); the alert opened at tick {current.opened_tick} is resolved"
        payload = _payload(store, watch, tick, previous, comparison, result, "resolved", summary)
        sent += deliver(store, resolved, "resolved", payload, watch.webhooks, watch.alert_command, retry)
        return TickOutcome(tick, resolved, "resolved", notices, sent)
    return TickOutcome(tick, None, None, notices, sent)


def _payload(store: Store, watch: Watch, tick: Tick, previous: dict | None, comparison: Comparison | None,
             result: GateResult | None, event: str, summary: str) -> dict[str, Any]:
    """What a webhook or command receives: enough to act on without opening undrift."""
    payload: dict[str, Any] = {
        "event": event, "summary": summary, "watch": watch.name, "model": watch.model_spec, "suite": watch.suite,
        "tick": tick.id, "at": as_utc(tick.finished_at).isoformat(), "status": tick.status,
        "fingerprint": {"before": previous, "after": tick.fingerprint,
                        "change": next((e for e in tick.events if e["kind"] == "fingerprint"), None)},
        "cost": {"calls": tick.calls, "tokens_in": tick.tokens_in, "tokens_out": tick.tokens_out},
        "baseline_run": tick.baseline_run, "check_run": tick.check_run, "full_run": tick.full_run,
    }
    if result is not None:
        payload["failed_rules"] = [{"rule": c.rule, "task": c.task, "reason": c.reason, "value": c.value}
                                   for c in result.failures]
    if comparison is not None:
        payload["metrics"] = {g.task: {name: m.to_dict() for name, m in g.metrics.items()} for g in comparison.tasks}
        payload["flips"] = [{"task": f.task, "sample_id": f.sample_id, "kind": f.kind, "prompt": f.prompt,
                             "old_response": f.old_response, "new_response": f.new_response}
                            for f in comparison.flips[:FLIPS_IN_PAYLOAD]]
        payload["flips_total"] = len(comparison.flips)
        payload["command"] = f"undrift compare {comparison.old.id} {comparison.new.id} --db {shlex.quote(store.safe_url)}"
    return _plain(payload)


def _plain(value: Any) -> Any:
    """JSON that every store and receiver accepts: no NaN or infinity (PostgreSQL's JSON refuses them), tuples as
    lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
