"""Scripted models: `echo:` and `script:FILE` answer at once, without weights, torch or a server.

They are for tests and demos where the model is not the point (a command's output, a store, a gate), and they are
registered through the same `undrift.backends` entry points as any plugin, so they also show how a backend plugs in.

    echo:                 says each request's last user message back
    echo:?text=TEXT       says TEXT to everything (`echo:?text=` says nothing: an empty answer)
    script:FILE           answers from FILE: by the request's last user message, else by the sample's id, else
                          the file's default

A script is a JSON Lines file (one `{"prompt": "...", "answer": "..."}` or `{"id": "...", "answer": "..."}` per line,
and optionally one `{"default": "..."}`) or a YAML file (`prompts:` and `ids:`, each a mapping to answers, and
optionally `default:`).  A request the script does not answer, without a default, is an error for that request
(never an empty answer that would be scored).  The fingerprint holds the script's SHA-256, so the response cache and
comparisons treat two different scripts as two models; a script that answers by sample id is not deterministic in the
cache's sense (two samples may ask the same request), so its answers are not reused from the cache.
Answers are cut to the request's `max_tokens` words, with `finish_reason` "length", as a real model stops.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UndriftError
from ..userfiles import load_yaml
from .base import Backend, Fingerprint, Generation, Model, ModelSpec, ProgressCallback, Request


@dataclass(frozen=True)
class Script:
    """What a `script:` model says: answers by prompt (the last user message) and by sample id, and a default."""

    prompts: dict[str, str]
    ids: dict[str, str]
    default: str | None
    sha256: str

    @classmethod
    def read(cls, path: Path) -> "Script":
        where = f"script {str(path)!r}"
        if not path.is_file():
            raise UndriftError(f"{where} does not exist: give script:FILE the path of a .jsonl or .yaml file")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UndriftError(f"{where} is not UTF-8 text: save it as UTF-8") from None
        digest = hashlib.sha256(data).hexdigest()
        if path.suffix.lower() in (".yaml", ".yml"):
            return cls(*_yaml_script(load_yaml(text, where), where), digest)
        return cls(*_jsonl_script(text, where), digest)

    def answer(self, request: Request) -> str | None:
        prompt = _last_user_message(request)
        if prompt in self.prompts:
            return self.prompts[prompt]
        return self.ids.get(request.sample_id, self.default) if request.sample_id else self.default


def _yaml_script(document: object, where: str) -> tuple[dict[str, str], dict[str, str], str | None]:
    if not isinstance(document, dict) or set(document) - {"prompts", "ids", "default"}:
        raise UndriftError(f"{where}: a YAML script is a mapping with `prompts` and `ids` (each a mapping to answers) "
                           "and `default`")
    mappings = []
    for key in ("prompts", "ids"):
        mapping = document.get(key) or {}
        if not isinstance(mapping, dict):
            raise UndriftError(f"{where}: `{key}` must map each {key[:-1]} to its answer")
        mappings.append({str(k): _text(v, f"{where}: the answer to {key[:-1]} {str(k)!r}") for k, v in mapping.items()})
    default = _text(document["default"], f"{where}: `default`") if "default" in document else None
    return mappings[0], mappings[1], default


def _jsonl_script(text: str, where: str) -> tuple[dict[str, str], dict[str, str], str | None]:
    prompts: dict[str, str] = {}
    ids: dict[str, str] = {}
    default = None
    for line, row_text in enumerate(text.splitlines(), start=1):
        if not row_text.strip():
            continue
        try:
            row = json.loads(row_text)
        except json.JSONDecodeError as exc:
            raise UndriftError(f"{where} line {line}: not JSON ({exc.msg}); each line is one JSON object") from None
        if isinstance(row, dict) and set(row) == {"prompt", "answer"}:
            prompts[str(row["prompt"])] = _text(row["answer"], f"{where} line {line}: the answer to prompt "
                                                               f"{str(row['prompt'])[:80]!r}")
        elif isinstance(row, dict) and set(row) == {"id", "answer"}:
            ids[str(row["id"])] = _text(row["answer"], f"{where} line {line}: the answer to sample {str(row['id'])!r}")
        elif isinstance(row, dict) and set(row) == {"default"}:
            default = _text(row["default"], f"{where} line {line}: `default`")
        else:
            raise UndriftError(f'{where} line {line}: write {{"prompt": ..., "answer": ...}}, {{"id": ..., "answer": ...}}'
                               ' or {"default": ...}')
    return prompts, ids, default


def _text(answer: object, what: str) -> str:
    """An answer as the script wrote it, which must be text: a number, null or list would reach the scorer as
    something no model says (`4` for "4", "None" for nothing)."""
    if not isinstance(answer, str):
        kind = "null" if answer is None else type(answer).__name__
        raise UndriftError(f"{what} is {kind} ({answer!r}), not text: write it as a string in quotes")
    return answer


def _last_user_message(request: Request) -> str:
    return next((m["content"] for m in reversed(request.message_dicts()) if m.get("role") == "user"), "")


class ScriptedModel:
    """A model whose answer to a request is a function of its last user message: `echo:` or `script:FILE`."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.text = spec.option("text")
        self.script = Script.read(Path(spec.target).expanduser()) if spec.backend == "script" else None

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(
            backend=self.spec.backend,
            model=self.spec.target or self.spec.backend,
            deterministic=not (self.script and self.script.ids),
            weights_sha256=self.script.sha256 if self.script else None,
            options={"text": self.text} if self.text is not None else {},
        )

    def prepare(self) -> None:
        """Nothing to load."""

    def generate(self, requests: list[Request], on_done: ProgressCallback | None = None) -> list[Generation]:
        generations = [self._answer(request) for request in requests]
        if on_done and requests:
            on_done(len(requests))
        return generations

    def close(self) -> None:
        """Nothing to release."""

    def _answer(self, request: Request) -> Generation:
        if self.script is not None:
            text = self.script.answer(request)
            if text is None:
                asked = f"sample {request.sample_id!r}" if request.sample_id else repr(_last_user_message(request)[:80])
                return Generation(text="", error=f"the script {self.spec.target!r} has no answer to {asked} "
                                                 "and no default")
        else:
            text = _last_user_message(request) if self.text is None else self.text
        words = text.split()
        cut = len(words) > request.decoding.max_tokens
        return Generation(
            text=" ".join(words[: request.decoding.max_tokens]) if cut else text,
            tokens_in=sum(len(m["content"].split()) for m in request.message_dicts()),
            tokens_out=min(len(words), request.decoding.max_tokens),
            finish_reason="length" if cut else "stop",
        )


def _load(spec: ModelSpec, lazy: bool) -> Model:
    return ScriptedModel(spec)


ECHO = Backend("[?text=TEXT]", "scripted: says the last user message back, or TEXT (for tests)", _load,
               frozenset({"text"}), targets=("",))
SCRIPT = Backend("FILE", "scripted: answers from a JSONL/YAML file by prompt or sample id (for tests)", _load,
                 frozenset())
