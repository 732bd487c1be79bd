"""Per-step (continuous) batching for the server: every request in flight advances one token per forward pass.

One background thread owns the model.  Each loop it admits waiting requests (prefilled together, left-padded, then
merged into the running batch's KV cache), runs one decode step for every active sequence, and retires the ones that
finished, were cancelled or ran out of time, so a long request never holds the others back and a client that goes
away stops costing compute at the next step.  transformers' own continuous-batching manager was not used because it
gives no top-k log-probabilities, stop strings or per-request seeds, which an OpenAI-compatible server needs.

Results travel to the asyncio side as `Update`s through `loop.call_soon_threadsafe`, one per step per sequence.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import first_line
from ..models.base import ServableModel
from ..models.local import cut_at_stop

SHUTTING_DOWN = "the server is shutting down"


@dataclass(frozen=True)
class Sampling:
    """How one sequence is decoded.  `top_logprobs` None means no log-probabilities are wanted."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token, its log-probability under the model (before temperature) and the most likely choices."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Update:
    """What one sequence produced in one step: new visible text, its tokens, and how it ended if it did."""

    index: int
    text: str = ""
    tokens: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    error: str | None = None
    tokens_out: int = 0


class Sequence:
    """One generation in flight.  `cancel` may be called from any thread; the engine drops it at its next step."""

    def __init__(self, index: int, prompt_ids: list[int], sampling: Sampling, deadline: float,
                 deliver: Any) -> None:
        self.index = index
        self.prompt_ids = prompt_ids
        self.sampling = sampling
        self.deadline = deadline
        self._deliver = deliver
        self.cancelled = False
        self.generated: list[int] = []
        self.text = ""  # text decoded so far, before stop strings are cut
        self.emitted = 0  # characters of `text` already sent
        self.position = len(prompt_ids)  # position id of the next token fed to the model
        self.next_token: int | None = None
        self.generator = None
        self._prefix_offset = self._read_offset = 0

    def cancel(self) -> None:
        self.cancelled = True

    def send(self, update: Update) -> None:
        update.tokens_out = len(self.generated)
        self._deliver(update)


class Engine:
    """The batching loop around a `ServableModel` (models/base.py: its `model`, `tokenizer`, `device` and `lock`)."""

    def __init__(self, local_model: ServableModel, max_batch: int, context_length: int) -> None:
        import torch

        local_model.prepare()
        self.torch = torch
        self.owner = local_model
        self.model = local_model.model
        self.tokenizer = local_model.tokenizer
        self.device = local_model.device
        self.max_batch = max_batch
        self.context_length = context_length
        self.eos_ids = _eos_ids(local_model)
        self._inbox: list[Sequence] = []
        self._active: list[Sequence] = []
        self._cache = None
        self._mask = None
        self._stopping = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="undrift-batching", daemon=True)
        self._thread.start()

    # -- the asyncio side ------------------------------------------------------------------------------------------

    def submit(self, prompt_ids: list[int], samplings: list[Sampling], timeout_s: float,
               queue: asyncio.Queue, first_index: int = 0) -> list[Sequence]:
        """Queue one sequence per sampling, numbered from `first_index`; their updates arrive on `queue`."""
        loop = asyncio.get_running_loop()

        def deliver(update: Update) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, update)
            except RuntimeError:  # the event loop has closed: nobody is listening any more
                pass

        deadline = time.monotonic() + timeout_s
        sequences = [Sequence(first_index + i, prompt_ids, s, deadline, deliver) for i, s in enumerate(samplings)]
        with self._wake:
            if self._stopping:
                for sequence in sequences:
                    sequence.send(Update(sequence.index, error=SHUTTING_DOWN))
                return sequences
            self._inbox.extend(sequences)
            self._wake.notify()
        return sequences

    def load(self) -> dict[str, int]:
        """How many sequences are generating and how many wait for room in the batch."""
        return {"generating": len(self._active), "waiting": len(self._inbox)}

    def stop(self, timeout: float = 5.0) -> None:
        """End every request in flight with an error and stop the loop (within one forward step); `timeout` 0
        returns at once, as a signal handler must."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if timeout:
            self._thread.join(timeout)

    # -- the engine thread -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._inbox and not self._active and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    for sequence in self._inbox + self._active:
                        sequence.send(Update(sequence.index, error=SHUTTING_DOWN))
                    self._inbox, self._active = [], []
                    return
                self._inbox = [s for s in self._inbox if not self._over_before_start(s)]
                room = max(0, self.max_batch - len(self._active))
                admitted, self._inbox = self._inbox[:room], self._inbox[room:]
            try:
                with self.owner.lock, self.torch.inference_mode():
                    if admitted:
                        self._prefill(admitted)
                    if self._active:
                        self._decode()
            except Exception as exc:  # a failed step fails the requests in it, never the server
                for sequence in {id(s): s for s in self._active + admitted}.values():
                    sequence.send(Update(sequence.index, error=f"generation failed: {first_line(exc)}"))
                self._active, self._cache, self._mask = [], None, None

    def _over_before_start(self, sequence: Sequence) -> bool:
        """True if a sequence that has not started is over: cancelled, or out of time (finish_reason "length")."""
        if not sequence.cancelled and time.monotonic() >= sequence.deadline:
            sequence.send(Update(sequence.index, finish_reason="length"))
            sequence.cancel()
        return sequence.cancelled

    def _prefill(self, sequences: list[Sequence]) -> None:
        from transformers import DynamicCache

        torch = self.torch
        width = max(len(s.prompt_ids) for s in sequences)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s.prompt_ids)) + s.prompt_ids for s in sequences], device=self.device)
        mask = torch.tensor([[0] * (width - len(s.prompt_ids)) + [1] * len(s.prompt_ids) for s in sequences],
                            device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1]
        for sequence in sequences:
            sequence.generator = torch.Generator(device=self.device)
            if sequence.sampling.seed is not None:
                sequence.generator.manual_seed(sequence.sampling.seed)
            else:
                sequence.generator.seed()
        self._merge(sequences, cache, mask)
        self._advance(sequences, logits)

    def _merge(self, sequences: list[Sequence], cache, mask) -> None:
        """Join newly prefilled sequences to the running batch, left-padding whichever cache is shorter."""
        torch = self.torch
        if not self._active:
            self._active, self._cache, self._mask = list(sequences), cache, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])

        def left_pad(tensor, dim: int):
            missing = width - tensor.shape[dim]
            if missing == 0:
                return tensor
            shape = list(tensor.shape)
            shape[dim] = missing
            return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)

        for old, new in zip(self._cache.layers, cache.layers):
            old.keys = torch.cat([left_pad(old.keys, 2), left_pad(new.keys, 2)], dim=0)
            old.values = torch.cat([left_pad(old.values, 2), left_pad(new.values, 2)], dim=0)
        self._mask = torch.cat([left_pad(self._mask, 1), left_pad(mask, 1)], dim=0)
        self._active.extend(sequences)

    def _decode(self) -> None:
        torch = self.torch
        ids = torch.tensor([[s.next_token] for s in self._active], device=self.device)
        positions = torch.tensor([[s.position] for s in self._active], device=self.device)
        mask = torch.cat([self._mask, self._mask.new_ones((len(self._active), 1))], dim=1)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=self._cache,
                            use_cache=True).logits[:, -1]
        self._mask = mask
        for sequence in self._active:
            sequence.position += 1
        self._advance(list(self._active), logits)

    def _advance(self, sequences: list[Sequence], logits) -> None:
        """Choose each sequence's next token, tell its client, and retire the sequences that are done."""
        torch = self.torch
        logits = logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        widest = max((s.sampling.top_logprobs or 0) for s in sequences)
        top = torch.topk(logprobs, max(widest, 1), dim=-1) if any(
            s.sampling.top_logprobs is not None for s in sequences) else None
        for row, sequence in enumerate(sequences):
            if sequence.cancelled:
                continue
            token = self._choose(logits[row], sequence)
            update = Update(sequence.index)
            if token in self.eos_ids:
                update.finish_reason = "stop"
            else:
                sequence.generated.append(token)
                sequence.next_token = token
                if top is not None and sequence.sampling.top_logprobs is not None:
                    k = sequence.sampling.top_logprobs
                    update.tokens.append(TokenLogprob(
                        self._piece(token), float(logprobs[row, token]),
                        tuple((self._piece(int(i)), float(v)) for v, i in zip(top.values[row, :k], top.indices[row, :k]))))
                update.finish_reason = self._finish(sequence)
            update.text = self._visible(sequence, final=update.finish_reason is not None)
            if update.finish_reason is None and time.monotonic() >= sequence.deadline:
                update.finish_reason = "length"  # the per-request time limit: a cut answer, as at max_tokens
            sequence.send(update)
            if update.finish_reason is not None:
                sequence.cancel()
        self._retire()

    def _choose(self, logits, sequence: Sequence) -> int:
        torch = self.torch
        sampling = sequence.sampling
        if sampling.temperature == 0.0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / sampling.temperature, dim=-1)
        if sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs >= sampling.top_p
            probs = probs.clone()
            probs[order[outside]] = 0.0
        return int(torch.multinomial(probs, 1, generator=sequence.generator))

    def _finish(self, sequence: Sequence) -> str | None:
        """Decode the new token into `sequence.text` and say why the sequence ends here, if it does."""
        ids = sequence.generated
        before = self.tokenizer.decode(ids[sequence._prefix_offset:sequence._read_offset], skip_special_tokens=True)
        after = self.tokenizer.decode(ids[sequence._prefix_offset:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):  # a whole character, not half a UTF-8 byte
            sequence.text += after[len(before):]
            sequence._prefix_offset, sequence._read_offset = sequence._read_offset, len(ids)
        if cut_at_stop(sequence.text, sequence.sampling.stop)[1]:
            return "stop"
        if len(ids) >= sequence.sampling.max_tokens or sequence.position + 1 >= self.context_length:
            return "length"
        return None

    def _visible(self, sequence: Sequence, final: bool) -> str:
        """The text that can be sent now: cut at a stop string, and holding back what may be the start of one."""
        text = sequence.text
        if final and sequence._read_offset < len(sequence.generated):
            text += self.tokenizer.decode(sequence.generated[sequence._read_offset:], skip_special_tokens=True)
        text, stopped = cut_at_stop(text, sequence.sampling.stop)
        if not stopped and not final:
            text = text[: len(text) - _partial_stop(text, sequence.sampling.stop)]
        new = text[sequence.emitted:]
        sequence.emitted = max(sequence.emitted, len(text))
        return new

    def _retire(self) -> None:
        keep = [i for i, s in enumerate(self._active) if not s.cancelled]
        if len(keep) == len(self._active):
            return
        self._active = [self._active[i] for i in keep]
        if not keep:
            self._cache = self._mask = None
            return
        index = self.torch.tensor(keep, device=self.device)
        self._mask = self._mask[index]
        first = int((self._mask.sum(0) > 0).nonzero()[0])  # columns that are padding for every remaining row
        self._mask = self._mask[:, first:]
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, first:]
            layer.values = layer.values[index, :, first:]

    def _piece(self, token: int) -> str:
        return self.tokenizer.decode([token])


def _eos_ids(local_model: ServableModel) -> set[int]:
    ids = {local_model.tokenizer.eos_token_id}
    configured = getattr(getattr(local_model.model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


def _partial_stop(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that begins some stop string (held back until it is decided)."""
    return max((n for s in stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)

