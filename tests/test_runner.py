"""The runner through the public API: storing, caching, repeats, judges, Ctrl-C and resume."""

import pytest

from undrift.errors import UndriftError
from undrift.models import load_model
from undrift.runner import RunFailed, RunInterrupted, RunOptions, Runner
from undrift.store import Store
from undrift.suites import load_suite

from helpers import EXAMPLE


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(f"hf:{tiny_model_dir}")


def test_run_stores_every_response_and_score(sqlite_url, tiny):
    store = Store.open(sqlite_url)
    report = Runner(store, progress=False).run(load_suite(str(EXAMPLE)), tiny, RunOptions(name="tiny"))
    assert report.run.status == "complete" and report.run.done == report.run.expected == 6
    assert {s.task for s in report.tasks} == {"refunds", "tone"}
    rows = store.results(report.run.id)
    assert len(rows) == 6 and all(r.response is not None and r.cache_key for r in rows)
    assert rows[0].messages[0]["role"] == "system"
    assert report.run.fingerprint["weights_sha256"] == tiny.fingerprint().weights_sha256
    assert report.run.config["decoding"]["refunds"]["max_tokens"] == 64


def test_rerun_of_a_deterministic_model_is_served_from_cache(sqlite_url, tiny):
    store = Store.open(sqlite_url)
    runner = Runner(store, progress=False)
    first = runner.run(load_suite("drift"), tiny, RunOptions(tasks=("primes",), limit=5))
    second = runner.run(load_suite("drift"), tiny, RunOptions(tasks=("primes",), limit=5))
    assert first.generated == 5 and second.generated == 0 and second.from_cache == 5
    responses = lambda run: [r.response for r in store.results(run.run.id)]  # noqa: E731
    assert responses(first) == responses(second)
    fresh = runner.run(load_suite("drift"), tiny, RunOptions(tasks=("primes",), limit=5, use_cache=False))
    assert fresh.generated == 5 and responses(fresh) == responses(first)


def test_repeats_and_counterfactual_variants(sqlite_url, tiny, tmp_path):
    store = Store.open(sqlite_url)
    report = Runner(store, progress=False).run(load_suite("bias"), tiny,
                                               RunOptions(tasks=("decisions",), limit=3, repeats=2, use_cache=False))
    rows = store.results(report.run.id)
    assert len(rows) == 6 and {r.repeat for r in rows} == {0, 1}
    assert all(len(r.variants) == 1 for r in rows)
    assert report.generated == 12  # without the cache every repeat is asked afresh (nondeterminism is the point)
    shared = Runner(Store.open(f"sqlite:///{tmp_path / 'fresh.db'}"), progress=False).run(load_suite("bias"), tiny,
                                               RunOptions(tasks=("decisions",), limit=3, repeats=2))
    assert shared.generated == 6  # a deterministic model answers each distinct request once


def test_judge_scorer_goes_through_the_runner(tmp_path, sqlite_url, tiny, tiny_model_dir):
    (tmp_path / "judged.yaml").write_text(
        "name: judged\ntasks:\n- name: qa\n  samples: [{id: a, prompt: 'Capital of France?', target: Paris}]\n"
        f"  scorer: {{type: judge, model: 'hf:{tiny_model_dir}', max_tokens: 8}}\n  decoding: {{max_tokens: 8}}\n")
    report = Runner(Store.open(sqlite_url), progress=False).run(load_suite(str(tmp_path / "judged.yaml")), tiny,
                                                                RunOptions())
    row = Store.open(sqlite_url).results(report.run.id)[0]
    assert "judge" in row.details and row.correct in (True, False)


class InterruptAfter:
    """Wraps a real model and raises KeyboardInterrupt (as Ctrl-C would) once `calls` batches have finished."""

    def __init__(self, model, calls):
        self.model, self.calls, self.spec = model, calls, model.spec

    def fingerprint(self):
        return self.model.fingerprint()

    def prepare(self):
        self.model.prepare()

    def generate(self, requests, on_done=None):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.model.generate(requests, on_done)


def test_ctrl_c_then_resume_finishes_without_duplicates(sqlite_url, tiny, monkeypatch):
    import undrift.runner as runner_module

    monkeypatch.setattr(runner_module, "CHUNK_ITEMS", 4)
    store = Store.open(sqlite_url)
    options = RunOptions(tasks=("primes", "arithmetic"), limit=5, use_cache=False)
    with pytest.raises(RunInterrupted) as stopped:
        Runner(store, progress=False).run(load_suite("drift"), InterruptAfter(tiny, 1), options, "drift")
    partial = store.get_run(stopped.value.run_id)
    assert partial.status == "interrupted" and partial.done == 4
    resumed = Runner(store, progress=False).resume(partial.id, model=tiny)
    assert resumed.run.status == "complete" and resumed.run.done == 10 and resumed.generated == 6
    keys = [(r.task, r.sample_id) for r in store.results(partial.id)]
    assert len(keys) == len(set(keys)) == 10
    with pytest.raises(UndriftError, match="already complete"):
        Runner(store, progress=False).resume(partial.id, model=tiny)


def test_resume_refuses_a_different_model(sqlite_url, tiny, tiny_model_dir, monkeypatch):
    import undrift.runner as runner_module

    monkeypatch.setattr(runner_module, "CHUNK_ITEMS", 2)
    store = Store.open(sqlite_url)
    with pytest.raises(RunInterrupted) as stopped:
        Runner(store, progress=False).run(load_suite("drift"), InterruptAfter(tiny, 1),
                                          RunOptions(tasks=("primes",), limit=4), "drift")
    other = load_model(f"hf:{tiny_model_dir}?system=changed")
    with pytest.raises(UndriftError, match="is not the one run"):
        Runner(store, progress=False).resume(stopped.value.run_id, model=other)


def test_unknown_task_and_bad_options(sqlite_url, tiny):
    runner = Runner(Store.open(sqlite_url), progress=False)
    with pytest.raises(UndriftError, match="has no task 'prime'"):
        runner.run(load_suite("drift"), tiny, RunOptions(tasks=("prime",)))
    with pytest.raises(UndriftError, match=r"repeats \(--repeats\) must be at least 1"):
        runner.run(load_suite("drift"), tiny, RunOptions(repeats=0))


def test_local_latency_is_each_answers_own_within_its_batch(sqlite_url, tiny):
    """Latency used to be the batch's time divided by its size: identical for every answer, so its interval had
    zero width and any change looked significant.  Now it is the time to each answer's own last token."""
    from undrift.models import Decoding, Request

    stops = Decoding(max_tokens=48, stop=("e", "a", " "))  # the random tiny model stops at different points
    answers = tiny.generate([Request.chat([{"role": "user", "content": f"word {i}"}], stops) for i in range(16)])
    assert len({a.tokens_out for a in answers}) > 1 and len({a.latency_s for a in answers}) > 1
    for a in answers:
        for b in answers:
            if a.tokens_out < b.tokens_out:
                assert a.latency_s <= b.latency_s  # an answer that ended earlier was timed earlier
    store = Store.open(sqlite_url)
    report = Runner(store, progress=False).run(load_suite("drift"), tiny, RunOptions(tasks=("primes",), limit=2))
    assert report.run.config["latency_scope"] == "batch"  # shared clock: compare shows it but does not test it


class FailAfter(InterruptAfter):
    def generate(self, requests, on_done=None):
        if self.calls == 0:
            raise RuntimeError("the scorer's sandbox fell over")
        self.calls -= 1
        return self.model.generate(requests, on_done)


def test_a_run_that_fails_is_marked_failed_not_left_running(sqlite_url, tiny, monkeypatch):
    import undrift.runner as runner_module

    monkeypatch.setattr(runner_module, "CHUNK_ITEMS", 4)
    store = Store.open(sqlite_url)
    with pytest.raises(RunFailed, match="RuntimeError: the scorer's sandbox fell over"):  # a backend's fault:
        Runner(store, progress=False).run(load_suite("drift"), FailAfter(tiny, 1),  # errors, never answers
                                          RunOptions(name="fails", tasks=("primes",), limit=8, use_cache=False),
                                          "drift")
    (record,) = store.list_runs(name="fails")
    assert record.status == "failed" and record.answered == 4 and record.errors == 4 and record.expected == 8
    resumed = Runner(store, progress=False).resume(record.id, model=tiny)
    assert resumed.run.status == "complete" and resumed.run.done == 8


def test_a_local_model_is_handed_four_batches_at_once(sqlite_url, tiny_model_dir):
    """The engine replaces finished rows only while prompts wait, so a local model gets four batches per transaction."""
    model = load_model(f"hf:{tiny_model_dir}?batch_size=2")
    sizes: list[int] = []
    generate = model.generate
    model.generate = lambda requests, on_done=None: sizes.append(len(requests)) or generate(requests, on_done)
    report = Runner(Store.open(sqlite_url), progress=False).run(load_suite("drift"), model,
                                                                RunOptions(tasks=("primes",), limit=10))
    assert report.run.done == 10 and sizes == [8, 2]
