"""`undrift ui`'s compare page: two runs side by side as `undrift.compare` reads them (metrics with intervals and
BH-adjusted tests, NFR/PFR/BTC/BEC, regress/common/progress, the flipped and changed samples with their word-level
differences marked), its filters and CSV downloads over HTTP, and the same in the machine's headless Chromium."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from helpers import ARTIFACTS, GENERATION, HOSTILE_TASK, ServerThread, result_row, store_run

LOCAL = "http://127.0.0.1"
SCRIPT = "<script>alert(1)</script>"
# facts: old/new verdicts for s0-s9; negative flips s1, s2; positive flip s7; both right s0, s3-s6; both wrong s8, s9
OLD = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
NEW = [1, 0, 0, 1, 1, 1, 1, 1, 0, 0]


def compare_store(path):
    """Two runs of one suite (`before`, `after`) with a task whose samples carry slice tags and a task named with
    markup whose new answer holds a script; a run of another suite; two runs of `series`, earlier; the alias
    `candidate` of `after`; a watch whose open alert names the two runs."""
    import undrift
    from undrift.monitor.alerts import REGRESSION, raise_alert
    from undrift.monitor.ticks import start_tick

    store = undrift.Store.open(f"sqlite:///{path}")
    start = datetime(2026, 2, 1, tzinfo=timezone.utc)
    runs = {}
    for day, (name, verdicts) in enumerate((("before", OLD), ("after", NEW))):
        rows = [result_row("facts", f"s{i}", bool(right), extracted="4" if right else "5",
                           response=f"I think the answer is {'4' if right else '5'} for sample {i}",
                           slices=["even" if i % 2 == 0 else "odd"], target="4")
                for i, right in enumerate(verdicts)]
        rows += [result_row(HOSTILE_TASK, "h0", name == "before", extracted="ok" if name == "before" else "bad",
                            response="a plain answer" if name == "before" else f"a {SCRIPT} answer", target="ok")]
        runs[name] = store_run(store, name, rows, created_at=start + timedelta(days=day))
    store_run(store, "elsewhere", [result_row("facts", "s0", True)], suite="other", created_at=start)
    for day in range(2):  # a name with a history, before the others
        store_run(store, "series", [result_row("facts", f"s{i}", i < 8 - 4 * day) for i in range(10)],
                  created_at=start - timedelta(days=10 - day))
    registry = undrift.Registry(store)
    registry.register("after", "test:after", kind="run")
    registry.set_alias("candidate", "after")
    undrift.add_watch("w", "openai:m@http://127.0.0.1:9/v1", "drift", "1d", db=store)
    raise_alert(store, "w", REGRESSION, start_tick(store, "w").id, "w: the gate failed (nfr on facts)",
                {"baseline_run": runs["before"].id, "full_run": runs["after"].id})
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return compare_store(tmp_path_factory.mktemp("compare") / "ui.db")


@pytest.fixture(scope="module")
def web(store):
    from undrift.web import create_app

    return TestClient(create_app(store), base_url=LOCAL)


def section(html: str, table: str) -> str:
    return html.split(f'id="table-{table}"', 1)[1].split("</section>", 1)[0]


def rows_of(html: str, table: str) -> list[str]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section(html, table), re.S)[1:]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def page(web, **query) -> str:
    got = web.get("/compare?" + urlencode({"old": "before", "new": "after", **query}))
    assert got.status_code == 200, got.text
    return got.text


def test_metrics_with_intervals_and_tests_and_compatibility_per_task_and_slice(web):
    html = page(web)
    metrics = rows_of(html, "metrics")
    accuracy = next(r for r in metrics if r.startswith("facts 10 accuracy"))
    # 0.7 -> 0.6, its interval and its p and BH-adjusted q (two tasks), no significant change on 10 samples
    assert "0.7 [" in accuracy and "0.6 [" in accuracy and "-0.1 [" in accuracy and "no significant change" in accuracy
    assert any(r.startswith("&lt;img src=x onerror=alert(2)&gt; 1 accuracy") for r in metrics)
    assert {r.split()[1] for r in rows_of(html, "slices")} == {"even", "odd"}
    compatibility = next(r for r in rows_of(html, "compatibility") if r.startswith("facts")).split()
    assert compatibility[:5] == ["facts", "10", "2", "1", "0.2"] and "0.7143" in compatibility  # NFR; BTC 5/7
    assert "facts 10 2 5 1 2" in rows_of(html, "outcomes")  # regress, common, progress, both wrong
    assert 'id="outcome-plot"' in html and "q (BH)" in html
    see_also = html.split('<p class="see-also">', 1)[1].split("</p>", 1)[0]  # the pages about the same runs
    assert 'href="/history?name=before"' in see_also and 'href="/history?name=after"' in see_also
    assert re.search(r'href="/review\?run=[\w-]+&amp;against=[\w-]+"', see_also)


def test_flipped_and_changed_samples_side_by_side_with_their_differences_marked_and_escaped(web):
    html = page(web)
    samples = section(html, "samples")
    kinds = re.findall(r'<tr class="pair (\w+)"', samples)
    assert kinds == ["negative", "negative", "negative", "positive"]  # the markup task's h0, s1, s2; s7
    assert "I think the answer is <del>4</del> for sample 1" in samples
    assert "I think the answer is <ins>5</ins> for sample 1" in samples
    assert f"<ins>{SCRIPT.replace('<', '&lt;').replace('>', '&gt;')}</ins>" in samples
    assert SCRIPT not in html and "<img src=x" not in html


@pytest.mark.parametrize("query, expected", [
    ({"kind": "positive"}, ["s7"]),
    ({"kind": "negative", "task": "facts"}, ["s1", "s2"]),
    ({"slice": "even"}, ["s2"]),
    ({"kind": "changed"}, []),
])
def test_filters_by_task_slice_and_kind_of_flip(web, query, expected):
    html = page(web, **query)
    assert re.findall(r"/ (s\d+)", section(html, "samples")) == expected
    samples = list(csv.DictReader(io.StringIO(web.get("/compare/samples.csv?" + urlencode(
        {"old": "before", "new": "after", **query})).text)))
    assert [s["sample"] for s in samples] == expected  # the download keeps the page's filters


def test_a_slice_filter_shows_compatibility_and_outcomes_of_that_slice(web):
    html = page(web, slice="odd")
    assert rows_of(html, "outcomes") == ["facts / odd 5 1 2 1 1"]  # s1 | s3 s5 | s7 | s9


def test_every_table_downloads_as_the_same_csv(web):
    html = page(web)
    for table in ("metrics", "slices", "compatibility", "outcomes", "samples"):
        got = web.get(f"/compare/{table}.csv?old=before&new=after")
        assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=utf-8", table
        assert f'filename="{table}.csv"' in got.headers["content-disposition"]
        assert len(list(csv.reader(io.StringIO(got.text)))) - 1 == len(rows_of(html, table)), table
    samples = list(csv.DictReader(io.StringIO(web.get("/compare/samples.csv?old=before&new=after").text)))
    assert f"a {SCRIPT} answer" in {s["new answer"] for s in samples}  # the CSV has the text as the model wrote it
    assert web.get("/compare/nope.csv?old=before&new=after").status_code == 400
    assert web.get("/compare/metrics.csv").status_code == 400


def test_runs_are_named_by_id_prefix_name_or_alias_and_the_pickers_show_the_chosen_ones(web, store):
    import undrift

    before, after = (undrift.runs(name=n, db=store)[0] for n in ("before", "after"))
    html = page(web, old=before.id[:-2], new="candidate")
    assert f'<option value="{before.id}" selected>' in html and f'<option value="{after.id}" selected>' in html
    first = web.get("/compare").text  # no runs chosen: the newest run against the one before it
    assert f'<option value="{after.id}" selected>' in first and 'id="table-metrics"' not in first


@pytest.mark.parametrize("query, fragment", [
    ({"old": "before", "new": "nobody"}, "no run or model name &#39;nobody&#39;"),
    ({"old": "before", "new": "elsewhere"}, "ran different suites"),
    ({"old": "before"}, "pick two runs"),
    ({"old": "before", "new": "after", "task": "nope"}, "no task &#39;nope&#39;: its tasks are &lt;img"),
    ({"old": "before", "new": "after", "slice": "nope"}, "no slice &#39;nope&#39;"),
    ({"old": "before", "new": "after", "kind": "sideways"}, "choose one of negative, positive, changed"),
])
def test_a_comparison_that_cannot_be_made_says_why_and_keeps_the_pickers(web, query, fragment):
    got = web.get("/compare?" + urlencode(query))
    assert got.status_code == 400 and fragment in got.text and 'id="pick-runs"' in got.text
    assert "Traceback" not in got.text


def test_an_open_alert_links_to_the_comparison_that_opened_it(web, store):
    import undrift

    before, after = (undrift.runs(name=n, db=store)[0] for n in ("before", "after"))
    link = "/compare?" + urlencode({"old": before.id, "new": after.id})
    overview = web.get("/").text
    assert f'href="{link.replace("&", "&amp;")}"' in overview
    assert "negative" in web.get(link).text


def test_each_run_of_a_history_links_to_its_comparison_with_the_baseline_it_was_tested_against(web, store):
    import undrift

    first, second = reversed(undrift.runs(name="series", db=store))
    history = web.get("/history?name=series").text
    link = "/compare?" + urlencode({"old": first.id, "new": second.id})
    assert rows_of(history, "history-series-facts-accuracy")[1].strip().endswith(f"vs {first.id}")
    assert f'href="{link.replace("&", "&amp;")}"' in history
    assert '<span class="name">series</span> → <span class="name">series</span>' in web.get(link).text


def test_word_diff_marks_only_the_words_that_differ_and_escapes_them_first():
    from undrift.web.diff import word_diff

    diff = word_diff("say <b>hi</b> now", "say <i>hi</i> now please")
    assert diff.old == "say <del>&lt;b&gt;hi&lt;/b&gt;</del> now"
    assert diff.new == "say <ins>&lt;i&gt;hi&lt;/i&gt;</ins> now <ins>please</ins>"
    assert diff.changed_words == 3
    assert word_diff("same", "same").old == "same" and word_diff("", "").new == ""


# --- in the browser ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(store):
    from undrift.web import create_app

    with ServerThread(create_app(store)) as base:
        yield base.removesuffix("/v1")


def test_pick_two_runs_see_the_flips_filter_them_and_download(page, dashboard):
    page.goto(dashboard + "/")
    page.get_by_role("link", name="Compare", exact=True).click()
    page.select_option("select[name=old]", label=page.locator("select[name=old] option", has_text="before")
                       .inner_text())
    page.select_option("select[name=new]", label=page.locator("select[name=new] option", has_text="after")
                       .inner_text())
    page.get_by_role("button", name="Compare").click()
    page.wait_for_selector("#outcome-plot .main-svg")
    assert page.locator("h1").inner_text() == "Compare before → after"
    first = page.locator("table.pairs tbody tr", has_text="s1").first
    assert first.locator("td.old del").inner_text() == "4" and first.locator("td.new ins").inner_text() == "5"
    assert page.locator("table.pairs tbody tr").count() == 4
    hostile = page.locator("table.pairs tbody tr", has_text=HOSTILE_TASK)
    assert hostile.locator("td.new ins").inner_text() == SCRIPT  # shown as text, not run
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    page.select_option("select[name=kind]", "positive")
    page.get_by_role("button", name="Filter").click()
    assert "kind=positive" in page.url
    rows = page.locator("table.pairs tbody tr")
    assert rows.count() == 1 and "s7" in rows.inner_text() and "positive" in rows.inner_text()
    with page.expect_download() as download:
        page.locator("#table-samples a.download").click()
    assert download.value.suggested_filename == "samples.csv"
    assert "s7" in open(download.value.path()).read()
    assert page.dialogs == [] and not page.errors and page.locator("main script:not([type])").count() == 0


def test_arrive_from_an_alert(page, dashboard):
    page.goto(dashboard + "/")
    page.locator("#table-alerts a", has_text="→").click()
    page.wait_for_selector("#outcome-plot .main-svg")
    assert page.locator("h1").inner_text() == "Compare before → after"
    assert page.locator("#table-compatibility tbody tr", has_text="facts").inner_text().split()[:3] == [
        "facts", "10", "2"]
    assert page.dialogs == [] and not page.errors


@pytest.mark.skipif(not GENERATION.exists(), reason="the shared LLMDrift data is not beside this checkout")
def test_the_llmdrift_study_gpt4_update_in_the_browser(page, tmp_path):
    """The recorded GPT-4 generations of March and June 2023, imported as the CLI imports them: the page's prime
    numbers row says what `undrift.compare` says (1,000 samples, the negative flips), and its screenshot is the one
    the README shows."""
    import undrift
    from undrift.web import create_app

    store = undrift.Store.open(f"sqlite:///{tmp_path / 'llmdrift.db'}")
    undrift.import_generations(sorted(GENERATION.glob("*.csv")), "llmdrift", db=store)
    primes = next(g for g in undrift.compare("gpt-4-0314", "gpt-4-0613", db=store).tasks if g.where == "primes")
    with ServerThread(create_app(store)) as base:
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.goto(base.removesuffix("/v1") + "/compare?" + urlencode({"old": "gpt-4-0314", "new": "gpt-4-0613"}))
        page.wait_for_selector("#outcome-plot .main-svg")
        row = page.locator("#table-compatibility tbody tr", has_text="primes").inner_text().split()
        assert row[:4] == ["primes", "1000", str(primes.compatibility.negative_flips),
                           str(primes.compatibility.positive_flips)]
        page.screenshot(path=str(ARTIFACTS / "compare-llmdrift.png"))
    assert not page.errors
