"""Local models through transformers + torch (+ peft for LoRA adapters): batched, greedy by default.

Batching is where local evaluation gets its speed.  Requests are grouped by decoding parameters and answered by the
local engine (models/engine.py: continuous batching over one in-place KV cache, the shared prefix computed once),
whose greedy answers are those of transformers' `generate`; models the engine does not run (sliding-window or
linear-attention caches, logits processors in the generation config) are decoded by `generate` in left-padded
batches.  Greedy decoding of the same weights is deterministic, which is what lets the runner reuse a cached
response; sampled decoding is seeded per call.

transformers' own continuous batching (`generate_batch`, paged attention) was measured on the 2-core CPU this was
built on and took 70-78 s for 64 drift prompts where a plain padded `generate` took 45 s, so it is not used here;
`undrift serve` batches step by step itself (serving/batching.py), and `vllm:` runs a GPU's batches.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

from ..errors import UndriftError, first_line
from ..hashing import sha256_files
from ..userfiles import MAX_PROMPT_CHARS
from .base import (
    Decoding,
    Fingerprint,
    Generation,
    HiddenSystemPrompt,
    ModelSpec,
    ProgressCallback,
    Request,
)
from .gguf_cache import weights_hash
from .engine import Engine, Sampler, SplitHead, split_head
from .engine import supports as engine_supports

DEFAULT_BATCH_SIZE = 64  # decoding 64 rows at once beat 32 by 1.3x in bench/throughput.py on 2 CPU cores
QUEUE_BATCHES = 4


def load_local_model(spec: ModelSpec, model_dir: Path, lazy: bool = False) -> "TransformersModel":
    """The model in `model_dir` (which the spec's backend found: bundled:, hf: and gguf: each resolve their own)."""
    model = TransformersModel(spec, model_dir)
    if not lazy:
        model.prepare()
    return model


class TransformersModel:
    """A causal LM loaded from a local directory, with optional LoRA adapter, hidden system prompt and int8.

    A `ServableModel` and a `TrainableModel` (models/base.py): `undrift serve` steps its `model` under its `lock`,
    `undrift train` fine-tunes a float32 copy of its weights.
    """

    # Answers generated together share the batch's clock: each one's latency is the time to its own last token,
    # but they rise and fall together, so comparisons show local latency without testing it sample by sample.
    latency_scope = "batch"

    def __init__(self, spec: ModelSpec, model_dir: Path):
        """Checks the files and hashes them, without importing torch: loading the weights waits for `prepare`,
        so a re-run that the cache answers entirely never pays for it."""
        self.spec = spec
        self.model_dir = model_dir
        self.lock = threading.Lock()
        self._torch = None
        self.model = self.tokenizer = None
        self.head: SplitHead | None = None  # the engine's sliced output head, where it gives the same logits
        self.context_tokens: int | None = None  # positions the model was trained for; known once loaded
        self.longest_token = 1  # characters of the vocabulary's longest token; known once loaded
        self.hidden_system = HiddenSystemPrompt.from_spec(spec)
        self.quant = spec.option("quant")
        if self.quant not in (None, "int8"):
            raise UndriftError(f"unknown quantisation {self.quant!r} in {spec}: the only choice is quant=int8")
        self.batch_size = spec.count_option("batch_size", DEFAULT_BATCH_SIZE)
        # prompts the runner hands over at once (one transaction): four batches, so the engine replaces finished rows
        # for most of them, and a kill loses at most one queue's answers
        self.queue_size = QUEUE_BATCHES * self.batch_size
        if not (model_dir / "config.json").exists():
            raise UndriftError(f"cannot load a transformers model from {str(model_dir)!r}: it has no config.json")
        self.weights_sha256 = weights_hash(model_dir)
        self.adapter_dir, self.adapter_sha256 = lora_adapter(spec)

    def prepare(self) -> None:
        """Load tokenizer and weights (once), attach the adapter, quantise."""
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self._torch = torch
        self.device = self.spec.option("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.quant == "int8" and self.device != "cpu":
            raise UndriftError("quant=int8 is dynamic CPU quantisation: add device=cpu to the spec")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
            model = AutoModelForCausalLM.from_pretrained(str(self.model_dir), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise UndriftError(
                f"cannot load a transformers model from {str(self.model_dir)!r}: {first_line(exc)}") from None
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        if self.adapter_dir:
            model = self._attach_lora(model)
        if self.quant == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.tokenizer = tokenizer
        self.context_tokens = getattr(model.config, "max_position_embeddings", None)
        self.longest_token = max((len(token) for token in tokenizer.get_vocab()), default=1)
        model = model.to(self.device).eval()
        self.head = split_head(model, torch, self.device, self.batch_size)
        self.model = model

    def _attach_lora(self, model):
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(self.adapter_dir))
        except (RuntimeError, ValueError, KeyError) as exc:
            raise UndriftError(
                f"LoRA adapter {str(self.adapter_dir)!r} does not fit model {str(self.model_dir)!r}: {first_line(exc)}"
            ) from None
        return model

    def trainable_weights(self):
        """Base weights as a trainable float32 model, with the spec's adapter merged in if it has one."""
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            model = AutoModelForCausalLM.from_pretrained(str(self.model_dir), dtype="float32")
        except (OSError, ValueError) as exc:
            raise UndriftError(f"cannot load base model {self.spec}: {first_line(exc)}") from None
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if self.adapter_dir:
            with warnings.catch_warnings():  # peft asks transformers a deprecated question; nothing for a user to do
                warnings.simplefilter("ignore", FutureWarning)
                model = self._attach_lora(model).merge_and_unload()
        return model, tokenizer

    def fingerprint(self) -> Fingerprint:
        options = {**{k: v for k, v in self.spec.options if k == "quant"}, **self.hidden_system.fingerprint_options()}
        return Fingerprint(
            backend=self.spec.backend,
            model=self.spec.target,
            deterministic=True,
            weights_sha256=self.weights_sha256,
            adapter_sha256=self.adapter_sha256,
            options=options,
        )

    def close(self) -> None:
        self.model = self.tokenizer = self.head = None

    # -- generation -------------------------------------------------------------------------------------------

    def render(self, request: Request) -> str:
        self.prepare()
        messages = self.hidden_system.apply(request.message_dicts())
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        self._check_characters(prompt)
        return prompt

    def _check_characters(self, prompt: str) -> None:
        """Refuse a prompt too long for the context before tokenising it (a tokenizer given 50 MB exhausts memory):
        no token spells more characters than the vocabulary's longest, so a prompt with more characters than the
        context's tokens can spell cannot fit."""
        if self.context_tokens is None:
            limit, holder = MAX_PROMPT_CHARS, "a prompt"
        else:
            limit = self.context_tokens * self.longest_token
            holder = f"the model's context of {self.context_tokens:,} tokens"
        if len(prompt) > limit:
            raise UndriftError(f"the prompt is {len(prompt):,} characters, more than {holder} can hold "
                               f"({limit:,} characters at most): shorten it")

    def _check_tokens(self, count: int) -> None:
        if self.context_tokens is not None and count > self.context_tokens:
            raise UndriftError(f"the prompt is {count:,} tokens; the model's context holds {self.context_tokens:,}: "
                               "shorten it")

    def generate(self, requests: list[Request], on_done: ProgressCallback | None = None) -> list[Generation]:
        self.prepare()
        results: list[Generation | None] = [None] * len(requests)
        prompts = [self.tokenizer(self.render(r), add_special_tokens=False)["input_ids"] for r in requests]
        for prompt in prompts:
            self._check_tokens(len(prompt))
        groups: dict[Decoding, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.decoding, []).append(index)
        generate = self._run_engine if engine_supports(self.model) else self._generate_padded
        for decoding, indices in groups.items():
            for index, generation in zip(indices, generate([prompts[i] for i in indices], decoding, on_done)):
                results[index] = generation
        return [r for r in results if r is not None]

    def _run_engine(self, prompts: list[list[int]], decoding: Decoding,
                    on_done: ProgressCallback | None) -> list[Generation]:
        """Answers from the local engine (models/engine.py), under the model lock."""
        stopped = None
        if decoding.stop:
            # a stop string can only be completed by the newest token, so only the answer's tail is decoded (the
            # text is cut at the first stop string afterwards in any case)
            window = max(len(stop) for stop in decoding.stop) + 8

            def stopped(tokens: list[int]) -> bool:
                text = self.tokenizer.decode(tokens[-window:], skip_special_tokens=True)
                return any(stop in text for stop in decoding.stop)

        sampler = Sampler() if decoding.greedy else Sampler(decoding.temperature, decoding.top_p, decoding.seed or 0)
        engine = Engine(self.model, self._torch, rows=self.batch_size, max_new=decoding.max_tokens,
                        eos_id=self.tokenizer.eos_token_id, pad_id=self.tokenizer.pad_token_id, device=self.device,
                        sampler=sampler, stopped=stopped, head=self.head)
        with self.lock, self._torch.inference_mode(), warnings.catch_warnings():
            # transformers 5.x renames the keyword in v6; older releases, which pyproject admits, know only this one
            warnings.filterwarnings("ignore", message=".*past_key_values.*deprecated", category=FutureWarning)
            decoded = engine.run(prompts, on_done)
        generations = []
        for answer, prompt in zip(decoded, prompts):
            text, cut = cut_at_stop(self.tokenizer.decode(answer.tokens, skip_special_tokens=True), decoding.stop)
            generations.append(Generation(text=text, tokens_in=len(prompt), tokens_out=len(answer.tokens),
                                          latency_s=answer.seconds, finish_reason="stop" if cut else answer.finish))
        return generations

    def _generate_padded(self, prompts: list[list[int]], decoding: Decoding,
                         on_done: ProgressCallback | None) -> list[Generation]:
        """transformers' `generate` on left-padded batches, for the models the engine does not run."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for index, generation in zip(batch, self._generate_batch([prompts[i] for i in batch], decoding)):
                results[index] = generation
            if on_done:
                on_done(len(batch))
        return [r for r in results if r is not None]

    def _generate_batch(self, prompts: list[list[int]], decoding: Decoding) -> list[Generation]:
        """One `model.generate` under the model lock: greedy, or sampling seeded from the request."""
        from transformers import StoppingCriteriaList

        torch, pad = self._torch, self.tokenizer.pad_token_id
        if decoding.greedy:
            sampling = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            sampling = dict(do_sample=True, temperature=decoding.temperature, top_p=decoding.top_p, top_k=None)
        stops = dict(stop_strings=list(decoding.stop), tokenizer=self.tokenizer) if decoding.stop else {}
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        clock = _StepClock(torch)
        with self.lock, torch.inference_mode():
            started = time.perf_counter()
            if not decoding.greedy:
                torch.manual_seed(decoding.seed if decoding.seed is not None else 0)
            output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                         max_new_tokens=decoding.max_tokens, pad_token_id=pad,
                                         eos_token_id=self.tokenizer.eos_token_id,
                                         stopping_criteria=StoppingCriteriaList([clock]), **sampling, **stops)
            ended = time.perf_counter()
        done = {self.tokenizer.eos_token_id, pad}
        generations = []
        for row, prompt in zip(output, prompts):
            new_tokens = row[width:].tolist()
            last = next((i for i, token in enumerate(new_tokens) if token in done), len(new_tokens) - 1)
            latency = clock.times[last] - started if last < len(clock.times) else ended - started
            finish = "length"
            if self.tokenizer.eos_token_id in new_tokens:
                new_tokens = new_tokens[: new_tokens.index(self.tokenizer.eos_token_id)]
                finish = "stop"
            text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
            text, stopped = cut_at_stop(text, decoding.stop)
            generations.append(Generation(text=text, tokens_in=len(prompt), tokens_out=len(new_tokens),
                                          latency_s=latency, finish_reason="stop" if stopped else finish))
        return generations


def lora_adapter(spec: ModelSpec) -> tuple[Path | None, str | None]:
    """The spec's `+lora:PATH` directory and the hash of its weights (None, None without one)."""
    if not spec.lora:
        return None, None
    adapter_dir = Path(spec.lora).expanduser()
    if not (adapter_dir / "adapter_config.json").exists():
        raise UndriftError(f"LoRA adapter {str(adapter_dir)!r} has no adapter_config.json: give a peft adapter dir")
    return adapter_dir, sha256_files(sorted(adapter_dir.glob("adapter_model.*")))


class _StepClock:
    """A stopping criterion that never stops anything: it notes when each generation step ended, so every answer
    of a batch gets the time to its own last token rather than the batch's time divided by its size."""

    def __init__(self, torch):
        self.torch = torch
        self.times: list[float] = []

    def __call__(self, input_ids, scores, **kwargs):
        self.times.append(time.perf_counter())
        return self.torch.zeros(input_ids.shape[0], dtype=self.torch.bool, device=input_ids.device)


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the first stop string in it, and whether there was one (the server uses it too)."""
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
