"""`undrift suites` and `undrift models`: what loads by name, and what the store has runs for."""

from __future__ import annotations

from typing import Optional

import typer

from .common import AllowOutside, Db, Json, out, print_json


def suites(path: Optional[str] = typer.Argument(None, help="a suite file to check and describe"),
           allow_outside: AllowOutside = False) -> None:
    """List the suites that load by name (built-ins and plugins), or check a suite file and describe it."""
    from ..api.catalog import installed_suites
    from ..report.plugins import suite_table, suites_listing
    from ..suites import load_suite

    out.print(suite_table(load_suite(path, allow_outside=allow_outside)) if path else suites_listing(installed_suites()))


def models(db: Db = None, as_json: Json = False) -> None:
    """The model backends (built-ins and plugins), the bundled model's state, and the models the store has runs for."""
    from ..api.catalog import model_catalog
    from ..report.plugins import model_catalog_view

    catalog = model_catalog(db)
    if as_json:
        print_json(catalog.to_dict())
    else:
        out.print(model_catalog_view(catalog))
