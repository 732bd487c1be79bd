"""Live traffic as it exists: the recording proxy, drift of recorded outputs between windows, and replay of recorded
requests against a candidate.  Re-exported as they are (they take a `Store`; `undrift.Store.open(url)` gives one)."""

from __future__ import annotations

from ..proxy import ProxyOptions
from ..proxy import create_app as create_proxy_app
from ..replay import ReplayOptions, ReplayReport, Selection, export_suite, replay, select_traffic
from ..traffic import TrafficQuery, TrafficReport, analyse_traffic

__all__ = ["ProxyOptions", "ReplayOptions", "ReplayReport", "Selection", "TrafficQuery", "TrafficReport",
           "analyse_traffic", "create_proxy_app", "export_suite", "replay", "select_traffic"]
