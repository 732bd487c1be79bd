"""The real embedded model, SmolLM2-135M-Instruct, end to end (marked `integration`; runs in CI too)."""

import json
import os
import subprocess

import pytest
from helpers import cli_argv, free_port, undrift, wait_for_port

from undrift.models import Decoding, Request, load_model
from undrift.models.gguf_cache import bundled_gguf

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smol():
    return load_model("bundled:smollm2")


def test_bundled_model_answers_and_is_fingerprinted(smol):
    answer = smol.generate([Request.chat([{"role": "user", "content": "What is the capital of France?"}],
                                         Decoding(max_tokens=20))])[0]
    assert "Paris" in answer.text
    fingerprint = smol.fingerprint()
    assert fingerprint.backend == "bundled" and len(fingerprint.weights_sha256) == 64


def test_gguf_spec_on_the_same_file_gives_the_same_weights(smol):
    assert load_model(f"gguf:{bundled_gguf()}").fingerprint().weights_sha256 == smol.fingerprint().weights_sha256


def test_silent_update_changes_fingerprint_and_answers(smol):
    updated = load_model("bundled:smollm2?quant=int8&system=You are a concise assistant.")
    assert updated.fingerprint().identity() != smol.fingerprint().identity()
    prompts = [Request.chat([{"role": "user", "content": p}], Decoding(max_tokens=24))
               for p in ["Is 7919 a prime number? Answer [Yes] or [No].", "Name three colours.", "What is 12 * 11?"]]
    assert [g.text for g in updated.generate(prompts)] != [g.text for g in smol.generate(prompts)]


def test_cli_run_on_the_bundled_model(tmp_path):
    result = undrift("run", "drift", "--model", "bundled:smollm2", "--tasks", "primes,code,sensitive,opinion",
                     "--limit", "3", "--json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    tasks = {t["task"]: t for t in data["tasks"]}
    assert set(tasks) == {"primes", "code", "sensitive", "opinion"}
    assert "executable" in tasks["code"]["rates"] and "responded" in tasks["opinion"]["rates"]
    again = undrift("run", "drift", "--model", "bundled:smollm2", "--tasks", "primes,code,sensitive,opinion",
                    "--limit", "3", "--json", "-q", cwd=tmp_path)
    assert json.loads(again.stdout)["from_cache"] == 12 and json.loads(again.stdout)["generated"] == 0


def test_undrift_serve_with_the_official_client(tmp_path):
    from openai import OpenAI

    port = free_port()
    server = subprocess.Popen(cli_argv("serve", "bundled:smollm2", "--port", str(port)),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, timeout=120)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=os.environ.get("OPENAI_API_KEY", "unused"))
        reply = client.chat.completions.create(model="bundled:smollm2", max_tokens=16,
                                               messages=[{"role": "user", "content": "What is the capital of France?"}])
        assert "Paris" in reply.choices[0].message.content and reply.system_fingerprint.startswith("fp_")
    finally:
        server.terminate()
        server.wait(20)


def test_compare_gate_and_check_catch_the_silent_update(tmp_path):
    """The demo's story on the real model: the int8 + hidden-prompt copy stops answering the survey."""
    updated = "bundled:smollm2?quant=int8&system=You are a concise assistant. Keep answers short."
    for spec, name in (("bundled:smollm2", "base"), (updated, "silent")):
        made = undrift("run", "drift", "--model", spec, "--as", name, "--tasks", "opinion", "-q",
                       cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    compared = json.loads(undrift("compare", "base", "silent", "--json", cwd=tmp_path).stdout)
    opinion = compared["tasks"]["opinion"]
    assert compared["shared"] == 12  # the whole survey
    assert opinion["response_rate"]["new"] < opinion["response_rate"]["old"] and opinion["nfr"] > 0.05
    assert any(f["kind"] == "negative" for f in compared["flips"])
    (tmp_path / "policy.yaml").write_text("rules:\n  - metric: response_rate\n    max_drop: 0.05\n")
    gated = undrift("gate", "base", "silent", "--policy", "policy.yaml", cwd=tmp_path)
    assert gated.returncode == 1 and "response_rate fell" in gated.stdout
    checked = undrift("check", "base", "--model", updated, "--tolerance", "0.05", "--json", "-q", cwd=tmp_path)
    data = json.loads(checked.stdout)
    assert checked.returncode == {"unchanged": 0, "changed": 1, "undecided": 3}[data["decision"]], checked.stderr
    assert data["decision"] != "unchanged" and data["difference"] < 0 and data["samples"] <= 12
    assert data["churn_decision"] == "above"  # a deterministic model's answers moved: more than its churn


def test_train_a_version_of_the_real_model_and_run_it(tmp_path):
    (tmp_path / "new.jsonl").write_text("\n".join(json.dumps({"prompt": f"Code word for {w}?", "completion": "glorp"})
                                                  for w in ["sun", "moon", "star", "sky"]) + "\n")
    trained = undrift("train", "--base", "bundled:smollm2", "--data", "new.jsonl", "--out", "smol-v2", "--out-dir",
                      "smol-v2", "--epochs", "1", "--batch-size", "4", "--json", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    spec = json.loads(trained.stdout)["version"]["spec"]
    assert spec.startswith("bundled:smollm2+lora:")
    ran = undrift("run", "drift", "--model", spec, "--as", "smol-v2", "--tasks", "primes", "--limit", "2", "--json",
                  "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    fingerprint = json.loads(ran.stdout)["run"]["fingerprint"]
    assert fingerprint["adapter_sha256"] and fingerprint["backend"] == "bundled"
    card = undrift("card", "smol-v2", cwd=tmp_path)
    assert card.returncode == 0 and "| epochs | `1` |" in card.stdout
