"""What a backend can do is declared, not guessed from its scheme: `undrift serve` and `undrift train` refuse a
backend without the capability in one line, and take any backend with it, a plugin's included.  And no module reaches
into another's private names: what crosses a module boundary is public, so the protocols say everything it uses."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from helpers import cli_argv, cli_env, free_port, undrift, wait_for_port
from test_plugins import fake_distribution

SOURCE = Path(__file__).resolve().parents[1] / "src" / "undrift"

PLUGIN = '''\
from pathlib import Path

from undrift.models import Backend
from undrift.models.local import load_local_model

TINY = Backend("PATH", "a transformers folder, from a plugin",
               lambda spec, lazy: load_local_model(spec, Path(spec.target), lazy=lazy),
               servable=True, trainable=True, model_id=lambda spec: "tiny-plugin")
'''


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["serve", "echo:"], "`undrift serve` needs a local model whose weights it can run, from bundled:, gguf: or "
                             "hf:; echo: is not one (scripted:"),
        (["serve", "script:answers.jsonl"], "`undrift serve` needs a local model whose weights it can run"),
        (["serve", "openai:gpt-4o"], "openai: is not one (any OpenAI-compatible server"),
        (["train", "--base", "echo:", "--data", "new.jsonl", "--out", "v2"],
         "`undrift train` needs a local model whose weights it can train, from bundled:, gguf: or hf:; echo: is not "
         "one (scripted:"),
        (["train", "--base", "openai:gpt-4o", "--data", "new.jsonl", "--out", "v2"], "openai: is not one"),
        (["train", "--base", "hf:{tiny}", "--data", "new.jsonl", "--out", "v2", "--compat-from", "echo:",
          "--compat-loss", "focal"], "compatibility training (its old version) needs a local model"),
    ],
)
def test_serve_and_train_refuse_a_backend_without_weights_in_one_line(tmp_path, tiny_model_dir, args, fragment):
    (tmp_path / "answers.jsonl").write_text('{"default": "4"}\n')
    (tmp_path / "new.jsonl").write_text('{"prompt": "2+2?", "completion": "4"}\n')
    before = set(os.listdir(tmp_path))
    args = [arg.replace("{tiny}", str(tiny_model_dir)) for arg in args]
    result = undrift(*args, "--db", f"sqlite:///{tmp_path / 'u.db'}", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert set(os.listdir(tmp_path)) == before  # no store, no output folder


def test_a_plugin_backend_that_declares_servable_is_served(tmp_path, tiny_model_dir):
    site = fake_distribution(tmp_path / "site", "undrift-tiny", "[undrift.backends]\ntinyplug = tinyplug:TINY\n")
    (site / "tinyplug.py").write_text(PLUGIN)
    port = free_port()
    server = subprocess.Popen(cli_argv("serve", f"tinyplug:{tiny_model_dir}", "--port", str(port), "--db",
                                       f"sqlite:///{tmp_path / 'u.db'}"), cwd=tmp_path, env=cli_env(None, (site,)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}/v1"
        assert [card["id"] for card in httpx.get(f"{base}/models").json()["data"]] == ["tiny-plugin"]
        answer = httpx.post(f"{base}/chat/completions", timeout=60, json={
            "model": "tiny-plugin", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] > 0
    finally:
        server.terminate()
        server.wait(timeout=10)
    refused = undrift("serve", "echo:", cwd=tmp_path, python_path=(site,))
    assert "from bundled:, gguf:, hf: or tinyplug:; echo: is not one" in refused.stderr


def private_imports(path: Path) -> list[str]:
    """`from undrift.x import _name` and `module._name` (a name imported from undrift) in one source file."""
    tree = ast.parse(path.read_text(), str(path))
    found, imported = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "undrift"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(SOURCE)}:{node.lineno} imports {alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            imported.update(alias.asname or alias.name.split(".")[0] for alias in node.names
                            if alias.name.split(".")[0] == "undrift")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.relative_to(SOURCE)}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [hit for path in sorted(SOURCE.rglob("*.py")) for hit in private_imports(path)]
    assert found == [], "make these public (documented) or move them to where they are used:\n" + "\n".join(found)
