"""How fast the dashboard's pages load on a store of 100 runs of 1,000 samples (issue 12's goal: under a second).

The store is written straight in (as `undrift import` writes runs): four model names with 40, 30, 20 and 10 daily
runs, each run 1,000 samples over three tasks (a right/wrong task, a graded task without verdicts, a refusal task),
a few errors, a step down in accuracy on two names, fingerprint changes (a new `system_fingerprint`, a new served
model) and a watch with an open alert; the four names registered as a lineage of versions with `production` moved
along it; and 10,000 proxied requests of one model over 10 days whose errors and refusals rise on the eighth.  `--store PATH` keeps it there and reuses it on the next run.

Each page is loaded over HTTP from a real uvicorn server on 127.0.0.1: first from a new app over the store (cold: no
history memo, a new connection pool; the operating system's file cache is warm), then again from the same app
(warm: best of three).  Each time is printed against two peers measured in the same run:

- the goal, 1 s (a ratio below 1 meets it);
- the floor: plain `sqlite3` reading the same runs' result rows (run, task, sample, repeat, verdict, value, error)
  in one SELECT, which no page that looks at those rows can beat.

Last, the overview as `undrift ui` serves it: its app computes the overview in a background thread as it starts
(the time that takes is printed), and the first visit after that finds the histories kept.

The CPU seconds of the cold load are printed too: on a machine shared with other work the wall time can be twice
the CPU time.  The first page after start also imports SciPy and Plotly; it is measured once, on its own line.

    .venv/bin/python bench/web_pages.py [--store /tmp/undrift-bench.db]

A page whose route does not exist in this checkout is skipped with a note; add one to PAGES to measure it.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import uvicorn
from starlette.routing import Match

import undrift
from undrift.store.traffic import TrafficRecord, add_traffic
from undrift.web.app import create_app

GOAL_S = 1.0
RUNS = {"support-bot": 40, "triage": 30, "local-llama": 20, "qa-bot": 10}  # 100 runs
TASKS = {"facts": 500, "summaries": 300, "refusals": 200}  # 1,000 samples a run
TRAFFIC = 10_000  # proxied requests of support-bot over 10 days
# path (formatted with the store's facts: {name}, {old}, {new} are runs of the biggest name) and what it shows;
# the runs a page reads, for its floor: "all" or "name" (the runs of {name}) or "pair" ({old} and {new}).
PAGES = [
    ("/", "overview", "all"),
    ("/history?name={name}", "history of one name", "name"),
    ("/history?name={name}&task=summaries&metric=verbosity", "history, another task and metric", "name"),
    ("/compare?old={old}&new={new}", "compare two runs", "pair"),
    ("/registry", "registry", "all"),
    ("/traffic", "traffic", "all"),
    ("/review?run={new}&against={old}", "review queue", "pair"),
]


def build_store(path: Path) -> None:
    """100 runs x 1,000 samples of four model names, with drift: see the module's docstring."""
    rng = random.Random(0)
    store = undrift.Store.open(f"sqlite:///{path}")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for index, (name, count) in enumerate(RUNS.items()):
        skill = {t: rng.uniform(0.6, 0.9) for t in TASKS}
        step_at = count * 2 // 3 if index % 2 == 0 else None  # two names get worse at one run
        for day in range(count):
            fingerprint = {"backend": "openai", "served_model": f"{name}-v{1 + day // 15}",
                           "system_fingerprint": f"fp_{day // 7}"}  # weekly snapshots, a new model every 15 days
            drop = 0.15 if step_at is not None and day >= step_at else 0.0
            rows = [row for task, size in TASKS.items() for row in _rows(rng, task, size, skill[task] - drop)]
            fields = dict(name=name, suite="bench", suite_source="bench", suite_digest="0" * 64,
                          model_spec=f"openai:{name}", fingerprint=fingerprint,
                          config={"tasks": list(TASKS), "repeats": 1}, created_at=start + timedelta(days=day))
            store.add_complete_runs([(fields, rows)])
    undrift.add_watch("support-bot", "openai:support-bot@http://127.0.0.1:9/v1", "drift", "1d", db=store)
    from undrift.monitor.alerts import REGRESSION, raise_alert
    from undrift.monitor.ticks import start_tick

    raise_alert(store, "support-bot", REGRESSION, start_tick(store, "support-bot").id, "accuracy fell on facts", {})
    registry = undrift.Registry(store)
    parent = None
    for name in RUNS:  # each name a registered version of the one before, `production` moved along them
        registry.register(name, f"openai:{name}", parent=parent)
        registry.set_alias("production", name)
        parent = name
    add_traffic(store, [_request(rng, start + timedelta(seconds=86.4 * i), i) for i in range(TRAFFIC)])
    store.close()


def _request(rng: random.Random, at: datetime, index: int) -> TrafficRecord:
    """One proxied chat request of `support-bot`; from the eighth day on, errors and refusals rise."""
    late = index >= TRAFFIC * 7 // 10
    error = "upstream returned 502" if rng.random() < (0.06 if late else 0.01) else None
    text = None if error else ("I cannot help with that." if rng.random() < (0.15 if late else 0.03)
                               else "Paris is the capital of France. " * rng.randint(1, 8))
    return TrafficRecord(
        at=at, method="POST", path="/v1/chat/completions", upstream="http://127.0.0.1:9/v1", stream=False,
        status=502 if error else 200, latency_s=rng.uniform(0.2, 2.0),
        request={"model": "support-bot", "messages": [{"role": "user", "content": "What is the capital of France?"}]},
        response=None if error else {"object": "chat.completion", "model": "support-bot-2026",
                                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                  "finish_reason": "stop"}]},
        response_text=text, model="support-bot", served_model="support-bot-2026", tokens_in=12,
        tokens_out=None if error else len(text) // 4, error=error)


def _rows(rng: random.Random, task: str, size: int, skill: float) -> list[dict]:
    rows = []
    for i in range(size):
        sample = f"{task}-{i:04d}"
        error = "upstream timed out" if rng.random() < 0.003 else None
        right = rng.random() < skill + (0.1 if i % 3 == 0 else -0.05)  # some samples are easier
        graded = task == "summaries"
        answer = ("Paris is the capital of France. " * rng.randint(2, 12)) if not error else ""
        rows.append(dict(
            task=task, sample_id=sample, repeat=0, slices=[f"slice-{i % 5}"],
            messages=[{"role": "user", "content": f"Question {sample}: " + "please answer concisely. " * 8}],
            target="Paris", response=answer, variants=[], extracted=None if graded else ("Paris" if right else "Lyon"),
            value=0.0 if error else (rng.random() if graded else float(right)),
            correct=None if error or graded else right,
            details={} if error else ({"responded": True} if graded else {"answered": rng.random() > 0.05}),
            latency_s=rng.uniform(0.2, 2.0), tokens_in=60, tokens_out=len(answer) // 4, finish_reason="stop",
            system_fingerprint=None, cache_key=None, cached=False, error=error))
    return rows


class Server:
    """`app` served by uvicorn on 127.0.0.1, on a port the system picks, in a thread."""

    def __init__(self, app) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not (self.server.started and self.server.servers):
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def served(app, path: str) -> bool:
    """Whether a route of `app` answers GET `path` (a page another change adds may not be here yet)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


def load(url: str) -> tuple[float, float, int]:
    """Seconds to fetch the whole page, the CPU seconds this process spent meanwhile (the server is a thread of
    it), and the HTTP status."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as problem:
        problem.read()
        status = problem.code
    return time.perf_counter() - started, time.process_time() - cpu, status


def floor_s(path: Path, run_ids: list[str]) -> float:
    """Plain sqlite3: the rows of `run_ids` that any page reading their results must read, in one SELECT."""
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    marks = ",".join("?" * len(run_ids))
    connection.execute(f'SELECT run_id, task, sample_id, "repeat", correct, value, error FROM results '
                       f"WHERE run_id IN ({marks})", run_ids).fetchall()
    connection.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="the SQLite file to build, or reuse where it exists "
                                                   "(default: a new one in a temporary folder)")
    args = parser.parse_args()
    if args.store:
        return measure(args.store)
    with tempfile.TemporaryDirectory(prefix="undrift-web-bench-") as folder:
        measure(Path(folder) / "bench.db")


def measure(path: Path) -> None:
    """Build the store at `path` unless it is there, then load each page."""
    if not path.exists():
        started = time.perf_counter()
        build_store(path)
        print(f"built {path} in {time.perf_counter() - started:.1f} s")
    url = f"sqlite:///{path}"
    every = undrift.runs(limit=None, db=url)
    name = max(RUNS, key=RUNS.get)
    mine = [r for r in every if r.name == name]
    facts = {"name": name, "old": mine[-1].id, "new": mine[0].id}
    readers = {"all": [r.id for r in every], "name": [r.id for r in mine], "pair": [mine[-1].id, mine[0].id]}
    print(f"{len(every)} runs, {sum(r.done for r in every):,} result rows; goal {GOAL_S:g} s a page")
    with Server(create_app(url)) as base:  # the dashboard's first page after it starts pays for imports once
        first, first_cpu, _ = load(base + "/")
    print(f"first page after start (the overview, imports of SciPy and Plotly included): {first:.3f} s "
          f"({first_cpu:.3f} s CPU); every page below is then loaded cold from a new app, and warm")
    print(f"{'page':<36} {'cold s':>7} {'CPU s':>6} {'/goal':>6} {'/floor':>7} {'warm s':>7} {'/floor':>7} "
          f"{'floor s':>8}")
    for template, what, reads in PAGES:
        page = template.format(**facts)
        app = create_app(url)
        route = page.split("?")[0]
        if not served(app, route):
            print(f"{what:<36} skipped: no route {route} in this checkout")
            continue
        floor = min(floor_s(path, readers[reads]) for _ in range(3))
        with Server(app) as base:
            cold, cpu, status = load(base + page)
            warm = min(load(base + page)[0] for _ in range(3))
        note = "" if status == 200 else f"  HTTP {status}!"
        print(f"{what:<36} {cold:7.3f} {cpu:6.3f} {cold / GOAL_S:6.2f} {cold / floor:6.1f}x {warm:7.3f} "
              f"{warm / floor:6.1f}x {floor:8.3f}{note}")
        print(f"    {page}  (floor: the rows of {len(readers[reads])} runs)")
    app = create_app(url, warm=True)  # as `undrift ui` starts it: the overview is computed as the server starts
    started = time.perf_counter()
    app.state.warm_up.join()
    ready = time.perf_counter() - started
    with Server(app) as base:
        after, _, _ = load(base + "/")
    print(f"overview after `undrift ui`'s start-up warm-up ({ready:.3f} s in the background): {after:.3f} s "
          f"({after / GOAL_S:.2f} of the goal)")


if __name__ == "__main__":
    main()
