"""Code tasks never run without isolation by accident: no sandbox is one line and exit 2 unless
`--allow-unsandboxed` is given, and the isolation a run used is recorded with it and shown by `show`."""

import json

from helpers import undrift


def test_code_runs_only_in_a_sandbox_unless_allowed(tmp_path):
    model = "echo:?text=def f(): return 1"
    args = ("run", "drift", "--model", model, "--tasks", "code", "--limit", "2", "-q")
    nowhere = {"UNDRIFT_BWRAP": str(tmp_path / "no-bwrap")}

    refused = undrift(*args, "--as", "refused", cwd=tmp_path, env=nowhere)
    assert refused.returncode == 2 and "--allow-unsandboxed" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    listed = undrift("runs", "--json", cwd=tmp_path)
    assert "refused" not in listed.stdout  # nothing was filed

    allowed = undrift(*args, "--as", "unsafe", "--allow-unsandboxed", cwd=tmp_path, env=nowhere)
    assert allowed.returncode == 0, allowed.stderr
    shown = undrift("show", "unsafe", cwd=tmp_path)
    assert "sandbox none: code ran without isolation" in " ".join(shown.stdout.split())

    boxed = undrift(*args, "--as", "boxed", "--json", cwd=tmp_path)
    assert boxed.returncode == 0, boxed.stderr
    assert json.loads(boxed.stdout)["run"]["config"]["sandbox"].startswith("bubblewrap")
    assert "sandbox bubblewrap" in " ".join(undrift("show", "boxed", cwd=tmp_path).stdout.split())

    plain = undrift("run", "drift", "--model", model, "--tasks", "primes", "--limit", "1", "--as", "plain", "--json",
                    "-q", cwd=tmp_path, env=nowhere)  # no code, no sandbox needed
    assert plain.returncode == 0 and "sandbox" not in json.loads(plain.stdout)["run"]["config"]
