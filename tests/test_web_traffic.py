"""`undrift ui`'s traffic page and the overview's traffic headline, over HTTP and in the browser, on traffic
recorded with the library's own writer (`add_traffic`, as the proxy writes it): a model whose second day is slower
to answer, fails more and answers at length (one answer holding `<script>`), and a steady one named with markup."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from helpers import ARTIFACTS, HOSTILE_NAME, ServerThread, dashboard_store

LOCAL = "http://127.0.0.1"
DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)
SCRIPT = "<script>alert(1)</script>"
SHORT = "Paris is the capital."
LONG = "The capital of France is Paris, a city on the Seine known for its museums and its cafes. " * 3


def record(at, model, text, *, status=200, error=None):
    from undrift.store.traffic import TrafficRecord

    return TrafficRecord(at=at, method="POST", path="/v1/chat/completions", upstream="http://127.0.0.1:9/v1",
                         stream=False, status=status, latency_s=0.5,
                         request={"model": model, "messages": [{"role": "user", "content": "capital of France?"}]},
                         response=None if error else {  # as the proxy keeps it: the upstream's JSON
                             "id": "chatcmpl-1", "object": "chat.completion", "model": f"{model}-2026",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 12, "completion_tokens": len(text) // 4}},
                         response_text=None if error else text, model=model, served_model=f"{model}-2026",
                         tokens_in=12, tokens_out=None if error else len(text) // 4, error=error)


def traffic(model: str, shifted: bool) -> list:
    """Two days of 60 requests each; with `shifted`, day two answers at length, one answer (the longest) holds
    `<script>`, and a third of its requests fail."""
    records = [record(DAY + timedelta(minutes=10 * i), model, SHORT) for i in range(60)]
    for i in range(60):
        at = DAY + timedelta(days=1, minutes=10 * i)
        if not shifted:
            records.append(record(at, model, SHORT))
        elif i % 3 == 0:
            records.append(record(at, model, None, status=502, error="upstream refused"))
        else:
            records.append(record(at, model, (SCRIPT + " " + LONG + "!") if i == 1 else LONG))
    return records


def traffic_store(path):
    """The two models' traffic, and the newest record of all an embeddings request (a model with no answers)."""
    import dataclasses

    from undrift.store.traffic import add_traffic

    store = dashboard_store(path)
    embedding = dataclasses.replace(record(DAY + timedelta(days=3), "embedder", "-"), path="/v1/embeddings")
    add_traffic(store, traffic("chat-a", shifted=True) + traffic(HOSTILE_NAME, shifted=False) + [embedding])
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return traffic_store(tmp_path_factory.mktemp("traffic") / "ui.db")


def client(store) -> TestClient:
    from undrift.web import create_app

    return TestClient(create_app(store), base_url=LOCAL)


def rows_of(page: str, table: str) -> list[str]:
    section = page.split(f'id="table-{table}"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", row) for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)][1:]


def traffic_url(**choices: str) -> str:
    return "/traffic?" + urlencode(choices)


# -- over HTTP ----------------------------------------------------------------------------------------------------

def test_the_page_shows_windows_tests_and_the_responses_that_show_the_shift(store):
    page = client(store).get(traffic_url(model="chat-a", window="1d"))
    assert page.status_code == 200
    windows = rows_of(page.text, "traffic-chat-a-1d-windows")
    assert len(windows) == 2 and "reference" in windows[0] and "current" in windows[1]
    assert "33.3% of 60" in windows[1]  # a third of day two failed
    tests = {row.split()[0] + " " + row.split()[1]: row for row in rows_of(page.text, "traffic-chat-a-1d-tests")}
    assert "shift" in tests["error rate"].split()[-1:] and "shift" in tests["length (chars)"].split()[-1:]
    assert tests["latency (s)"].split()[-2:] == ["no", "shift"]  # the latency did not move
    responses = rows_of(page.text, "traffic-chat-a-1d-responses")
    assert responses and any("length (chars)" in row for row in responses)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and SCRIPT not in page.text
    assert 'class="state red">shift</span>' in page.text
    assert "plotly-figure" in page.text


def test_the_page_escapes_a_model_named_with_markup_and_finds_no_shift_in_steady_traffic(store):
    page = client(store).get(traffic_url(model=HOSTILE_NAME))
    assert page.status_code == 200 and SCRIPT not in page.text
    assert "no shift</span> between the reference and the current window" in page.text


def test_a_metric_and_a_window_are_chosen_in_the_page(store):
    page = client(store).get(traffic_url(model="chat-a", window="6h", metric="length p50 (chars)",
                                         reference="previous"))
    assert page.status_code == 200
    assert '<option value="length p50 (chars)" selected>' in page.text
    assert '<option value="6h" selected>' in page.text
    assert len(rows_of(page.text, "traffic-chat-a-6h-windows")) == 4  # 10 hours a day: two 6h windows each
    first = client(store).get("/traffic")  # no choice: the most recently seen model, daily windows
    assert first.status_code == 200 and "<h1>Live traffic of" in first.text


@pytest.mark.parametrize("choices, fragment", [
    ({"window": "fortnight"}, "bad window (--window)"),
    ({"metric": "vibes"}, "no traffic metric"),
    ({"model": "nobody"}, "no traffic recorded for model"),
])
def test_bad_choices_are_one_line_not_a_traceback(store, choices, fragment):
    page = client(store).get(traffic_url(**choices))
    assert page.status_code == 400 and fragment in page.text and "Traceback" not in page.text


def test_each_table_downloads_as_the_same_rows_in_csv(store):
    http = client(store)
    choice = urlencode({"model": "chat-a", "window": "1d"})
    tests = http.get(f"/traffic/tests.csv?{choice}")
    assert tests.status_code == 200 and tests.headers["content-type"].startswith("text/csv")
    assert 'filename="traffic-chat-a-1d-tests.csv"' in tests.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(tests.text)))
    assert {r["metric"]: r["verdict"] for r in rows}["error rate"] == "shift"
    assert float({r["metric"]: r["p (Holm)"] for r in rows}["error rate"]) < 0.05
    responses = list(csv.DictReader(io.StringIO(http.get(f"/traffic/responses.csv?{choice}").text)))
    assert any(r["response"].startswith(SCRIPT) for r in responses)  # data in a CSV: kept as written
    assert http.get(f"/traffic/nothing.csv?{choice}").status_code == 400


def test_the_overview_headline_flags_the_shifted_model_and_links_to_its_traffic(store):
    page = client(store).get("/")
    rows = {row.split()[0]: row for row in rows_of(page.text, "traffic")}
    assert "shift" in rows["chat-a"] and "error rate" in rows["chat-a"] and "40" in rows["chat-a"].split()
    assert "no shift" in rows["&lt;script&gt;alert(1)&lt;/script&gt;"]
    assert "embedder" not in page.text  # asked only for embeddings: no answers to watch
    assert 'href="/traffic?model=chat-a&amp;' in page.text
    headline = client(store).get("/overview/traffic.csv")
    assert headline.status_code == 200 and "chat-a" in headline.text


def test_without_recorded_traffic_the_page_says_how_to_start_the_proxy_and_the_overview_has_no_headline(tmp_path):
    bare = dashboard_store(tmp_path / "bare.db")
    page = client(bare).get("/traffic")
    assert page.status_code == 200 and "undrift proxy --upstream" in page.text and "plotly" not in page.text
    assert 'id="table-traffic"' not in client(bare).get("/").text


def test_a_new_record_shows_at_once(tmp_path):
    """The kept report is computed again as soon as the model's traffic grows."""
    from undrift.store.traffic import add_traffic

    store = traffic_store(tmp_path / "grows.db")
    http = client(store)
    before = rows_of(http.get(traffic_url(model="chat-a")).text, "traffic-chat-a-1d-windows")
    add_traffic(store, [record(DAY + timedelta(days=1, hours=23), "chat-a", SHORT)])
    after = rows_of(http.get(traffic_url(model="chat-a")).text, "traffic-chat-a-1d-windows")
    assert before[1].split()[3] == "60" and after[1].split()[3] == "61"


# -- in the browser -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dashboard(store):
    from undrift.web import create_app

    with ServerThread(create_app(store)) as base:
        yield base.removesuffix("/v1")


def test_traffic_in_the_browser(page, dashboard):
    page.goto(dashboard + "/")
    page.locator("#table-traffic").get_by_role("link", name="chat-a", exact=True).click()
    page.wait_for_selector("#traffic-plot .main-svg")
    assert "error rate" in page.locator("#traffic-plot").text_content()
    assert "current window" in page.locator("#traffic-plot .legend").text_content()
    verdict = page.locator("p.verdict")  # the sentence is readable: dark text, not a badge's white
    assert "shift" in verdict.inner_text() and verdict.evaluate("e => getComputedStyle(e).color") != "rgb(255, 255, 255)"
    tests = page.locator("#table-traffic-chat-a-1d-tests tbody tr")
    assert tests.filter(has_text="error rate").locator(".state.red").inner_text() == "shift"
    responses = page.locator("#table-traffic-chat-a-1d-responses")
    assert SCRIPT in responses.inner_text()  # shown as text
    assert not page.dialogs and not page.errors
    page.select_option("select[name=metric]", "length p50 (chars)")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#traffic-plot .main-svg")
    assert "metric=length" in page.url and "length p50 (chars)" in page.locator("#traffic-plot").text_content()
    with page.expect_download() as download:
        page.locator("#table-traffic-chat-a-1d-tests a.download").click()
    assert download.value.suggested_filename == "traffic-chat-a-1d-tests.csv"
    page.screenshot(path=str(ARTIFACTS / "traffic.png"), full_page=True)
    page.select_option("select[name=model]", HOSTILE_NAME)
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#traffic-plot .main-svg")
    assert page.locator("h1 .name").inner_text() == HOSTILE_NAME
    assert not page.dialogs and not page.errors
