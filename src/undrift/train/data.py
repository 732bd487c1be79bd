"""Training examples: chat-format or prompt/completion JSONL, suite samples for replay, and their tokenisation.

Only the assistant's completion is learned (prompt tokens are masked out of the loss), exactly as the model will
be asked at run time: the prompt goes through the model's chat template with the generation prompt appended.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UndriftError
from ..hashing import sha256_file
from ..jsonable import jsonable
from ..userfiles import check_prompt_length, jsonl_rows

IGNORE = -100  # label value that cross-entropy skips


@dataclass(frozen=True)
class Example:
    messages: tuple[dict[str, str], ...]  # the conversation up to the answer
    completion: str  # the answer to learn

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"messages": [*self.messages, {"role": "assistant", "content": self.completion}]})


def load_examples(path: str | Path) -> list[Example]:
    """Chat JSONL (`{"messages": [..., {"role": "assistant", ...}]}`) or `{"prompt": ..., "completion": ...}` lines."""
    file = Path(path)
    if not file.is_file():
        raise UndriftError(f"no training data file {str(path)!r}")
    examples = [_example(row, f"{file.name} line {line}") for line, row in jsonl_rows(file)]
    if not examples:
        raise UndriftError(f"{file.name} holds no training examples: write one JSON object per line")
    return examples


def _example(row: Any, where: str) -> Example:
    example = _parse_example(row, where)
    check_prompt_length([*example.messages, {"content": example.completion}], where)
    return example


def _parse_example(row: Any, where: str) -> Example:
    if isinstance(row, dict) and isinstance(row.get("messages"), list):
        messages = row["messages"]
        if not messages or not all(isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role")
                                   for m in messages):
            raise UndriftError(f"{where}: every message needs a role and text content")
        if messages[-1]["role"] != "assistant":
            raise UndriftError(f"{where}: the last message must be the assistant's answer to learn")
        if len(messages) < 2:
            raise UndriftError(f"{where}: a conversation needs a user turn before the assistant's answer")
        return Example(tuple({"role": m["role"], "content": m["content"]} for m in messages[:-1]),
                       messages[-1]["content"])
    if isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
        return Example(({"role": "user", "content": row["prompt"]},), row["completion"])
    raise UndriftError(f"{where}: expected {{\"messages\": [...]}} (chat) or {{\"prompt\": ..., \"completion\": ...}}")


def replay_examples(source: str, seed: int = 0, allow_outside: bool = False) -> list[Example]:
    """Earlier data to mix in: a JSONL file as above, or a suite whose samples' targets serve as answers."""
    if Path(source).suffix == ".jsonl" and Path(source).exists():
        return load_examples(source)
    from ..suites import load_suite

    suite = load_suite(source, seed=seed, allow_outside=allow_outside)
    examples = [Example(tuple(s.messages), str(s.target if not isinstance(s.target, list) else s.target[0]))
                for t in suite.tasks for s in t.samples if s.target not in (None, "", [])]
    if not examples:
        raise UndriftError(f"suite {source!r} has no samples with targets to replay")
    return examples


def data_hash(path: str | Path) -> str:
    return sha256_file(Path(path))


def mix_epoch(new: list[Example], replay: list[Example], ratio: float, rng: random.Random) -> list[Example]:
    """One epoch's examples: all new ones plus `ratio` times as many drawn from replay, shuffled together."""
    count = round(ratio * len(new)) if replay else 0
    drawn = [replay[rng.randrange(len(replay))] for _ in range(count)]
    epoch = [*new, *drawn]
    rng.shuffle(epoch)
    return epoch


def tokenise(tokenizer, example: Example, max_length: int) -> tuple[list[int], list[int]]:
    """Input ids and labels: the chat-templated prompt (masked) followed by the completion and end of turn."""
    prompt = tokenizer.apply_chat_template(list(example.messages), add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(example.completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (prompt_ids + answer_ids)[-max_length:]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[-max_length:]
    return ids, labels
