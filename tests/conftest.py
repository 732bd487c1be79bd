"""Shared fixtures: a tiny Llama built from a config (no hub), a LoRA adapter for it, stores, a PostgreSQL server.

Plain helpers (the CLI in a subprocess, ports, stored rows) are in helpers.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import free_port

# The bundled model's one-time conversion (~20 s) is kept here between test sessions; .gitignore lists it.
TEST_CACHE = Path(__file__).resolve().parent.parent / ".pytest-undrift-cache"

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "Is 17 a prime number? Think step by step and then answer [Yes] or [No].",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9",
    "def add(a, b):\n    return a + b\n```python``` assert [] {} () : , . ! ? \" ' - * / + =",
    "You are taking a survey. Pick the best single option (A) (B) (C) (D) (E) Refused",
]


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory):
    """Keep the tests out of the user's world: a UNDRIFT_DB set for a team's database, API keys, tokens and caches.

    Subprocesses the tests start (the CLI, the server) inherit os.environ, so they are isolated too.
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("UNDRIFT_DB", "OPENAI_API_KEY", "OPENAI_BASE_URL", "UNDRIFT_PROXY_TOKEN",
                         "UNDRIFT_SERVE_TOKEN"):
            patch.delenv(variable, raising=False)
        patch.setenv("UNDRIFT_CACHE", str(TEST_CACHE))
        patch.setenv("HF_HOME", str(home / "huggingface"))
        patch.setenv("XDG_CACHE_HOME", str(home / "cache"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer and a chat template, random weights from a fixed seed."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    target = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(target)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         bos_token_id=fast.bos_token_id, tie_word_embeddings=True, initializer_range=0.5)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter for the tiny model whose B matrices are non-zero, so it changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    target = tmp_path_factory.mktemp("tiny-lora")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    peft_model.save_pretrained(target)
    return target


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'undrift.db'}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A real PostgreSQL: $UNDRIFT_TEST_POSTGRES if set, else a throwaway cluster started from the local binaries."""
    if os.environ.get("UNDRIFT_TEST_POSTGRES"):
        yield os.environ["UNDRIFT_TEST_POSTGRES"]
        return
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb/pg_ctl) on this machine and UNDRIFT_TEST_POSTGRES is unset")
    data = Path(tempfile.mkdtemp(prefix="undrift-pg-"))
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data / "db"), "-U", "undrift", "--auth=trust")
    run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
        "-l", str(data / "log"), "-w", "start")
    try:
        url = f"postgresql://undrift@127.0.0.1:{port}/postgres"
        yield url
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def _postgres_bindir() -> Path | None:
    candidates = [Path(p).parent for p in [shutil.which("initdb") or ""] if p]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory.resolve()
    return None


# The dashboard in a real browser: the machine's headless Chromium driven by Playwright (pointed at the system
# browser; nothing is downloaded).  Without Chromium (or Playwright) the tests that use it skip with a line that
# says how to install it, except where UNDRIFT_REQUIRE_BROWSER=1 (CI sets it): there a missing browser fails them.
CHROMIUM = os.environ.get("UNDRIFT_CHROMIUM", "/usr/bin/chromium")
# The machine's network may be closed: no background fetches, no QUIC, no updates (they would only be refused).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(reason: str) -> None:
    if os.environ.get("UNDRIFT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (UNDRIFT_REQUIRE_BROWSER=1 requires the browser tests to run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: pip install -e '.[test]'")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM}: apt-get install chromium (Debian), or set UNDRIFT_CHROMIUM")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, dashboard):
    """A fresh tab whose every request is recorded, and whose dialogs (alert()) are recorded and dismissed.  Each
    browser test module defines its own `dashboard` fixture: the base URL of the app it serves."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.requests, tab.dialogs, tab.errors = [], [], []
    context.on("request", lambda request: tab.requests.append(request.url))
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()
