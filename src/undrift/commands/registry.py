"""`undrift registry ...`: versions, aliases such as production, promotion through the gate, rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

import undrift

from ..report.text import clean, literal
from .common import Db, Json, err, out, print_json

registry_app = typer.Typer(no_args_is_help=True, help="Versions, aliases such as production, promotion, rollback.")


def _registry(db: Optional[str]) -> undrift.Registry:
    """The registry of `--db`: reading or moving aliases refuses a store that is not there; registering makes it."""
    return undrift.Registry(db)


@registry_app.command("list")
def registry_list(db: Db = None, as_json: Json = False):
    """Every registered version with its kind, parent and aliases."""
    listed = _registry(db).listing()
    if as_json:
        print_json([entry.to_dict() for entry in listed])
        return
    from ..report.registry import versions_table

    out.print(versions_table(listed))


@registry_app.command("show")
def registry_show(name: str = typer.Argument(..., help="version or alias"), db: Db = None, as_json: Json = False):
    """One version: spec, lineage, recipe, data hashes, runs, and the moves of aliases to it."""
    detail = _registry(db).detail(name)
    if as_json:
        print_json(detail.to_dict())
        return
    from ..report.registry import version_lines

    for line in version_lines(detail):
        out.print(line)


@registry_app.command("register")
def registry_register(name: str = typer.Argument(..., help="name of the new version"),
                      spec: str = typer.Option(..., help="its model spec"),
                      parent: Optional[str] = typer.Option(None, help="the registered version or alias it derives "
                                                                      "from"),
                      db: Db = None):
    """Register a version by hand (a served endpoint, a model trained elsewhere)."""
    version = _registry(db).register(name, spec, kind="registered", parent=parent)
    out.print(literal(f"registered {version.name}: {version.spec}"))


@registry_app.command("alias")
def registry_alias(alias: str = typer.Argument(..., help="alias to move or create, e.g. staging"),
                   name: str = typer.Argument(..., help="version to point at"),
                   db: Db = None):
    """Point an alias at a version without a gate (use `promote` for stages that need one)."""
    from ..registry import nothing_moved

    event = _registry(db).set_alias(alias, name)
    moved = f"{alias}: {event.previous or '—'} → {name}" if event is not None else nothing_moved(alias, name)
    out.print(literal(moved))


@registry_app.command("promote")
def registry_promote(
    name: str = typer.Argument(..., help="version to promote"),
    to: str = typer.Option("production", help="alias (stage) to move"),
    policy: Optional[Path] = typer.Option(None, help="gate policy (default: NFR <= 2%, no significant accuracy drop)"),
    force: bool = typer.Option(False, "--force", help="promote even if the gate fails (needs --reason)"),
    reason: Optional[str] = typer.Option(None, help="why; recorded with the move"),
    expect: Optional[str] = typer.Option(None, help="refuse unless the alias points at this version now"),
    db: Db = None,
):
    """Move an alias to a version after the gate passes against the version it points at now."""
    from ..registry import nothing_moved
    from ..report.registry import promotion_line, refusal_lines

    rules = undrift.Policy.load(policy) if policy else None
    try:
        done = _registry(db).promote(name, to, rules, force=force, reason=reason, expected=expect)
    except undrift.GateRefused as refused:
        for line in refusal_lines(refused.result.failures):
            out.print(line)
        err.print(Text("refused: ", style="red").append(clean(f"{refused}; --force --reason TEXT overrides, and is "
                                                              "recorded")))
        raise typer.Exit(1)
    out.print(promotion_line(to, done) if done.moved else literal(nothing_moved(to, name)))


@registry_app.command("rollback")
def registry_rollback(alias: str = typer.Argument("production", help="alias to move back"),
                      reason: Optional[str] = typer.Option(None, help="why; recorded with the move"),
                      expect: Optional[str] = typer.Option(None, help="refuse unless the alias points at this "
                                                                      "version now"),
                      db: Db = None):
    """Return an alias to the version it pointed at before; again goes one more step back."""
    event = _registry(db).rollback(alias, reason, expected=expect)
    out.print(literal(f"{alias}: {event.previous} → {event.version} (rolled back)"))
