"""Live traffic: the recording proxy, drift of what it recorded, replaying it against a candidate, and turning it
into a suite.  Each function takes `db` as everywhere else (a `Store`, a URL, or None)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..proxy import ProxyOptions
from ..proxy import create_app as create_proxy_app
from ..replay import ExportReport, ReplayOptions, ReplayReport, Selected, Selection
from ..store import Store, as_store
from ..store.traffic import RecordedModel
from ..traffic import TrafficQuery, TrafficReport
from .arguments import checked

if TYPE_CHECKING:
    from ..models import ModelSpec
    from ..proxy import Listening

REPLAY_TOLERANCE = 0.3  # the tolerance the suggested next commands use: a flip is a similarity drop of > 0.3

__all__ = ["ExportReport", "ProxyOptions", "RecordedModel", "ReplayOptions", "ReplayReport", "Selected", "Selection",
           "TrafficQuery", "TrafficReport", "analyse_traffic", "create_proxy_app", "export_suite",
           "export_traffic_for_review", "listen_proxy", "recorded_models", "replay", "select_traffic", "selection"]


@checked
def listen_proxy(options: ProxyOptions, host: str = "127.0.0.1", port: int = 8080, *,
                 db: Store | str | Path | None = None) -> Listening:
    """The recording proxy bound to `host`:`port` (0: a free port, in `.port`), recording into `db`; `.run()` serves
    until Ctrl-C.  An address beyond localhost without `options.token`, or a read-only store, is refused first."""
    from ..proxy import listen, prepare

    return listen(prepare(options, host, db), host, port)


@checked
def analyse_traffic(query: TrafficQuery, *, db: Store | str | Path | None = None) -> TrafficReport:
    """Drift of the recorded live outputs: per window and between the reference window and the current one."""
    from ..traffic import analyse_traffic as analyse

    return analyse(as_store(db, must_exist=True), query)


@checked
def recorded_models(*, db: Store | str | Path | None = None) -> list[RecordedModel]:
    """The models recorded completions asked for, with their record counts and first and last times, most recently
    seen first: what `analyse_traffic` can be asked about (`TrafficQuery(model=...)`); empty before the proxy
    records."""
    from ..store.traffic import recorded_models as recorded

    return recorded(as_store(db, must_exist=True))


@checked
def selection(since: str | None = None, until: str | None = None, tag: str | None = None,
              sample: int | str | None = None, seed: int = 0) -> Selection:
    """Which recorded requests to take: `since`/`until` as ISO times or ages (6h, 1d), `sample` a count of distinct
    requests drawn with `seed` (a share such as 0.5 is refused)."""
    from datetime import datetime, timezone

    from ..errors import UndriftError, option
    from ..traffic.windows import parse_moment

    now = datetime.now(timezone.utc)
    start = parse_moment(since, option("since"), now) if since else None
    end = parse_moment(until, option("until"), now) if until else None
    if isinstance(sample, str):
        try:
            sample = int(sample.strip())
        except ValueError:
            raise UndriftError(f"{option('sample')} is a number of requests (e.g. 200), not a share: got "
                               f"{sample!r}") from None
    chosen = Selection(start, end, tag, sample, seed)
    chosen.validate()
    return chosen


@checked
def select_traffic(chosen: Selection, *, db: Store | str | Path | None = None) -> Selected:
    """The recorded chat requests `chosen` picks, one per distinct request, with what was left out and why."""
    from ..replay import select_traffic as select

    return select(as_store(db, must_exist=True), chosen)


@checked
def replay(chosen: Selection, candidate: str | ModelSpec, options: ReplayOptions | None = None, *,
           db: Store | str | Path | None = None, progress: bool = False) -> ReplayReport:
    """Send the recorded requests `chosen` picks to `candidate` and store both sides as runs of one suite, for
    `compare` and `gate` (`.next` holds those commands).  Raises `RunFailed` when the candidate's run fails and
    `RunInterrupted` on Ctrl-C (resume it with `undrift.resume`)."""
    from ..models import ModelSpec
    from ..replay import replay as replay_traffic

    spec = ModelSpec.parse(candidate) if isinstance(candidate, str) else candidate
    report = replay_traffic(as_store(db, must_exist=True), chosen, spec, options or ReplayOptions(), progress)
    old, new = report.recorded.id, report.candidate.run.id
    report.next = {
        "compare": f"undrift compare {old} {new} --tolerance {REPLAY_TOLERANCE}",
        "gate": f"undrift gate {old} {new} --policy POLICY.yaml --tolerance {REPLAY_TOLERANCE}",
    }
    if isinstance(db, str) and db:
        report.next = {k: f"{v} --db {shlex.quote(db)}" for k, v in report.next.items()}
    return report


@checked
def export_suite(chosen: Selection, path: str | Path, labels: str | Path | None = None, *,
                 db: Store | str | Path | None = None) -> ExportReport:
    """Write the recorded requests `chosen` picks as a suite file (targets: the recorded answers, or with `labels`,
    a reviewed `export_traffic_for_review` file, the approved or corrected ones)."""
    from ..replay import export_suite as export

    return export(as_store(db, must_exist=True), chosen, Path(path), Path(labels) if labels else None)


@checked
def export_traffic_for_review(chosen: Selection, path: str | Path, *, db: Store | str | Path | None = None) -> Selected:
    """Write the recorded requests `chosen` picks and their answers to label (.csv or .jsonl), for `export_suite`."""
    from ..replay import export_for_review

    return export_for_review(as_store(db, must_exist=True), chosen, Path(path))
