"""The registry page: every version with its lineage (parent, recipe, data hashes, spec), runs and aliases, the
history of every alias, and promote / rollback as forms that make the very calls `undrift registry promote` and
`undrift registry rollback` make (`Registry.promote` with the default policy, so the same gate; `Registry.rollback`).
A version's own page renders its model card (`undrift.model_card`, Markdown) with raw HTML off, so text from models
and users in it is shown, never read as markup."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt

from .. import AliasMoved, GateRefused, Policy, Registry, model_card
from ..api.registry import AliasEvent, ListedVersion, VersionDetail
from ..errors import UndriftError
from ..registry import DEFAULT_POLICY, nothing_moved
from ..store import Store
from .history import history_link
from .site import Site, csv_response, form_fields, named
from .tables import Cell, Table, when

DEFAULT_ALIAS = "production"  # what `undrift registry promote` moves unless told --to
# The gate a promotion passes (the CLI's without --policy), in words: the rules of registry.DEFAULT_POLICY
GATE = "; ".join(rule.describe() for rule in Policy.parse(DEFAULT_POLICY, "the default policy").rules) + (
    " on every task, against the version the alias points at now, on every suite both ran")


@dataclass(frozen=True)
class AliasRow:
    alias: str
    version: str
    back_to: str | None  # where a rollback would take it; None: nowhere


@dataclass(frozen=True)
class Outcome:
    """What the last write did (`moved`), or why it did nothing (`unchanged`: the alias was there already;
    `refused` by the gate, with its failed checks; or a `problem` with the request, such as a page that showed the
    alias where it no longer is); shown above the forms."""

    kind: str
    message: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromoteForm:
    """The promote form's values: kept when a promotion is refused, so that it can be mended and sent again.  No
    version is chosen until someone chooses one: a default would be one careless click from production."""

    version: str = ""
    alias: str = DEFAULT_ALIAS
    reason: str = ""


@dataclass(frozen=True)
class RegistryView:
    versions: list[ListedVersion]
    aliases: list[AliasRow]  # in the order of the aliases table's rows
    tables: dict[str, Table]
    form: PromoteForm
    outcome: Outcome | None
    gate: str = GATE

    @property
    def targets(self) -> dict[str, str]:
        """Each alias and the version the page shows it at: what the forms send back as `expected`."""
        return {row.alias: row.version for row in self.aliases}


@dataclass(frozen=True)
class VersionView:
    detail: VersionDetail
    aliases: list[str]  # the aliases that point at it now
    card: str  # the model card as HTML, rendered with raw HTML off
    tables: dict[str, Table]
    form: PromoteForm
    targets: dict[str, str]  # every alias and the version it points at, as the page's form saw them
    gate: str = GATE

    @property
    def lineage(self) -> list[Cell]:
        return [Cell(v.name, href=version_link(v.name)) for v in self.detail.lineage]


def version_link(name: str) -> str:
    return "/registry/" + quote(name, safe="")


def registry_view(store: Store, form: PromoteForm | None = None, outcome: Outcome | None = None) -> RegistryView:
    registry = Registry(store)
    listed = registry.listing()
    events = registry.events()
    targets = registry.aliases()
    rows = [AliasRow(alias, version, registry.rollback_target(alias)) for alias, version in sorted(targets.items())]
    return RegistryView(listed, rows, _registry_tables(listed, rows, events), form or PromoteForm(), outcome)


def _registry_tables(listed: list[ListedVersion], rows: list[AliasRow], events: list[AliasEvent]) -> dict[str, Table]:
    latest = {e.alias: e for e in events}  # events are oldest first: the last of each alias is its latest move
    moves = {alias: sum(e.alias == alias for e in events) for alias in latest}
    aliases = Table("aliases", "Aliases", ("alias", "version", "since", "moves", "a rollback goes to"),
                    [(r.alias, Cell(r.version, href=version_link(r.version)),
                      when(latest[r.alias].at) if r.alias in latest else "", moves.get(r.alias, 0), r.back_to or "—")
                     for r in rows], empty="no aliases yet: promote a version to one below")
    versions = Table("versions", "Versions", ("version", "kind", "parent", "spec", "recipe", "data (SHA-256)",
                                              "runs", "aliases", "registered"),
                     [(Cell(e.version.name, href=version_link(e.version.name)), e.version.kind,
                       Cell(e.version.parent, href=version_link(e.version.parent)) if e.version.parent else "",
                       e.version.spec, _recipe(e.version.recipe), _hashes(e.version.data_hashes), e.runs,
                       ", ".join(sorted(e.aliases)), when(e.version.created_at)) for e in listed],
                     empty="no versions registered: `undrift run --as NAME`, `undrift train` and `undrift registry "
                           "register` add them")
    history = _moves_table("moves", "History of each alias (newest move first)",
                           sorted(events, key=lambda e: e.alias), "no alias has moved yet")
    return {t.name: t for t in (aliases, versions, history)}


def _moves_table(name: str, title: str, events: list[AliasEvent], empty: str) -> Table:
    """Alias moves: each alias's newest first (`events` are grouped by alias, oldest first within it)."""
    ordered = [e for alias in dict.fromkeys(e.alias for e in events) for e in reversed(events) if e.alias == alias]
    return Table(name, title, ("alias", "when", "action", "from", "to", "forced", "reason"),
                 [(e.alias, when(e.at), e.action, e.previous or "—", Cell(e.version, href=version_link(e.version)),
                   "forced" if e.forced else "", e.reason or "") for e in ordered], empty=empty)


def _recipe(recipe: dict) -> str:
    return "; ".join(f"{key}={value}" for key, value in recipe.items() if value not in (None, ""))


def _hashes(hashes: dict) -> str:
    return "; ".join(f"{key}: {value[:12]}" for key, value in hashes.items())


def version_view(store: Store, name: str) -> VersionView:
    registry = Registry(store)
    detail = registry.detail(name)
    version = detail.version.name
    runs = Table("runs", "Runs (its evidence for the gate)", ("run", "suite", "status", "samples", "errors", "when"),
                 [(Cell(r.id, href=history_link(r.name)), r.suite, r.status, r.done, r.errors, when(r.created_at))
                  for r in detail.runs],
                 empty="no finished runs: `undrift run SUITE --model SPEC --as NAME` adds one; a version needs one "
                       "to be promoted")
    moves = _moves_table("moves", "Moves of aliases to or from it", detail.events, "no alias has pointed at it yet")
    targets = registry.aliases()
    pointed = sorted(alias for alias, target in targets.items() if target == version)
    return VersionView(detail, pointed, card_html(model_card(version, db=store)), {"runs": runs, "moves": moves},
                       PromoteForm(version=version), dict(sorted(targets.items())))


MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def card_html(markdown: str) -> str:
    """A model card's Markdown as HTML.  Raw HTML is off: a tag written by a model or a user (in a name, a recipe,
    a task) comes out as text, and markdown-it refuses `javascript:` links."""
    return MARKDOWN.render(markdown)


def move_line(event: AliasEvent) -> str:
    """One move of an alias in words, as the page confirms it."""
    how = {"promote": "promoted", "rollback": "rolled back", "alias": "moved without a gate"}.get(event.action,
                                                                                               event.action)
    if event.forced:
        how += ", the gate overridden"
    elif event.action == "promote":
        how += ", the gate passed" if event.previous not in (None, event.version) else ", nothing to gate against"
    return f"{event.alias}: {event.previous or '—'} → {event.version} ({how}, {when(event.at)} UTC)"


def _last_move(store: Store, alias: str) -> Outcome | None:
    events = Registry(store).events(alias) if alias else []
    return Outcome("moved", move_line(events[-1])) if events else None


def _moved(alias: str) -> RedirectResponse:
    return RedirectResponse("/registry?" + urlencode({"moved": alias}), status_code=303)


def routes(site: Site) -> APIRouter:
    router = APIRouter()

    @router.get("/registry", response_class=HTMLResponse)
    def registry_page(request: Request, moved: str = "") -> HTMLResponse:
        return site.page(request, "registry.html", view=registry_view(site.store, outcome=_last_move(site.store,
                                                                                                       moved)))

    @router.get("/registry.csv")
    def registry_csv(table: str = "", version: str = "") -> Response:
        tables = version_view(site.store, version).tables if version else registry_view(site.store).tables
        return csv_response(named(tables, table))

    @router.post("/registry/promote")
    async def promote(request: Request) -> Response:
        fields = await form_fields(request)
        form = PromoteForm(fields.get("version", "").strip(), fields.get("alias", "").strip(),
                           fields.get("reason", "").strip())
        # the version the page showed the chosen alias at ("" where it showed no such alias): a stale page is refused
        expected = fields.get(f"expected.{form.alias}", "")
        try:  # what `undrift registry promote VERSION --to ALIAS [--reason TEXT] --expect VERSION` does
            done = Registry(site.store).promote(form.version, form.alias, reason=form.reason or None,
                                                expected=expected)
        except AliasMoved as moved:
            return site.page(request, "registry.html", 409,
                             view=registry_view(site.store, form, Outcome("problem", str(moved))))
        except GateRefused as refused:
            outcome = Outcome("refused", f"refused: the gate refuses {form.version} for {form.alias}, and nothing "
                                         "moved; its failed checks:",
                              tuple(check.reason for check in refused.result.failures))
            return site.page(request, "registry.html", 409, view=registry_view(site.store, form, outcome))
        except UndriftError as problem:
            return site.page(request, "registry.html", 400,
                             view=registry_view(site.store, form, Outcome("problem", str(problem))))
        if not done.moved:
            return site.page(request, "registry.html", view=registry_view(
                site.store, outcome=Outcome("unchanged", nothing_moved(form.alias, form.version))))
        return _moved(form.alias)

    @router.post("/registry/rollback")
    async def rollback(request: Request) -> Response:
        fields = await form_fields(request)
        alias = fields.get("alias", "").strip()
        try:  # what `undrift registry rollback ALIAS [--reason TEXT] --expect VERSION` does
            Registry(site.store).rollback(alias, fields.get("reason", "").strip() or None,
                                          expected=fields.get("expected", ""))
        except AliasMoved as moved:  # a double click, or someone else first: the alias moves once
            return site.page(request, "registry.html", 409,
                             view=registry_view(site.store, outcome=Outcome("problem", str(moved))))
        except UndriftError as problem:
            return site.page(request, "registry.html", 400,
                             view=registry_view(site.store, outcome=Outcome("problem", str(problem))))
        return _moved(alias)

    @router.get("/registry/{name:path}", response_class=HTMLResponse)
    def version_page(request: Request, name: str) -> HTMLResponse:
        return site.page(request, "version.html", view=version_view(site.store, name))

    return router

