"""Built-in suites are deterministic by seed; suite files load, and every mistake in one is a one-line error."""

import json

import pytest

from helpers import EXAMPLE
from undrift.errors import UndriftError
from undrift.suites import load_suite
from undrift.suites.builtin.drift import is_happy, is_prime



def test_builtin_suites_are_deterministic_by_seed():
    assert load_suite("drift", seed=1).digest() == load_suite("drift", seed=1).digest()
    assert load_suite("drift", seed=1).digest() != load_suite("drift", seed=2).digest()
    assert load_suite("bias").digest() == load_suite("bias").digest()


def test_drift_suite_targets_are_right():
    suite = load_suite("drift")
    assert {t.name for t in suite.tasks} == {"primes", "happy_numbers", "sensitive", "opinion", "code", "instructions",
                                             "arithmetic"}
    for sample in suite.task("primes").samples:
        n = int(sample.id.split("-")[1])
        assert (sample.target == "yes") == is_prime(n)
        assert sample.messages[0]["content"] == (
            f'Is {n} a prime number? Think step by step and then answer "[Yes]" or "[No]".')
    for sample in suite.task("happy_numbers").samples:
        _, _, low, high = sample.id.split("-")
        assert sample.target == sum(is_happy(n) for n in range(int(low), int(high) + 1))
    assert is_happy(7) and is_happy(19) and not is_happy(4)


def test_builtin_code_tests_accept_a_correct_solution():
    from undrift.scoring import build_scorer

    task = load_suite("drift").task("code")
    sample = next(s for s in task.samples if s.id == "code-sum_to")
    result = build_scorer(task.scorer).score(sample, "def sum_to(n):\n    return n * (n + 1) // 2", [])
    assert result.correct


def test_bias_suite_pairs_differ_only_in_the_swap():
    for task in load_suite("bias").tasks:
        for sample in task.samples:
            first, second = sample.data["swap"]
            mine, twin = sample.messages[0]["content"], sample.counterfactual[0]["content"]
            assert mine != twin
            for key in first:
                mine, twin = mine.replace(str(first[key]), "§"), twin.replace(str(second[key]), "§")
            assert mine == twin


def test_example_suite_file_loads():
    suite = load_suite(str(EXAMPLE))
    assert suite.name == "support"
    refunds = suite.task("refunds")
    assert refunds.samples[0].messages[0]["role"] == "system"
    assert refunds.decoding.max_tokens == 64
    assert any(s.slices for s in refunds.samples)


def write(tmp_path, text, samples=None):
    (tmp_path / "suite.yaml").write_text(text)
    if samples is not None:
        (tmp_path / "s.jsonl").write_text(samples)
    return str(tmp_path / "suite.yaml")


@pytest.mark.parametrize(
    "yaml_text, samples, fragment",
    [
        ("name: x\ntasks: [", None, "not valid YAML"),
        ("- just a list", None, "a suite file is a mapping"),
        ("name: x\ntasks: []", None, "`tasks` must be a non-empty list"),
        ("name: x\ncolour: red\ntasks: [{name: t}]", None, "unknown key 'colour'"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: exact}", '{"id": 1, "prompt": "hi"}\n{oops', "s.jsonl line 2: not JSON"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: exact}", '{"prompt": "hi"}', "missing `id`"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: magic}", '{"id": 1, "prompt": "hi"}', "unknown scorer 'magic'"),
        ("name: x\ntasks:\n- {name: t, samples: nope.jsonl, scorer: exact}", None, "samples file 'nope.jsonl' does not exist"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: exact, template: 'Hi {name}'}", '{"id": 1}', "needs field 'name'"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: exact, decoding: {temp: 1}}", '{"id": 1, "prompt": "a"}', "unknown decoding parameter 'temp'"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: exact}", '{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}', "used twice"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: key_facts}", '{"id": 1, "prompt": "a", "target": "x"}\n{"id": 2, "prompt": "b"}',
         r"task 't': s.jsonl line 2: sample '2' has neither `facts` nor `target`"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: key_facts}", '{"id": 1, "prompt": "a", "facts": "x"}',
         r"sample '1' has a bad `facts`"),
        ("name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: {type: judge, model: 'openai:j@http://h/v1', reference: true}}",
         '{"id": 1, "prompt": "a"}', r"sample '1' has no `target`, which a reference-guided judge needs"),
    ],
)
def test_malformed_suite_files(tmp_path, yaml_text, samples, fragment):
    with pytest.raises(UndriftError, match=fragment):
        load_suite(write(tmp_path, yaml_text, samples))


def test_label_target_outside_the_labels_is_refused(tmp_path):
    """Issue 8: a label target that no response can ever match made every answer wrong without a word."""
    path = write(tmp_path, "name: x\ntasks:\n- {name: refunds, samples: s.jsonl, scorer: {type: label, labels: ['Yes', 'No']}}",
                 '{"id": "r1", "prompt": "a", "target": "YES"}\n{"id": "r2", "prompt": "b", "target": "yes."}')
    with pytest.raises(UndriftError) as error:
        load_suite(path)
    message = str(error.value)
    assert message == (f"{path}: task 'refunds': s.jsonl line 2: sample 'r2' has target 'yes.', which is not one of "
                       "the task's labels (yes, no): fix the target or add it to `labels`")
    profile = write(tmp_path, "name: x\ntasks:\n- {name: p, samples: s.jsonl, scorer: {type: label, profile: llmdrift}}",
                    '{"id": "a", "prompt": "a", "target": "[Yes]"}\n{"id": "b", "prompt": "b", "target": "maybe"}')
    with pytest.raises(UndriftError, match="sample 'b' has target 'maybe', which is not one of the task's labels"):
        load_suite(profile)
    unquoted = write(tmp_path, "name: x\ntasks:\n- {name: t, samples: s.jsonl, scorer: {type: label, labels: [Yes, No]}}")
    with pytest.raises(UndriftError, match="YAML reads unquoted Yes/No as true/false: quote the labels"):
        load_suite(unquoted)


def test_unknown_suite_name():
    with pytest.raises(UndriftError, match="unknown suite 'drfit'"):
        load_suite("drfit")
    with pytest.raises(UndriftError, match="does not exist"):
        load_suite("missing.yaml")


def test_template_and_counterfactual_rows(tmp_path):
    rows = [{"id": "a", "name": "Ana", "target": "yes", "slices": "f", "counterfactual": {"name": "Bo"}}]
    path = write(tmp_path, "name: x\ntasks:\n- name: t\n  samples: s.jsonl\n  scorer: {type: counterfactual}\n"
                 "  template: 'Hire {name}?'\n", "\n".join(json.dumps(r) for r in rows))
    sample = load_suite(path).task("t").samples[0]
    assert sample.messages[0]["content"] == "Hire Ana?" and sample.counterfactual[0]["content"] == "Hire Bo?"
    assert sample.slices == ("f",)
