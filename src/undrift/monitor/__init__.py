"""Continuous monitoring: watches on a schedule, behavioural fingerprints, alerts and their delivery."""

from .alerts import Alert, Delivery, deliveries, list_alerts
from .canaries import CANARIES, BehaviouralFingerprint
from .schedule import Schedule
from .scheduler import daemon, run_due, tick_watch
from .tick import DEFAULT_POLICY, TickOutcome
from .ticks import Tick, history, ticks
from .watches import Watch, add_watch, get_watch, list_watches, remove_watch

__all__ = ["Alert", "Delivery", "deliveries", "list_alerts", "CANARIES", "BehaviouralFingerprint", "Schedule",
           "daemon", "run_due", "tick_watch", "DEFAULT_POLICY", "TickOutcome", "Tick", "history", "ticks", "Watch", "add_watch",
           "get_watch", "list_watches", "remove_watch"]
