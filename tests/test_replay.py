"""Replay of recorded traffic: the CLI end to end against a scripted candidate, then compare and gate on the two runs;
seeded sampling; export as a suite (with reviewed answers); bad input that writes nothing; a pairwise judge."""

import csv
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from scripted_http import ScriptedServer
from helpers import undrift
from undrift.errors import UndriftError
from undrift.replay import Selection, select_traffic
from undrift.scoring.judge import pairwise_verdict
from undrift.scoring.similarity import rouge_l
from undrift.store import Store
from undrift.store.traffic import TrafficRecord, add_traffic
from undrift.suites.loader import load_suite_file

START = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
SINCE = "2026-05-01"


def record(prompt, answer, minute=0, tag=None, status=200, path="/v1/chat/completions", request=None, **extra):
    body = request if request is not None else {"model": "gpt-x", "messages": [{"role": "user", "content": prompt}],
                                                "temperature": 0, "max_tokens": 200, **extra}
    return TrafficRecord(at=START + timedelta(minutes=minute), method="POST", path=path, upstream="http://up/v1",
                         stream=bool(minute % 2), status=status, latency_s=0.5, request=body,
                         response={"choices": [{"message": {"role": "assistant", "content": answer}}]},
                         response_text=answer, tag=tag, model="gpt-x", served_model="gpt-x-0301",
                         tokens_out=len(answer.split()), error=None if status == 200 else "upstream failed")


def chat_body(text):
    return 200, {"model": "cand-1", "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split())},
                 "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


# The candidate answers "same ..." prompts as recorded, changes its answer to "diff ..." prompts, refuses one and
# breaks the JSON format of another.
RECORDED = {
    "same 1: name a colour": "Blue is a calm colour often used in logos.",
    "same 2: capital of France": "The capital of France is Paris.",
    "same 3: two plus two": "Two plus two is four.",
    "same 4: a fruit": "An apple is a common fruit.",
    "diff 1: say hello": "Hello there, how can I help you today?",
    "diff 2: a planet": "Mars is the fourth planet from the Sun.",
    "refuse: a joke": "Why did the chicken cross the road? To get to the other side.",
    "json: a user": '{"name": "Ada", "age": 36}',
}
CANDIDATE = {**{p: a for p, a in RECORDED.items() if p.startswith("same")},
             "diff 1: say hello": "Greetings. State your request.",
             "diff 2: a planet": "Jupiter has a great red spot and many moons.",
             "refuse: a joke": "I'm sorry, but I can't help with that.",
             "json: a user": "Here is the user: Ada, 36 years old."}


def candidate_server():
    def answer(body):
        return chat_body(CANDIDATE.get(body["messages"][-1]["content"], "unknown"))
    return ScriptedServer(chat=answer)


@pytest.fixture
def traffic_db(tmp_path):
    db = f"sqlite:///{tmp_path / 'undrift.db'}"
    records = [record(p, a, minute=i, tag="support" if i < 4 else "sales",
                      **({"response_format": {"type": "json_object"}} if p.startswith("json") else {}))
               for i, (p, a) in enumerate(RECORDED.items())]
    records += [
        record("embed me", "", minute=20, path="/v1/embeddings", request={"input": "embed me"}),
        record("boom", "", minute=21, status=502),
        record("not json", "", minute=22, request="plain text body"),
        record("same 1: name a colour", RECORDED["same 1: name a colour"], minute=23),  # the same request again
        record("tools", "x", minute=24, request={"messages": [{"role": "tool", "content": "42"}]}),
    ]
    add_traffic(Store.open(db), records)
    return db


def test_replay_then_compare_and_gate_show_the_flips(tmp_path, traffic_db):
    with candidate_server() as server:
        result = undrift("replay", "--since", SINCE, "--model", f"openai:m@{server.base_url}", "--as", "cand",
                         "--db", traffic_db, "--json", "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["replayed"] == 8 and report["records"] == 13 and report["repeated"] == 1
        assert report["skipped"] == {"not a chat completion": 2, "failed when recorded": 1,
                                     "not plain text (tools, images or other parts)": 1}
        assert report["candidate"]["name"] == "cand" and report["recorded"]["name"] == "gpt-x-0301"
        assert server.calls == 8
        old, new = report["recorded"]["id"], report["candidate"]["id"]
        assert report["next"]["compare"].startswith(f"undrift compare {old} {new} --tolerance")

        compared = undrift("compare", old, new, "--tolerance", "0.3", "--db", traffic_db, "--json", cwd=tmp_path)
        assert compared.returncode == 0, compared.stderr
        task = json.loads(compared.stdout)["tasks"]["traffic"]
        assert task["n"] == 8 and task["score_flips"]["negative"] == pytest.approx(4 / 8) and task["nfr"] == 0.5
        assert task["score"]["old"] == 1.0 and task["score"]["new"] < 1.0
        assert task["refusal_rate"]["old"] == 0.0 and task["refusal_rate"]["new"] == pytest.approx(1 / 8)
        assert task["json_valid"]["n"] == 1 and task["json_valid"]["old"] == 1.0 and task["json_valid"]["new"] == 0.0
        assert "verbosity" in task and "tokens" in task
        flipped = {f["prompt"] for f in json.loads(compared.stdout)["flips"] if f["kind"] == "negative"}
        assert flipped == {"diff 1: say hello", "diff 2: a planet", "refuse: a joke", "json: a user"}
        assert set(task["slices"]) == {"support", "sales"}
        table = undrift("compare", old, new, "--tolerance", "0.3", "--db", traffic_db, cwd=tmp_path)
        assert table.returncode == 0 and "traffic" in table.stdout

        loose, strict = tmp_path / "loose.yaml", tmp_path / "strict.yaml"
        loose.write_text("rules:\n  - metric: nfr\n    max: 0.6\n")
        strict.write_text("rules:\n  - metric: nfr\n    max: 0.2\n  - metric: refusal_rate\n    max: 0.0\n")
        assert undrift("gate", old, new, "--policy", str(loose), "--tolerance", "0.3", "--db", traffic_db,
                       cwd=tmp_path).returncode == 0
        failed = undrift("gate", old, new, "--policy", str(strict), "--tolerance", "0.3", "--db", traffic_db,
                         "--json", cwd=tmp_path)
        assert failed.returncode == 1, failed.stderr
        failures = {c["rule"] for c in json.loads(failed.stdout)["checks"] if not c["passed"]}
        assert failures == {"nfr max 0.2", "refusal_rate max 0.0"}

        # The same traffic again: the recorded run is reused, and the second candidate lines up with the first.
        again = undrift("replay", "--since", SINCE, "--model", f"openai:m@{server.base_url}", "--as", "cand2",
                        "--db", traffic_db, "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert f"recorded   gpt-x-0301 ({old}, already stored)" in again.stdout
        assert f"undrift gate {old} " in again.stdout and "--policy" in again.stdout
        both = undrift("compare", "cand", "cand2", "--db", traffic_db, "--json", cwd=tmp_path)
        assert both.returncode == 0 and json.loads(both.stdout)["flips"] == []
    runs = json.loads(undrift("runs", "--db", traffic_db, "--json", cwd=tmp_path).stdout)
    assert len(runs) == 3 and all(r["status"] == "complete" for r in runs)


def test_an_interrupted_candidate_run_resumes_like_any_run(tmp_path, traffic_db):
    with candidate_server() as server:
        server.fail_prompts = ("diff", "refuse", "json", "same 2", "same 3")  # 5 of 8 fail: the run fails, exit 4
        spec = f"openai:m@{server.base_url}?retries=0"
        failed = undrift("replay", "--since", SINCE, "--model", spec, "--db", traffic_db, "-q", cwd=tmp_path)
        assert failed.returncode == 4, failed.stdout + failed.stderr
        run_id = failed.stderr.split("run ")[1].split()[0]
        server.fail_prompts = ()
        resumed = undrift("run", "--resume", run_id, "--db", traffic_db, "-q", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
    compared = undrift("compare", "gpt-x-0301", run_id, "--db", traffic_db, "--json", cwd=tmp_path)
    assert json.loads(compared.stdout)["shared"] == 8


def test_seeded_sampling_is_stable_and_ignores_the_order_of_recording(tmp_path):
    prompts = [f"question {i}" for i in range(30)]
    stores = []
    for name, order in (("a", prompts), ("b", random.Random(5).sample(prompts, len(prompts)))):
        store = Store.open(f"sqlite:///{tmp_path / name}.db")
        add_traffic(store, [record(p, f"answer to {p}", minute=i) for i, p in enumerate(order)])
        stores.append(store)
    pick = lambda store, seed: [i.sample.id for i in select_traffic(store, Selection(sample=5, seed=seed)).items]  # noqa: E731
    assert pick(stores[0], 1) == pick(stores[0], 1) == pick(stores[1], 1)
    assert pick(stores[0], 1) != pick(stores[0], 2)
    assert len(select_traffic(stores[0], Selection(sample=500)).items) == 30
    window = Selection(since=START + timedelta(minutes=10), until=START + timedelta(minutes=20))
    assert len(select_traffic(stores[0], window).items) == 10


def test_export_suite_loads_runs_and_takes_reviewed_answers(tmp_path, traffic_db):
    suite = tmp_path / "traffic.yaml"
    exported = undrift("traffic", "export-suite", "--since", SINCE, "-o", str(suite), "--db", traffic_db, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "wrote 8 samples" in exported.stdout
    described = undrift("suites", str(suite), cwd=tmp_path)
    assert described.returncode == 0 and "text" in described.stdout, described.stderr
    with candidate_server() as server:
        ran = undrift("run", str(suite), "--model", f"openai:m@{server.base_url}", "--db", traffic_db, "--json", "-q",
                      cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert sum(t["n"] for t in json.loads(ran.stdout)["tasks"]) == 8

    review = tmp_path / "review.csv"
    assert undrift("traffic", "export-suite", "--since", SINCE, "--for-review", str(review), "--db", traffic_db,
                   cwd=tmp_path).returncode == 0
    rows = list(csv.DictReader(review.open()))
    assert len(rows) == 8 and {r["response"] for r in rows} == set(RECORDED.values())
    for row in rows:
        if row["prompt"] == "refuse: a joke":
            row["label"] = "unsafe"
        elif row["prompt"] == "same 2: capital of France":
            row["correction"] = "Paris"
        elif row["prompt"] == "diff 2: a planet":
            row["label"] = "good"
    with review.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    reviewed = tmp_path / "reviewed.yaml"
    result = undrift("traffic", "export-suite", "--since", SINCE, "--labels", str(review), "-o", str(reviewed),
                     "--db", traffic_db, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 corrected, 1 approved, 1 dropped" in result.stdout
    loaded = load_suite_file(reviewed)
    targets = {s.messages[-1]["content"]: (t.name, s.target, s.slices) for t in loaded.tasks for s in t.samples}
    assert "refuse: a joke" not in targets and len(targets) == 7
    assert targets["same 2: capital of France"] == ("short", "Paris", ("support", "corrected"))
    assert targets["diff 2: a planet"][1:] == (RECORDED["diff 2: a planet"], ("sales", "approved"))
    assert {t.name: t.scorer.type for t in loaded.tasks} == {"text": "similarity", "short": "normalized"}
    assert loaded.tasks[0].samples[0].decoding.max_tokens == 200


@pytest.mark.parametrize("args, fragment", [
    (["--since", "2027-01-01"], "no recorded traffic since 2027-01-01"),
    (["--since", "yesterday-ish"], "bad since (--since)"),
    (["--sample", "0"], "sample (--sample) must be at least 1"),
    (["--since", SINCE, "--tag", "nobody"], "no recorded traffic"),
    (["--model", "llama:7b"], "unknown model spec"),
    (["--model", "openai:m@http://127.0.0.1:1/v1"], "cannot reach"),
    (["--judge", "openai:judge@http://127.0.0.1:1/v1"], "cannot reach"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, traffic_db, args, fragment):
    defaults = {"--since": SINCE, "--model": "openai:m@http://127.0.0.1:9/v1"}
    given = dict(zip(args[::2], args[1::2]))
    with candidate_server() as server:
        defaults["--model"] = f"openai:m@{server.base_url}"
        options = [x for key, value in {**defaults, **given}.items() for x in (key, value)]
        result = undrift("replay", *options, "--db", traffic_db, "-q", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert json.loads(undrift("runs", "--db", traffic_db, "--json", cwd=tmp_path).stdout) == []
    assert not (tmp_path / "undrift.db-replays").exists()


def test_nothing_replayable_names_the_reasons(tmp_path):
    db = f"sqlite:///{tmp_path / 'u.db'}"
    add_traffic(Store.open(db), [record("x", "", status=500), record("y", "", path="/v1/models", request={})])
    result = undrift("replay", "--since", SINCE, "--model", "openai:m@http://127.0.0.1:1/v1", "--db", db,
                     cwd=tmp_path)
    assert result.returncode == 2
    assert "none of the 2 recorded requests" in result.stderr and "1 failed when recorded" in result.stderr


def length_judge(body):
    """Prefers the longer answer, whichever position it is in; a tie when they are as long."""
    prompt = body["messages"][-1]["content"]
    a = prompt.split("Answer A:\n", 1)[1].split("\n\nAnswer B:\n", 1)[0]
    b = prompt.split("\n\nAnswer B:\n", 1)[1].split("\n\nWhich answer is better", 1)[0]
    verdict = "[[tie]]" if len(a) == len(b) else "[[A]]" if len(a) > len(b) else "[[B]]"
    return chat_body(f"{verdict} because it is longer")


def test_pairwise_judge_is_asked_both_ways(tmp_path, traffic_db):
    with candidate_server() as server, ScriptedServer(chat=length_judge) as judge:
        result = undrift("replay", "--since", SINCE, "--model", f"openai:m@{server.base_url}", "--judge",
                         f"openai:j@{judge.base_url}", "--db", traffic_db, "--json", "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert judge.calls == 16  # two asks (both orders) per sample
    report = json.loads(result.stdout)
    longer = sum(len(CANDIDATE[p]) > len(RECORDED[p]) for p in RECORDED)
    shorter = sum(len(CANDIDATE[p]) < len(RECORDED[p]) for p in RECORDED)
    assert report["judge"] == {"candidate": longer, "recorded": shorter, "tie": 8 - longer - shorter,
                               "no verdict": 0}
    shown = json.loads(undrift("show", report["candidate"]["id"], "--samples", "8", "--json", "--db", traffic_db,
                               cwd=tmp_path).stdout)
    assert {s["details"]["judge"] for s in shown["samples"]} <= {"candidate", "recorded", "tie"}


def test_pairwise_verdict_cancels_position_bias():
    assert pairwise_verdict(["[[A]]", "[[B]]"], "old", "new") == "old"
    assert pairwise_verdict(["[[B]] yes", "[[A]]"], "old", "new") == "new"
    assert pairwise_verdict(["[[A]]", "[[A]]"], "old", "new") == "tie"  # always the first position: no preference
    assert pairwise_verdict(["[[A]]", None], "old", "new") is None  # a failed ask is no verdict


def test_replay_on_the_llmdrift_study_text(tmp_path):
    """Recorded answers: GPT-4 in March 2023; the candidate answers what GPT-4 said in June."""
    source = "/work/shared/data/llmdrift/generation/PRIME_FULL_EVAL.csv"
    rows = list(csv.DictReader(open(source, encoding="utf-8")))
    march = [r for r in rows if r["model"].endswith("gpt-4-0314")][:20]
    june = {r["query"]: r["answer"] for r in rows if r["model"].endswith("gpt-4-0613")}
    db = f"sqlite:///{tmp_path / 'u.db'}"
    add_traffic(Store.open(db), [record(r["query"], r["answer"], minute=i) for i, r in enumerate(march)])

    def answer(body):
        return chat_body(june[body["messages"][-1]["content"]])

    with ScriptedServer(chat=answer) as server:
        result = undrift("replay", "--since", SINCE, "--model", f"openai:gpt-4@{server.base_url}", "--as", "june",
                         "--recorded-as", "march", "--db", db, "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    compared = json.loads(undrift("compare", "march", "june", "--tolerance", "0.5", "--db", db, "--json",
                                  cwd=tmp_path).stdout)
    task = compared["tasks"]["traffic"]
    expected = [rouge_l(june[r["query"]], r["answer"]) for r in march]
    assert task["score"]["new"] == pytest.approx(sum(expected) / len(expected))
    assert task["score_flips"]["negative"] == pytest.approx(sum(1 - e > 0.5 for e in expected) / len(expected))
    assert task["score_flips"]["negative"] > 0


def test_a_sample_may_carry_its_own_decoding(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ntasks:\n  - name: t\n    scorer: exact\n    decoding: {max_tokens: 64}\n    samples:\n"
                     "      - {id: a, prompt: hi, target: x, decoding: {max_tokens: 7, temperature: 0.5}}\n"
                     "      - {id: b, prompt: ho, target: y}\n")
    task = load_suite_file(suite).tasks[0]
    first, second = (task.requests(s, seed=3)[0].decoding for s in task.samples)
    assert (first.max_tokens, first.temperature, first.seed) == (7, 0.5, 3) and second.max_tokens == 64
    suite.write_text(suite.read_text().replace("decoding: {max_tokens: 7, temperature: 0.5}", "decoding: {speed: 2}"))
    with pytest.raises(UndriftError, match="sample 1: unknown decoding parameter 'speed'"):
        load_suite_file(suite)


def help_text(*command, cwd):
    """A command's --help as one line of words (Rich wraps it in a box)."""
    import re

    result = undrift(*command, "--help", cwd=cwd, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    return re.sub(r"[\s│]+", " ", result.stdout)


def test_replay_says_it_sends_the_redacted_requests_and_names_the_recorded_models(tmp_path):
    """The candidate gets the requests as recorded, masks included: the replay warns where one holds a mask.  Traffic
    that several models served makes a recorded run named after all of them, not a bare `recorded`."""
    from dataclasses import replace

    db = f"sqlite:///{tmp_path / 'u.db'}"
    records = [replace(record(f"question {i}", f"answer {i}", minute=i), served_model="gpt-b" if i % 2 else "gpt-a")
               for i in range(4)]
    records.append(record("my key is [REDACTED], write to [REDACTED]", "Noted.", minute=5))  # served gpt-x-0301
    add_traffic(Store.open(db), records)
    with candidate_server() as server:
        shown = undrift("replay", "--since", SINCE, "--model", f"openai:m@{server.base_url}", "--db", db, "-q",
                        cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "warning: 1 of the 5 replayed requests holds a redaction mask ([REDACTED])" in shown.stderr
        assert "recorded   recorded:gpt-a+gpt-b+gpt-x-0301 (" in shown.stdout
        data = undrift("replay", "--since", SINCE, "--model", f"openai:m@{server.base_url}", "--db", db, "-q",
                       "--json", cwd=tmp_path)
    report = json.loads(data.stdout)
    assert report["redacted"] == 1 and report["recorded"] == {**report["recorded"], "reused": True,
                                                              "name": "recorded:gpt-a+gpt-b+gpt-x-0301"}
    assert "as recorded, redaction masks included" in help_text("replay", cwd=tmp_path)


def test_sample_says_whether_it_is_a_share_or_a_count(tmp_path, traffic_db):
    """`proxy --sample` is a share, `replay --sample` a count: both helps say which, and a share given to replay is
    refused in one line that says so."""
    assert "share of requests recorded, 0-1" in help_text("proxy", cwd=tmp_path)
    for command in (["replay"], ["traffic", "export-suite"]):
        assert "number of distinct recorded requests" in help_text(*command, cwd=tmp_path)
    for command, extra in ((["replay"], ["--model", "openai:m@http://127.0.0.1:9/v1"]),
                           (["traffic", "export-suite"], ["-o", str(tmp_path / "s.yaml")])):
        result = undrift(*command, "--since", SINCE, "--sample", "0.5", *extra, "--db", traffic_db, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "sample (--sample) is a number of requests (e.g. 200), not a share: got '0.5'" in result.stderr
    assert not (tmp_path / "s.yaml").exists()


def test_a_missing_labels_file_is_one_line_with_a_fix(tmp_path, traffic_db):
    missing = tmp_path / "reviewed.csv"
    out = tmp_path / "suite.yaml"
    for command in (["traffic", "export-suite", "--since", SINCE, "--labels", str(missing), "-o", str(out),
                     "--db", traffic_db], ["review", "import", str(missing), "--out", str(tmp_path / "t.jsonl")]):
        result = undrift(*command, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert f"no review file {str(missing)!r}" in result.stderr and "--for-review" in result.stderr
    assert not out.exists() and not (tmp_path / "t.jsonl").exists()
