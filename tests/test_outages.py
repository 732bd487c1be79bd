"""Errors are not answers: an outage or a malformed server is a failed run (exit 4), never a 0% model; errored
items stay out of every metric and flip, are retried on resume, and gate refuses runs that hold too many."""

import json

import pytest
from scripted_http import OK_BODY, ScriptedServer
from helpers import cli_argv, undrift

RUN_FAILED = 4


def _run(server, name, *extra, cwd, limit=6):
    return undrift("run", "drift", "--model", f"openai:m@{server.base_url}?retries=0", "--tasks", "primes",
                   "--limit", str(limit), "--as", name, "-q", *extra, cwd=cwd)


def _one_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _runs(cwd) -> dict:
    return {r["name"]: r for r in json.loads(undrift("runs", "--json", cwd=cwd).stdout)}


def _versions(cwd) -> set:
    return {v["name"] for v in json.loads(undrift("registry", "list", "--json", cwd=cwd).stdout)}


def test_an_outage_is_a_failed_run_not_a_regression_and_resume_retries_it(tmp_path):
    (tmp_path / "policy.yaml").write_text("rules:\n  - metric: nfr\n    max: 0.02\n")
    with ScriptedServer() as server:
        assert _run(server, "up", cwd=tmp_path).returncode == 0
        server.chat = (500, {"error": {"message": "internal error"}})
        down = _run(server, "down", cwd=tmp_path)
        assert down.returncode == RUN_FAILED, down.stdout + down.stderr
        line = _one_line(down)
        assert "6 of 6" in line and "failed" in line and "--resume" in line
        listed = _runs(tmp_path)["down"]
        assert listed["status"] == "failed" and listed["errors"] == 6
        assert "down" not in _versions(tmp_path)  # no evidence, no version

        shown = undrift("show", "down", cwd=tmp_path)
        assert shown.returncode == 0 and "6 errors" in shown.stdout and "failed" in shown.stdout
        tasks = json.loads(undrift("show", "down", "--json", cwd=tmp_path).stdout)["tasks"]
        assert tasks[0]["errors"] == 6 and tasks[0]["n"] == 0 and tasks[0]["accuracy"] is None  # not 0%

        gated = undrift("gate", "up", "down", "--policy", "policy.yaml", cwd=tmp_path)
        assert gated.returncode == 2 and "failed" in _one_line(gated) and "--allow-incomplete" in gated.stderr

        server.chat = (200, OK_BODY)
        resumed = undrift("run", "--resume", listed["id"], "--json", "-q", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        data = json.loads(resumed.stdout)
        assert data["run"]["status"] == "complete" and data["run"]["errors"] == 0 and data["run"]["done"] == 6
        assert data["generated"] == 6 and "down" in _versions(tmp_path)
        assert undrift("gate", "up", "down", "--policy", "policy.yaml", cwd=tmp_path).returncode == 0


def test_a_few_errors_are_counted_apart_and_left_out_of_metrics_and_flips(tmp_path):
    (tmp_path / "policy.yaml").write_text("rules:\n  - metric: nfr\n    max: 0.0\n  - metric: accuracy\n"
                                          "    max_drop: 0.0\n")
    with ScriptedServer() as server:
        assert _run(server, "old", cwd=tmp_path, limit=10).returncode == 0
        asked = json.loads(undrift("show", "old", "--json", "--samples", "10", cwd=tmp_path).stdout)["samples"]
        server.fail_prompts = (asked[0]["messages"][-1]["content"],)
        new = _run(server, "new", "--max-error-rate", "0.2", cwd=tmp_path, limit=10)
        assert new.returncode == 0, new.stderr
        run = _runs(tmp_path)["new"]
        assert run["status"] == "complete" and run["errors"] == 1 and run["done"] == 10
        task = json.loads(undrift("show", "new", "--json", cwd=tmp_path).stdout)["tasks"][0]
        old_task = json.loads(undrift("show", "old", "--json", cwd=tmp_path).stdout)["tasks"][0]
        assert task["errors"] == 1 and task["n"] == 9
        right = sum(s["correct"] for s in asked[1:])
        assert task["accuracy"] == pytest.approx(right / 9) and old_task["n"] == 10  # the error is no wrong answer
        compared = json.loads(undrift("compare", "old", "new", "--json", cwd=tmp_path).stdout)
        assert compared["shared"] == 9 and compared["tasks"]["primes"]["nfr"] == 0
        assert any("1 error" in w for w in compared["warnings"])
        gated = undrift("gate", "old", "new", "--policy", "policy.yaml", cwd=tmp_path)
        assert gated.returncode == 0, gated.stdout + gated.stderr
        assert "1 error" in gated.stdout


@pytest.mark.parametrize("body", [b"not json at all", {"choices": []}, [], {"choices": [{"message": "text"}]},
                                  {"no": "choices"}])
def test_a_malformed_200_is_an_error_not_a_traceback(tmp_path, body):
    with ScriptedServer(chat=(200, body)) as server:
        result = _run(server, "bad", cwd=tmp_path)
    assert result.returncode == RUN_FAILED, result.stdout + result.stderr
    assert "failed" in _one_line(result)
    run = _runs(tmp_path)["bad"]
    assert run["status"] == "failed" and run["errors"] == 6
    assert "bad" not in _versions(tmp_path)
    sample = json.loads(undrift("show", "bad", "--json", "--samples", "1", cwd=tmp_path).stdout)["samples"][0]
    assert "malformed" in sample["error"]


@pytest.mark.parametrize("models, fragment", [((500, {"error": "down"}), "HTTP 500"),
                                              ((200, b"<html>a web page</html>"), "not an OpenAI-compatible")])
def test_a_failing_models_endpoint_is_reported_and_nothing_written(tmp_path, models, fragment):
    with ScriptedServer(models=models) as server:
        result = _run(server, "x", cwd=tmp_path)
    assert result.returncode == 2 and fragment in _one_line(result)
    assert not (tmp_path / "undrift.db").exists()


def test_max_error_rate_is_checked(tmp_path):
    with ScriptedServer() as server:
        result = _run(server, "x", "--max-error-rate", "1.5", cwd=tmp_path)
    assert result.returncode == 2 and "--max-error-rate" in _one_line(result)


def test_a_full_disk_during_a_run_is_one_line_and_the_run_resumes_later(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: the store cannot grow while the run writes its answers."""
    import resource
    import subprocess

    from undrift.store import Store

    url = f"sqlite:///{tmp_path / 'undrift.db'}"
    Store.open(url).close()
    size = (tmp_path / "undrift.db").stat().st_size
    long_answer = {**OK_BODY, "choices": [{"message": {"role": "assistant", "content": "[Yes] " + "y" * 20000},
                                           "finish_reason": "stop"}]}

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 96 * 1024, size + 96 * 1024))

    with ScriptedServer(chat=(200, long_answer)) as server:
        model = f"openai:m@{server.base_url}?retries=0&concurrency=2"
        result = subprocess.run(cli_argv("run", "drift", "--model", model, "--tasks", "primes", "--limit", "40", "--as",
                                         "full", "--db", url, "-q"),
                                cwd=tmp_path, capture_output=True, text=True, timeout=120, preexec_fn=small_disk)
        assert result.returncode == 2, result.stdout + result.stderr
        line = _one_line(result)
        assert "cannot write" in line and "disk" in line and "[SQL" not in line and "yyyy" not in line
        (run,) = json.loads(undrift("runs", "--json", "--db", url, cwd=tmp_path).stdout)
        assert run["status"] in ("failed", "interrupted") and run["done"] < 40  # whole batches only, resumable
        resumed = undrift("run", "--resume", run["id"], "--db", url, "--json", "-q", cwd=tmp_path)
        assert resumed.returncode == 0 and json.loads(resumed.stdout)["run"]["done"] == 40, resumed.stderr
