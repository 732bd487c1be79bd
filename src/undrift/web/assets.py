"""Where the dashboard's files are: its templates and static files, and Plotly's JavaScript from the installed
`plotly` package (served by the app itself, so the dashboard works offline and loads nothing from a CDN)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..errors import UndriftError

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def plotly_js() -> Path:
    """plotly.min.js as the `plotly` package ships it (package_data/plotly.min.js)."""
    path = Path(str(files("plotly").joinpath("package_data", "plotly.min.js")))
    if not path.is_file():
        raise UndriftError(f"the plotly package has no {path.name} at {path.parent}: reinstall it "
                           "(pip install --force-reinstall plotly)")
    return path
