"""undrift: keep a large language model's behaviour steady across time and updates.

Everything the command line does, from Python (docs/python.md walks through it)::

    import undrift

    report = undrift.run("drift", "bundled:smollm2", limit=5, db="sqlite:///undrift.db")
    comparison = undrift.compare("v1", "v2", db="sqlite:///undrift.db")
    verdict = undrift.gate("v1", "v2", {"rules": [{"metric": "nfr", "max": 0.02}]}, db="sqlite:///undrift.db")

Every result has `.to_dict()`, which is what the command's `--json` prints.  Every `db` parameter takes a `Store`, a
database URL or None ($UNDRIFT_DB, else sqlite:///undrift.db).  Bad input raises `UndriftError` with one sentence;
every error undrift raises on purpose is one (`RunFailed`, `RunInterrupted`, `TrainingInterrupted` included).

The names load on first use, so `import undrift` stays fast: the library pulls in SQLAlchemy, NumPy and torch only
when a function needs them.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing would treble the import time; checkers know both

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    # runs
    "run": ".api.runs", "resume": ".api.runs", "runs": ".api.runs", "show": ".api.runs", "RunResults": ".api.runs",
    "RunReport": ".runner", "RunFailed": ".runner", "RunInterrupted": ".runner",
    # analysis
    "compare": ".api.analysis", "gate": ".api.analysis", "check": ".api.analysis", "history": ".api.analysis",
    "forgetting": ".api.analysis", "Comparison": ".analysis.compare", "GateReport": ".gate", "Policy": ".gate",
    "CheckReport": ".check", "ModelHistory": ".analysis.history", "ForgettingReport": ".analysis.forgetting",
    # training
    "train": ".api.training", "TrainedVersion": ".train.version", "TrainingInterrupted": ".train.trainer",
    # importing
    "import_generations": ".api.importing", "Columns": ".importing",
    # registry, card, review
    "Registry": ".api.registry", "Version": ".api.registry", "GateRefused": ".api.registry",
    "AliasMoved": ".api.registry",
    "model_card": ".api.registry", "export_for_review": ".api.registry", "import_reviews": ".api.registry",
    # review in the store: the queue, labels, the labels as training data
    "review_queue": ".api.review", "label": ".api.review", "export_labels": ".api.review",
    "ReviewQueue": ".api.review", "ReviewItem": ".api.review", "Label": ".api.review", "TrainingData": ".api.review",
    # what is installed, what the store has runs for
    "installed_suites": ".api.catalog", "installed_backends": ".api.catalog", "models_in_store": ".api.catalog",
    "model_catalog": ".api.catalog", "ModelCatalog": ".api.catalog", "StoredModel": ".api.catalog",
    # building blocks
    "Store": ".store", "RunRecord": ".store", "ResultRow": ".store", "ModelSpec": ".models", "load_model": ".models",
    "Suite": ".suites", "Task": ".suites", "Sample": ".suites", "ScorerConfig": ".suites", "load_suite": ".suites",
    "UndriftError": ".errors",
    # watches
    "add_watch": ".api.watching", "list_watches": ".api.watching", "tick_watch": ".api.watching",
    "run_due": ".api.watching", "list_alerts": ".api.watching", "watch_summaries": ".api.watching",
    "watch_status": ".api.watching", "remove_watch": ".api.watching", "watch_history": ".api.watching",
    "alert_records": ".api.watching", "watch_daemon": ".api.watching", "WatchSummary": ".api.watching",
    "WatchStatus": ".api.watching", "AlertRecord": ".api.watching", "WatchDaemon": ".api.watching",
    # live traffic
    "analyse_traffic": ".api.traffic", "TrafficQuery": ".api.traffic", "TrafficReport": ".api.traffic",
    "replay": ".api.traffic", "Selection": ".api.traffic", "ReplayOptions": ".api.traffic",
    "ReplayReport": ".api.traffic", "select_traffic": ".api.traffic", "export_suite": ".api.traffic",
    "ProxyOptions": ".api.traffic", "create_proxy_app": ".api.traffic", "listen_proxy": ".api.traffic",
    "selection": ".api.traffic", "Selected": ".api.traffic", "ExportReport": ".api.traffic",
    "export_traffic_for_review": ".api.traffic", "recorded_models": ".api.traffic", "RecordedModel": ".api.traffic",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from typing import Any

    from .analysis.compare import Comparison  # noqa: F401
    from .analysis.forgetting import ForgettingReport  # noqa: F401
    from .analysis.history import ModelHistory  # noqa: F401
    from .api.analysis import check, compare, forgetting, gate, history  # noqa: F401
    from .api.catalog import ModelCatalog, StoredModel, installed_backends, installed_suites  # noqa: F401
    from .api.catalog import model_catalog, models_in_store  # noqa: F401
    from .api.importing import import_generations  # noqa: F401
    from .api.registry import AliasMoved, GateRefused, Registry, Version, export_for_review, import_reviews  # noqa: F401
    from .api.registry import model_card  # noqa: F401
    from .api.review import Label, ReviewItem, ReviewQueue, TrainingData, export_labels, label, review_queue  # noqa: F401
    from .api.runs import RunResults, resume, run, runs, show  # noqa: F401
    from .api.traffic import ProxyOptions, ReplayOptions, ReplayReport, Selection, TrafficQuery, TrafficReport  # noqa: F401
    from .api.traffic import analyse_traffic, create_proxy_app, export_suite, replay, select_traffic  # noqa: F401
    from .api.traffic import ExportReport, Selected, export_traffic_for_review, listen_proxy, selection  # noqa: F401
    from .api.traffic import RecordedModel, recorded_models  # noqa: F401
    from .api.training import train  # noqa: F401
    from .api.watching import add_watch, list_alerts, list_watches, run_due, tick_watch  # noqa: F401
    from .api.watching import AlertRecord, WatchDaemon, WatchStatus, WatchSummary, alert_records  # noqa: F401
    from .api.watching import remove_watch, watch_daemon, watch_history, watch_status, watch_summaries  # noqa: F401
    from .check import CheckReport  # noqa: F401
    from .errors import UndriftError  # noqa: F401
    from .gate import GateReport, Policy  # noqa: F401
    from .importing import Columns  # noqa: F401
    from .models import ModelSpec, load_model  # noqa: F401
    from .runner import RunFailed, RunInterrupted, RunReport  # noqa: F401
    from .store import ResultRow, RunRecord, Store  # noqa: F401
    from .suites import Sample, ScorerConfig, Suite, Task, load_suite  # noqa: F401
    from .train.trainer import TrainingInterrupted  # noqa: F401
    from .train.version import TrainedVersion  # noqa: F401


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562) and keep it."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'undrift' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public API (and the module's dunders), not the machinery that loads it."""
    return sorted({*__all__, *(n for n in globals() if n.startswith("__") and n.endswith("__"))})


class _Package(types.ModuleType):
    """`undrift.check`, `undrift.gate`, `undrift.train` and `undrift.replay` are functions, yet modules of the same
    names exist inside the package.  Importing such a module would make Python set it as the package's attribute,
    hiding the function; this keeps the function.  The modules stay importable by their full names
    (`from undrift.gate import Policy`, `from undrift.train import trainer`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
