"""The store: where every run, response and score is kept.  SQLite by default, PostgreSQL for a team.

The URL is `--db`, else `UNDRIFT_DB`, else `sqlite:///undrift.db` in the working directory.  Opening a store brings
its schema to the newest Alembic revision.  Writes of results go in batches, one transaction each, so an interrupted
run keeps every finished batch and nothing half-written; `resume` carries on from there.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, inspect, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from .. import __version__
from ..errors import UndriftError
from .schema import results, runs

DEFAULT_URL = "sqlite:///undrift.db"
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0002"  # the newest file in migrations/versions; a test keeps the two in step


def resolve_url(url: str | None) -> str:
    """The SQLAlchemy URL to use; a bare file path means SQLite, `postgresql://` means psycopg 3."""
    url = url or os.environ.get("UNDRIFT_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


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
    done: int = 0


class Store:
    def __init__(self, engine: Engine, url: str):
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str | None = None, must_exist: bool = False) -> "Store":
        resolved = resolve_url(url)
        try:
            parsed = make_url(resolved)
        except ArgumentError:
            raise UndriftError(
                f"bad database URL {resolved!r}: use sqlite:///FILE.db or postgresql://USER:PASS@HOST/DB"
            ) from None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database)
            if must_exist and not path.exists():
                raise UndriftError(f"no undrift database at {str(path)!r}: run `undrift run` first, or pass --db URL")
            if not path.parent.exists():
                raise UndriftError(f"cannot create database {str(path)!r}: folder {str(path.parent)!r} does not exist")
        try:
            engine = create_engine(parsed, future=True, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise UndriftError(f"bad database URL {resolved!r}: {exc}; use sqlite:///FILE.db or postgresql://...") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine, resolved)
        store._migrate()
        return store

    def _migrate(self) -> None:
        """Bring the schema to the newest revision; a store already there costs one query, not an Alembic import."""
        try:
            with self.engine.begin() as connection:
                if _current_revision(connection) == HEAD_REVISION:
                    return
                from alembic import command
                from alembic.config import Config

                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise UndriftError(f"cannot open database {self.safe_url}: {_first_line(exc.orig or exc)}") from None

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- runs -------------------------------------------------------------------------------------------------

    def create_run(self, *, name: str, suite: str, suite_source: str, suite_digest: str, model_spec: str,
                   fingerprint: dict, config: dict, expected: int) -> RunRecord:
        run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        row = dict(
            id=run_id, name=name, suite=suite, suite_source=suite_source, suite_digest=suite_digest,
            model_spec=model_spec, fingerprint=fingerprint, config=config, status="running", expected=expected,
            created_at=datetime.now(timezone.utc), finished_at=None, undrift_version=__version__,
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

    def get_run(self, ref: str) -> RunRecord:
        """A run by id, name (the latest run of that name), or id prefix; a prefix several runs share is an error."""
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
                raise UndriftError(f"no run or model name {ref!r} in {self.safe_url}: `undrift runs` lists them")
            done = connection.execute(select(func.count()).where(results.c.run_id == row["id"])).scalar_one()
        return _run_record(row, done)

    def list_runs(self, name: str | None = None, limit: int = 50) -> list[RunRecord]:
        counts = (
            select(results.c.run_id, func.count().label("done")).group_by(results.c.run_id).subquery()
        )
        query = (
            select(runs, func.coalesce(counts.c.done, 0).label("done"))
            .outerjoin(counts, counts.c.run_id == runs.c.id)
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
            .limit(limit)
        )
        if name:
            query = query.where(runs.c.name == name)
        with self.engine.connect() as connection:
            return [_run_record(row, row["done"]) for row in connection.execute(query).mappings()]

    # -- results ----------------------------------------------------------------------------------------------

    def add_results(self, rows: list[dict[str, Any]]) -> None:
        """Write one batch of results in one transaction: all of it lands, or none."""
        if not rows:
            return
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            connection.execute(results.insert(), [{**row, "created_at": now} for row in rows])

    def done_items(self, run_id: str) -> set[tuple[str, str, int]]:
        query = select(results.c.task, results.c.sample_id, results.c.repeat).where(results.c.run_id == run_id)
        with self.engine.connect() as connection:
            return {(t, s, r) for t, s, r in connection.execute(query)}

    def results(self, run_id: str, task: str | None = None) -> list[dict[str, Any]]:
        query = select(results).where(results.c.run_id == run_id).order_by(results.c.task, results.c.sample_id, results.c.repeat)
        if task:
            query = query.where(results.c.task == task)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

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


def _current_revision(connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _run_record(row, done: int) -> RunRecord:
    fields = {k: row[k] for k in RunRecord.__dataclass_fields__ if k != "done"}
    return RunRecord(**fields, done=int(done))


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


__all__ = ["Store", "RunRecord", "resolve_url"]
