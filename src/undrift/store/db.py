"""The store: where every run, response and score is kept.  SQLite by default, PostgreSQL for a team.

The URL is `--db`, else `UNDRIFT_DB`, else `sqlite:///undrift.db` in the working directory.  Opening a store brings
its schema to the newest Alembic revision, under a lock (SQLite's write lock, a PostgreSQL advisory lock) so that
many processes may open a new store at once.  Writes of results go in batches, one transaction each, so an
interrupted run keeps every finished batch and nothing half-written; `resume` carries on from there.

A SQLite store that this user cannot write (a read-only folder or file) opens read-only: `runs`, `show` and the other
reads work, and a write is one line.  Any database fault (a full disk, a lost server) is one line too, never a dump
of the SQL and its parameters.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import (JSON, Boolean, String, Text, bindparam, cast, create_engine, delete, event, func, inspect, literal,
                        select, update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from .. import __version__
from ..errors import UndriftError, first_line, option
from ..jsonable import jsonable
from .lease import owner_alive, lease_age_s, this_process
from .rows import ResultRow
from .schema import results, runs

DEFAULT_URL = "sqlite:///undrift.db"
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0005"  # the newest file in migrations/versions; a test keeps the two in step
BACKENDS = ("sqlite", "postgresql")
CONNECT_TIMEOUT_S = 10  # a PostgreSQL URL at a port where nothing answers fails in this time, not minutes
# Errors are left out of every metric, so a few cost only precision; but errors seldom strike at random (long prompts
# time out, a rate limit hits the later samples), so beyond a few the answered samples no longer stand for the suite.
DEFAULT_MAX_ERROR_RATE = 0.05
MIGRATION_LOCK = 0x756E6472696674  # PostgreSQL advisory lock key ("undrift") held while the schema is upgraded


def resolve_url(url: str | None) -> str:
    """The SQLAlchemy URL to use; a bare file path means SQLite, `postgresql://` means psycopg 3."""
    url = url or os.environ.get("UNDRIFT_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


FINISHED_STATUSES = frozenset({"complete", "stopped"})
"""The statuses of a run that ended on purpose, the evidence a version's runs are made of: `complete` (every item
asked) and `stopped` (its own stopping rule ended it early, as a sequential check does).  A `running`,
`interrupted` or `failed` run may still change or was cut short by a fault.  Where a verdict needs every sample
(the gate, the history), only `complete` counts: see `analysis.compare.unfit_for_gate`."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    name: str
    suite: str
    suite_source: str
    suite_digest: str
    model_spec: str
    fingerprint: dict[str, Any]
    config: dict[str, Any]
    status: str
    expected: int
    created_at: datetime
    finished_at: datetime | None
    owner: str | None = None  # pid@host of the process that runs (or last ran) it
    heartbeat_at: datetime | None = None
    done: int = 0  # result rows, errors included
    errors: int = 0  # result rows that hold an error, not an answer

    def to_dict(self) -> dict[str, Any]:
        """The run as `undrift runs --json` prints it (times in ISO 8601)."""
        return jsonable(asdict(self))

    @property
    def finished(self) -> bool:
        """Whether the run ended on purpose, so its answers are final: see `FINISHED_STATUSES`."""
        return self.status in FINISHED_STATUSES

    @property
    def answered(self) -> int:
        return self.done - self.errors

    @property
    def max_error_rate(self) -> float:
        """The share of errors the run allowed itself (`--max-error-rate`; imported runs: the default)."""
        return float(self.config.get("max_error_rate", DEFAULT_MAX_ERROR_RATE))

    @property
    def too_many_errors(self) -> bool:
        """More errors than the run allowed, or errors and no answer at all: the run is no evidence."""
        return bool(self.errors) and (not self.answered or self.errors > self.max_error_rate * self.done)


def store_exists(db: Store | str | os.PathLike | None = None) -> bool:
    """Whether `db` names a store that is there to read: an open `Store` or any server URL is; a SQLite file is if
    the file exists (opening one that does not would create it)."""
    if not (db is None or isinstance(db, (str, os.PathLike))):
        return True  # a Store; anything else is for `as_store` to refuse
    try:
        path = _sqlite_file(make_url(resolve_url(os.fspath(db) if isinstance(db, os.PathLike) else db)))
    except ArgumentError:
        return True  # a bad URL: for `Store.open` to refuse with its own message
    return path is None or path.exists()


def _sqlite_file(parsed) -> Path | None:
    """The file of a SQLite URL (not an in-memory one); None for any other database."""
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


def as_store(db: Store | str | os.PathLike | None = None, must_exist: bool = False) -> Store:
    """What every `db` parameter of the public API takes: an open `Store`, a SQLAlchemy URL or a SQLite file path
    (a `str` or a `Path`), or None for $UNDRIFT_DB, else sqlite:///undrift.db.  `must_exist`: a SQLite file that is
    not there is an error (reading commands must not leave an empty store behind)."""
    if isinstance(db, Store):
        return db
    if isinstance(db, os.PathLike):
        db = os.fspath(db)
    if db is not None and not isinstance(db, str):
        raise UndriftError(f"db must be a Store, a database URL or a SQLite file path (got {type(db).__name__})")
    return Store.open(db, must_exist=must_exist)


class Store:
    """An open store: `Store.open(url)`, or what `as_store` makes of a `db` argument.  Use it in a `with` block, or
    call `close()`, to release its connections."""

    def __init__(self, engine: Engine, url: str, read_only: bool = False):
        self.engine = engine
        self.url = url
        self.read_only = read_only

    def __repr__(self) -> str:
        return f"Store({self.safe_url!r}{', read_only=True' if self.read_only else ''})"

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @classmethod
    def open(cls, url: str | None = None, must_exist: bool = False) -> "Store":
        resolved = resolve_url(url)
        try:
            parsed = make_url(resolved)
        except ArgumentError:
            raise UndriftError(
                f"bad database URL {resolved!r}: use sqlite:///FILE.db or postgresql://USER:PASS@HOST/DB"
            ) from None
        backend = parsed.get_backend_name()
        if backend not in BACKENDS:
            raise UndriftError(f"bad database URL {parsed.render_as_string(hide_password=True)!r}: undrift keeps its "
                               "store in SQLite or PostgreSQL; use sqlite:///FILE.db or postgresql://USER:PASS@HOST/DB")
        read_only, connect_args = False, {}
        path = _sqlite_file(parsed)
        if path is not None:
            if must_exist and not path.exists():
                raise UndriftError(f"no undrift database at {str(path)!r}: check the store named by {option('db')} "
                                   "or $UNDRIFT_DB, or make one with a run first (undrift.run, `undrift run`)")
            if not path.parent.exists():
                raise UndriftError(f"cannot create database {str(path)!r}: folder {str(path.parent)!r} does not exist")
            read_only = _read_only_here(path)
            if read_only and not path.exists():
                raise UndriftError(f"cannot create database {str(path)!r}: folder {str(path.parent)!r} is read-only")
            if read_only:
                parsed = parsed.set(database=f"file:{path.resolve()}", query={**parsed.query, **_read_only_query(path)})
        if backend == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        try:
            engine = create_engine(parsed, future=True, pool_pre_ping=True, connect_args=connect_args)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise UndriftError(f"bad database URL {resolved!r}: {exc}; use sqlite:///FILE.db or postgresql://...") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_read_only_pragmas if read_only else _sqlite_pragmas)
        store = cls(engine, resolved, read_only)
        event.listen(engine, "handle_error", store._one_line_fault)
        store._migrate()
        return store

    def _migrate(self) -> None:
        """Bring the schema to the newest revision; a store already there costs one query, not an Alembic import.

        The upgrade runs under a lock held until it commits, and looks at the revision again once it holds it: of
        many processes opening a new store at once, one creates the tables and the others find them made.
        """
        try:
            with self.engine.connect() as connection:
                if _current_revision(connection) == HEAD_REVISION:
                    return
            if self.read_only:
                raise UndriftError(f"the store {self.safe_url} is read-only here and its schema is older than this "
                                   "undrift's: open it once where it can be written, to upgrade it")
            with self._migration_lock() as connection:
                if _current_revision(connection) == HEAD_REVISION:
                    return
                from alembic import command
                from alembic.config import Config

                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise UndriftError(f"cannot open database {self.safe_url}: {first_line(exc.orig or exc)}; "
                               f"{_open_hint(self.engine.dialect.name)}") from None

    @contextmanager
    def _migration_lock(self):
        """A transaction that holds the schema lock: SQLite's write lock taken at BEGIN (BEGIN IMMEDIATE, which the
        driver would otherwise put off until the first write), or a PostgreSQL advisory lock."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                with connection.begin():  # emits nothing here; its commit or rollback ends the BEGIN IMMEDIATE
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    yield connection
            else:
                with connection.begin():
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                    yield connection

    def _one_line_fault(self, context) -> None:
        """A database fault on an open connection (a full disk, a read-only file, a lost server), in a statement or
        at commit, becomes one line; constraint violations pass through, as callers handle those, and so do failures
        to connect (`_migrate` words them)."""
        error = context.sqlalchemy_exception
        if context.connection is None or context.is_disconnect or not isinstance(error, OperationalError):
            return
        verb = (context.statement or "COMMIT").lstrip().split(None, 1)[0].upper()
        action = "read" if verb in ("SELECT", "PRAGMA", "WITH") else "write to"
        detail = first_line(context.original_exception)
        hint = ""
        if "readonly" in detail or "read-only" in detail:
            hint = ": the store is read-only here; write where you have permission, or copy it"
        elif "full" in detail or "I/O" in detail or "No space" in detail:
            hint = ": is the disk full?"
        raise UndriftError(f"cannot {action} {self.safe_url} ({detail}){hint}") from None

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for messages and `repr`."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the engine's connections (the store can still be used: the pool opens new ones)."""
        self.engine.dispose()

    # -- runs -------------------------------------------------------------------------------------------------

    def create_run(self, *, name: str, suite: str, suite_source: str, suite_digest: str, model_spec: str,
                   fingerprint: dict, config: dict, expected: int) -> RunRecord:
        run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        row = dict(
            id=run_id, name=name, suite=suite, suite_source=suite_source, suite_digest=suite_digest,
            model_spec=model_spec, fingerprint=fingerprint, config=config, status="running", expected=expected,
            created_at=datetime.now(timezone.utc), finished_at=None, undrift_version=__version__,
            owner=this_process(), heartbeat_at=datetime.now(timezone.utc),
        )
        with self.engine.begin() as connection:
            connection.execute(runs.insert().values(**row))
        return self.get_run(run_id)

    def add_complete_runs(self, batches: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[RunRecord]:
        """Write finished runs with all their results in one transaction (an import): every run lands, or none.

        Each batch is (run fields as `create_run` takes them plus `created_at`, result rows without `run_id`).
        """
        now = datetime.now(timezone.utc)
        ids = []
        with self.engine.begin() as connection:
            for fields, rows in batches:
                run_id = now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
                connection.execute(runs.insert().values(
                    id=run_id, status="complete", expected=len(rows), finished_at=now, undrift_version=__version__,
                    **fields))
                connection.execute(results.insert(), [{**row, "run_id": run_id, "created_at": now} for row in rows])
                ids.append(run_id)
        return [self.get_run(run_id) for run_id in ids]

    def finish_run(self, run_id: str, status: str, fingerprint: dict | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if status == "complete":
            values["finished_at"] = datetime.now(timezone.utc)
        if fingerprint is not None:
            values["fingerprint"] = fingerprint
        with self.engine.begin() as connection:
            connection.execute(update(runs).where(runs.c.id == run_id).values(**values))

    # -- leases (store/lease.py) ------------------------------------------------------------------------------

    def claim_run(self, run_id: str) -> None:
        """Take over an unfinished run for this process (to resume it), unless its owner still runs it.

        The claim is a compare-and-set on the lease as read, so of two processes resuming at once one wins.
        """
        record = self.get_run(run_id)
        if record.status == "running":
            age = lease_age_s(record.heartbeat_at)
            raise UndriftError(f"run {record.id} is still running (process {record.owner}, last heartbeat "
                               f"{age:.0f}s ago): wait for it to end, or stop that process and resume then")
        current = runs.c.owner.is_(None) if record.owner is None else runs.c.owner == record.owner
        beat = runs.c.heartbeat_at.is_(None) if record.heartbeat_at is None else runs.c.heartbeat_at == record.heartbeat_at
        with self.engine.begin() as connection:
            claimed = connection.execute(update(runs).where(runs.c.id == record.id, current, beat).values(
                status="running", owner=this_process(), heartbeat_at=datetime.now(timezone.utc))).rowcount
        if claimed != 1:
            raise UndriftError(f"run {record.id} was resumed by another process just now: `undrift runs` shows it")

    def renew_lease(self, run_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(runs).where(runs.c.id == run_id, runs.c.owner == this_process())
                               .values(heartbeat_at=datetime.now(timezone.utc)))

    def get_run(self, ref: str) -> RunRecord:
        """A run by id, name (the latest run of that name), or id prefix; a prefix several runs share is an error, and
        so is an empty reference (the prefix of every run, which would name the only one)."""
        if not ref:
            raise UndriftError("an empty run reference names no run: give a run id, an id prefix or a name "
                               "(undrift.runs(), `undrift runs` list them)")
        with self.engine.connect() as connection:
            row = connection.execute(select(runs).where(runs.c.id == ref)).mappings().first()
            if row is None:
                by_name = select(runs).where(runs.c.name == ref).order_by(runs.c.created_at.desc(), runs.c.id.desc())
                row = connection.execute(by_name).mappings().first()
            if row is None:
                prefixed = runs.c.id.startswith(ref, autoescape=True)
                matches = connection.execute(select(runs).where(prefixed).order_by(runs.c.id).limit(5)).mappings().all()
                if len(matches) > 1:
                    count = connection.execute(select(func.count()).where(prefixed)).scalar_one()
                    shown = ", ".join(m["id"] for m in matches) + (", ..." if count > len(matches) else "")
                    raise UndriftError(f"run id prefix {ref!r} matches {count} runs ({shown}): give more of the id")
                row = matches[0] if matches else None
            if row is None:
                raise UndriftError(f"no run or model name {ref!r} in {self.safe_url}: "
                                   "undrift.runs() and `undrift runs` list them")
            done, errors = connection.execute(
                select(func.count(), func.count(results.c.error)).where(results.c.run_id == row["id"])).one()
        return _run_record(row, done, errors)

    def list_runs(self, name: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """Runs, newest first: only those filed under `name` if given (`""` files none), at most `limit` of them
        (None: all).  With a name, only that name's result rows are counted, not every run's (the registry asks
        for each version's runs in turn)."""
        counted = select(results.c.run_id, func.count().label("done"), func.count(results.c.error).label("errors"))
        if name is not None:
            counted = counted.where(results.c.run_id.in_(select(runs.c.id).where(runs.c.name == name)))
        counts = counted.group_by(results.c.run_id).subquery()
        query = (
            select(runs, func.coalesce(counts.c.done, 0).label("done"),
                   func.coalesce(counts.c.errors, 0).label("errors"))
            .outerjoin(counts, counts.c.run_id == runs.c.id)
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        if name is not None:
            query = query.where(runs.c.name == name)
        with self.engine.connect() as connection:
            return [_run_record(row, row["done"], row["errors"]) for row in connection.execute(query).mappings()]

    # -- results ----------------------------------------------------------------------------------------------

    def add_results(self, rows: list[dict[str, Any]]) -> list[ResultRow]:
        """Write one batch of results (columns of `schema.results` but `id` and `created_at`) in one transaction: all
        of it lands, or none.  A row for an item that holds an error (a retry on resume) takes the error's place, in
        the same transaction.  Returns the rows as stored, in the order given."""
        if not rows:
            return []
        now = datetime.now(timezone.utc)
        errored = delete(results).where(
            results.c.run_id == bindparam("r_run"), results.c.task == bindparam("r_task"),
            results.c.sample_id == bindparam("r_sample"), results.c.repeat == bindparam("r_repeat"),
            results.c.error.is_not(None))
        with self.engine.begin() as connection:
            connection.execute(errored, [{"r_run": r["run_id"], "r_task": r["task"], "r_sample": r["sample_id"],
                                          "r_repeat": r["repeat"]} for r in rows])
            stored = connection.execute(results.insert().returning(*results.c, sort_by_parameter_order=True),
                                        [{**row, "created_at": now} for row in rows])
            return [ResultRow(**row) for row in stored.mappings()]

    def done_items(self, run_id: str) -> set[tuple[str, str, int]]:
        """The items of a run that hold an answer; items that hold an error are asked again on resume."""
        query = select(results.c.task, results.c.sample_id, results.c.repeat).where(
            results.c.run_id == run_id, results.c.error.is_(None))
        with self.engine.connect() as connection:
            return {(t, s, r) for t, s, r in connection.execute(query)}

    def results(self, run_id: str, task: str | None = None) -> list[ResultRow]:
        """A run's results (only `task`'s, if given), ordered by task, sample id and repeat."""
        query = select(results).where(results.c.run_id == run_id).order_by(results.c.task, results.c.sample_id, results.c.repeat)
        if task:
            query = query.where(results.c.task == task)
        with self.engine.connect() as connection:
            return [ResultRow(**row) for row in connection.execute(query).mappings()]

    def result_columns(self, run_ids: Sequence[str], columns: Sequence[str], tasks: Sequence[str] | None = None
                       ) -> dict[str, list[Any]]:
        """Some columns of the results of many runs (only `tasks`' if given), read in one query per 500 runs, as
        lists by column name: `run_id`, `task`, `sample_id`, `answered` (the row holds no error), then
        `columns`: columns of `schema.results`, or `details.KEY` for one key of the row's details (None where it
        is absent).  Rows are ordered by run, then as `results` orders a run's (task, sample id, repeat).  The
        values are those a `ResultRow` holds.

        What a history reads: every row of every run of a name, but only what its metric looks at.  Full
        `ResultRow`s (messages, responses, every detail parsed) cost ten times as much on 100 runs of 1,000 samples,
        so the rows go from the driver straight into columns, and SQLite's booleans and detail texts are converted
        once per distinct value."""
        names = ["run_id", "task", "sample_id", "answered", *columns]
        picked = [results.c.run_id, results.c.task, results.c.sample_id, results.c.error.is_(None),
                  *(self._column(name) for name in columns)]
        rows: list[Any] = []
        with self.engine.connect() as connection:
            for start in range(0, len(run_ids), 500):
                query = (select(*picked)
                         .where(results.c.run_id.in_(run_ids[start : start + 500]))
                         .order_by(results.c.run_id, results.c.task, results.c.sample_id, results.c.repeat))
                if tasks is not None:
                    query = query.where(results.c.task.in_(tasks))
                result = connection.execute(query)
                try:
                    rows += result.cursor.fetchall()  # plain tuples: a `Row` each costs as much as reading it
                except self.engine.dialect.loaded_dbapi.Error as exc:  # past SQLAlchemy's handler (_one_line_fault)
                    raise UndriftError(f"cannot read {self.safe_url} ({first_line(exc)})") from None
                finally:
                    result.close()
        found = {name: list(map(itemgetter(i), rows)) for i, name in enumerate(names)}
        sqlite = self.engine.dialect.name == "sqlite"
        for name, expression in zip(names, picked):  # what SQLAlchemy's types would make of the driver's values
            if name.startswith("details."):
                key = None if self._json_arrow else name.split(".", 1)[1]
                found[name] = list(map(_Once(partial(_json_value, key=key)).__getitem__, found[name]))
            elif name in results.c and isinstance(results.c[name].type, JSON):
                found[name] = list(map(_Once(json.loads).__getitem__, found[name]))
            elif sqlite and isinstance(expression.type, Boolean):  # SQLite has 0 and 1
                found[name] = list(map(_Once(bool).__getitem__, found[name]))
        return found

    def _column(self, name: str):
        if name.startswith("details."):
            if self._json_arrow:  # the value's own JSON text (json_extract would make true 1, and cut at a NUL)
                return results.c.details.op("->")(literal(f"$.{json.dumps(name.split('.', 1)[1])}", String))
            # The whole details as text, the key picked out in Python: PostgreSQL's `->` refuses a details that
            # holds "\u0000", and SQLite before 3.38 has no `->`.
            return cast(results.c.details, Text)
        if name not in results.c or name == "details":
            raise ValueError(f"no column {name!r} in results: name one, or details.KEY")
        if isinstance(results.c[name].type, JSON):  # as text on every backend, parsed once per distinct value
            return cast(results.c[name], Text)
        return results.c[name]

    @property
    def _json_arrow(self) -> bool:
        """Whether the details' values can be read in SQL exactly: SQLite's `->` operator, from SQLite 3.38 on."""
        dialect = self.engine.dialect
        return dialect.name == "sqlite" and dialect.loaded_dbapi.sqlite_version_info >= (3, 38)

    def cached(self, cache_keys: list[str]) -> dict[str, dict[str, Any]]:
        """Earlier error-free responses by cache key; the runner decides whether reusing them is sound."""
        found: dict[str, dict[str, Any]] = {}
        columns = [results.c.cache_key, results.c.response, results.c.variants, results.c.tokens_in,
                   results.c.tokens_out, results.c.finish_reason, results.c.latency_s]
        with self.engine.connect() as connection:
            for start in range(0, len(cache_keys), 500):
                chunk = cache_keys[start : start + 500]
                query = select(*columns).where(results.c.cache_key.in_(chunk), results.c.error.is_(None))
                for row in connection.execute(query).mappings():
                    found.setdefault(row["cache_key"], dict(row))
        return found


def as_utc(moment: datetime | None) -> datetime | None:
    """An aware UTC time: SQLite hands back naive UTC times, PostgreSQL aware ones."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _json_value(text: str, key: str | None) -> Any:
    """A detail's value from SQLite's JSON text: the value's own (`key` None), or the key's in the whole details."""
    value = json.loads(text)
    return value if key is None else (value or {}).get(key)


class _Once(dict):
    """`convert` of each distinct value, worked out once (None stays None): a column holds few distinct values."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__({None: None})
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        self[value] = converted = self.convert(value)
        return converted


def _current_revision(connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _run_record(row, done: int, errors: int) -> RunRecord:
    """A run as stored, except that a `running` run whose owner is gone reads as `interrupted` (store/lease.py)."""
    fields = {k: row[k] for k in RunRecord.__dataclass_fields__ if k not in ("done", "errors")}
    if fields["status"] == "running" and not owner_alive(fields["owner"], fields["heartbeat_at"]):
        fields["status"] = "interrupted"
    return RunRecord(**fields, done=int(done), errors=int(errors))


def _read_only_here(path: Path) -> bool:
    """Whether this user may read but not write the SQLite file (or create it and its journal in its folder)."""
    if not path.exists():
        return not os.access(path.parent, os.W_OK)
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _read_only_query(path: Path) -> dict[str, str]:
    """SQLite URI parameters that open `path` read-only.  A WAL database needs its -shm file to be read; where no
    writer left one (and none can be made here) the file is opened as immutable, sound while nobody writes it."""
    live = Path(f"{path}-shm").exists() or Path(f"{path}-wal").exists()
    return {"uri": "true", "mode": "ro", **({} if live else {"immutable": "1"})}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL waits for other openers, not fails
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_read_only_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _open_hint(dialect: str) -> str:
    if dialect == "sqlite":
        return f"check that the file's folder exists and can be written ({option('db')} or $UNDRIFT_DB)"
    return ("check that the server is up and reachable, and the URL's host, port, user, password and database "
            f"({option('db')} or $UNDRIFT_DB)")


__all__ = ["Store", "RunRecord", "FINISHED_STATUSES", "resolve_url", "as_utc", "as_store", "store_exists"]
