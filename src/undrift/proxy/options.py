"""What one proxy is told: where to forward, how much to record, what to mask, and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ByteSize, TypeAdapter, ValidationError

from ..errors import UndriftError, option

DEFAULT_MAX_BODY = "4MB"


@dataclass(frozen=True)
class ProxyOptions:
    """`sample` is the share of requests recorded (1.0: every one).  `queue_size` bounds the records waiting for the
    writer (beyond it they are dropped and counted, so a slow store never holds a request up); `batch_size` is the
    most records written in one transaction."""

    upstream: str
    sample: float = 1.0
    redact: tuple[str, ...] = ()
    token: str | None = None
    max_body_bytes: int = 4_000_000
    timeout_s: float = 300.0
    queue_size: int = 10_000
    batch_size: int = 500

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UndriftError(f"{option('upstream')} {self.upstream!r} is not an http(s) URL: give the base URL "
                               "your clients use now, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1")
        if parts.username is not None or parts.password is not None:
            raise UndriftError(f"{option('upstream')} must not hold credentials (user:password@): they would "
                               "replace the callers' own Authorization and be written with every record; callers "
                               "send their keys as before")
        if not 0.0 <= self.sample <= 1.0:
            raise UndriftError(f"{option('sample')} {self.sample} is not a share of requests: give a number from 0 "
                               "to 1")
        if self.timeout_s <= 0 or self.max_body_bytes <= 0:
            raise UndriftError(f"{option('timeout_s', flag='--timeout')} and "
                               f"{option('max_body_bytes', flag='--max-body')} must be positive")


def parse_size(text: str, option: str = "--max-body") -> int:
    """A size as people write it: `4MB` (4,000,000 bytes), `512KB`, `4MiB`, or plain bytes (`1000000`)."""
    try:
        size = int(TypeAdapter(ByteSize).validate_python(text.strip()))
    except ValidationError:
        raise UndriftError(f"{option} {text!r} is not a size: write bytes (1000000) or a unit (512KB, 4MB, 4MiB)") \
            from None
    if size <= 0:
        raise UndriftError(f"{option} {text!r} must be more than 0 bytes")
    return size
