"""`undrift ui` over HTTP: what the overview and history pages show (read through the public API), their CSV
downloads, Plotly served from the package, and who may read and write (token, CSRF, Host).  The browser's view of
the same pages is in test_web_browser.py."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from helpers import HOSTILE_NAME, HOSTILE_TASK, cli_argv, cli_env, dashboard_store, result_row, store_run, undrift

LOCAL = "http://127.0.0.1"
LONG_TOKEN = "a-token-of-24-characters"


@pytest.fixture
def store(tmp_path):
    return dashboard_store(tmp_path / "ui.db")


def client(app, **kwargs) -> TestClient:
    return TestClient(app, base_url=LOCAL, **kwargs)


def figure_of(page: str, figure: str) -> dict:
    """The Plotly figure a page embeds under the id `figure`, as JSON."""
    block = page.split(f'<script type="application/json" id="{figure}-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(block)


def rows_of(html: str, table: str) -> list[str]:
    section = html.split(f'id="table-{table}"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", row) for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)][1:]


def test_overview_shows_models_aliases_watches_alerts_and_a_state_each(store):
    from undrift.web import create_app

    page = client(create_app(store)).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    models = {row.split()[1]: row for row in rows_of(page.text, "models")}
    assert models["drifty"].split()[0] == "red" and "1 open alert" in models["drifty"]
    assert models["steady"].split()[0] == "green" and "production" in models["steady"]
    assert any("production" in row and "steady" in row and "green" in row for row in rows_of(page.text, "aliases"))
    assert 'href="/registry/production"' in page.text  # an alias links to its registry page
    assert [row.split()[:4] for row in rows_of(page.text, "watches")] == [["drifty", "openai:m@http://127.0.0.1:9/v1", "drift", "1d"]]
    assert any("accuracy fell on facts" in row for row in rows_of(page.text, "alerts"))
    assert 'href="/history?name=drifty"' in page.text


def test_state_rule_red_amber_green(store):
    """The documented rule, one case each: a change at the newest run is red, an earlier change amber."""
    import undrift
    from undrift.web.state import model_state

    history = undrift.history("drifty", db=store)
    newest, *_ = undrift.runs(name="drifty", db=store)
    assert model_state(newest, history, open_alerts=0).colour == "red"
    history.tasks[0].points.append(history.tasks[0].points[-1].__class__(
        "later", newest.created_at, 40, 0.25, (0.1, 0.4)))  # a later run with no change: the change is earlier now
    assert model_state(newest, history, open_alerts=0).colour == "amber"
    steady = undrift.history("steady", db=store)
    assert model_state(undrift.runs(name="steady", db=store)[0], steady, open_alerts=0).colour == "green"
    assert model_state(undrift.runs(name="steady", db=store)[0], steady, open_alerts=2).reason == "2 open alerts"


def test_every_overview_table_downloads_as_the_same_csv(store):
    from undrift.web import create_app

    web = client(create_app(store))
    for table in ("models", "aliases", "watches", "alerts"):
        got = web.get(f"/overview/{table}.csv")
        assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=utf-8"
        assert f'filename="{table}.csv"' in got.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(got.text)))
        assert len(rows) - 1 == len(rows_of(web.get("/").text, table)), table
    models = list(csv.DictReader(io.StringIO(web.get("/overview/models.csv").text)))
    assert {m["model"]: m["state"] for m in models} == {"drifty": "red", "steady": "green", HOSTILE_NAME: "green"}
    assert web.get("/overview/nope.csv").status_code == 400


def test_history_marks_the_runs_where_the_model_version_changed_and_the_alias_moves(tmp_path):
    """A watch's runs ran v1, v1, then v2 after `production` was promoted to it: the table names each run's version,
    the run where it changed is marked in table and figure, and the alias move is drawn at its time."""
    import undrift
    from undrift.web import create_app

    store = undrift.Store.open(f"sqlite:///{tmp_path / 'ui.db'}")
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    registry = undrift.Registry(store)
    registry.register("v1", "openai:one@http://127.0.0.1:9/v1")
    registry.register("v2", "openai:two@http://127.0.0.1:9/v1", parent="v1")
    registry.set_alias("production", "v1")
    one, two = "openai:one@http://127.0.0.1:9/v1", "openai:two@http://127.0.0.1:9/v1"
    for day, spec in enumerate([one, one, two]):
        store_run(store, "nightly", [result_row("facts", f"s{j}", j < 30) for j in range(40)],
                  created_at=start + timedelta(days=day), model_spec=spec)
    registry.set_alias("production", "v2")
    web = client(create_app(store))
    table = list(csv.DictReader(io.StringIO(web.get("/history.csv", params={"name": "nightly"}).text)))
    assert [row["model"] for row in table] == ["v1", "v1", "v2"]
    assert [row["model changed"] for row in table] == ["", "", "v1 → v2"]
    figure = figure_of(web.get("/history", params={"name": "nightly"}).text, "history-plot")
    changed = next(trace for trace in figure["data"] if trace["name"] == "model changed")
    assert changed["hovertext"] == ["model: v1 → v2"] and changed["x"] == ["2026-03-03T00:00:00"]
    moves = [note["text"] for note in figure["layout"]["annotations"]]
    assert moves == ["production: none → v1 (alias)", "production: v1 → v2 (alias)"]
    registry.register("v2-copy", two)  # a second version with v2's spec: the spec alone no longer names one
    store_run(store, "v2-copy", [result_row("facts", "s0", True)], model_spec=two)
    table = list(csv.DictReader(io.StringIO(web.get("/history.csv", params={"name": "nightly"}).text)))
    assert [row["model"] for row in table] == ["v1", "v1", two]
    copy = list(csv.DictReader(io.StringIO(web.get("/history.csv", params={"name": "v2-copy"}).text)))
    assert [row["model"] for row in copy] == ["v2-copy"]  # a version's own runs are its own


def test_history_page_follows_a_slice_chosen_in_the_page(tmp_path):
    import undrift
    from undrift.web import create_app

    store = undrift.Store.open(f"sqlite:///{tmp_path / 'ui.db'}")
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    for day in range(4):  # `hard` samples fail from the fourth run on, `easy` ones never
        store_run(store, "sliced", [result_row("facts", f"s{j}", j % 2 == 0 or day < 3,
                                               slices=["easy" if j % 2 == 0 else "hard"]) for j in range(40)],
                  created_at=start + timedelta(days=day))
    web = client(create_app(store))
    page = web.get("/history", params={"name": "sliced"}).text
    assert re.findall(r'<option value="(\w*)"[^>]*>(?:every sample|easy|hard)</option>', page) == ["", "easy", "hard"]
    hard = web.get("/history", params={"name": "sliced", "slice": "hard"})
    assert hard.status_code == 200 and '<option value="hard" selected>' in hard.text
    download = web.get("/history.csv", params={"name": "sliced", "slice": "hard"})
    assert 'filename="history-sliced-facts-hard-accuracy.csv"' in download.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(download.text)))
    assert [(row["samples"], row["accuracy"], row["change point"]) for row in table] == [
        ("20", "1.0", ""), ("20", "1.0", ""), ("20", "1.0", ""), ("20", "0.0", "yes")]
    unknown = web.get("/history", params={"name": "sliced", "slice": "medium"})
    assert unknown.status_code == 400 and "its slices are easy, hard" in unknown.text


def test_history_page_plots_the_chosen_task_and_metric_with_intervals_and_change_points(store):
    from undrift.web import create_app

    web = client(create_app(store))
    page = web.get("/history", params={"name": "drifty", "task": "facts", "metric": "accuracy"})
    assert page.status_code == 200
    assert '<option value="accuracy" selected>' in page.text and '<option value="facts" selected>' in page.text
    assert '"name": "change point"' in page.text and '"arrayminus"' in page.text
    assert re.search(r'<script src="/static/plotly-[\d.]+\.min\.js"></script>', page.text)
    assert "cdn" not in page.text.lower()
    table = list(csv.DictReader(io.StringIO(web.get("/history.csv", params={"name": "drifty", "task": "facts",
                                                                             "metric": "accuracy"}).text)))
    assert [row["change point"] for row in table] == ["", "", "", "yes"]
    assert table[-1]["accuracy"] == "0.25" and float(table[-1]["ci low"]) < 0.25 < float(table[-1]["ci high"])
    assert 0 < float(table[-1]["p"]) < 1e-6  # a strong change's p to significant digits, never rounded to 0
    wrong = web.get("/history", params={"name": "drifty", "metric": "bogus"})
    assert wrong.status_code == 400 and "unknown metric &#39;bogus&#39;" in wrong.text
    unmeasured = web.get("/history", params={"name": "drifty", "metric": "answer_rate"})
    assert unmeasured.status_code == 400 and 'href="/history?name=drifty"' in unmeasured.text
    assert web.get("/history").status_code == 400


def test_text_from_models_and_users_is_escaped_in_html_and_figures(store):
    from undrift.web import create_app

    web = client(create_app(store))
    for page in (web.get("/"), web.get("/history", params={"name": HOSTILE_NAME})):
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "default-src 'self'; script-src 'self'" in page.headers["content-security-policy"]
    figure = web.get("/history", params={"name": HOSTILE_NAME}).text
    assert f'<option value="{html.escape(HOSTILE_TASK)}" selected>' in figure
    # in the figure's JSON: HTML-escaped for Plotly, then < > & as JSON escapes, so nothing closes the script block
    assert "\\u0026lt;img src=x onerror=alert(2)\\u0026gt;" in figure


def test_plotly_is_served_from_the_installed_package(store):
    from undrift.web import create_app
    from undrift.web.assets import plotly_js

    web = client(create_app(store))
    url = re.search(r'<script src="(/static/plotly-[^"]+)"', web.get("/history?name=drifty").text)[1]
    served = web.get(url)
    assert served.status_code == 200 and served.content == plotly_js().read_bytes()
    assert served.headers["content-type"].startswith("text/javascript")
    assert "max-age=31536000" in served.headers["cache-control"]  # the URL names plotly's version: kept a year
    again = web.get(url, headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304 and not again.content  # 4.8 MB not sent twice


def test_writes_need_the_token_and_the_csrf_token(store):
    from undrift.web import create_app

    app = create_app(store)
    web = client(app)
    web.get("/")  # the session's CSRF cookie
    csrf = web.cookies["undrift_csrf"]
    assert web.post("/").status_code == 401  # no token
    token = {"X-Undrift-Token": app.state.token}
    refused = web.post("/", headers=token)
    assert refused.status_code == 403 and "CSRF" in refused.text  # the right token, no CSRF token
    assert web.post("/", headers=token, data={"csrf_token": "guess"}).status_code == 403
    assert web.post("/", headers={**token, "X-CSRF-Token": "guess"}).status_code == 403
    assert client(app).post("/", headers={**token, "X-CSRF-Token": csrf}).status_code == 403  # no cookie to match
    # both right: the gate lets it through to the routes, which have no write action at / (405)
    assert web.post("/", headers=token, data={"csrf_token": csrf}).status_code == 405
    assert web.post("/", headers={**token, "X-CSRF-Token": csrf}).status_code == 405
    assert web.post("/", headers={"X-Undrift-Token": "wrong", "X-CSRF-Token": csrf}).status_code == 401


def test_a_given_token_guards_reads_and_is_kept_in_a_cookie_off_the_url(store):
    from undrift.web import create_app

    web = client(create_app(store, token="open sesame said ali baba"), follow_redirects=False)
    assert web.get("/").status_code == 401
    assert web.get("/?token=wrong").status_code == 401
    moved = web.get("/history?name=steady&token=open+sesame+said+ali+baba")
    assert moved.status_code == 303 and moved.headers["location"] == "/history?name=steady"
    assert "HttpOnly" in moved.headers["set-cookie"] and "SameSite=Strict" in moved.headers["set-cookie"]
    assert web.get("/history?name=steady").status_code == 200  # the cookie carries it now
    assert client(create_app(store, token="open sesame said ali baba")).get(
        "/", headers={"Authorization": "Bearer open sesame said ali baba"}).status_code == 200


def test_without_a_token_only_localhost_names_are_answered(store):
    """DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends Host: evil.example."""
    from undrift.web import create_app

    app = create_app(store)
    assert TestClient(app, base_url="http://evil.example").get("/").status_code == 403
    assert TestClient(app, base_url="http://localhost:8800").get("/").status_code == 200
    assert TestClient(create_app(store, token=LONG_TOKEN), base_url="http://dash.example").get(
        "/", headers={"X-Undrift-Token": LONG_TOKEN}).status_code == 200


def test_cli_refuses_an_open_address_without_a_token_and_a_missing_store(tmp_path, store):
    refused = undrift("ui", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path / 'ui.db'}", cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "--token" in refused.stderr
    missing = undrift("ui", "--port", "0", "--db", f"sqlite:///{tmp_path / 'nope.db'}", cwd=tmp_path)
    assert missing.returncode == 2 and not (tmp_path / "nope.db").exists()


def test_cli_serves_on_a_free_port_and_prints_where(tmp_path, store):
    import httpx

    server = subprocess.Popen(cli_argv("ui", "--port", "0", "--db", f"sqlite:///{tmp_path / 'ui.db'}"),
                              cwd=tmp_path, env=cli_env(), stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+);", line)
        assert url, line
        deadline = time.time() + 20
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{url[1]}/", timeout=5)
                break
            except httpx.ConnectError:
                assert time.time() < deadline
                time.sleep(0.1)
        assert page.status_code == 200 and "drifty" in page.text
        entered = httpx.get(f"http://127.0.0.1:{url[1]}/?token={url[2]}", follow_redirects=False)
        assert entered.status_code == 303 and "undrift_ui_token" in entered.headers["set-cookie"]
    finally:
        server.terminate()
        server.wait(10)


def test_a_new_run_shows_at_once_though_histories_are_kept(store):
    """Histories are kept between page loads (memo.py) under the name's runs: a new run is a new history."""
    from datetime import datetime, timezone

    from helpers import result_row, store_run
    from undrift.web import create_app

    web = client(create_app(store))
    assert "no change detected" in next(r for r in rows_of(web.get("/").text, "models") if " steady " in r)
    store_run(store, "steady", [result_row("facts", f"s{j}", j < 5) for j in range(40)],
              created_at=datetime(2026, 2, 1, tzinfo=timezone.utc))
    row = next(r for r in rows_of(web.get("/").text, "models") if " steady " in r)
    assert row.split()[0] == "red" and "changed at the newest run: facts" in row
    assert web.get("/history.csv", params={"name": "steady"}).text.count("\r\n") == 1 + 4


def test_a_value_being_computed_is_computed_once_for_every_thread_that_asks():
    """The start-up warm-up and the first visitor ask for the same history: the second waits for the first."""
    import threading

    from undrift import UndriftError
    from undrift.web.memo import Kept

    kept, results, started, release = Kept(), [], threading.Event(), threading.Event()

    def compute():
        started.set()
        release.wait(10)
        return "history"

    first = threading.Thread(target=lambda: results.append(kept.get(("drifty",), compute)))
    first.start()
    started.wait(10)
    second = threading.Thread(target=lambda: results.append(kept.get(("drifty",), compute)))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting for the first, not computing its own
    release.set()
    first.join(10), second.join(10)
    assert results == ["history", "history"] and kept.computed == 1

    def broken():
        raise UndriftError("no complete runs")

    with pytest.raises(UndriftError):
        kept.get(("empty",), broken)
    assert kept.get(("empty",), lambda: "later") == "later"  # a failure is not kept, and frees the key


def test_the_warm_up_computes_the_overview_before_its_first_visitor(store):
    from undrift.web import create_app

    app = create_app(store, warm=True)
    app.state.warm_up.join(60)
    histories = app.state.site.memo
    assert not app.state.warm_up.is_alive() and histories.computed == 3  # drifty, steady, the markup name
    cold = client(create_app(store)).get("/").text
    assert client(app).get("/").text.split("<main>")[1] == cold.split("<main>")[1]
    assert histories.computed == 3  # the visit found them kept


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def csrf_of(page: str) -> str:
    """The session's CSRF value as a page carries it for its forms (whatever the cookie that holds it is named)."""
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page)[1]


def test_two_dashboards_on_one_host_keep_their_own_tokens(tmp_path):
    """A browser shares cookies across the ports of one host: opening B's printed address must not log A out."""
    import httpx

    from helpers import ServerThread
    from undrift.web import create_app

    one, two = create_app(dashboard_store(tmp_path / "a.db")), create_app(dashboard_store(tmp_path / "b.db"))
    with ServerThread(one) as a, ServerThread(two) as b, httpx.Client(follow_redirects=True) as browser:
        a, b = a.removesuffix("/v1"), b.removesuffix("/v1")
        assert browser.get(f"{a}/?token={one.state.token}").status_code == 200
        assert browser.get(f"{b}/?token={two.state.token}").status_code == 200
        for base in (a, b):  # past the gate (token and CSRF right): / has no write action (405)
            csrf = csrf_of(browser.get(f"{base}/").text)
            assert browser.post(f"{base}/", data={"csrf_token": csrf}).status_code == 405, base


def test_refusals_are_a_page_for_a_browser_and_text_or_json_for_a_script(store):
    from undrift.web import create_app

    app = create_app(store, token=LONG_TOKEN)
    web = client(app)
    page = web.get("/", headers=BROWSER)
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "<title>Token needed · undrift</title>" in page.text and "?token=" in page.text
    assert "undrift ui" in page.text and 'href="/static/ui.css"' in page.text
    assert web.get("/static/ui.css").status_code == 200  # so the refusal is shown styled, without the token
    assert web.get("/favicon.ico").status_code == 200
    script = web.get("/", headers={"Accept": "application/json"})
    assert script.status_code == 401 and "?token=" in script.json()["detail"]
    plain = web.get("/", headers={"Accept": "text/plain"})
    assert plain.status_code == 401 and plain.headers["content-type"].startswith("text/plain")
    posted = client(create_app(store)).post("/registry/promote", headers=BROWSER)
    assert posted.status_code == 401 and "<title>Token needed · undrift</title>" in posted.text
    assert "`undrift ui` printed" in html.unescape(posted.text)


def test_host_names_are_compared_without_case(store):
    from undrift.serving.guard import refuse_open_without_token
    from undrift.web import create_app

    web = client(create_app(store))
    for host in ("LOCALHOST:8800", "LocalHost", "[::1]:8800", "[::1]", "127.0.0.1:8800"):
        assert web.get("/", headers={"Host": host}).status_code == 200, host
    assert web.get("/", headers={"Host": "EVIL.example:8800"}).status_code == 403
    refuse_open_without_token("LOCALHOST", None, "give --token")  # loopback: no token needed, no error


def test_a_short_token_is_refused_with_how_to_make_one(tmp_path, store):
    from undrift import UndriftError
    from undrift.web import create_app

    with pytest.raises(UndriftError, match=r"16 characters.*secrets\.token_urlsafe\(24\)"):
        create_app(store, token="a")
    refused = undrift("ui", "--port", "0", "--token", "a", "--db", f"sqlite:///{tmp_path / 'ui.db'}", cwd=tmp_path,
                      timeout=60)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert 'python -c "import secrets; print(secrets.token_urlsafe(24))"' in refused.stderr


def test_an_unknown_address_is_a_page_in_the_site_with_a_link_to_the_overview(store):
    from undrift.web import create_app

    web = client(create_app(store))
    for path in ("/nope", "/static/nope.css"):
        page = web.get(path, headers=BROWSER)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), path
        assert "<title>Not found · undrift</title>" in page.text and 'href="/">Back to the overview' in page.text
        assert 'href="/static/ui.css"' in page.text and "default-src 'self'" in page.headers["content-security-policy"]
    script = web.get("/nope", headers={"Accept": "application/json"})
    assert script.status_code == 404 and "no page at /nope" in script.json()["detail"]


def test_a_refused_write_is_titled_refused_and_a_bad_read_cannot_show_this(store):
    from undrift.web import create_app

    app = create_app(store)
    web = client(app, headers={"X-Undrift-Token": app.state.token})
    csrf = csrf_of(web.get("/").text)
    posted = web.post("/registry/promote", headers={"X-CSRF-Token": csrf, **BROWSER}, json={"version": "x"})
    assert posted.status_code == 400 and "<title>Refused · undrift</title>" in posted.text
    assert "posted as a form" in posted.text
    read = web.get("/history", params={"name": "drifty", "metric": "bogus"})
    assert read.status_code == 400 and "<title>Cannot show this · undrift</title>" in read.text


def test_every_page_has_an_icon_and_favicon_ico_is_answered(store):
    from undrift.web import create_app

    web = client(create_app(store))
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in web.get("/").text
    for path in ("/static/favicon.svg", "/favicon.ico"):
        icon = web.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml"), path
        assert icon.text.lstrip().startswith("<svg")
