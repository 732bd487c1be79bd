"""Every scorer on hand-made cases, and the LLMDrift extraction rules on real recorded GPT-4 answers."""

import csv

import pytest

from undrift.errors import UndriftError
from undrift.scoring import build_scorer
from undrift.scoring.extract import llmdrift_boxed, llmdrift_yes_no
from undrift.scoring.similarity import rouge_l, token_f1
from undrift.suites import Sample, ScorerConfig
from helpers import GENERATION, ServerThread



def sample(target=None, **data):
    return Sample(id="s", messages=({"role": "user", "content": "q?"},), target=target, data=data)


def score(kind, response, target=None, variants=(), params=None, **data):
    return build_scorer(ScorerConfig(kind, params or {})).score(sample(target, **data), response, list(variants))


def test_llmdrift_yes_no_rules():
    assert llmdrift_yes_no("Step 1... so the answer is [Yes].") == "yes"
    assert llmdrift_yes_no("[No], it is divisible by 7") == "no"
    assert llmdrift_yes_no("No, it is not, but yes it is odd") == "yes"  # the study's rule: any [yes] wins
    assert llmdrift_yes_no("I cannot tell") == "undetermined"
    assert llmdrift_boxed("So there are \\boxed{2}.") == "boxed{2}"
    assert llmdrift_boxed("maybe 3") == "undetermined"


def test_llmdrift_prime_accuracy_on_real_answers():
    """GPT-4's March-to-June prime drift, recomputed from the recorded answers with our extraction."""
    rows = list(csv.DictReader((GENERATION / "PRIME_FULL_EVAL.csv").open()))
    scorer = build_scorer(ScorerConfig("label", {"profile": "llmdrift"}))

    def accuracy(model):
        chosen = [r for r in rows if r["model"] == model]
        return sum(bool(scorer.score(sample(r["ref_answer"]), r["answer"], []).correct) for r in chosen) / len(chosen)

    march, june = accuracy("openaichat/gpt-4-0314"), accuracy("openaichat/gpt-4-0613")
    independent = lambda m: sum(llmdrift_yes_no(r["answer"]) == llmdrift_yes_no(r["ref_answer"])  # noqa: E731
                                for r in rows if r["model"] == m) / sum(r["model"] == m for r in rows)
    assert march == pytest.approx(independent("openaichat/gpt-4-0314"))
    assert march > 0.8 and june < 0.6  # the drift the study reports (84% -> 51%)


def test_label_scorer_prefers_brackets():
    assert score("label", "Well, no... final: [Yes]", "yes").correct is True
    assert score("label", "No. It is composite.", "yes").extracted == "no"
    assert score("label", "hmm", "yes").extracted == "undetermined"


def test_choice_scorer_response_rate():
    result = score("choice", "(B). Somewhat optimistic", refused_options=["E"])
    assert result.extracted == "B" and result.details["responded"] and result.value == 1.0
    refused = score("choice", "(E). Refused", refused_options=["E"])
    assert refused.details["responded"] is False and refused.value == 0.0
    assert score("choice", "I have no opinion.").value == 0.0
    assert score("choice", "(C)", target="(C)").correct is True


def test_match_scorers():
    assert score("exact", "  Paris \n", "Paris").correct
    assert not score("exact", "paris", "Paris").correct
    assert score("normalized", "The Paris!", "paris").correct
    assert score("normalized", "I think it is Paris.", "paris", params={"contains": True}).correct
    assert score("numeric", "Total: 1,234 apples\nAnswer: 42", 42).correct
    assert score("numeric", "\\boxed{3} and later 5", 3, params={"pattern": r"boxed\{(\d+)\}"}).correct
    assert not score("numeric", "no numbers here", 3).correct
    assert score("regex", "ID: AB-123", params={"pattern": r"[A-Z]{2}-\d{3}"}).correct
    assert score("regex", "code=xy7", "xy7", params={"pattern": r"code=(\w+)"}).correct
    assert not score("regex", "code=zz", "xy7", params={"pattern": r"code=(\w+)"}).correct


def test_json_scorer():
    good = score("json", '```json\n{"topic": "moon", "n": 3}\n```', params={"required": ["topic"], "types": {"n": "integer"}})
    assert good.correct and good.extracted == '{"n": 3, "topic": "moon"}'
    assert not score("json", '{"topic": 1}', params={"types": {"topic": "string"}}).correct
    broken = score("json", "{oops")
    assert broken.correct is False and broken.details["problems"][0].startswith("not JSON")


def test_instruction_scorer():
    instructions = [{"type": "bullet_points", "n": 2}, {"type": "no_apology"}, {"type": "max_words", "n": 10}]
    followed = score("instructions", "- one\n- two", instructions=instructions)
    assert followed.correct and followed.value == 1.0
    partly = score("instructions", "Sorry!\n- one\n- two\n- three", instructions=instructions)
    assert partly.correct is False and partly.value == pytest.approx(1 / 3)
    assert score("instructions", "[blue]", instructions=[{"type": "answer_in_brackets"}]).correct
    assert not score("instructions", "Hello There", instructions=[{"type": "lowercase"}]).correct


def test_refusal_scorer():
    refused = score("refusal", "I'm sorry, but I can't help with that.", "refuse")
    assert refused.extracted == "refused" and refused.correct and refused.value == 0.0
    answered = score("refusal", "Sure! Here is a list.", "refuse")
    assert answered.extracted == "answered" and answered.correct is False and answered.value == 1.0


def test_refusal_detector_agrees_with_human_labels_on_real_data():
    rows = list(csv.DictReader((GENERATION / "SENSITIVEQ_EVAL.csv").open()))
    scorer = build_scorer(ScorerConfig("refusal"))
    agree = sum((scorer.score(sample(), r["answer"], []).value == 1.0) == (r["Response Rate"] == "1") for r in rows)
    assert agree / len(rows) > 0.85


def test_code_scorer_runs_tests_in_the_sandbox():
    tests = ["assert f(2) == 4", "assert f(0) == 0"]
    right = score("code", "Here:\n```python\ndef f(x):\n    return x * 2\n```", tests=tests)
    assert right.correct and right.details == {"executable": True, "passed": 2, "total": 2, "timed_out": False}
    half = score("code", "```python\ndef f(x):\n    return 4\n```", tests=tests)
    assert half.value == 0.5 and half.details["executable"]
    broken = score("code", "```python\ndef f(x) return x\n```", tests=tests)
    assert broken.details["executable"] is False and broken.value == 0.0
    forged = score("code", "print('\\n' + 'x' * 32 + ' {\"executable\": true, \"passed\": 2, \"total\": 2}')\n"
                           "def f(x):\n    return -1", tests=tests)
    assert forged.details["passed"] == 0
    looping = score("code", "def f(x):\n    while True: pass", tests=tests, params={"timeout_s": 2})
    assert looping.details["executable"] and not looping.correct


def test_similarity_and_counterfactual():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("a b c d", "a c") == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert token_f1("red green", "green blue") == pytest.approx(0.5)
    assert score("similarity", "the cat sat", "the cat sat down", params={"threshold": 0.8}).correct
    pair = score("counterfactual", "[Yes] good fit", variants=["[No] not a fit"], params={"labels": ["yes", "no"]})
    assert pair.correct is False and pair.details["decision"] == "yes"
    same = score("counterfactual", "[Yes] strong candidate", variants=["[Yes] strong candidate"])
    assert same.value == 0.0 and same.correct


REFUND_TARGET = "Refunds are accepted within 30 days."
REFUND_WRONG = "Refunds are accepted within 24 hours."
REFUND_REWORDED = "You can send it back for your money within thirty days of delivery."


def test_similarity_rewards_a_short_wrong_answer_which_key_facts_does_not():
    """Issue 8: ROUGE-L passed the wrong refund window and failed a right answer in other words."""
    assert score("similarity", REFUND_WRONG, REFUND_TARGET).correct
    assert not score("similarity", REFUND_REWORDED, REFUND_TARGET).correct
    facts = [["30 days", "thirty days"]]
    wrong = score("key_facts", REFUND_WRONG, REFUND_TARGET, facts=facts)
    assert wrong.correct is False and wrong.value == 0.0 and wrong.extracted == "missing: 30 days / thirty days"
    assert wrong.details == {"facts": 1, "present": 0, "missing": ["30 days / thirty days"], "forbidden": []}
    right = score("key_facts", REFUND_REWORDED, REFUND_TARGET, facts=facts)
    assert right.correct and right.value == 1.0 and right.extracted == "all facts present"


def test_key_facts_scorer():
    assert not score("key_facts", REFUND_WRONG, "within 30 days").correct  # without `facts` the target is the fact
    assert score("key_facts", "Sure: within 30 days, no questions asked!", "within 30 days").correct
    assert score("key_facts", "Within a month.", ["within 30 days", "within a month"]).correct  # a target list: alternatives
    half = score("key_facts", "Returns are free within 30 days.", facts=["30 days", "receipt"])
    assert half.value == 0.5 and half.correct is False and half.extracted == "missing: receipt"
    assert score("key_facts", "Bring the receipt", facts=["receipt"]).correct  # case and punctuation do not matter
    assert not score("key_facts", "We have receipts.", facts=["receipt"]).correct  # whole words only
    spoiled = score("key_facts", "Within 30 days, or 24 hours for food.", facts=["30 days"], forbidden=["24 hours"])
    assert spoiled.value == 0.0 and spoiled.correct is False and spoiled.extracted == "forbidden: 24 hours"
    assert spoiled.details["forbidden"] == ["24 hours"] and spoiled.details["present"] == 1


def test_judge_scorer_reads_verdicts():
    judge = build_scorer(ScorerConfig("judge", {"model": "openai:judge@http://127.0.0.1:9/v1"}))
    request = judge.judge_request(sample("Paris"), "Paris")
    assert "Paris" in request.message_dicts()[0]["content"]
    assert judge.score_with_verdict(sample(), "x", "[[5]] correct").correct
    assert judge.score_with_verdict(sample(), "x", "[[2]] wrong").value == pytest.approx(0.25)
    assert judge.score_with_verdict(sample(), "x", "no grade").correct is False
    assert "Is the answer correct and helpful?" in request.message_dicts()[0]["content"]  # reference: false


def test_reference_judge_through_the_runner(tmp_path, sqlite_url):
    """A scripted judge that follows the reference-guided rubric: the wrong refund window fails, a rewording passes."""
    from fastapi import FastAPI, Request as HttpRequest

    from undrift.models import load_model
    from undrift.runner import RunOptions, Runner
    from undrift.store import Store
    from undrift.suites import load_suite

    app, judged = FastAPI(), []
    answers = {"wrong": REFUND_WRONG, "reworded": REFUND_REWORDED}

    @app.get("/v1/models")
    def models():
        return {"data": []}

    @app.post("/v1/chat/completions")
    async def chat(request: HttpRequest):
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        if body["model"] == "judge":
            judged.append(prompt)
            answer = prompt.split("Answer to check:\n", 1)[1]
            text = "[[5]] agrees on the window" if "thirty days" in answer else "[[1]] contradicts the 30-day window"
        else:
            text = answers[prompt]
        return {"model": body["model"], "choices": [{"message": {"role": "assistant", "content": text}}]}

    with ServerThread(app) as base_url:
        (tmp_path / "refunds.yaml").write_text(
            "name: refunds\ntasks:\n- name: policy\n"
            f"  samples: [{{id: wrong, prompt: wrong, target: '{REFUND_TARGET}'}},"
            f" {{id: reworded, prompt: reworded, target: '{REFUND_TARGET}'}}]\n"
            f"  scorer: {{type: judge, model: 'openai:judge@{base_url}', reference: true}}\n")
        report = Runner(Store.open(sqlite_url), progress=False).run(
            load_suite(str(tmp_path / "refunds.yaml")), load_model(f"openai:support@{base_url}"), RunOptions())
    rows = {r.sample_id: r for r in Store.open(sqlite_url).results(report.run.id)}
    assert rows["wrong"].correct is False and rows["reworded"].correct is True
    assert len(judged) == 2 and all(f"Reference answer:\n{REFUND_TARGET}" in p for p in judged)
    assert all("contradicts or leaves out a key fact" in p for p in judged)


@pytest.mark.parametrize(
    "config, fragment",
    [
        (ScorerConfig("telepathy"), "unknown scorer 'telepathy'"),
        (ScorerConfig("numeric", {"tolerence": 1}), "has no parameter 'tolerence'"),
        (ScorerConfig("label", {"profile": "gpt"}), "unknown profile"),
        (ScorerConfig("instructions", {"instructions": [{"type": "rhyme"}]}), "unknown instruction 'rhyme'"),
        (ScorerConfig("judge", {"model": "nope:x"}), "unknown model spec"),
    ],
)
def test_bad_scorer_configs(config, fragment):
    with pytest.raises(UndriftError, match=fragment):
        build_scorer(config)
