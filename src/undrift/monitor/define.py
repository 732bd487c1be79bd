"""A new watch checked whole before anything is stored: the spec, the suite, the schedule, the policy, the baseline.

A watch runs unattended, so a mistake found at its first tick, hours later, is found too late: everything that can be
checked without calling the model is checked when it is added.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..analysis.sequential import DIRECTIONS
from ..errors import UndriftError, option
from ..gate import Policy
from ..models import ModelSpec
from ..names import check_name
from ..store import Store
from ..suites import load_suite
from .schedule import Schedule
from .watches import Watch


def define_watch(store: Store | None, name: str, model: str, suite: str, every: str, baseline: str = "first",
                 policy_file: Path | None = None, max_calls: int | None = None, webhooks: tuple[str, ...] = (),
                 alert_command: str | None = None, options: dict[str, Any] | None = None) -> Watch:
    """A checked watch, written nowhere yet.  `store` is read only for a baseline run (None where it is `first`), so
    a refused watch leaves no store behind."""
    check_name(name, "watch")
    ModelSpec.parse(model)
    schedule = Schedule.parse(every)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if Path(suite).is_file():
        suite = str(Path(suite).resolve())  # the daemon may run from another folder
    loaded = load_suite(suite, seed=int(options.get("seed", 0)))
    unknown = sorted(set(options.get("tasks") or ()) - {t.name for t in loaded.tasks})
    if unknown:
        raise UndriftError(f"suite {suite!r} has no task {unknown[0]!r}: it has {', '.join(t.name for t in loaded.tasks)}")
    policy_text = None
    if policy_file is not None:
        Policy.load(policy_file)
        policy_text = policy_file.read_text(encoding="utf-8")
    if max_calls is not None and max_calls < 1:
        raise UndriftError(f"{option('max_calls')} must be at least 1 (got {max_calls})")
    if options.get("limit") is not None and options["limit"] < 1:
        raise UndriftError(f"{option('limit')} must be at least 1 (got {options['limit']})")
    if options.get("direction", "drop") not in DIRECTIONS:
        raise UndriftError(f"{option('direction')} must be {' or '.join(DIRECTIONS)} (got {options['direction']!r})")
    if not 0 < float(options.get("tolerance", 0.02)) < 1:
        raise UndriftError(f"{option('tolerance')} must lie between 0 and 1 (got {options['tolerance']})")
    if alert_command is not None:
        try:
            argv = shlex.split(alert_command)
        except ValueError as exc:
            raise UndriftError(f"bad {option('alert_command')} {alert_command!r}: {exc}; it runs without a shell, "
                               "split like one: quote the whole command once, e.g. 'notify --to \"on call\"'") from None
        if not argv:
            raise UndriftError(f"bad {option('alert_command')}: it is empty; give the program to run, e.g. "
                               "'notify --to ops'")
    for url in webhooks:
        if not url.startswith(("http://", "https://")):
            raise UndriftError(f"bad {option('webhooks', flag='--alert-webhook')} {url!r}: give an http:// or https:// "
                               "URL")
    if baseline != "first":
        assert store is not None, "a baseline run is read from the store"
        record = store.get_run(baseline)
        if not record.config.get("suite_ref"):
            raise UndriftError(f"run {record.id} was imported, not run: a watch's baseline must be a run it can ask "
                               "again (`undrift run`), or `first`")
        if record.suite_digest != loaded.digest():
            raise UndriftError(f"run {record.id} is of another suite (or an older version of {suite!r}): pick a run "
                               f"of this suite, or {option('baseline', repr('first'))}")
        baseline = record.id
    return Watch(name=name, model_spec=model, suite=suite, schedule=schedule.text, baseline=baseline,
                 policy=policy_text, max_calls=max_calls, webhooks=tuple(webhooks), alert_command=alert_command,
                 options=options)
