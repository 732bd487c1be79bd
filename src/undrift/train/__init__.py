"""Fine-tuning a new version: LoRA on new data, replay against forgetting, compatibility losses against flips."""

from .data import Example, load_examples
from .trainer import TrainConfig, TrainResult, train

__all__ = ["Example", "load_examples", "TrainConfig", "TrainResult", "train"]
