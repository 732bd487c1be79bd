"""Plotly figures as the pages embed them: JSON in a non-executing `<script type="application/json">` block that
static/ui.js draws, with the modebar's PNG download and an SVG button (and no button that uploads anywhere).  Text from models, suites and users is
HTML-escaped before it enters a figure, since Plotly reads a few tags in labels (it shows the entities as text)."""

from __future__ import annotations

import html
import json
from typing import Any


def label(text: str) -> str:
    """Untrusted text for a Plotly label or hover text: shown as written, never read as markup."""
    return html.escape(text, quote=True)


def embedded(figure: Any, filename: str) -> str:
    """The JSON a page puts in its figure block: the figure and its config (download as PNG from the modebar).

    `<`, `>` and `&` are written as JSON escapes so that no string can close the script element it sits in."""
    data = json.loads(figure.to_json())
    payload = {"data": data.get("data", []), "layout": data.get("layout", {}), "filename": filename,
               # no "Share chart" button: it would upload the figure to Plotly's cloud
               "config": {"displaylogo": False, "responsive": True, "showSendToCloud": False,
                          "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}}
    text = json.dumps(payload)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
