"""`make demo`: the built-in drift suite against the embedded model and a silently updated copy of it.

The second version differs the way hosted models change under their users without a new name: its weights are
int8-quantised and a hidden system prompt was added.  Both runs land in ./undrift.db (or $UNDRIFT_DB), so
`undrift runs` and `undrift show` can look at them afterwards.
"""

from __future__ import annotations

import os
import sys

from .cli import main as cli_main

LIMIT = os.environ.get("UNDRIFT_DEMO_LIMIT", "12")
VERSIONS = [
    ("smollm2", "bundled:smollm2"),
    ("smollm2-silent-update", "bundled:smollm2?quant=int8&system=You are a concise assistant. Keep answers short."),
]


def main() -> None:
    for name, spec in VERSIONS:
        print(f"\n== {name}: {spec}", flush=True)
        sys.argv = ["undrift", "run", "drift", "--model", spec, "--as", name, "--limit", LIMIT]
        try:
            cli_main()
        except SystemExit as done:
            if done.code:
                raise
    print("\nBoth runs are stored: `.venv/bin/undrift runs`, `.venv/bin/undrift show smollm2-silent-update --samples 3`")


if __name__ == "__main__":
    main()
