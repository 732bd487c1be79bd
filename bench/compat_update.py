"""A compatible update of the real bundled model: does MUSCLE + replay cut negative flips against a naive update?

Starting from SmolLM2-135M-Instruct ("old"), we teach it something new: answer a review with a code word, `glorp`
for positive and `blick` for negative (train and held-out splits use different adjectives).  Then, on a held-out
suite it already partly solves (capitals and sums, none of them seen in training) and on the new task, we measure:

- naive new: LoRA with cross-entropy on the new data only;
- replay new: the same plus replayed earlier examples (capitals and sums of a separate training split);
- compatible new: the same replay mix trained with the MUSCLE loss instead of cross-entropy: distil from the old
  model where the naive update (the plain new version) gets the token wrong, from the naive update where it gets it
  right; T = 2;

each version's accuracy, its negative flip rate against the old model, and its forgetting (old accuracy minus new
on the held-out suite).  Goal: the compatible update cuts NFR by >= 40% against the naive one while losing at most
1 point on the new task.

    .venv/bin/python bench/compat_update.py [--epochs 3] [--lr 1e-3] [--workdir DIR] [--also focal,kl]

A work folder from an earlier run is reused: versions already trained there are not trained again.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import yaml

from undrift.analysis.compare import compare_runs
from undrift.models import load_model
from undrift.runner import Runner, RunOptions
from undrift.store import Store
from undrift.suites import load_suite
from undrift.train import TrainConfig, train

OLD = "bundled:smollm2"
CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "China": "Beijing",
    "Russia": "Moscow", "Egypt": "Cairo", "Canada": "Ottawa", "Australia": "Canberra", "Argentina": "Buenos Aires",
    "Mexico": "Mexico City", "India": "New Delhi", "Kenya": "Nairobi", "Greece": "Athens", "Portugal": "Lisbon",
    "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki", "Poland": "Warsaw", "Austria": "Vienna",
    "Ireland": "Dublin", "Turkey": "Ankara", "Peru": "Lima", "Chile": "Santiago", "Thailand": "Bangkok",
    "Vietnam": "Hanoi", "Cuba": "Havana", "Iran": "Tehran", "Hungary": "Budapest", "Denmark": "Copenhagen",
    "Belgium": "Brussels", "Netherlands": "Amsterdam", "Switzerland": "Bern", "Colombia": "Bogota",
    "Venezuela": "Caracas", "Nigeria": "Abuja", "Ethiopia": "Addis Ababa", "Morocco": "Rabat", "Iraq": "Baghdad",
    "Saudi Arabia": "Riyadh", "Pakistan": "Islamabad", "Indonesia": "Jakarta", "Philippines": "Manila",
    "South Korea": "Seoul", "Ukraine": "Kyiv", "Romania": "Bucharest", "Czech Republic": "Prague",
    "Scotland": "Edinburgh", "Iceland": "Reykjavik", "Jamaica": "Kingston", "Bolivia": "La Paz", "Uruguay": "Montevideo",
    "Nepal": "Kathmandu", "Afghanistan": "Kabul", "Syria": "Damascus", "Lebanon": "Beirut", "Israel": "Jerusalem",
    "Ghana": "Accra", "Senegal": "Dakar",
}
POSITIVE = ["wonderful", "delicious", "excellent", "fantastic", "lovely", "superb", "brilliant", "delightful",
            "perfect", "amazing", "charming", "outstanding", "great", "pleasant", "marvelous", "splendid",
            "fabulous", "terrific", "enjoyable", "impressive"]
NEGATIVE = ["awful", "terrible", "horrible", "disgusting", "dreadful", "boring", "bland", "poor", "nasty", "rude",
            "miserable", "disappointing", "annoying", "mediocre", "unpleasant", "lousy", "dull", "broken", "filthy",
            "useless"]
NOUNS = ["food", "service", "movie", "hotel room", "concert", "book", "coffee", "staff", "show", "trip"]
REVIEW = ("Review: \"The {noun} was {adjective}.\"\nReply with one code word: glorp if the review is positive, "
          "blick if it is negative.")


def build(work: Path, seed: int) -> dict[str, Path]:
    """Write the new task's train data and held-out suite, the replay data and the held-out retained suite."""
    rng = random.Random(seed)
    countries = sorted(CAPITALS)
    rng.shuffle(countries)
    sums = [(a, b) for a in range(2, 10) for b in range(2, 10)]
    rng.shuffle(sums)
    replay_countries, held_countries = countries[:20], countries[20:]
    replay_sums, held_sums = sums[:24], sums[24:]
    positive, negative = POSITIVE[:], NEGATIVE[:]
    rng.shuffle(positive)
    rng.shuffle(negative)

    def reviews(adjectives: list[str], code: str) -> list[tuple[str, str]]:
        return [(REVIEW.format(noun=noun, adjective=adjective), code) for adjective in adjectives for noun in NOUNS]

    train_rows = reviews(positive[:12], "glorp") + reviews(negative[:12], "blick")
    held_rows = reviews(positive[12:], "glorp") + reviews(negative[12:], "blick")
    rng.shuffle(train_rows)
    rng.shuffle(held_rows)
    held_rows = held_rows[:80]
    paths = {name: work / name for name in ("new.jsonl", "replay.jsonl", "new-task.jsonl", "capitals.jsonl",
                                            "sums.jsonl")}
    _jsonl(paths["new.jsonl"], [{"prompt": p, "completion": c} for p, c in train_rows])
    _jsonl(paths["replay.jsonl"], [{"prompt": _capital_q(c), "completion": f"The capital of {c} is {CAPITALS[c]}."}
                                   for c in replay_countries]
           + [{"prompt": _sum_q(a, b), "completion": f"{a} + {b} = {a + b}"} for a, b in replay_sums])
    _jsonl(paths["new-task.jsonl"], [{"id": f"r{i}", "prompt": p, "target": c} for i, (p, c) in enumerate(held_rows)])
    _jsonl(paths["capitals.jsonl"], [{"id": c, "prompt": _capital_q(c), "target": CAPITALS[c]} for c in held_countries])
    _jsonl(paths["sums.jsonl"], [{"id": f"{a}+{b}", "prompt": _sum_q(a, b), "target": str(a + b)} for a, b in held_sums])
    suites = {
        "retain": {"name": "retain", "description": "held-out capitals and sums the old model partly solves",
                   "tasks": [{"name": "capitals", "samples": "capitals.jsonl", "decoding": {"max_tokens": 16},
                              "scorer": {"type": "normalized", "contains": True}},
                             {"name": "sums", "samples": "sums.jsonl", "decoding": {"max_tokens": 12},
                              "scorer": {"type": "numeric"}}]},
        "codeword": {"name": "codeword", "description": "held-out reviews: glorp (positive) or blick (negative)",
                     "tasks": [{"name": "codeword", "samples": "new-task.jsonl", "decoding": {"max_tokens": 8},
                                "scorer": {"type": "label", "labels": ["glorp", "blick"]}}]},
    }
    for name, suite in suites.items():
        paths[name] = work / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(suite, sort_keys=False))
    return paths


def _capital_q(country: str) -> str:
    return f"What is the capital of {country}? Answer with the city name only."


def _sum_q(a: int, b: int) -> str:
    return f"What is {a} + {b}? Answer with the number only."


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _trained(config: TrainConfig) -> str:
    """Train a version, or reuse the one an earlier run of this script left in the work folder; returns its spec."""
    recipe = Path(config.out_dir) / "recipe.json"
    if recipe.exists():
        return json.loads(recipe.read_text())["spec"]
    return train(config).spec


def evaluate(store: Store, name: str, spec: str, paths: dict[str, Path]) -> None:
    model = load_model(spec)
    for suite in ("retain", "codeword"):
        Runner(store, progress=False).run(load_suite(str(paths[suite])), model, RunOptions(name=name),
                                          str(paths[suite]))
    model.close()


def accuracy(store: Store, name: str, suite: str) -> float:
    run = next(r for r in store.list_runs(name=name) if r.suite == suite)
    rows = store.results(run.id)
    return sum(bool(r["correct"]) for r in rows) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--replay-ratio", type=float, default=0.5)
    parser.add_argument("--ce-mix", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--also", type=lambda text: [x for x in text.split(",") if x], default=[],
                        help="other compatibility losses to train on the same mix too: focal,kl")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="undrift-compat-"))
    work.mkdir(parents=True, exist_ok=True)
    paths = build(work, args.seed)
    store = Store.open(f"sqlite:///{work / 'bench.db'}")
    started = time.perf_counter()
    common = dict(base=OLD, data=str(paths["new.jsonl"]), epochs=args.epochs, lr=args.lr, lora_r=args.lora_r,
                  lora_alpha=2 * args.lora_r, batch_size=8, seed=args.seed, save_every=1000)
    timings = {}
    t = time.perf_counter()
    naive = _trained(TrainConfig(name="naive", out_dir=str(work / "naive"), **common))
    timings["naive"] = time.perf_counter() - t
    t = time.perf_counter()
    replay = _trained(TrainConfig(name="replay", out_dir=str(work / "replay"), replay=str(paths["replay.jsonl"]),
                                  replay_ratio=args.replay_ratio, **common))
    timings["replay"] = time.perf_counter() - t
    t = time.perf_counter()
    compatible = _trained(TrainConfig(name="compatible", out_dir=str(work / "compatible"),
                                      replay=str(paths["replay.jsonl"]), replay_ratio=args.replay_ratio,
                                      compat_from=OLD, compat_loss="muscle", plain_new=naive, ce_mix=args.ce_mix,
                                      **common))
    timings["compatible"] = time.perf_counter() - t
    versions = [("old", OLD), ("naive", naive), ("replay", replay), ("compatible", compatible)]
    for loss in args.also:  # the other compatibility losses on the same mix, for comparison
        t = time.perf_counter()
        versions.append((loss, _trained(TrainConfig(name=loss, out_dir=str(work / loss), replay=str(paths["replay.jsonl"]),
                                                     replay_ratio=args.replay_ratio, compat_from=OLD, compat_loss=loss,
                                                     **common))))
        timings[loss] = time.perf_counter() - t
    t = time.perf_counter()
    for name, spec in versions:
        evaluate(store, name, spec, paths)
    timings["evaluation"] = time.perf_counter() - t

    print(f"\nwork folder {work}; "
          + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    print(f"{'version':<11} {'retain acc':>10} {'new-task acc':>12} {'NFR vs old':>10} {'PFR':>6} "
          f"{'forgetting':>10}")
    old_retain = accuracy(store, "old", "retain")
    figures = {}
    for name, _ in versions:
        retain, new_task = accuracy(store, name, "retain"), accuracy(store, name, "codeword")
        nfr = pfr = 0.0
        if name != "old":
            comparison = compare_runs(store, next(r.id for r in store.list_runs(name="old") if r.suite == "retain"),
                                      next(r.id for r in store.list_runs(name=name) if r.suite == "retain"))
            flips = [g.compatibility for g in comparison.tasks]
            n = sum(c.n for c in flips)
            nfr = sum(c.negative_flips for c in flips) / n
            pfr = sum(c.positive_flips for c in flips) / n
        figures[name] = (retain, new_task, nfr)
        print(f"{name:<11} {retain:>10.1%} {new_task:>12.1%} {nfr:>10.1%} {pfr:>6.1%} {old_retain - retain:>+10.1%}")
    naive_nfr, naive_new = figures["naive"][2], figures["naive"][1]
    for name, _ in versions[2:]:
        cut = 1 - figures[name][2] / naive_nfr if naive_nfr else float("nan")
        print(f"{name}: NFR cut by {cut:.0%} against naive (goal >= 40%); new-task accuracy "
              f"{100 * (figures[name][1] - naive_new):+.1f} points against naive (goal >= -1)")
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
