"""The dashboard's review queue (`/review`): flips first, a label posted with the CSRF token and shown after the
redirect, the queue as CSV and the labels as training data; over HTTP, then in the machine's headless Chromium (the
`browser` and `page` fixtures in conftest.py), with an answer that holds a script shown as text."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from helpers import ARTIFACTS, HOSTILE_NAME, HOSTILE_TASK, ServerThread, result_row, store_run

LOCAL = "http://127.0.0.1"
SCRIPT = "<script>alert(1)</script>"
FORMULA = "=HYPERLINK(\"http://x\")"


def review_store(path):
    """`v1` right on every sample; `v2` wrong on capital (its answer a script) and sum (negative flips), right on
    sky (a positive flip), and a task named with markup whose answers hold markup too.  Returns the store and the
    two run ids."""
    import undrift

    store = undrift.Store.open(f"sqlite:///{path}")
    asked = {"capital": ("What is the capital of France?", "Paris"), "sum": ("What is 2+2?", "4"),
             "sky": ("What colour is the sky?", "blue"), "tea": ("Hot or cold?", "hot")}
    old = store_run(store, "v1", [result_row("facts", s, s != "sky", prompt=p, target=t, response=t if s != "sky"
                                             else "green") for s, (p, t) in asked.items()])
    answers = {"capital": SCRIPT, "sum": FORMULA, "sky": "blue", "tea": "hot"}
    new = store_run(store, "v2", [result_row("facts", s, s in ("sky", "tea"), prompt=p, target=t, response=answers[s])
                                  for s, (p, t) in asked.items()]
                    + [result_row(HOSTILE_TASK, f"h{i}", True, response=HOSTILE_TASK, prompt=HOSTILE_NAME)
                       for i in range(2)])
    return store, old.id, new.id


@pytest.fixture
def world(tmp_path):
    return review_store(tmp_path / "review.db")


def client(app, **kwargs) -> TestClient:
    return TestClient(app, base_url=LOCAL, **kwargs)


def queue_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr id=.*?</tr>", body, re.S)]


def posting(app):
    """A client holding the dashboard's token and, after one page, its CSRF cookie; and that CSRF value."""
    web = client(app, headers={"X-Undrift-Token": app.state.token}, follow_redirects=False)
    web.get("/review")
    return web, web.cookies["undrift_csrf"]


def test_the_queue_shows_flips_first_with_prompt_escaped_answer_and_target(world):
    from undrift.web import create_app

    store, old, new = world
    page = client(create_app(store)).get("/review", params={"run": new, "against": old})
    assert page.status_code == 200
    rows = queue_rows(page.text)
    assert len(rows) == 6
    assert rows[0].startswith("negative flip facts / capital") and "What is the capital of France?" in rows[0]
    assert rows[1].startswith("negative flip facts / sum") and rows[2].startswith("positive flip facts / sky")
    assert all("flip" not in row.split("/")[0] for row in rows[3:]) and all("not labelled" in row for row in rows)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and SCRIPT not in page.text
    assert "&lt;img src=x onerror=alert(2)&gt;" in page.text and HOSTILE_TASK not in page.text
    assert "3 flipped (first)" in page.text and "6 of 6 answers shown" in page.text
    limited = client(create_app(store)).get("/review", params={"run": new, "against": old, "limit": "2"})
    assert len(queue_rows(limited.text)) == 2 and "2 of 6 answers shown" in limited.text


def test_label_a_flip_see_it_after_the_redirect_and_download_it_as_training_data(world):
    from undrift.web import create_app

    store, old, new = world
    app = create_app(store)
    web, csrf = posting(app)
    posted = web.post("/review/label", data={"csrf_token": csrf, "run": new, "against": old, "limit": "",
                                             "task": "facts", "sample_id": "capital", "label": "incorrect",
                                             "correction": "Paris", "reviewer": "ana"})
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith("/review?") and f"run={new}" in location and f"against={old}" in location
    shown = web.get(location.split("#")[0])
    first = queue_rows(shown.text)[0]
    assert "facts / capital" in first and "labelled incorrect by ana" in first and "correction: Paris" in first
    assert f'id="{location.split("#")[1]}"' in shown.text  # the redirect lands on the labelled item
    queue = list(csv.DictReader(io.StringIO(web.get("/review.csv", params={"run": new, "against": old}).text)))
    assert (queue[0]["sample"], queue[0]["flip"], queue[0]["label"], queue[0]["correction"], queue[0]["reviewer"]) \
        == ("capital", "negative", "incorrect", "Paris", "ana")
    assert queue[0]["answer"] == SCRIPT and queue[1]["answer"] == "'" + FORMULA  # a formula is written as text
    assert len(queue) == len(queue_rows(shown.text))
    download = web.get("/review/labels.jsonl", params={"run": new})
    assert download.status_code == 200 and f'filename="labels-{new}.jsonl"' in download.headers["content-disposition"]
    assert [json.loads(line) for line in download.text.splitlines()] == [
        {"messages": [{"role": "user", "content": "What is the capital of France?"},
                      {"role": "assistant", "content": "Paris"}]}]
    assert web.get("/review/labels.jsonl").text == download.text  # every run's labels: only this one so far


def test_a_label_without_the_tokens_or_with_a_bad_verdict_is_refused_and_stores_nothing(world):
    from undrift.web import create_app

    store, old, new = world
    app = create_app(store)
    web, csrf = posting(app)
    form = {"run": new, "against": old, "task": "facts", "sample_id": "capital", "label": "incorrect"}
    refused = web.post("/review/label", data=form)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client(app).post("/review/label", data={**form, "csrf_token": csrf}).status_code == 401  # no token
    bad = web.post("/review/label", data={**form, "csrf_token": csrf, "label": "meh"})
    assert bad.status_code == 400 and "unknown label &#39;meh&#39;: use correct, incorrect or unsafe" in bad.text
    unknown = web.post("/review/label", data={**form, "csrf_token": csrf, "sample_id": "nope"})
    assert unknown.status_code == 400 and "has no sample &#39;nope&#39; in task &#39;facts&#39;" in unknown.text
    assert "Traceback" not in bad.text + unknown.text
    for odd in ({"limit": "abc"}, {"against": "no-such-run"}):  # a way back that fails: refused before writing
        assert web.post("/review/label", data={**form, "csrf_token": csrf, **odd}).status_code == 400
    nothing = web.get("/review/labels.jsonl", params={"run": new})
    assert nothing.status_code == 400 and "no labels for run" in nothing.text
    assert all("not labelled" in row for row in queue_rows(web.get("/review", params={"run": new}).text))


def test_without_a_run_the_page_offers_the_runs_and_bad_addresses_are_one_line(world):
    from undrift.web import create_app

    store, old, new = world
    web = client(create_app(store))
    chooser = web.get("/review")
    assert chooser.status_code == 200 and f'<option value="{new}">v2 · {new}</option>' in chooser.text
    assert f'<option value="{old}" selected>v1 · {old}</option>' in chooser.text  # the run before, for its flips
    assert web.get("/review", params={"run": "nothing"}).status_code == 400
    assert "limit must be" in web.get("/review", params={"run": new, "limit": "-3"}).text
    assert web.get("/review.csv").status_code == 400
    assert 'href="/review"' in web.get("/").text  # the nav links the page


# -- in the browser ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from undrift.web import create_app

    store, old, new = review_store(tmp_path_factory.mktemp("ui") / "review.db")
    app = create_app(store)
    with ServerThread(app) as base:
        yield base.removesuffix("/v1"), app.state.token, old, new


@pytest.fixture
def dashboard(served):
    return served[0]


def test_label_a_flip_in_the_browser(page, served, tmp_path):
    base, token, old, new = served
    page.goto(f"{base}/?token={token}")  # once: the token is kept in a cookie, as `undrift ui` prints it
    page.get_by_role("link", name="Review").click()
    page.select_option("select[name=run]", new)
    page.select_option("select[name=against]", old)
    page.get_by_role("button", name="Review").click()
    page.wait_for_url(re.compile(r"/review\?run="))
    first = page.locator("tr.review-item").first
    assert first.locator(".flip").inner_text() == "negative flip"
    assert first.locator("pre.answer").inner_text() == SCRIPT  # shown as text, not run
    assert page.locator("pre.answer").filter(has_text=HOSTILE_TASK).count() == 2
    first.locator("textarea[name=correction]").fill("Paris")
    first.locator("input[name=reviewer]").fill("ana")
    first.get_by_role("button", name="incorrect").click()
    page.wait_for_url(re.compile(r"#item-"))
    labelled = page.locator("tr.review-item").first
    assert labelled.locator(".label-badge").inner_text() == "incorrect"
    assert labelled.locator("q.correction").inner_text() == "Paris" and "by ana" in labelled.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Labels as training data (JSONL)").click()
    saved = tmp_path / "labels.jsonl"
    download.value.save_as(saved)
    assert json.loads(saved.read_text())["messages"][-1] == {"role": "assistant", "content": "Paris"}
    with page.expect_download() as queue_csv:
        page.locator(".review-queue a.download").click()
    assert queue_csv.value.suggested_filename == f"review-{new}-against-{old}.csv"
    page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
    assert not page.dialogs and not page.errors


def test_the_review_page_runs_no_script_from_an_answer(page, served):
    base, _, old, new = served
    page.goto(f"{base}/review?{urlencode({'run': new, 'against': old})}")
    assert page.locator("pre.answer").filter(has_text=SCRIPT).count() == 1
    assert page.locator("main script").count() == 0
    assert not page.dialogs and not page.errors
