"""undrift: keep a large language model's behaviour steady across time and updates."""

__version__ = "0.1.0"
