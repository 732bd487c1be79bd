"""The local engine: continuous batching over one KV cache written in place, with the prompts' shared prefix computed
once.

transformers' `generate` decodes a static batch: a prompt padded to the longest of its batch computes the padding,
the shared chat template and system prompt (24 of the drift prompts' 61 tokens on average) are computed for every
row, the cache grows by concatenation, and a finished row is computed until the longest row of its batch is done.
Here instead:

- each layer's keys and values live in one buffer of `rows` x columns, allocated once; every forward pass writes its
  columns in place and attends to a view of the columns so far, under a mask that says which columns each row sees;
- the prefix every prompt shares is computed once (batch of one) and copied into each admitted row; each row's own
  tokens are computed in groups of `PREFILL_ROWS` similar-length prompts, written next to it, so a row's columns are
  `[shared prefix][masked gap][its own tokens]`, and every token keeps the position it has in its own prompt;
- a row that ends (end of sequence, a stop string, its token limit) leaves the batch at once (the last row moves
  into its place), and waiting prompts are admitted into free rows as soon as a group's worth is free, so the batch
  stays full until the queue is empty; columns no row attends to any more are reclaimed when room runs out.

Each step runs the model's own layers on every row's last token at the row's own position (on a CPU, the output head
is multiplied in slices: `split_head`); the next token is the argmax of the logits (greedy `generate` when the
model's generation config adds no logits processor: `supports`), or drawn after transformers' own temperature and
top-p warpers, seeded once per call. Greedy answers are those of a plain padded `generate` (tests/test_engine.py
compares them on the drift suite). Models whose cache is not one plain key/value pair per layer (sliding windows,
linear attention) are not run here: the caller falls back to `generate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

PREFILL_ROWS = 8  # prompts whose own tokens are computed in one forward pass; sorted by length, so little padding
MIN_SHARED = 4  # a shorter shared prefix is not worth a forward pass of its own
GROW_COLUMNS = 64  # the cache's first width beyond the prompts; it doubles when full
HEAD_ROWS = 1024  # vocabulary entries of the output head multiplied at a time (see `split_head`)

# Generation-config fields that make `generate` differ from plain argmax / temperature / top-p, at neutral values.
_NEUTRAL_PROCESSING = {
    "repetition_penalty": (None, 1.0),
    "encoder_repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "sequence_bias": (None,),
    "renormalize_logits": (None, False),
    "watermarking_config": (None,),
    "guidance_scale": (None, 1.0),
    "exponential_decay_length_penalty": (None,),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "min_p": (None,),
    "typical_p": (None, 1.0),
    "cache_implementation": (None, "dynamic"),
}


@dataclass(frozen=True)
class Sampler:
    """How the next token is chosen: greedy when `temperature` is 0, else drawn at `temperature` within `top_p`."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass
class Decoded:
    """One prompt's answer: its new tokens (the end-of-sequence token left out), why it ended, and the time from its
    admission (with the rows admitted beside it) to its last token."""

    tokens: list[int]
    finish: str  # "stop" (end of sequence or a stop string) or "length"
    seconds: float


def supports(model) -> bool:
    """Whether this engine runs `model` with `generate`'s answers: one plain key/value cache layer per layer, and
    no logits processor or preset cache in its generation config."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    config = getattr(model, "generation_config", None)
    plain_config = config is None or all(getattr(config, name, None) in neutral
                                         for name, neutral in _NEUTRAL_PROCESSING.items())
    return plain_config and all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


@dataclass(frozen=True)
class SplitHead:
    """A model's decoder, and its output head as (weight, bias) slices of `HEAD_ROWS` vocabulary entries."""

    decoder: object
    slices: list[tuple]

    def logits(self, torch, hidden):
        return torch.cat([torch.nn.functional.linear(hidden, weight, bias) for weight, bias in self.slices], dim=-1)


def split_head(model, torch, device: str, rows: int) -> SplitHead | None:
    """The model's decoder and sliced output head, when its logits are the decoder's last hidden state through a
    plain linear head and the slices give the same logits bit for bit; None otherwise (a scaled or softcapped head,
    a quantised one, one wrapped by an adapter, a GPU), and the model's own forward computes them.

    Why: a step's logits are [rows x hidden] times the [vocabulary x hidden] head, 49,152 x 576 on SmolLM2; on a CPU
    one product that wide ran at about half the rate of the model's other products, while slices of 1,024 entries,
    whose output stays in cache, took a half to two thirds of its time at 55 rows (`bench/engine.py` measures the
    whole engine both ways).  A matrix library may sum a product in another order when its shape changes, so the
    slices are compared with the whole head at 1, 3 and `rows` rows here, and through the drift suite's shrinking
    batches in the tests; GPUs, whose libraries split sums by shape far more freely, keep the model's own forward."""
    if device != "cpu":
        return None
    try:
        head, decoder = model.get_output_embeddings(), model.get_decoder()
        if type(head) is not torch.nn.Linear:
            return None
        weights = head.weight.split(HEAD_ROWS)
        biases = head.bias.split(HEAD_ROWS) if head.bias is not None else [None] * len(weights)
        split = SplitHead(decoder, list(zip(weights, biases)))
        with torch.inference_mode():
            probe = torch.arange(min(8, head.weight.shape[0]), device=device)[None]
            hidden = decoder(input_ids=probe).last_hidden_state[:, -1]
            if not torch.equal(split.logits(torch, hidden), model(input_ids=probe, logits_to_keep=1).logits[:, -1]):
                return None  # the model does more to its logits than the head
            generator = torch.Generator(device=device).manual_seed(0)
            for count in sorted({1, 3, rows}):
                states = hidden.new_empty((count, hidden.shape[-1])).normal_(generator=generator)
                if not torch.equal(split.logits(torch, states), head(states)):
                    return None
    except Exception:  # a model whose decoder or head cannot be used alone like this: its own forward it is
        return None
    return split


def shared_prefix(prompts: list[list[int]]) -> int:
    """Tokens every prompt begins with, leaving each prompt at least one token of its own to feed the first step."""
    shortest = min(len(p) for p in prompts)
    first = prompts[0]
    length = 0
    while length < shortest - 1 and all(p[length] == first[length] for p in prompts):
        length += 1
    return length if length >= MIN_SHARED else 0


class _InPlaceCache:
    """What the model's attention layers see as their cache: the batch's buffers for `rows`; a forward pass writes
    its columns from `start` on and attends to every column before them (the mask says which count)."""

    def __init__(self, batch: "_Batch", rows: slice, start: int):
        self.batch, self.rows, self.start = batch, rows, start

    def update(self, key, value, layer_idx, *args, **kwargs):
        keys, values = self.batch.layer(layer_idx, key, value)
        keys, values = keys[self.rows], values[self.rows]
        end = self.start + key.shape[2]
        keys[:, :, self.start : end] = key
        values[:, :, self.start : end] = value
        return keys[:, :, :end], values[:, :, :end]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.start


class Engine:
    """Answers token prompts with `model` (a transformers causal LM that `supports` accepts), `rows` at a time."""

    def __init__(self, model, torch, *, rows: int, max_new: int, eos_id: int, pad_id: int, device: str,
                 sampler: Sampler = Sampler(), stopped: Callable[[list[int]], bool] | None = None,
                 head: SplitHead | None = None):
        """`head`: the model's output head from `split_head`, or None for the model's own forward."""
        self.model, self.torch, self.device, self.head = model, torch, device, head
        self.rows, self.max_new, self.eos_id, self.pad_id = rows, max_new, eos_id, pad_id
        self.stopped = stopped
        self.warpers, self.generator = [], None
        if sampler.temperature > 0:
            from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

            self.warpers = [TemperatureLogitsWarper(sampler.temperature)]
            if sampler.top_p < 1.0:
                self.warpers.append(TopPLogitsWarper(sampler.top_p))
            self.generator = torch.Generator(device=device).manual_seed(sampler.seed)

    def run(self, prompts: list[list[int]], on_done: Callable[[int], None] | None = None) -> list[Decoded]:
        """Every prompt's answer, in the prompts' order."""
        waiting = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        shared = shared_prefix(prompts)
        batch = _Batch(self.torch, self.device, self.rows, self._prefix(prompts[0][:shared]))
        results: list[Decoded | None] = [None] * len(prompts)
        while waiting or batch.size:
            # admit once a group's worth of rows is free (an eighth of the batch, at most PREFILL_ROWS); the rows
            # admitted together share a start, from which each one's time to its last token is counted
            admitted = time.perf_counter()
            while waiting and self.rows - batch.size >= min(PREFILL_ROWS, max(1, self.rows // 8), len(waiting)):
                take = min(PREFILL_ROWS, self.rows - batch.size)
                group, waiting = waiting[:take], waiting[take:]
                self._admit(batch, group, [prompts[i] for i in group], admitted)
            self._step(batch)
            finished = [row for row in range(batch.size) if batch.finish[row]]
            for row in finished:
                results[batch.ids[row]] = Decoded(batch.answers[row], batch.finish[row],
                                                  batch.ended[row] - batch.started[row])
            if finished:
                batch.retire(finished)
                if on_done:
                    on_done(len(finished))
        return [r for r in results if r is not None]

    def _prefix(self, tokens: list[int]) -> list[tuple] | None:
        """Per layer, the keys and values of the shared prefix ([1, kv heads, tokens, head dim]); None if empty."""
        if not tokens:
            return None
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        self._forward(False, input_ids=self.torch.tensor([tokens], device=self.device), past_key_values=cache)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _admit(self, batch: "_Batch", ids: list[int], group: list[list[int]], started: float) -> None:
        """Prefill `group` into free rows: the shared prefix copied, the own tokens but the last computed in one
        forward pass, left-padded to the longest (the padding attends to itself alone, so nothing is NaN)."""
        torch, device = self.torch, self.device
        own = [p[batch.shared : -1] for p in group]
        longest = max(len(o) for o in own)
        rows, first = batch.place(batch.shared + longest, len(group))
        end = batch.length
        batch.mask[rows] = False
        batch.mask[rows, first : first + batch.shared] = True
        for row, tokens in zip(range(rows.start, rows.stop), own):
            batch.mask[row, end - len(tokens) : end] = True
        if longest:
            padded = torch.tensor([[self.pad_id] * (longest - len(o)) + o for o in own], device=device)
            positions = torch.tensor([[max(batch.shared, batch.shared + j - (longest - len(o))) for j in range(longest)]
                                      for o in own], device=device)
            queries = torch.arange(end - longest, end, device=device)
            causal = torch.arange(end, device=device)[None, :] <= queries[:, None]
            mask = batch.mask[rows, None, :end] & causal[None]
            mask[:, torch.arange(longest, device=device), queries] = True
            self._forward(False, input_ids=padded, attention_mask=mask[:, None], position_ids=positions,
                          past_key_values=_InPlaceCache(batch, rows, end - longest))
        batch.last[rows] = torch.tensor([p[-1] for p in group], device=device)
        batch.positions[rows] = torch.tensor([len(p) - 1 for p in group], device=device)
        batch.join(ids, first, started)

    def _step(self, batch: "_Batch") -> None:
        """One token for every row; notes each row that finished."""
        batch.reserve_step()
        size, end = batch.size, batch.length
        batch.mask[:size, end] = True
        logits = self._forward(input_ids=batch.last[:size, None],
                               attention_mask=batch.mask[:size, None, None, : end + 1],
                               position_ids=batch.positions[:size, None],
                               past_key_values=_InPlaceCache(batch, slice(0, size), end))
        batch.length += 1
        batch.positions[:size] += 1
        chosen = self._choose(logits)
        batch.last[:size] = chosen
        now = time.perf_counter()
        for row, token in enumerate(chosen.tolist()):
            answer = batch.answers[row]
            batch.ended[row] = now
            if token == self.eos_id:
                batch.finish[row] = "stop"
                continue
            answer.append(token)
            if self.stopped is not None and self.stopped(answer):
                batch.finish[row] = "stop"
            elif len(answer) >= self.max_new:
                batch.finish[row] = "length"

    def _forward(self, logits: bool = True, **inputs):
        """One forward pass writing the cache; the logits of each row's last position (when `logits`): through the
        decoder and the split head, or the model's own forward."""
        if self.head is None:
            out = self.model(**inputs, use_cache=True, logits_to_keep=1).logits[:, -1]
            return out if logits else None
        hidden = self.head.decoder(**inputs, use_cache=True).last_hidden_state
        return self.head.logits(self.torch, hidden[:, -1]) if logits else None

    def _choose(self, logits):
        """The next token of every row: the argmax, or a draw after the warpers."""
        if not self.warpers:
            return logits.argmax(-1)
        scores = logits.float()
        for warp in self.warpers:
            scores = warp(None, scores)
        probs = self.torch.softmax(scores, dim=-1)
        return self.torch.multinomial(probs, 1, generator=self.generator).squeeze(1)


class _Batch:
    """The rows being decoded, the first `size` of `capacity`, and their cache: per layer a key and a value buffer
    [capacity, kv heads, columns, head dim], allocated at the first write; columns `[0, length)` are in use, and
    `mask` marks the ones each row attends to."""

    def __init__(self, torch, device: str, capacity: int, prefix: list[tuple] | None):
        self.torch, self.device, self.capacity = torch, device, capacity
        self.prefix = prefix or []
        self.shared = prefix[0][0].shape[2] if prefix else 0
        self.columns = 0
        self.keys: list = []
        self.values: list = []
        self.mask = torch.zeros(capacity, 0, dtype=torch.bool, device=device)
        self.last = torch.zeros(capacity, dtype=torch.long, device=device)
        self.positions = torch.zeros(capacity, dtype=torch.long, device=device)
        self.length = 0
        self.ids: list[int] = []
        self.answers: list[list[int]] = []
        self.finish: list[str | None] = []
        self.first: list[int] = []  # each row's leftmost column
        self.started: list[float] = []
        self.ended: list[float] = []
        for index, (keys, values) in enumerate(self.prefix):
            self.layer(index, keys, values)

    @property
    def size(self) -> int:
        return len(self.ids)

    def layer(self, index: int, key, value) -> tuple:
        """Layer `index`'s buffers, allocated (zeros: a masked column must hold a finite number) on first use."""
        while len(self.keys) <= index:
            self.keys.append(None)
            self.values.append(None)
        if self.keys[index] is None:
            shape = (self.capacity, key.shape[1], self.columns, key.shape[3])
            self.keys[index] = key.new_zeros(shape)
            self.values[index] = value.new_zeros((self.capacity, value.shape[1], self.columns, value.shape[3]))
        return self.keys[index], self.values[index]

    def place(self, width: int, count: int) -> tuple[slice, int]:
        """Rows for `count` new prompts whose cached part takes `width` columns ending at `length`, with the shared
        prefix copied in; their row slice and first column."""
        self._make_room(width)
        first = self.length - width
        rows = slice(self.size, self.size + count)
        for (keys, values), (prefix_keys, prefix_values) in zip(zip(self.keys, self.values), self.prefix):
            keys[rows, :, first : first + self.shared] = prefix_keys
            values[rows, :, first : first + self.shared] = prefix_values
        return rows, first

    def join(self, ids: list[int], first: int, started: float) -> None:
        self.ids += ids
        self.answers += [[] for _ in ids]
        self.finish += [None] * len(ids)
        self.first += [first] * len(ids)
        self.started += [started] * len(ids)
        self.ended += [started] * len(ids)

    def retire(self, rows: list[int]) -> None:
        """Drop `rows`: live rows from the end move into their places."""
        gone = set(rows)
        size = self.size - len(gone)
        holes = [r for r in sorted(gone) if r < size]
        movers = [r for r in range(size, self.size) if r not in gone]
        if holes:
            dst = self.torch.tensor(holes, device=self.device)
            src = self.torch.tensor(movers, device=self.device)
            for buffer in (*self.keys, *self.values):
                buffer[dst, :, : self.length] = buffer[src, :, : self.length]
            for tensor in (self.mask, self.last, self.positions):
                tensor[dst] = tensor[src]
        order = list(range(size))
        for hole, mover in zip(holes, movers):
            order[hole] = mover
        for name in ("ids", "answers", "finish", "first", "started", "ended"):
            values = getattr(self, name)
            setattr(self, name, [values[r] for r in order])

    def _make_room(self, width: int) -> None:
        """Make `length` at least `width`, shifting the live rows right if it is short, with a free column after."""
        if self.length < width:
            if width + 1 > self.columns:
                self._grow(max(width + 1, 2 * self.columns, GROW_COLUMNS))
            shift = width - self.length
            self._move_columns(0, shift, self.length)
            self.first = [f + shift for f in self.first]
            self.length = width
        self.reserve_step()

    def reserve_step(self) -> None:
        """A free column for the next write: made by dropping the leading columns no live row attends to any more,
        when they are a quarter of the buffer or more, else by doubling the buffer.  Buffers grow as answers do, not
        to the token limit up front: a request allowing 4,096 tokens that is answered in 20 costs 20 columns."""
        if self.length < self.columns:
            return
        lead = min(self.first, default=self.length)
        if lead and lead * 4 >= self.columns:
            kept = self.length - lead
            self._move_columns(lead, 0, kept)
            self.first = [f - lead for f in self.first]
            self.length = kept
            return
        self._grow(max(self.length + 1, 2 * self.columns, GROW_COLUMNS))

    def _move_columns(self, source: int, target: int, count: int) -> None:
        size = self.size
        for buffer in (*self.keys, *self.values):
            if buffer is not None:
                buffer[:size, :, target : target + count] = buffer[:size, :, source : source + count].clone()
        self.mask[:size, target : target + count] = self.mask[:size, source : source + count].clone()
        self.mask[:size, : target] = False
        self.mask[:size, target + count :] = False

    def _grow(self, columns: int) -> None:
        def wider(buffer):
            grown = buffer.new_zeros((*buffer.shape[:2], columns, buffer.shape[3]))
            grown[:, :, : self.columns] = buffer
            return grown

        self.keys = [wider(b) if b is not None else None for b in self.keys]
        self.values = [wider(b) if b is not None else None for b in self.values]
        mask = self.torch.zeros(self.capacity, columns, dtype=self.torch.bool, device=self.device)
        mask[:, : self.columns] = self.mask
        self.mask, self.columns = mask, columns
