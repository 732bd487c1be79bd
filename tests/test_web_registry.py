"""`undrift ui`'s registry page and a version's page: versions with their lineage, runs and aliases, the history of
each alias, the model card rendered (raw HTML off), and promote / rollback as forms that go through the same gate as
`undrift registry promote` / `rollback`.  Over HTTP first, then in the machine's headless Chromium (the `browser` and
`page` fixtures in conftest.py), which writes tests/artifacts/registry.png."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from fastapi.testclient import TestClient

from helpers import ARTIFACTS, HOSTILE_NAME, HOSTILE_TASK, ServerThread, result_row, store_run, undrift

LOCAL = "http://127.0.0.1"


def registry_store(path):
    """Versions built through the public API over scripted runs of suite `qa` (100 samples): v1 right on 80, v2 a
    child of v1 that lost five of them (NFR 5 %: the default gate refuses it), v3 a child of v1 as good as v1 (the
    gate passes it); `production` promoted to v1.  And a version named with markup whose recipe holds markup."""
    import undrift as api

    store = api.Store.open(f"sqlite:///{path}")
    registry = api.Registry(store)
    for name, right in (("v1", set(range(80))), ("v2", set(range(5, 80))), ("v3", set(range(80)))):
        registry.register(name, f"hf:/models/{name}", kind="trained", parent=None if name == "v1" else "v1",
                          recipe={"epochs": 2, "replay": 0.2}, data_hashes={"train.jsonl": "ab" * 32})
        store_run(store, name, [result_row("qa", f"s{i}", i in right, extracted="a" if i in right else "b")
                                for i in range(100)], suite="qa")
    registry.register(HOSTILE_NAME, "hf:/models/hostile", kind="trained", parent="v1",
                      recipe={"note": HOSTILE_TASK}, data_hashes={"<b>data</b>": "cd" * 32})
    store_run(store, HOSTILE_NAME, [result_row("qa", f"s{i}", i < 80) for i in range(100)], suite="qa")
    registry.promote("v1", "production")
    return store


@pytest.fixture
def store(tmp_path):
    return registry_store(tmp_path / "registry.db")


def writer(app) -> tuple[TestClient, dict[str, str]]:
    """A client holding the session's CSRF cookie and the dashboard's token; the form fields carry the CSRF token."""
    web = TestClient(app, base_url=LOCAL, follow_redirects=False, headers={"X-Undrift-Token": app.state.token})
    web.get("/registry")
    return web, {"csrf_token": web.cookies["undrift_csrf"]}


def rows_of(html: str, table: str) -> list[list[str]]:
    section = html.split(f'id="table-{table}"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S)[1:]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in rows]


def test_registry_page_lists_versions_with_lineage_runs_aliases_and_alias_history(store):
    from undrift.web import create_app

    page = TestClient(create_app(store), base_url=LOCAL).get("/registry")
    assert page.status_code == 200
    versions = {row[0]: row for row in rows_of(page.text, "versions")}
    assert versions["v2"][1:8] == ["trained", "v1", "hf:/models/v2", "epochs=2; replay=0.2",
                                   "train.jsonl: abababababab", "1", ""]
    assert versions["v1"][2] == "" and versions["v1"][7] == "production"
    assert '<a href="/registry/v1">v1</a>' in page.text  # each version and parent links to its page
    assert rows_of(page.text, "aliases")[0][:2] == ["production", "v1"]
    (move,) = rows_of(page.text, "moves")
    assert move[0] == "production" and move[2:6] == ["promote", "—", "v1", ""]
    assert "no earlier version" in page.text  # production has nowhere to roll back to yet


def test_the_alias_history_is_each_alias_newest_move_first(store):
    import undrift as api
    from undrift.web import create_app

    registry = api.Registry(store)
    registry.promote("v3", "production")
    registry.set_alias("staging", "v2")
    registry.rollback("production", reason="latency")
    page = TestClient(create_app(store), base_url=LOCAL).get("/registry")
    moves = [(r[0], r[2], r[3], r[4], r[6]) for r in rows_of(page.text, "moves")]
    assert moves == [("production", "rollback", "v3", "v1", "latency"), ("production", "promote", "v1", "v3", ""),
                     ("production", "promote", "—", "v1", ""), ("staging", "alias", "—", "v2", "")]
    aliases = {row[0]: row for row in rows_of(page.text, "aliases")}
    assert aliases["production"][1] == "v1" and aliases["production"][3:5] == ["3", "—"]  # back at the start
    assert aliases["staging"][4] == "—"


def test_a_promotion_that_passes_the_gate_moves_the_alias_and_redirects_to_the_registry(store):
    import undrift as api
    from undrift.web import create_app

    web, csrf = writer(create_app(store))
    done = web.post("/registry/promote", data={**csrf, "version": "v3", "alias": "production", "reason": "better",
                                               "expected.production": "v1"})
    assert done.status_code == 303 and done.headers["location"] == "/registry?moved=production"
    assert api.Registry(store).alias_target("production") == "v3"
    event = api.Registry(store).events("production")[-1]
    assert (event.action, event.previous, event.version, event.forced, event.reason) == (
        "promote", "v1", "v3", False, "better")
    shown = web.get(done.headers["location"])
    assert "production: v1 → v3 (promoted, the gate passed" in shown.text
    assert rows_of(shown.text, "aliases")[0][:2] == ["production", "v3"]


def test_a_promotion_the_gate_refuses_shows_the_same_reasons_as_the_cli_and_changes_nothing(store, tmp_path):
    import undrift as api
    from undrift.web import create_app

    web, csrf = writer(create_app(store))
    refused = web.post("/registry/promote", data={**csrf, "version": "v2", "alias": "production",
                                                  "expected.production": "v1"})
    assert refused.status_code == 409
    reasons = re.findall(r"<li>(.*?)</li>", refused.text.split('class="reasons"', 1)[1].split("</ul>", 1)[0])
    assert reasons and any("nfr 5.0%" in reason for reason in reasons)
    assert "refused: the gate refuses v2 for production" in refused.text
    assert '<option value="v2" selected>' in refused.text  # the form keeps what was asked
    registry = api.Registry(store)
    assert registry.alias_target("production") == "v1" and len(registry.events("production")) == 1
    cli = undrift("registry", "promote", "v2", "--db", str(store.url), cwd=tmp_path)
    assert cli.returncode == 1
    assert [line.strip().removeprefix("FAIL").strip() for line in cli.stdout.splitlines() if "FAIL" in line] == reasons


def test_a_refused_request_shows_its_problem_on_the_page_and_changes_nothing(store):
    import undrift as api
    from undrift.web import create_app

    api.Registry(store).register("v4", "hf:/models/v4")
    web, csrf = writer(create_app(store))
    norun = web.post("/registry/promote", data={**csrf, "version": "v4", "alias": "production",
                                                "expected.production": "v1"})
    assert norun.status_code == 400 and "version &#39;v4&#39; has no runs" in norun.text
    unnamed = web.post("/registry/promote", data={**csrf, "version": "v3", "alias": " "})
    assert unnamed.status_code == 400 and "an alias needs a name: use letters, digits" in unnamed.text
    nowhere = web.post("/registry/rollback", data={**csrf, "alias": "production", "expected": "v1"})
    assert nowhere.status_code == 400 and "production has no earlier version to roll back to" in nowhere.text
    assert web.post("/registry/rollback", data={**csrf, "alias": "nope"}).status_code == 400
    registry = api.Registry(store)
    assert registry.aliases() == {"production": "v1"} and len(registry.events()) == 1


def test_rollback_returns_the_alias_to_its_previous_version(store):
    import undrift as api
    from undrift.web import create_app

    api.Registry(store).promote("v3", "production")
    web, csrf = writer(create_app(store))
    page = web.get("/registry")
    assert "Roll back to v1</button>" in page.text
    done = web.post("/registry/rollback", data={**csrf, "alias": "production", "reason": "complaints",
                                                "expected": "v3"})
    assert done.status_code == 303 and done.headers["location"] == "/registry?moved=production"
    event = api.Registry(store).events("production")[-1]
    assert (event.action, event.previous, event.version, event.reason) == ("rollback", "v3", "v1", "complaints")
    assert "production: v3 → v1 (rolled back" in web.get(done.headers["location"]).text


def test_writes_need_the_token_and_the_csrf_token(store):
    import undrift as api
    from undrift.web import create_app

    app = create_app(store)
    web, csrf = writer(app)
    anonymous = TestClient(app, base_url=LOCAL, follow_redirects=False)
    anonymous.get("/registry")
    forms = {"/registry/promote": {"version": "v3", "alias": "production"}, "/registry/rollback": {"alias": "production"}}
    for url, form in forms.items():
        assert anonymous.post(url, data={**form, "csrf_token": anonymous.cookies["undrift_csrf"]}).status_code == 401
        assert web.post(url, data=form).status_code == 403  # the token, but no CSRF token
        assert web.post(url, data={**form, "csrf_token": "guess"}).status_code == 403
    assert api.Registry(store).aliases() == {"production": "v1"} and len(api.Registry(store).events()) == 1


def test_version_page_shows_lineage_runs_moves_and_renders_the_model_card(store):
    import undrift as api
    from undrift.web import create_app

    web = TestClient(create_app(store), base_url=LOCAL)
    page = web.get("/registry/v2")
    assert page.status_code == 200
    assert '<dd class="lineage"><a href="/registry/v2">v2</a> ← <a href="/registry/v1">v1</a></dd>' in page.text
    runs = rows_of(page.text, "runs")
    assert len(runs) == 1 and runs[0][1:5] == ["qa", "complete", "100", "0"]
    card = page.text.split('<article class="markdown">', 1)[1].split("</article>", 1)[0]
    assert card.startswith("<h1>Model card: v2</h1>") and "<table>" in card and "<h2>Training recipe</h2>" in card
    assert "Compatibility with the parent" in card and "|" not in re.sub(r"<[^>]+>", "", card.split("<table>")[1])
    assert api.model_card("v2", db=store).splitlines()[0] == "# Model card: v2"  # the same card the CLI writes
    production = web.get("/registry/production")  # an alias shows the version it points at
    assert production.status_code == 200 and '<span class="name">v1</span>' in production.text
    assert "production" in rows_of(production.text, "moves")[0]
    missing = web.get("/registry/v9")
    assert missing.status_code == 400 and "no registered version or alias &#39;v9&#39;" in missing.text


def test_markup_in_a_version_and_its_card_is_escaped(store):
    from undrift.web import create_app
    from undrift.web.registry import card_html, version_link

    web = TestClient(create_app(store), base_url=LOCAL)
    for page in (web.get("/registry"), web.get(version_link(HOSTILE_NAME))):
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text and "<b>data" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    card = web.get(version_link(HOSTILE_NAME)).text.split('<article class="markdown">', 1)[1]
    assert "<h1>Model card: &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in card
    assert "&lt;img src=x onerror=alert(2)&gt;" in card
    hostile = card_html('<img src=x onerror=alert(1)> [x](javascript:alert(2)) <a href="javascript:alert(3)">y</a>')
    assert hostile == ("<p>&lt;img src=x onerror=alert(1)&gt; [x](javascript:alert(2)) "
                       "&lt;a href=&quot;javascript:alert(3)&quot;&gt;y&lt;/a&gt;</p>\n")  # all text, no element


def test_markdown_in_names_is_text_in_the_card_not_links_or_images(tmp_path):
    """A task, suite, recipe and version named with Markdown: the card (the CLI's and the page's) shows the text."""
    import undrift as api
    from undrift.web import create_app
    from undrift.web.registry import version_link

    store = api.Store.open(f"sqlite:///{tmp_path / 'md.db'}")
    link, image = "[click me](http://evil.example/t)", "![x](http://evil.example/i.png)"
    api.Registry(store).register("md*v*", "hf:/models/md", kind="trained", recipe={"`base`": f"`{link}`"},
                                 data_hashes={image: "ab" * 32})
    store_run(store, "md*v*", [result_row(f"{link} {image}", "s0", True)], suite=f"_{link}_")
    card = api.model_card("md*v*", db=store)
    assert "# Model card: md\\*v\\*" in card and "\\[click me\\](http://evil.example/t)" in card
    page = TestClient(create_app(store), base_url=LOCAL).get(version_link("md*v*")).text
    shown = page.split('<article class="markdown">', 1)[1].split("</article>", 1)[0]
    assert "evil.example" in shown and "<a " not in shown and "<img" not in shown and "<em>" not in shown
    assert f"{link} {image}" in html.unescape(re.sub(r"<[^>]+>", "", shown))  # the task, as text
    assert f"<code>`{link}`</code>" in html.unescape(shown)  # a recipe value holding backticks: one code span


def test_every_registry_table_downloads_as_the_same_csv(store):
    from undrift.web import create_app

    web = TestClient(create_app(store), base_url=LOCAL)
    page = web.get("/registry").text
    for table in ("aliases", "versions", "moves"):
        got = web.get("/registry.csv", params={"table": table})
        assert got.status_code == 200 and f'filename="{table}.csv"' in got.headers["content-disposition"]
        assert len(list(csv.reader(io.StringIO(got.text)))) - 1 == len(rows_of(page, table)), table
    runs = list(csv.DictReader(io.StringIO(web.get("/registry.csv", params={"table": "runs", "version": "v1"}).text)))
    assert [(r["suite"], r["samples"]) for r in runs] == [("qa", "100")]
    assert web.get("/registry.csv", params={"table": "nope"}).status_code == 400


def test_a_second_rollback_from_the_same_page_is_refused_and_the_alias_moves_once(store):
    import undrift as api
    from undrift.web import create_app

    api.Registry(store).promote("v3", "production")
    web, csrf = writer(create_app(store))
    form = web.get("/registry").text.split('class="rollback"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="expected" value="v3">' in form  # the version the page shows it at
    click = {**csrf, "alias": "production", "expected": "v3"}
    assert web.post("/registry/rollback", data=click).status_code == 303
    again = web.post("/registry/rollback", data=click)  # the double click, or a second person on the same page
    assert again.status_code == 409
    assert ("production points at v1 now, not v3 (it moved meanwhile), so nothing moved: reload and decide again"
            in again.text)
    assert rows_of(again.text, "aliases")[0][:2] == ["production", "v1"]  # the page shows where it is now
    registry = api.Registry(store)
    assert registry.alias_target("production") == "v1"
    assert [e.action for e in registry.events("production")] == ["promote", "promote", "rollback"]


def test_a_promotion_from_a_stale_page_is_refused_and_changes_nothing(store):
    import undrift as api
    from undrift.web import create_app

    web, csrf = writer(create_app(store))
    form = web.get("/registry").text.split('class="promote"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="expected.production" value="v1">' in form  # what the page showed
    registry = api.Registry(store)
    registry.promote("v2", "production", force=True, reason="hotfix")  # meanwhile, elsewhere
    registry.set_alias("staging", "v2")
    stale = web.post("/registry/promote", data={**csrf, "version": "v3", "alias": "production",
                                               "expected.production": "v1"})
    assert stale.status_code == 409 and "production points at v2 now, not v1" in stale.text
    new = web.post("/registry/promote", data={**csrf, "version": "v3", "alias": "staging",
                                             "expected.production": "v1"})  # the page showed no staging
    assert new.status_code == 409 and "staging points at v2 now, and you expected no alias staging yet" in new.text
    assert registry.aliases() == {"production": "v2", "staging": "v2"} and len(registry.events()) == 3


@pytest.mark.parametrize("alias", ["a/../b", "a\tb", "a\nb", "a" * 5000, "<script>alert(1)</script>"])
def test_an_alias_name_that_breaks_the_name_rule_is_refused(store, alias):
    import undrift as api
    from undrift.web import create_app

    web, csrf = writer(create_app(store))
    refused = web.post("/registry/promote", data={**csrf, "version": "v3", "alias": alias})
    assert refused.status_code == 400 and "bad alias name" in refused.text and "use letters, digits" in refused.text
    assert "<script>alert(1)" not in refused.text
    assert api.Registry(store).aliases() == {"production": "v1"} and len(api.Registry(store).events()) == 1


def test_promoting_the_version_an_alias_points_at_moves_nothing(store):
    import undrift as api
    from undrift.web import create_app

    since = api.Registry(store).events("production")[-1].at
    web, csrf = writer(create_app(store))
    same = web.post("/registry/promote", data={**csrf, "version": "v1", "alias": "production",
                                              "expected.production": "v1"})
    assert same.status_code == 200 and "production already points at v1: nothing moved" in same.text
    assert [e.at for e in api.Registry(store).events()] == [since]


def test_the_promote_form_preselects_no_version_and_needs_a_choice(store):
    import undrift as api
    from undrift.web import create_app

    web, csrf = writer(create_app(store))
    select = web.get("/registry").text.split('<select name="version"', 1)[1].split("</select>", 1)[0]
    assert '<option value="" disabled selected>choose a version</option>' in select and select.count("selected") == 1
    unchosen = web.post("/registry/promote", data={**csrf, "version": "", "alias": "production",
                                                  "expected.production": "v1"})
    assert unchosen.status_code == 400 and "choose a version to promote" in unchosen.text
    assert len(api.Registry(store).events()) == 1


# -- in the browser ----------------------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    """A fresh registry store served on a free 127.0.0.1 port (the tests write to it): base URL, token, store."""
    from undrift.web import create_app

    store = registry_store(tmp_path / "registry.db")
    app = create_app(store)
    with ServerThread(app) as base:
        yield base.removesuffix("/v1"), app.state.token, store


@pytest.fixture
def dashboard(served):
    return served[0]


def alias_row(page, alias: str):
    return page.locator(f'#table-aliases tr[data-alias="{alias}"]')


def test_promote_refusal_and_rollback_in_the_browser(page, served):
    import undrift as api

    base, token, store = served
    page.goto(f"{base}/registry?token={token}")  # the token is kept in a cookie; the address drops it
    assert page.url == f"{base}/registry"
    assert alias_row(page, "production").locator("td").nth(1).inner_text() == "v1"
    assert page.locator("form.promote select[name=version]").input_value() == ""  # nothing chosen for you
    page.get_by_role("button", name="Promote").click()  # the browser asks for a choice and sends nothing
    assert page.url == f"{base}/registry" and len(api.Registry(store).events()) == 1

    page.select_option("form.promote select[name=version]", "v3")  # a promotion the gate passes
    page.fill("form.promote input[name=reason]", "as good, newer data")
    page.get_by_role("button", name="Promote").click()
    page.wait_for_url(f"{base}/registry?moved=production")
    assert "production: v1 → v3 (promoted, the gate passed" in page.locator(".outcome.moved").inner_text()
    assert alias_row(page, "production").locator("td").nth(1).inner_text() == "v3"
    assert page.locator("#table-moves tbody tr").first.inner_text().split("\t")[2:5] == ["promote", "v1", "v3"]

    page.select_option("form.promote select[name=version]", "v2")  # one the gate refuses
    page.get_by_role("button", name="Promote").click()
    refusal = page.locator(".outcome.refused")
    refusal.wait_for()
    assert "the gate refuses v2 for production" in refusal.inner_text()
    assert any("nfr 5.0%" in reason for reason in refusal.locator(".reasons li").all_inner_texts())
    assert alias_row(page, "production").locator("td").nth(1).inner_text() == "v3"  # unchanged
    assert api.Registry(store).alias_target("production") == "v3"
    page.screenshot(path=str(ARTIFACTS / "registry-refused.png"), full_page=True)

    page.goto(f"{base}/registry")
    alias_row(page, "production").get_by_role("button", name="Roll back to v1").click()
    page.wait_for_url(f"{base}/registry?moved=production")
    assert "production: v3 → v1 (rolled back" in page.locator(".outcome.moved").inner_text()
    assert alias_row(page, "production").locator("td").nth(1).inner_text() == "v1"
    assert api.Registry(store).alias_target("production") == "v1"
    page.screenshot(path=str(ARTIFACTS / "registry.png"), full_page=True)
    assert page.dialogs == [] and not page.errors


def test_a_version_page_in_the_browser_shows_markup_as_text(page, served):
    base = served[0]
    page.goto(f"{base}/registry")
    page.get_by_role("link", name=HOSTILE_NAME, exact=True).first.click()
    assert page.locator("h1 .name").inner_text() == HOSTILE_NAME
    card = page.locator("#model-card article")
    assert card.locator("h1").inner_text() == f"Model card: {HOSTILE_NAME}"
    assert HOSTILE_TASK in card.inner_text() and "<b>data</b>" in card.inner_text()
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    page.get_by_role("link", name="v1", exact=True).first.click()  # up the lineage
    assert page.locator("h1 .name").inner_text() == "v1"
    assert page.locator("#model-card table").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "registry-version.png"), full_page=True)
    assert page.dialogs == [] and not page.errors
