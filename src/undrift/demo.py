"""`make demo`: the built-in drift suite against the embedded model and a silently updated copy, then the comparison.

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


def _undrift(*args: str) -> None:
    sys.argv = ["undrift", *args]
    try:
        cli_main()
    except SystemExit as done:
        if done.code:
            raise


def main() -> None:
    for name, spec in VERSIONS:
        print(f"\n== {name}: {spec}", flush=True)
        _undrift("run", "drift", "--model", spec, "--as", name, "--limit", LIMIT)
    old, new = (name for name, _ in VERSIONS)
    print(f"\n== did it change? undrift compare {old} {new}", flush=True)
    _undrift("compare", old, new, "--flips", "3", "--html", "demo-compare.html")
    print("\nBoth runs are stored in ./undrift.db; the comparison is also in demo-compare.html. Next: "
          f"`.venv/bin/undrift gate {old} {new} --policy docs/examples/policy.yaml`")


if __name__ == "__main__":
    main()
