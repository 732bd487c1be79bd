"""The registry: every version (trained, imported, served or run), its lineage, aliases such as `production`,
promotion through the gate, and rollback.

An alias points at one version.  Every move of an alias is an event (who it pointed at before, whether the gate
was overridden and why), and nothing is ever forgotten.  Read in order, the events are a stack: a promotion or an
alias move pushes a version, a rollback pops one, so rolling back twice goes two steps back (never forward again;
going forward is a promotion, through the gate).  A version's `parent` is always a registered version's name.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from .errors import UndriftError, option
from .jsonable import jsonable
from .names import check_name
from .store import RunRecord, Store, as_store, store_exists
from .store.schema import alias_events, aliases, versions

KINDS = ("trained", "imported", "served", "run", "registered")
DEFAULT_POLICY = {"rules": [{"metric": "nfr", "max": 0.02}, {"metric": "accuracy", "no_significant_drop": True}]}


@dataclass(frozen=True)
class Version:
    name: str
    spec: str
    kind: str
    parent: str | None
    recipe: dict[str, Any]
    data_hashes: dict[str, str]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class AliasEvent:
    alias: str
    version: str
    previous: str | None
    action: str
    forced: bool
    reason: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class ListedVersion:
    """A version as `undrift registry list` shows it: with the aliases that point at it and its finished runs."""

    version: Version
    aliases: list[str]
    runs: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.version.to_dict(), "aliases": self.aliases})


@dataclass(frozen=True)
class VersionDetail:
    """One version with its lineage (itself first), its finished runs and every move of an alias to or from it."""

    version: Version
    lineage: list[Version]
    runs: list[RunRecord]
    events: list[AliasEvent]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"version": self.version.to_dict(), "lineage": [v.name for v in self.lineage],
                         "runs": [r.id for r in self.runs], "alias_events": [e.to_dict() for e in self.events]})


@dataclass
class Promotion:
    alias: str
    version: str
    previous: str | None
    gate: Any | None  # GateResult, when there was a version to gate against
    forced: bool
    moved: bool = True  # False: the alias already pointed at the version, and nothing was recorded

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"alias": self.alias, "version": self.version, "previous": self.previous, "forced": self.forced,
                         "moved": self.moved, "gate": self.gate.to_dict() if self.gate is not None else None})


class Registry:
    """The versions and aliases kept in a store: `Registry()` opens $UNDRIFT_DB (else ./undrift.db), `Registry(url)`
    or `Registry(store)` another.

    A SQLite store that does not exist yet is made by the first registration, never by a read: reading a mistyped
    path says there is no undrift database there rather than leaving an empty one behind."""

    def __init__(self, db: Store | str | os.PathLike | None = None):
        self._db = db
        self._store: Store | None = as_store(db) if store_exists(db) else None

    @property
    def store(self) -> Store:
        """The store, which must exist (reading from one that does not is an `UndriftError`)."""
        if self._store is None:
            self._store = as_store(self._db, must_exist=True)
        return self._store

    def _writable(self) -> Store:
        """The store, made if it does not exist yet (what a registration may do)."""
        if self._store is None:
            self._store = as_store(self._db)
        return self._store

    # -- versions ---------------------------------------------------------------------------------------------

    def check_free(self, name: str) -> None:
        if not name.strip():
            raise UndriftError("a version needs a name")
        if self.find(name) is not None:
            raise UndriftError(f"a version named {name!r} is already registered: choose another name")

    def register(self, name: str, spec: str, kind: str = "registered", parent: str | None = None,
                 recipe: dict | None = None, data_hashes: dict | None = None) -> Version:
        """Record a version; `parent` (a version or an alias) must be registered and is stored as a version name.  A
        version registered by hand must have a spec that parses (the others come from runs, imports and training)."""
        if kind not in KINDS:
            raise UndriftError(f"unknown version kind {kind!r}")
        if kind == "registered":
            from .models import ModelSpec

            ModelSpec.parse(spec)
        parent = self.get(parent).name if parent is not None else None
        row = dict(name=name, spec=spec, kind=kind, parent=parent, recipe=recipe or {}, data_hashes=data_hashes or {},
                   created_at=datetime.now(timezone.utc))
        try:
            with self._writable().engine.begin() as connection:
                connection.execute(insert(versions).values(**row))
        except IntegrityError:
            raise UndriftError(f"a version named {name!r} is already registered: choose another name") from None
        return Version(**row)

    def ensure(self, name: str, spec: str, kind: str) -> None:
        """Register `name` if it is new (what `run`, `import` and `serve` do for the versions they meet)."""
        if self.find(name) is None:
            try:
                self.register(name, spec, kind)
            except UndriftError:
                pass  # registered meanwhile by another process: fine

    def find(self, name: str) -> Version | None:
        with self.store.engine.connect() as connection:
            row = connection.execute(select(versions).where(versions.c.name == name)).mappings().first()
        return Version(**row) if row else None

    def get(self, name: str) -> Version:
        version = self.find(name)
        if version is None:
            target = self.alias_target(name)
            if target:
                return self.get(target)
            raise UndriftError(f"no registered version or alias {name!r}: "
                               "undrift.Registry(db).list() and `undrift registry list` show them")
        return version

    def parent_for(self, base_spec: str, parent: str | None = None) -> str | None:
        """The version a model trained from `base_spec` derives from: `parent` (a version or alias) if given, else
        the one registered version whose spec is `base_spec`, else None (unknown; the recipe keeps the spec).  Several
        versions with that spec are ambiguous, and guessing would falsify the lineage, so that is an error."""
        if parent is not None:
            return self.get(parent).name
        same = sorted(v.name for v in self.list() if v.spec == base_spec)
        if len(same) > 1:
            raise UndriftError(f"versions {', '.join(same)} all have spec {base_spec}: name the one trained from "
                               f"with {option('parent')}")
        return same[0] if same else None

    def list(self) -> list[Version]:
        with self.store.engine.connect() as connection:
            rows = connection.execute(select(versions).order_by(versions.c.created_at)).mappings().all()
        return [Version(**row) for row in rows]

    def listing(self) -> list[ListedVersion]:
        """Every version, oldest first, with its aliases and how many finished runs it has."""
        pointed: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            pointed.setdefault(version, []).append(alias)
        return [ListedVersion(v, pointed.get(v.name, []), len(self.runs_of(v.name))) for v in self.list()]

    def detail(self, name: str) -> VersionDetail:
        """A version (or the one an alias points at) with its lineage, runs and alias moves."""
        version = self.get(name)
        events = [e for e in self.events() if e.version == version.name or e.previous == version.name]
        return VersionDetail(version, self.lineage(version.name), self.runs_of(version.name), events)

    def runs_of(self, name: str) -> list[RunRecord]:
        """The finished runs filed under `name`, newest first: the version's evidence."""
        return [r for r in self.store.list_runs(name=name, limit=None) if r.finished]

    def lineage(self, name: str) -> list[Version]:
        chain, seen = [], set()
        current = self.find(name)
        while current is not None and current.name not in seen:
            chain.append(current)
            seen.add(current.name)
            current = self.find(current.parent) if current.parent else None
        return chain

    # -- aliases ----------------------------------------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        with self.store.engine.connect() as connection:
            return {a: v for a, v in connection.execute(select(aliases.c.alias, aliases.c.version))}

    def alias_target(self, alias: str) -> str | None:
        return self.aliases().get(alias)

    def events(self, alias: str | None = None) -> list[AliasEvent]:
        query = select(alias_events).order_by(alias_events.c.id)
        if alias:
            query = query.where(alias_events.c.alias == alias)
        with self.store.engine.connect() as connection:
            return [AliasEvent(**{k: row[k] for k in AliasEvent.__dataclass_fields__})
                    for row in connection.execute(query).mappings()]

    def set_alias(self, alias: str, name: str, action: str = "alias", forced: bool = False,
                  reason: str | None = None, expected: str | None = None) -> AliasEvent | None:
        """Point `alias` at version `name`, recording the move; alias and event land in one transaction.

        `expected` is the version the caller believes the alias points at now ("" for no such alias yet): a caller
        who decided on a stale view (a double click, two people on one page) is refused with `AliasMoved` instead of
        moving the alias twice.  The write itself is conditional on the version read here (an UPDATE of that row
        with that version, or an INSERT the primary key refuses), so of two concurrent moves from one state only one
        lands.  None, and nothing recorded, when the alias already points at `name` (and at what was expected): a
        move to where it is would only reset its "since"."""
        check_name(alias, "alias")
        if self.find(name) is None:
            raise UndriftError(f"no registered version {name!r}: "
                               "undrift.Registry(db).list() and `undrift registry list` show them")
        if self.find(alias) is not None:
            raise UndriftError(f"{alias!r} is a version name; an alias needs a name of its own")
        previous = self.alias_target(alias)
        if expected is not None and expected != (previous or ""):
            raise AliasMoved(alias, previous, expected)
        if previous == name:
            return None
        now = datetime.now(timezone.utc)
        try:
            with self.store.engine.begin() as connection:
                if previous is None:
                    connection.execute(insert(aliases).values(alias=alias, version=name, updated_at=now))
                    moved = True
                else:
                    moved = bool(connection.execute(update(aliases).values(version=name, updated_at=now).where(
                        aliases.c.alias == alias, aliases.c.version == previous)).rowcount)
                if moved:
                    connection.execute(insert(alias_events).values(alias=alias, version=name, previous=previous,
                                                                   action=action, forced=forced, reason=reason, at=now))
        except IntegrityError:  # the alias was made meanwhile
            moved = False
        if not moved:
            raise AliasMoved(alias, self.alias_target(alias), previous or "")
        return AliasEvent(alias, name, previous, action, forced, reason, now)

    def promote(self, name: str, to: str, policy=None, force: bool = False, reason: str | None = None,
                expected: str | None = None) -> Promotion:
        """Move `to` to version `name` if the gate passes against the version it points at now; `expected` as in
        `set_alias`.  Promoting the version `to` already points at moves nothing (`Promotion.moved` is False)."""
        from .gate import Policy

        if not name.strip():
            raise UndriftError("choose a version to promote: `undrift registry list` shows them")
        self.get(name)
        check_name(to, "alias")
        current = self.alias_target(to)
        if current == name:
            return Promotion(to, name, current, None, False, moved=False)
        if expected is not None and expected != (current or ""):
            raise AliasMoved(to, current, expected)
        if force and not reason:
            raise UndriftError(f"{option('force', True)} needs {option('reason')}: overriding the gate is recorded "
                               "with why")
        candidate_runs = self.runs_of(name)
        if not candidate_runs:
            raise UndriftError(f"version {name!r} has no runs: run a suite under that name "
                               f"({option('name', repr(name), '--as')}) before promoting it")
        result = None
        if current is not None:
            pairs = shared_suite_runs(self.runs_of(current), candidate_runs)
            if not pairs:
                if not force:
                    raise UndriftError(f"{to} ({current}) and {name} have no runs of the same suite to gate on: run "
                                       f"one suite on both, or pass {option('force', True)} with {option('reason')}")
            else:
                result = _gate_every_suite(self.store, policy or Policy.parse(DEFAULT_POLICY, "default policy"), pairs)
                if not result.passed and not force:
                    reasons = "; ".join(c.reason for c in result.failures[:3])
                    raise GateRefused(f"the gate refuses {name} for {to}: {reasons}", result)
        event = self.set_alias(to, name, action="promote", forced=bool(force and (result is None or not result.passed)),
                               reason=reason, expected=current or "")  # the version gated against, or none
        assert event is not None  # it pointed at `current`, not `name`, or set_alias refused
        return Promotion(to, name, event.previous, result, event.forced)

    def rollback_target(self, alias: str) -> str | None:
        """The version `rollback(alias)` would return `alias` to, or None when it has no earlier version (or is no
        alias): what a page offers before anyone presses the button."""
        stack: list[str] = []  # ends with where the alias points now, whatever the log's past
        for event in self.events(alias):
            if event.action == "rollback" and stack:
                stack.pop()
            if not stack or stack[-1] != event.version:
                stack.append(event.version)
        return stack[-2] if len(stack) >= 2 else None

    def rollback(self, alias: str, reason: str | None = None, expected: str | None = None) -> AliasEvent:
        """Return `alias` to the version it pointed at before the move that brought it to where it is; each further
        rollback goes one more step back.  `expected` (the version the caller saw it at) makes a repeated request
        (a double click, two people) an `AliasMoved` rather than a second step back."""
        current = self.alias_target(alias)
        if current is None and not expected:
            raise UndriftError(f"no alias {alias!r}: "
                               "undrift.Registry(db).aliases() and `undrift registry list` show the aliases")
        if expected is not None and expected != (current or ""):
            raise AliasMoved(alias, current, expected)
        target = self.rollback_target(alias)
        if target is None:
            raise UndriftError(f"{alias} has no earlier version to roll back to: promoting a version to it moves it "
                               f"forward (Registry.promote(NAME, to={alias!r}), `undrift registry promote NAME "
                               f"--to {alias}`)")
        return self.set_alias(alias, target, action="rollback", reason=reason, expected=current)


def nothing_moved(alias: str, version: str) -> str:
    """What a move to where the alias already points says (a promotion or `set_alias` that recorded nothing)."""
    return f"{alias} already points at {version}: nothing moved"


class AliasMoved(UndriftError):
    """A move decided on a view of the alias that is no longer true: nothing moved, and the caller should look
    again (the dashboard answers 409)."""

    def __init__(self, alias: str, now: str | None, expected: str):
        where = f"{alias} points at {now} now" if now else f"there is no alias {alias} now"
        seen = f"not {expected}" if expected else f"and you expected no alias {alias} yet"
        super().__init__(f"{where}, {seen} (it moved meanwhile), so nothing moved: reload and decide again")
        self.alias, self.now, self.expected = alias, now, expected


class GateRefused(UndriftError):
    """Promotion refused by the gate: exit code 1, with the reasons (not a usage error)."""

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


def _gate_every_suite(store: Store, policy, pairs: list[tuple[RunRecord, RunRecord]]):
    """The gate on every suite both versions ran: a regression on any one of them refuses the promotion."""
    from .analysis.compare import compare_runs
    from .gate import GateResult, evaluate

    combined = GateResult(passed=True)
    for old, new in pairs:
        result = evaluate(policy, compare_runs(store, old.id, new.id))
        prefix = f"{new.suite}: " if len(pairs) > 1 else ""
        combined.checks += [replace(c, task=prefix + c.task, reason=prefix + c.reason) for c in result.checks]
        combined.notes += [prefix + note for note in result.notes]
    combined.passed = all(c.passed for c in combined.checks)
    return combined


def shared_suite_runs(old_runs: list[RunRecord], new_runs: list[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """One (old, new) pair per suite both versions ran, each version's newest run of it; suites ordered by the
    newest run of the new version.  Runs are newest first, as `runs_of` gives them."""
    pairs: dict[str, tuple[RunRecord, RunRecord]] = {}
    for new in new_runs:
        old = next((o for o in old_runs if o.suite == new.suite), None)
        if old is not None and new.suite not in pairs:
            pairs[new.suite] = (old, new)
    return list(pairs.values())

