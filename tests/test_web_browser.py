"""`undrift ui`'s overview and history pages in a real browser (the `browser` and `page` fixtures in conftest.py:
the machine's headless Chromium through Playwright).  Each test checks what is on screen and writes a screenshot
of its page under tests/artifacts/ for a person to look at, and that the browser's console shows no error (a missing
file such as /favicon.ico is one)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from helpers import ARTIFACTS, HOSTILE_NAME, HOSTILE_TASK, ServerThread, dashboard_store


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The dashboard over the scripted store, served on a free 127.0.0.1 port in a thread: its base URL."""
    from undrift.web import create_app

    app = create_app(dashboard_store(tmp_path_factory.mktemp("ui") / "ui.db"))
    with ServerThread(app) as base:
        yield base.removesuffix("/v1")


@pytest.fixture(autouse=True)
def console_errors(page):
    """The console's errors in `page.console_errors`, each with the address it came from."""
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(
        f"{message.text} at {message.location.get('url')}"))


def history_url(base: str, name: str, **choices: str) -> str:
    return f"{base}/history?{urlencode({'name': name, **choices})}"


def test_overview_in_the_browser(page, dashboard):
    page.goto(dashboard + "/")
    models = page.locator("#table-models tbody tr")
    assert models.count() == 3
    drifty = models.filter(has_text="drifty")
    assert drifty.locator(".state").inner_text() == "red" and "1 open alert" in drifty.inner_text()
    assert models.filter(has_text="steady").locator(".state").inner_text() == "green"
    assert page.locator("#table-aliases tbody tr").inner_text().split()[:2] == ["production", "steady"]
    assert "accuracy fell on facts" in page.locator("#table-alerts").inner_text()
    with page.expect_download() as download:
        page.locator("#table-models a.download").click()
    assert download.value.suggested_filename == "models.csv"
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    page.get_by_role("link", name="drifty", exact=True).click()
    page.wait_for_selector("#history-plot .main-svg")
    assert page.locator("h1").inner_text() == "History of drifty"
    assert not page.errors and not page.console_errors


def test_history_in_the_browser(page, dashboard):
    page.goto(history_url(dashboard, "drifty"))
    page.wait_for_selector("#history-plot .main-svg")
    legend = page.locator("#history-plot .legend").text_content()
    assert "change point" in legend and "facts accuracy" in legend
    assert page.locator("#history-plot .errorbar").count() >= 1  # the Wilson intervals
    rows = page.locator("#table-history-drifty-facts-accuracy tbody tr")
    assert rows.count() == 4 and "yes" in rows.nth(3).inner_text()
    page.screenshot(path=str(ARTIFACTS / "history.png"), full_page=True)  # before the toolbar's hover and toasts
    page.select_option("select[name=metric]", "verbosity")  # a plain GET form chooses the metric
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#history-plot .main-svg")
    assert "metric=verbosity" in page.url and page.locator("select[name=metric]").input_value() == "verbosity"
    assert "verbosity" in page.locator("#history-plot").text_content()
    page.goto(history_url(dashboard, "drifty"))
    page.wait_for_selector("#history-plot .main-svg")
    with page.expect_download() as svg:
        page.get_by_role("button", name="Download SVG").click()
    assert svg.value.suggested_filename.endswith(".svg")
    assert Path(svg.value.path()).read_text().lstrip().startswith("<svg")
    page.locator("#history-plot").hover()
    buttons = page.locator("#history-plot .modebar-btn")
    titles = [buttons.nth(i).get_attribute("data-title") for i in range(buttons.count())]
    assert not any("share" in title.lower() or "cloud" in title.lower() for title in titles), titles
    with page.expect_download() as png:
        page.locator('#history-plot .modebar-btn[data-title^="Download plot as a"]').click()
    assert png.value.suggested_filename.endswith(".png")
    assert not page.errors and not page.console_errors


def test_markup_in_names_and_answers_is_shown_not_run(page, dashboard):
    page.goto(dashboard + "/")
    assert page.get_by_role("link", name=HOSTILE_NAME, exact=True).is_visible()
    page.goto(history_url(dashboard, HOSTILE_NAME))
    page.wait_for_selector("#history-plot .main-svg")
    assert page.locator("h1 .name").inner_text() == HOSTILE_NAME
    assert page.locator("select[name=task] option").first.inner_text() == HOSTILE_TASK
    assert HOSTILE_TASK in page.locator("#history-plot .legend").text_content()  # Plotly shows it as text
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script:not([type])").count() == 0
    page.screenshot(path=str(ARTIFACTS / "history-markup.png"), full_page=True)
    assert page.dialogs == [] and not page.errors and not page.console_errors


def test_a_second_tab_loads_plotly_from_the_dashboard_and_nothing_from_elsewhere(page, dashboard):
    page.goto(history_url(dashboard, "steady"))
    page.wait_for_selector("#history-plot .main-svg")
    second = page.context.new_page()
    second.goto(history_url(dashboard, "drifty"))
    second.wait_for_selector("#history-plot .main-svg")
    assert any(url.startswith(f"{dashboard}/static/plotly-") for url in page.requests)
    outside = [url for url in page.requests if not url.startswith(dashboard + "/") and not url.startswith(("data:",
                                                                                                           "blob:"))]
    assert outside == []
    assert not page.errors and not page.console_errors


def test_two_dashboards_on_one_host_and_the_page_that_asks_for_the_token(page, tmp_path):
    """`undrift ui` twice on one machine: opening B's printed address keeps A's writes working (cookies are per port);
    a dashboard with a --token shows a visitor without it a page that says how to open it."""
    from undrift.web import create_app

    one = create_app(dashboard_store(tmp_path / "a.db"))
    two = create_app(dashboard_store(tmp_path / "b.db"), token="a-token-of-24-characters")
    with ServerThread(one) as a, ServerThread(two) as b:
        a, b = a.removesuffix("/v1"), b.removesuffix("/v1")
        page.goto(f"{b}/registry")  # without the token: a page in the site's layout that says what to do
        assert page.locator("h1").inner_text() == "Token needed"
        assert "?token=" in page.locator(".problem").inner_text()
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0  # ui.css loaded without the token
        page.screenshot(path=str(ARTIFACTS / "token-needed.png"), full_page=True)
        page.goto(f"{a}/registry?token={one.state.token}")
        page.goto(f"{b}/registry?token=a-token-of-24-characters")
        assert page.locator("h1").inner_text() != "Token needed"
        page.goto(f"{a}/registry")
        page.select_option("form.promote select[name=version]", index=1)  # the first version (none is preselected)
        page.fill("form.promote input[name=alias]", "staging")
        with page.expect_response(f"{a}/registry/promote") as posted:
            page.get_by_role("button", name="Promote").click()
        assert posted.value.status in (303, 409), posted.value.status  # through the gate: moved, or the gate refused
        assert page.locator("h1").inner_text() != "Token needed"
        page.goto(f"{a}/no/such/page")
        assert page.locator("h1").inner_text() == "Not found" and page.title() == "Not found · undrift"
        page.get_by_role("link", name="Back to the overview").click()
        assert page.url == f"{a}/"
    # the browser logs each refused or missing page it was sent to (401, 404); nothing else may fail
    assert [e for e in page.console_errors if not e.endswith((f"{b}/registry", f"{a}/no/such/page"))] == []
    assert not page.errors
