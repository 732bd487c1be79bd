"""An example undrift plugin: a backend, a scorer and a suite, each registered by an entry point in pyproject.toml."""

from __future__ import annotations

from undrift.models import Backend, Fingerprint, Generation, ModelSpec, Request
from undrift.scoring import Score
from undrift.suites import Sample, ScorerConfig, Suite, Task


class ReverseModel:
    """`reverse:` says each request's last user message back with its words in reverse order."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    def fingerprint(self) -> Fingerprint:
        # deterministic: the same request always gets the same answer, so undrift may reuse cached answers
        return Fingerprint(backend="reverse", model="reverse", deterministic=True)

    def prepare(self) -> None:
        """Nothing to load (a real backend loads weights or checks its server here)."""

    def generate(self, requests: list[Request], on_done=None) -> list[Generation]:
        answers = []
        for request in requests:
            prompt = [m["content"] for m in request.message_dicts() if m["role"] == "user"][-1]
            answers.append(Generation(text=" ".join(reversed(prompt.split()))))
        if on_done:
            on_done(len(requests))
        return answers

    def close(self) -> None:
        """Nothing to release."""


REVERSE = Backend(
    usage="",
    description="says the prompt back with its words reversed",
    load=lambda spec, lazy: ReverseModel(spec),
    targets=("",),
)


class SameWords:
    """`same_words`: right when the response has the target's words in the target's order."""

    def __init__(self, case_sensitive: bool = False):
        self.case_sensitive = case_sensitive

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        def words(text: str) -> list[str]:
            return (text if self.case_sensitive else text.lower()).split()

        correct = words(response) == words(str(sample.target))
        return Score(value=float(correct), correct=correct, extracted=response.strip())


def build_suite(seed: int = 0) -> Suite:
    """`example-suite`: three samples; `reverse:` gets the first two right (the third's target is not reversed)."""
    rows = [("one", "one two three", "three two one"), ("two", "Red green Blue", "blue GREEN red"),
            ("three", "up down", "up down")]
    samples = tuple(Sample(id=i, messages=({"role": "user", "content": p},), target=t) for i, p, t in rows)
    task = Task(name="reverse-words", samples=samples, scorer=ScorerConfig("same_words"),
                description="say the words in reverse order")
    return Suite(name="example-suite", tasks=(task,), description="an example suite from a plugin")
