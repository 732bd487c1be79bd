"""Prefill for batched local generation: the prompts' shared prefix once, then their own parts with little padding.

On a CPU, the prompt costs as much compute as the answer: 64 drift prompts average 61 tokens, 24 of them the chat
template and default system prompt every prompt shares, and a batch padded to its longest prompt computes the padding
too.  So the shared prefix is computed once, its KV cache repeated for every row, and each row's own tokens are
computed in small groups of similar length; the parts are joined into one left-padded cache laid out as

    [shared prefix][padding][own tokens but the last]

which transformers' `generate` continues from: it feeds each row's last prompt token (the padding is masked, and
position ids come from the attention mask, so every token keeps the position it has in its own prompt).  Decoding is
then exactly `generate`'s, greedy or sampled.  Greedy answers are those of a plain padded `generate`
(tests/test_engine.py compares them on the drift suite).
"""

from __future__ import annotations

from dataclasses import dataclass

PREFILL_ROWS = 8  # rows computed together while prefilling; similar lengths, so little padding
MIN_SHARED = 4  # a shorter shared prefix is not worth a forward pass of its own


@dataclass
class Prefilled:
    """What `generate` continues from: the full prompts (padded), their mask, and the cache of all but the last."""

    input_ids: object  # tensor [rows, width]
    attention_mask: object  # tensor [rows, width]
    cache: object  # DynamicCache holding positions 0 .. width - 2


def shared_prefix(prompts: list[list[int]]) -> int:
    """Tokens every prompt begins with, leaving each prompt at least one token of its own to feed `generate`."""
    shortest = min(len(p) for p in prompts)
    first = prompts[0]
    length = 0
    while length < shortest - 1 and all(p[length] == first[length] for p in prompts):
        length += 1
    return length if length >= MIN_SHARED else 0


def prefill(model, torch, prompts: list[list[int]], pad_id: int, device: str) -> Prefilled | None:
    """Compute the KV cache of `prompts` (token lists, longest first) but their last tokens, in the layout above;
    None where the layout does not apply (a one-token prompt with nothing shared; a cache with sliding-window or
    linear-attention layers, or one the model's generation config presets), for which a plain padded `generate` is
    used."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    shared = shared_prefix(prompts)
    width = shared + max(len(p) - shared for p in prompts)
    plain_layers = all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)
    preset = getattr(getattr(model, "generation_config", None), "cache_implementation", None)
    if (not shared and min(len(p) for p in prompts) < 2) or not plain_layers or preset not in (None, "dynamic"):
        return None
    prefix_cache = None
    if shared:
        prefix_cache = DynamicCache(config=model.config)
        model(input_ids=torch.tensor([prompts[0][:shared]], device=device), past_key_values=prefix_cache,
              use_cache=True, logits_to_keep=1)
    layers: list[tuple[list, list]] = []
    for start in range(0, len(prompts), PREFILL_ROWS):
        group = prompts[start : start + PREFILL_ROWS]
        cache = _own_tokens(model, torch, group, shared, width, prefix_cache, pad_id, device)
        for index, layer in enumerate(cache.layers):
            if len(layers) <= index:
                layers.append(([], []))
            layers[index][0].append(layer.keys)
            layers[index][1].append(layer.values)
    cache = DynamicCache(config=model.config)
    for index, (keys, values) in enumerate(layers):
        cache.update(torch.cat(keys), torch.cat(values), index)
    rows = [p[:shared] + [pad_id] * (width - len(p)) + p[shared:] for p in prompts]
    mask = [[1] * shared + [0] * (width - len(p)) + [1] * (len(p) - shared) for p in prompts]
    return Prefilled(torch.tensor(rows, device=device), torch.tensor(mask, device=device), cache)


def _own_tokens(model, torch, group, shared, width, prefix_cache, pad_id, device):
    """The cache of one group of rows: the shared prefix's, padding, then each row's own tokens but its last."""
    import copy

    from transformers import DynamicCache

    own = [p[shared:-1] for p in group]
    longest = max(len(o) for o in own)
    if prefix_cache is not None:
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(len(group))
    else:
        cache = DynamicCache(config=model.config)
    if longest:
        ids = torch.tensor([[pad_id] * (longest - len(o)) + o for o in own], device=device)
        own_mask = torch.tensor([[0] * (longest - len(o)) + [1] * len(o) for o in own], device=device)
        mask = torch.cat([own_mask.new_ones((len(group), shared)), own_mask], dim=1)
        positions = (shared + own_mask.cumsum(-1) - 1).clamp(min=0)
        model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
              logits_to_keep=1)
    missing = (width - 1) - (shared + longest)  # padding between the shared prefix and this group's own tokens
    joined = DynamicCache(config=model.config)
    for index, layer in enumerate(cache.layers):
        joined.update(_widen(torch, layer.keys, shared, missing), _widen(torch, layer.values, shared, missing), index)
    return joined


def _widen(torch, tensor, shared: int, missing: int):
    """Insert `missing` zero positions after the shared prefix (dimension 2 of a [rows, heads, positions, dim] cache);
    the attention mask hides them."""
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[2] = missing
    return torch.cat([tensor[:, :, :shared], tensor.new_zeros(shape), tensor[:, :, shared:]], dim=2)
