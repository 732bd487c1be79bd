"""The whole monitoring loop on the real bundled model (marked `integration`; runs in CI too).

A watch on `undrift serve`; the served model is silently replaced (int8 and a hidden system prompt, same model id);
the next tick detects it, opens one alert and posts it to a real local webhook; once the original model is back, the
tick after resolves it.  The calls each tick spent are printed next to the suite's size (`pytest -s`).
"""

import json
import subprocess

import pytest
from helpers import cli_argv, free_port, undrift, wait_for_port
from scripted_http import WebhookReceiver

pytestmark = pytest.mark.integration

CHANGED = "bundled:smollm2?quant=int8&system=You are a concise assistant. Keep answers short."
POLICY = "rules:\n  - metric: response_rate\n    no_significant_drop: true\n  - metric: nfr\n    max: 0.05\n"


class Served:
    """`undrift serve SPEC --name smollm2` on a fixed port, so that a swap is invisible in the model id.  Each spec
    keeps its own store: `serve` refuses to register a second spec under a name, and a provider's swap is silent."""

    def __init__(self, spec: str, port: int, cwd):
        self.log = open(cwd / f"serve-{port}.log", "ab")  # a file, not a pipe nobody reads: a full pipe blocks
        self.process = subprocess.Popen(cli_argv("serve", spec, "--name", "smollm2", "--port", str(port), "--db",
                                                 str(cwd / f"serve-{abs(hash(spec))}.db")),
                                        cwd=cwd, stdout=self.log, stderr=self.log)
        try:
            wait_for_port(port, timeout=300)
        except TimeoutError:
            self.stop()
            raise AssertionError((cwd / f"serve-{port}.log").read_text(errors="replace")[-2000:]) from None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def _tick(cwd):
    result = undrift("watch", "run", "live", "--json", "-q", cwd=cwd, timeout=900)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)[0]


def test_a_silent_swap_behind_serve_opens_one_alert_and_its_reversal_resolves_it(tmp_path):
    port = free_port()
    (tmp_path / "policy.yaml").write_text(POLICY)
    served = Served("bundled:smollm2", port, tmp_path)
    with WebhookReceiver() as hook:
        try:
            added = undrift("watch", "add", "live", "--model", f"openai:smollm2@http://127.0.0.1:{port}/v1",
                            "--suite", "drift", "--tasks", "opinion", "--every", "6h", "--policy", "policy.yaml",
                            "--alert-webhook", hook.url, cwd=tmp_path)
            assert added.returncode == 0, added.stderr
            code, baseline = _tick(tmp_path)
            assert code == 0 and baseline["tick"]["status"] == "baseline"
            code, calm = _tick(tmp_path)
            assert code == 0 and calm["tick"]["status"] == "passed" and not calm["tick"]["events"]
            served.stop()

            served = Served(CHANGED, port, tmp_path)
            code, swapped = _tick(tmp_path)
            tick = swapped["tick"]
            assert code == 1 and tick["status"] == "failed" and swapped["alert_event"] == "opened"
            change = next(e for e in tick["events"] if e["kind"] == "fingerprint")
            assert change["moved"]  # the canaries saw it, whatever the server says
            assert [p["event"] for p in hook.received].count("opened") == 1
            opened = next(p for p in hook.received if p["event"] == "opened")
            assert opened["failed_rules"] and opened["flips"] and opened["command"].startswith("undrift compare")
            served.stop()

            served = Served("bundled:smollm2", port, tmp_path)
            code, back = _tick(tmp_path)
            assert code == 0 and back["alert_event"] == "resolved"
            assert [p["event"] for p in hook.received].count("resolved") == 1
        finally:
            served.stop()
    suite_size = 12  # the opinion task of the drift suite
    for label, outcome in (("baseline", baseline), ("unchanged", calm), ("swapped", swapped), ("restored", back)):
        t = outcome["tick"]
        print(f"\n{label:>9} tick: {t['calls']} calls (12 for the canaries: 6 answers, 6 first-token logprobs) for a "
              f"suite of {suite_size}; check: {t['check_decision']}; tokens {t['tokens_in']} in, {t['tokens_out']} out")
