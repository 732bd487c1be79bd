"""`undrift proxy`: an OpenAI-compatible reverse proxy that forwards every request unchanged and records a sample of
the traffic into the store, off the request path.

options (what a proxy is told), forward (the upstream URL and the headers that cross), sse (a streamed answer put
back together), exchange (one request's facts turned into a redacted `TrafficRecord`), redact (masking), recorder
(the bounded hand-off from the event loop), writer (the process that redacts and writes), metrics (Prometheus), app
(the ASGI app), launch (checks, the bound socket, uvicorn).
"""

from .app import create_app
from .launch import Listening, listen, prepare
from .options import ProxyOptions, parse_size

__all__ = ["Listening", "ProxyOptions", "create_app", "listen", "parse_size", "prepare"]
