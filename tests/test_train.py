"""Training new versions on the tiny model: recipes, determinism, checkpoints and resume, bad input."""

import json

import pytest
from helpers import undrift

from undrift.errors import UndriftError
from undrift.hashing import sha256_files
from undrift.train import TrainConfig, train
from undrift.train.trainer import TrainingInterrupted


@pytest.fixture
def data(tmp_path):
    new = tmp_path / "new.jsonl"
    new.write_text("\n".join(json.dumps({"prompt": f"Code word for {w}?", "completion": w[::-1]})
                             for w in ["apple", "stone", "river", "cloud", "green", "tiger", "piano", "lemon"]) + "\n")
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": f"Is {n} even?"},
                                                      {"role": "assistant", "content": "yes" if n % 2 == 0 else "no"}]})
                             for n in range(8)) + "\n")
    return new, old


def _config(tiny_model_dir, data, tmp_path, name, **extra):
    new, old = data
    settings = dict(epochs=2, batch_size=4, lr=5e-3, seed=7)
    settings.update(extra)
    return TrainConfig(base=f"hf:{tiny_model_dir}", data=str(new), name=name, out_dir=str(tmp_path / name),
                       **settings)


def _adapter_hash(result):
    return sha256_files(sorted(result.adapter_dir.glob("adapter_model.*")))


def test_same_seed_same_adapter_and_the_loss_falls(tiny_model_dir, data, tmp_path):
    first = train(_config(tiny_model_dir, data, tmp_path, "a", epochs=6), progress=False)
    second = train(_config(tiny_model_dir, data, tmp_path, "b", epochs=6), progress=False)
    assert _adapter_hash(first) == _adapter_hash(second)
    assert first.steps == 12 and first.losses[-1] < first.losses[0]
    other = train(_config(tiny_model_dir, data, tmp_path, "c", seed=8), progress=False)
    assert _adapter_hash(other) != _adapter_hash(first)
    assert first.spec.endswith("+lora:" + str(first.adapter_dir.resolve()))


@pytest.mark.parametrize("loss", ["muscle", "focal", "kl"])
def test_compatibility_recipes_train_and_record_themselves(tiny_model_dir, data, tmp_path, loss):
    new, old = data
    result = train(_config(tiny_model_dir, data, tmp_path, f"v-{loss}", replay=str(old), replay_ratio=0.5,
                           compat_from=f"hf:{tiny_model_dir}", compat_loss=loss), progress=False)
    assert result.recipe["compat_loss"] == loss and result.recipe["replay_ratio"] == 0.5
    assert set(result.data_hashes) >= {"data", "replay", "adapter"}
    if loss == "muscle":  # the plain update it distils from was trained first
        assert result.plain_new and "plain-new" in result.plain_new
    assert (result.adapter_dir / "adapter_config.json").exists()


def test_an_interrupted_run_resumes_to_the_same_adapter(tiny_model_dir, data, tmp_path, monkeypatch):
    whole = train(_config(tiny_model_dir, data, tmp_path, "whole", save_every=2, epochs=4), progress=False)
    from undrift.train import trainer  # `undrift.train` is the public function; the package is reached by name

    calls = {"n": 0}
    original = trainer.ProgressBar.advance

    def interrupt_after_three(self, n=1):
        if n:
            calls["n"] += 1
            if calls["n"] == 4:  # the first call is the resume offset; then three steps
                raise KeyboardInterrupt
        return original(self, n)

    monkeypatch.setattr(trainer.ProgressBar, "advance", interrupt_after_three)
    config = _config(tiny_model_dir, data, tmp_path, "cut", save_every=2, epochs=4)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(config, progress=False)
    assert stopped.value.step == 4 and not (tmp_path / "cut" / "adapter").exists()  # the 4th update was applied
    assert str(stopped.value) == (f"training was interrupted at step 4: the checkpoint in {stopped.value.out_dir} is "
                                  "kept; continue with the same call and resume=True (--resume)")
    assert any((tmp_path / "cut" / "checkpoints").glob("step-000004"))
    monkeypatch.setattr(trainer.ProgressBar, "advance", original)
    config.resume = True
    resumed = train(config, progress=False)
    assert _adapter_hash(resumed) == _adapter_hash(whole) and resumed.losses == whole.losses


def test_bad_recipes_are_refused_before_training(tiny_model_dir, data, tmp_path):
    with pytest.raises(UndriftError, match=r"needs compat_from \(--compat-from\)"):
        train(_config(tiny_model_dir, data, tmp_path, "x", compat_loss="muscle"), progress=False)
    with pytest.raises(UndriftError, match=r"unknown compat_loss \(--compat-loss\) 'l2'"):
        train(_config(tiny_model_dir, data, tmp_path, "x", compat_loss="l2", compat_from="bundled:smollm2"))
    with pytest.raises(UndriftError, match="needs anchor prompts"):
        train(_config(tiny_model_dir, data, tmp_path, "x", compat_loss="kl", compat_from="bundled:smollm2"))


def test_train_command_registers_and_refuses_bad_input(tiny_model_dir, data, tmp_path):
    new, old = data
    base = f"hf:{tiny_model_dir}"
    made = undrift("train", "--base", base, "--data", str(new), "--out", "v2", "--out-dir", "v2", "--epochs", "1",
                   "--json", "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    version = json.loads(made.stdout)["version"]
    assert version["kind"] == "trained" and version["recipe"]["epochs"] == 1
    assert version["parent"] is None and version["recipe"]["base"] == base  # no registered version has that spec
    card = undrift("card", "v2", cwd=tmp_path).stdout
    assert "parent version is unknown" in card and f"`{base}`" in card
    listed = json.loads(undrift("registry", "list", "--json", cwd=tmp_path).stdout)
    assert [v["name"] for v in listed] == ["v2"]

    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x"}\n')
    (tmp_path / "last.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    cases = [
        (["--data", "empty.jsonl"], "holds no training examples"),
        (["--data", "bad.jsonl"], "line 1: expected"),
        (["--data", "last.jsonl"], "last message must be the assistant"),
        (["--data", str(new), "--out", "v2"], "already registered"),
        (["--data", str(new), "--base", f"hf:{tmp_path}"], "has no config.json"),
        (["--data", str(new), "--base", "openai:gpt-4o"], "needs a local model whose weights it can train"),
        (["--data", str(new), "--parent", "nope"], "no registered version or alias 'nope'"),
    ]
    for args, fragment in cases:
        full = ["train", "--base", base, "--out", "v3", "--out-dir", "v3", "-q", *args]
        result = undrift(*full, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert [v["name"] for v in json.loads(undrift("registry", "list", "--json", cwd=tmp_path).stdout)] == ["v2"]
    assert not (tmp_path / "v3").exists()


def test_train_records_the_parent_version_it_started_from(tiny_model_dir, data, tmp_path):
    new, _ = data
    base = f"hf:{tiny_model_dir}"

    def train_(name, *extra):
        return undrift("train", "--base", base, "--data", str(new), "--out", name, "--out-dir", name, "--epochs", "1",
                       "--json", "-q", *extra, cwd=tmp_path)

    assert undrift("registry", "register", "v1", "--spec", base, cwd=tmp_path).returncode == 0
    guessed = train_("v2")
    assert guessed.returncode == 0, guessed.stderr
    assert json.loads(guessed.stdout)["version"]["parent"] == "v1"  # the one version with the base spec
    assert undrift("registry", "alias", "production", "v2", cwd=tmp_path).returncode == 0
    named = train_("v3", "--parent", "production")
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["version"]["parent"] == "v2"  # the alias, resolved to the version
    assert undrift("registry", "register", "v1-copy", "--spec", base, cwd=tmp_path).returncode == 0
    ambiguous = train_("v4")
    assert ambiguous.returncode == 2 and "--parent" in ambiguous.stderr and "v1, v1-copy" in ambiguous.stderr
    assert not (tmp_path / "v4").exists()
    lineage = undrift("registry", "show", "v3", cwd=tmp_path).stdout
    assert "lineage: v3 ← v2 ← v1" in lineage


def test_each_store_keeps_its_own_adapters(tiny_model_dir, data, tmp_path, monkeypatch):
    new, _ = data
    cache = {"UNDRIFT_CACHE": str(tmp_path / "cache")}
    for store in ("a", "b"):
        (tmp_path / store).mkdir()
        made = undrift("train", "--base", f"hf:{tiny_model_dir}", "--data", str(new), "--out", "v2", "--epochs", "1",
                       "--db", f"sqlite:///{tmp_path / store / 'team.db'}", "--json", "-q", cwd=tmp_path, env=cache)
        assert made.returncode == 0, made.stderr
        adapter = json.loads(made.stdout)["adapter_dir"]
        assert adapter == str(tmp_path / store / "team.db-adapters" / "v2" / "adapter")
    assert not (tmp_path / "cache" / "versions").exists()
    monkeypatch.setenv("UNDRIFT_CACHE", str(tmp_path / "cache"))
    remote = [TrainConfig(base="b", data="d", name="v2", store=url).output()
              for url in ("postgresql://me:one@db.example/undrift", "postgresql://me:two@db.example/undrift",
                          "postgresql://me@other.example/undrift")]
    assert remote[0] == remote[1] != remote[2] and remote[0].name == "v2" and "one" not in str(remote[0])
    assert remote[0].parent.parent.name == "versions" and len(remote[0].parent.name) == 12


def test_adapter_scale_sweep_keeps_a_scale_and_records_it(tiny_model_dir, data, tmp_path):
    from safetensors.torch import load_file

    new, _ = data
    base = f"hf:{tiny_model_dir}"
    (tmp_path / "holdout.yaml").write_text(
        "name: holdout\ntasks:\n  - name: words\n    decoding: {max_tokens: 4}\n    scorer: exact\n    samples:\n"
        + "".join(f"      - {{id: w{i}, prompt: 'Say {w}', target: {w}}}\n" for i, w in enumerate(["a", "b", "c"])))
    result = undrift("train", "--base", base, "--data", str(new), "--out", "swept", "--out-dir", "swept", "--epochs", "1",
                     "--sweep-scales", "0.5,1", "--holdout", "holdout.yaml", "--max-forgetting", "1", "--json", "-q",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    recipe = json.loads(result.stdout)["version"]["recipe"]
    assert recipe["adapter_scale"] == 1.0 and set(recipe["sweep"]) == {"0.5", "1.0"}  # every scale within bound
    adapter = tmp_path / json.loads(result.stdout)["adapter_dir"]
    full = load_file(str(adapter / "adapter_model.safetensors"))
    half = load_file(str(adapter.parent / "scale-0.5" / "adapter_model.safetensors"))
    for key, value in full.items():
        assert (half[key] == (value * 0.5 if "lora_B" in key else value)).all()
    runs = json.loads(undrift("runs", "--json", cwd=tmp_path).stdout)
    assert {r["name"] for r in runs} == {"swept@old", "swept@scale=0.5", "swept@scale=1"}
    bad = undrift("train", "--base", base, "--data", str(new), "--out", "x", "--sweep-scales", "0.5", cwd=tmp_path)
    assert bad.returncode == 2 and "needs holdout (--holdout)" in bad.stderr


def test_an_old_version_whose_adapter_does_not_fit_is_refused(tiny_model_dir, tiny_lora_dir, data, tmp_path):
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    other = tmp_path / "wider"
    shutil.copytree(tiny_model_dir, other, ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=400, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(other)
    config = _config(tiny_model_dir, data, tmp_path, "mismatch", compat_from=f"hf:{other}+lora:{tiny_lora_dir}",
                     compat_loss="focal")
    with pytest.raises(UndriftError, match="does not fit model"):
        train(config, progress=False)
    assert not (tmp_path / "mismatch" / "adapter").exists()


def test_forgetting_command_with_the_probe(tiny_model_dir, data, tmp_path):
    new, old = data
    base = f"hf:{tiny_model_dir}"
    trained = undrift("train", "--base", base, "--data", str(new), "--out", "v2", "--out-dir", "v2", "--epochs", "2",
                      "--lr", "0.01", "--json", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    spec = json.loads(trained.stdout)["version"]["spec"]
    for model, name in ((base, "v1"), (spec, "v2")):
        ran = undrift("run", "drift", "--model", model, "--as", name, "--tasks", "primes", "--limit", "3", "-q",
                      cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
    result = undrift("forgetting", "v1", "v2", "--probe", str(new), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["suites"] == ["drift"] and len(report["matrix"]) == 2
    first, second = report["probe"]
    assert first["kl_to_previous"] is None and second["kl_to_previous"] > 0
    assert second["perplexity"] < first["perplexity"]  # v2 was trained on exactly these answers
    table = undrift("forgetting", "v1", "v2", cwd=tmp_path)
    assert "backward transfer" in table.stdout and "learned at v1" in table.stdout


def test_a_sweep_that_kept_no_scale_within_bound_says_so():
    """The warning is the library's: `undrift train` prints it, and a Python caller reads it on the result."""
    from undrift.train.sweep import SweepResult

    assert SweepResult(old_accuracy=0.9, accuracies={1.0: 0.5}, max_forgetting=0.02).warning is None
    kept = SweepResult(old_accuracy=0.9, accuracies={0.5: 0.8, 1.0: 0.5}, chosen=0.5, within_bound=False,
                       max_forgetting=0.02)
    assert kept.warning == "no scale kept forgetting within 2.0%; kept 0.5, the least forgetful"
