"""Broken and hostile input files, and hostile model text, through the command line a user meets.

A file undrift cannot use is one line on stderr, exit 2, and nothing written (no store created, no run begun);
model text is never obeyed where it is shown: not by a terminal, a Markdown renderer or a spreadsheet.
"""

import csv
import json
import time
from pathlib import Path

import pytest
from helpers import result_row, store_run, undrift

SUITE = "name: s\ntasks:\n  - name: t\n    samples: {samples}\n    scorer: exact\n"
GOOD_ROW = '{"id": "1", "prompt": "Say yes.", "target": "yes"}\n'
POLICY = "rules:\n  - metric: nfr\n    max: 0.02\n"


def billion_laughs(indent: str) -> str:
    """Nine levels of nine aliases, as mapping entries: a few hundred bytes that expand to 9^9 (387 million)
    strings, which hang whatever walks them (hashing a sample's data, printing a description)."""
    lines = [f'{indent}l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


SUITE_BOMB = ("name: s\ntasks:\n  - name: t\n    scorer: exact\n    samples:\n      - id: '1'\n        prompt: hi\n"
              + billion_laughs("        "))
POLICY_BOMB = POLICY + "description:\n" + billion_laughs("  ")


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# name -> (files to write: str or bytes, command, fragment the one line must contain)
CASES = {
    "suite jsonl not UTF-8": (
        {"suite/s.yaml": SUITE.format(samples="s.jsonl"), "suite/s.jsonl": b'{"id": "1", "prompt": "caf\xe9"}\n'},
        ["run", "suite/s.yaml", "--model", "echo:"], "s.jsonl line 1 is not UTF-8"),
    "suite yaml not UTF-8": (
        {"suite/s.yaml": b"name: caf\xe9\ntasks: []\n"}, ["run", "suite/s.yaml", "--model", "echo:"],
        "s.yaml line 1 is not UTF-8"),
    "policy not UTF-8": (
        {"policy.yaml": b"# caf\xe9\n" + POLICY.encode()}, ["gate", "a", "b", "--policy", "policy.yaml"],
        "policy.yaml line 1 is not UTF-8"),
    "import csv not UTF-8": (
        {"log.csv": b"id,prompt,response,model\n1,caf\xe9,a,m\n"}, ["import", "log.csv", "--format", "csv"],
        "log.csv line 2 is not UTF-8"),
    "import jsonl not UTF-8": (
        {"log.jsonl": b'{"id": 1, "prompt": "caf\xe9", "response": "a", "model": "m"}\n'},
        ["import", "log.jsonl", "--format", "jsonl"], "log.jsonl line 1 is not UTF-8"),
    "training data not UTF-8": (
        {"train.jsonl": b'{"prompt": "hi", "completion": "ok"}\n{"prompt": "caf\xe9", "completion": "x"}\n'},
        ["train", "--base", "hf:{tiny}", "--data", "train.jsonl", "--out", "v2"], "train.jsonl line 2 is not UTF-8"),
    "review file not UTF-8": (
        {"reviewed.csv": b"review_id,response,messages,label\nx,caf\xe9,[],good\n"},
        ["review", "import", "reviewed.csv", "--out", "train.jsonl"], "reviewed.csv line 2 is not UTF-8"),
    "csv row with a missing field": (
        {"log.csv": "id,prompt,response,model\n1,hi,a\n"}, ["import", "log.csv", "--format", "csv"],
        "log.csv line 2 has 3 fields but the header names 4"),
    "csv row with an extra field": (
        {"log.csv": "id,prompt,response,model\n1,hi, there,a,m\n"}, ["import", "log.csv", "--format", "csv"],
        "log.csv line 2 has 5 fields but the header names 4"),
    "review csv row with a missing field": (
        {"reviewed.csv": "review_id,response,messages,label\nx,yes\n"},
        ["review", "import", "reviewed.csv", "--out", "train.jsonl"], "reviewed.csv line 2 has 2 fields"),
    "import that rejects its columns": (
        {"log.csv": "a,b\n1,2\n"}, ["import", "log.csv", "--format", "csv"], "has no column 'prompt'"),
    "train that rejects its data": (
        {"train.jsonl": '{"prompt": 3}\n'}, ["train", "--base", "hf:{tiny}", "--data", "train.jsonl", "--out", "v2"],
        "train.jsonl line 1: expected"),
    "train from a base that does not exist": (
        {"train.jsonl": '{"prompt": "hi", "completion": "ok"}\n'},
        ["train", "--base", "hf:/no/such/model", "--data", "train.jsonl", "--out", "v2"], "does not exist"),
    "suite alias bomb": (
        {"suite/s.yaml": SUITE_BOMB}, ["run", "suite/s.yaml", "--model", "echo:"], "aliases expand"),
    "policy alias bomb": (
        {"policy.yaml": POLICY_BOMB}, ["gate", "a", "b", "--policy", "policy.yaml"], "aliases expand"),
    "suite with a recursive alias": (
        {"suite/s.yaml": "name: &x [*x]\ntasks: []\n"}, ["suites", "suite/s.yaml"], "refers to itself"),
    "suite nested too deeply": (
        {"suite/s.yaml": "name: " + "[" * 5000 + "]" * 5000 + "\n"}, ["suites", "suite/s.yaml"], "nested deeper"),
    "50 MB prompt in a suite": (
        {"suite/s.yaml": SUITE.format(samples="s.jsonl"),
         "suite/s.jsonl": json.dumps({"id": "1", "prompt": "lol " * 12_500_000}) + "\n"},
        ["run", "suite/s.yaml", "--model", "echo:"], "at most 1,000,000 characters"),
    "50 MB training example": (
        {"train.jsonl": json.dumps({"prompt": "lol " * 12_500_000, "completion": "ok"}) + "\n"},
        ["train", "--base", "hf:{tiny}", "--data", "train.jsonl", "--out", "v2"], "at most 1,000,000 characters"),
    "samples file above the suite's folder": (
        {"suite/s.yaml": SUITE.format(samples="../outside.jsonl"), "outside.jsonl": GOOD_ROW},
        ["run", "suite/s.yaml", "--model", "echo:"], "--allow-outside"),
    "samples file at an absolute path": (
        {"suite/s.yaml": SUITE.format(samples="{tmp}/outside.jsonl"), "outside.jsonl": GOOD_ROW},
        ["suites", "suite/s.yaml"], "--allow-outside"),
    "samples file linked from outside": (
        {"suite/s.yaml": SUITE.format(samples="s.jsonl"), "outside.jsonl": GOOD_ROW,
         "suite/s.jsonl": "->outside.jsonl"},
        ["suites", "suite/s.yaml"], "--allow-outside"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_files_are_one_line_exit_2_and_write_nothing(tmp_path, tiny_model_dir, case):
    files, args, fragment = CASES[case]
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content.startswith("->"):
            path.symlink_to(tmp_path / content[2:])
        else:
            path.write_text(content.replace("{tmp}", str(tmp_path)))
    before = files_under(tmp_path)
    started = time.monotonic()
    result = undrift(*[a.replace("{tiny}", str(tiny_model_dir)) for a in args], cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert fragment in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-3000:]
    assert files_under(tmp_path) == before
    assert time.monotonic() - started < 20  # refused, not expanded or tokenised first


def test_allow_outside_lets_a_suite_read_samples_beyond_its_folder(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "shared.jsonl").write_text(GOOD_ROW)
    (tmp_path / "suite" / "s.yaml").write_text(SUITE.format(samples="../shared.jsonl"))
    assert undrift("suites", "suite/s.yaml", "--allow-outside", cwd=tmp_path).returncode == 0
    ran = undrift("run", "suite/s.yaml", "--model", "echo:", "--allow-outside", "--json", "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["run"]["status"] == "complete"


def test_yaml_anchors_that_expand_modestly_still_work(tmp_path):
    """Anchors are a fair way to share decoding settings between tasks; only an explosion of them is refused."""
    (tmp_path / "s.yaml").write_text(
        "name: s\ntasks:\n"
        "  - name: a\n    decoding: &short {max_tokens: 8}\n    scorer: exact\n    samples: [{id: '1', prompt: hi}]\n"
        "  - name: b\n    decoding: *short\n    scorer: exact\n    samples: [{id: '1', prompt: hi}]\n")
    result = undrift("suites", "s.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_local_model_refuses_a_prompt_beyond_its_context_before_tokenising(tiny_model_dir):
    from undrift.errors import UndriftError
    from undrift.models import ModelSpec, load_model
    from undrift.models.base import Decoding, Request

    model = load_model(ModelSpec.parse(f"hf:{tiny_model_dir}"))
    huge = Request.chat([{"role": "user", "content": "lol " * 12_500_000}], Decoding(max_tokens=4))
    started = time.monotonic()
    with pytest.raises(UndriftError, match=r"context of 1,024 tokens"):
        model.generate([huge])
    assert time.monotonic() - started < 5
    long = Request.chat([{"role": "user", "content": "\u4e00" * 1000}], Decoding(max_tokens=4))  # 3 tokens a char
    with pytest.raises(UndriftError, match=r"tokens; the model's context holds 1,024"):
        model.generate([long])
    assert model.generate([Request.chat([{"role": "user", "content": "hi"}], Decoding(max_tokens=2))])


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
           "\tindented", "\rreturn", "'=already quoted", "plain answer"]


def test_review_export_csv_cannot_carry_a_live_formula_and_import_gets_the_answers_back(tmp_path, sqlite_url):

    from undrift.store import Store

    store_run(Store.open(sqlite_url), "bot", [result_row("t", f"s{i}", True, response=text, prompt=text, target=text)
                                              for i, text in enumerate(HOSTILE)])
    exported = undrift("review", "export", "bot", "--out", "review.csv", "--db", sqlite_url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with open(tmp_path / "review.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+-@\t\r", cell
    assert [r["response"] for r in rows] == ["'" + t if t != "plain answer" else t for t in HOSTILE]
    for row in rows:
        row["label"] = "good"
    with open(tmp_path / "review.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    imported = undrift("review", "import", "review.csv", "--out", "train.jsonl", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    examples = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [e["messages"][-1]["content"] for e in examples] == HOSTILE
    assert [e["messages"][0]["content"] for e in examples] == HOSTILE


ANSWER = ("<img src=x onerror=alert(1)> <script>alert(2)</script> &lt;b&gt; a | b\nnew row | \u202eevil [/] \x1b[2J"
          "\u200bpay\ufeff")


def test_model_text_is_shown_as_written_in_the_terminal_and_markdown(tmp_path, sqlite_url):
    from markdown_it import MarkdownIt

    from undrift.store import Store

    store = Store.open(sqlite_url)
    for name, right in (("old[/]", True), ("new[/]", False)):
        store_run(store, name, [result_row("t[/]", f"s{i}", right, response=f"{ANSWER} {name}", prompt=ANSWER,
                                           extracted=ANSWER, target=ANSWER) for i in range(3)])
    for command in (["show", "old[/]", "--samples", "3"], ["compare", "old[/]", "new[/]", "--md", "r.md"]):
        result = undrift(*command, "--db", sqlite_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown and "\u202e" not in shown and "\u200b" not in shown and "\ufeff" not in shown
        if command[0] == "show":  # as written (compare's tables may fold a cell anywhere)
            assert "<img src=x onerror=alert(1)>" in shown and "\\u202eevil [/] \\x1b[2J" in shown
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render((tmp_path / "r.md").read_text())
    assert "<img" not in html and "<script" not in html and "\u202e" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&amp;lt;b&amp;gt;" in html
    flipped = html.split("Flipped samples")[1].split("</table>")[0]
    assert flipped.count("<tr>") == 4 and all(row.count("<td>") == 6 for row in flipped.split("<tr>")[2:])


def test_a_name_with_markup_does_not_break_the_progress_bar(tmp_path):
    result = undrift("run", "drift", "--model", "echo:", "--tasks", "primes", "--limit", "1",
                     "--as", "bot[/]", cwd=tmp_path, env={"COLUMNS": "120"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MarkupError" not in result.stderr


def test_a_huge_target_or_extracted_answer_does_not_flood_the_flips_table(tmp_path, sqlite_url):

    from undrift.store import Store

    store = Store.open(sqlite_url)
    huge = "word " * 5000
    for name, right in (("old", True), ("new", False)):
        store_run(store, name, [result_row("t", "s0", right, response="short", extracted=huge, target=huge)])
    result = undrift("compare", "old", "new", "--db", sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) < 80
