"""Drift of live outputs: windowed metrics of the traffic `undrift proxy` recorded, and two-sample tests between a
reference window and the current one (docs/traffic.md)."""

from .analyse import TrafficQuery, TrafficReport, analyse_traffic

__all__ = ["TrafficQuery", "TrafficReport", "analyse_traffic"]
