"""The training losses, token by token.  Every function takes logits already aligned with their labels.

- cross-entropy on the answer tokens: the plain ("naive") update;
- MUSCLE (Echterhoff et al. 2024, arXiv 2407.09435): distil from the old version where the plain new version gets
  the token wrong and from the plain new version where it gets it right, at temperature T, optionally mixed with
  cross-entropy.  The new version learns the new data without taking on the plain update's negative flips;
- focal distillation (Yan et al., CVPR 2021): cross-entropy plus distillation from the old version, weighted
  alpha + beta * [old version right], so the samples the old version got right are the ones kept;
- KL to the previous version on anchor prompts: a trust region in output space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import IGNORE


def _mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-token KL(teacher || student) at `temperature`, scaled by T^2 so gradients keep their size."""
    log_student = F.log_softmax(student / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher / temperature, dim=-1)
    return (log_teacher.exp() * (log_teacher - log_student)).sum(-1) * temperature**2


def muscle(student: torch.Tensor, old: torch.Tensor, plain_new: torch.Tensor, labels: torch.Tensor,
           temperature: float = 2.0, ce_mix: float = 0.0) -> torch.Tensor:
    mask = (labels != IGNORE).float()
    plain_right = plain_new.argmax(-1) == labels
    teacher = torch.where(plain_right.unsqueeze(-1), plain_new, old)
    loss = _mean(distillation(student, teacher, temperature), mask)
    if ce_mix:
        loss = (1 - ce_mix) * loss + ce_mix * cross_entropy(student, labels)
    return loss


def focal_distillation(student: torch.Tensor, old: torch.Tensor, labels: torch.Tensor, temperature: float = 2.0,
                       alpha: float = 1.0, beta: float = 5.0, weight: float = 1.0) -> torch.Tensor:
    mask = (labels != IGNORE).float()
    old_right = (old.argmax(-1) == labels).float()
    focal = _mean((alpha + beta * old_right) * distillation(student, old, temperature), mask)
    return cross_entropy(student, labels) + weight * focal


def anchor_kl(student: torch.Tensor, reference: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Mean KL(reference || student) over every real token of the anchor prompts."""
    return _mean(distillation(student, reference, 1.0), attention.float())
