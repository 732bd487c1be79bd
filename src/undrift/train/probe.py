"""A cheap forgetting probe that needs no suite run: perplexity and KL to the previous version on anchor prompts.

For each version, in order: the perplexity of the anchors' answers, and the mean KL divergence of its next-token
distribution at the start of each answer from the previous version's.  A jump in either, before any evaluation,
says an update moved the model far from where it was.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..models import ModelSpec
from ..store import Store
from .data import IGNORE, Example, tokenise


def probe(specs: list[tuple[str, str]], anchors: list[Example], max_length: int = 256) -> list[dict[str, Any]]:
    """`specs` are (version name, model spec) pairs, oldest first."""
    import torch
    import torch.nn.functional as F

    from .trainer import load_weights

    results, previous = [], None
    for name, text in specs:
        model, tokenizer = load_weights(ModelSpec.parse(text), f"the probe of {name}")
        model.eval()
        nll, tokens, first = 0.0, 0, []
        with torch.no_grad():
            for example in anchors:
                ids, labels = tokenise(tokenizer, example, max_length)
                logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
                targets = torch.tensor(labels[1:])
                keep = targets != IGNORE
                nll += F.cross_entropy(logits[keep], targets[keep], reduction="sum").item()
                tokens += int(keep.sum())
                start = int(keep.nonzero()[0]) if keep.any() else len(targets) - 1
                first.append(F.log_softmax(logits[start], dim=-1))
        entry: dict[str, Any] = {"version": name, "perplexity": math.exp(nll / max(tokens, 1)), "kl_to_previous": None}
        if previous is not None:
            kls = [(p.exp() * (p - q)).sum().item() for p, q in zip(previous, first)]
            entry["kl_to_previous"] = sum(kls) / len(kls)
        results.append(entry)
        previous = first
        del model
    return results


def probe_versions(store: Store, versions: list[str], anchors: str | Path) -> list[dict[str, Any]]:
    """`probe` for registered versions or run names (a name that is no version is looked up as its latest run)."""
    from ..registry import Registry
    from .data import load_examples

    registry = Registry(store)
    specs = []
    for name in versions:
        version = registry.find(name)
        specs.append((name, version.spec if version else store.get_run(name).model_spec))
    return probe(specs, load_examples(anchors))
