"""Load a suite by built-in name or from a YAML file (with samples inline or in JSONL files beside it).

Every problem is reported as one line naming the file, the task and the sample, so a user can mend it.
See docs/suite-format.md for the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import UndriftError, option
from ..models.base import Decoding
from ..plugins import SUITES, Installed
from ..userfiles import check_prompt_length, jsonl_rows, load_yaml, read_text
from .schema import Sample, ScorerConfig, Suite, SuiteProblem, Task

TASK_KEYS = {"name", "description", "samples", "system", "template", "decoding", "scorer"}
SUITE_KEYS = {"name", "version", "description", "tasks"}


def installed_suites(seed: int = 0) -> list[Installed[Suite]]:
    """Every suite that loads by name (undrift's own and plugins'), built from `seed`, with the distribution that
    provides it; one that fails to load or build carries its one-line problem instead, so the rest still list."""
    listed = []
    for entry in SUITES.installed():
        if entry.value is None:
            listed.append(Installed(entry.name, entry.plugin, None, entry.problem))
            continue
        try:
            listed.append(Installed(entry.name, entry.plugin, _build(entry.name, entry.value, seed)))
        except UndriftError as problem:
            listed.append(Installed(entry.name, entry.plugin, None, str(problem)))
    return listed


def load_suite(name_or_path: str | Path, seed: int = 0, allow_outside: bool = False) -> Suite:
    """A suite registered under that name (generated deterministically from `seed`), or a suite file by path.

    Names come from the `undrift.suites` entry points, where undrift's own suites are registered like a plugin's.
    A suite file may name samples files only inside its own folder unless `allow_outside`: a suite from
    elsewhere must not read `~/.ssh/id_rsa` or `/etc/passwd` into prompts that go to a hosted model."""
    if not isinstance(name_or_path, (str, Path)):
        raise UndriftError(f"load_suite: a suite is a built-in name or a suite file's path (a str or a Path); got "
                           f"{name_or_path!r}")
    builder = SUITES.get(name_or_path) if isinstance(name_or_path, str) else None  # a Path is always a file
    if builder is not None:
        return _build(name_or_path, builder, seed)
    path = Path(name_or_path)
    if isinstance(name_or_path, Path) or path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return load_suite_file(path, allow_outside)
    raise SUITES.unknown(f"suite {name_or_path!r}", " (or give the path of a suite .yaml file)")


def _build(name: str, builder: Callable[[int], Suite], seed: int) -> Suite:
    """Call a suite builder, holding a plugin's to its contract: a `Suite` back, any failure one line."""
    try:
        suite = builder(seed)
    except UndriftError:
        raise
    except Exception as exc:  # a plugin's builder can raise anything; say whose it is
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise UndriftError(f"the suite {name!r} of {SUITES.provider(name)} failed to build ({reason})") from None
    if not isinstance(suite, Suite):
        raise UndriftError(f"the suite {name!r} of {SUITES.provider(name)} built a {type(suite).__name__}, "
                           "not a Suite")
    return suite


def load_suite_file(path: Path, allow_outside: bool = False) -> Suite:
    if not path.is_file():
        raise UndriftError(f"suite file {str(path)!r} does not exist: check the path")
    document = load_yaml(read_text(path), f"suite file {str(path)!r}")
    where = str(path)
    if not isinstance(document, dict):
        raise UndriftError(f"{where}: a suite file is a mapping with `name` and `tasks`; see docs/suite-format.md")
    _no_unknown_keys(document, SUITE_KEYS, where)
    tasks_raw = document.get("tasks")
    if not isinstance(tasks_raw, list):
        raise UndriftError(f"{where}: `tasks` must be a non-empty list of tasks")
    folder = None if allow_outside else path.parent.resolve()
    tasks = [task_from_mapping(raw, path.parent, folder, f"{where}: task {i + 1}") for i, raw in enumerate(tasks_raw)]
    return assemble_suite(str(document.get("name") or path.stem), tasks, str(document.get("version", "1")),
                          str(document.get("description", "")), str(path.resolve()), where)


def assemble_suite(name: str, tasks: list[Task], version: str, description: str, source: str, where: str) -> Suite:
    """A suite of checked tasks, from a file or from Python, held to `Suite`'s rules; a problem names `where`."""
    try:
        return Suite(name=name, version=version, description=description, tasks=tuple(tasks), source=source)
    except SuiteProblem as problem:
        raise UndriftError(f"{where}: {problem.detail}") from None


def task_from_mapping(raw: Any, base_dir: Path, inside: Path | None, where: str) -> Task:
    """One task as a suite file writes it (`name`, `samples`, `scorer`, optional `template`, `system`, `decoding`,
    `description`), checked: every sample expands, then `Task`'s rules (the scorer exists and suits every sample,
    ids are unique), with the row at fault named by its place in the file."""
    if not isinstance(raw, dict) or not raw.get("name"):
        raise UndriftError(f"{where}: each task is a mapping with at least `name`, `samples` and `scorer`")
    where = f"{where.rsplit(': task', 1)[0]}: task {raw['name']!r}"
    _no_unknown_keys(raw, TASK_KEYS, where)
    scorer_raw = raw.get("scorer")
    if isinstance(scorer_raw, str):
        scorer_raw = {"type": scorer_raw}
    if not isinstance(scorer_raw, dict) or "type" not in scorer_raw:
        raise UndriftError(f"{where}: `scorer` must name a type, e.g. `scorer: {{type: exact}}`")
    scorer = ScorerConfig(type=str(scorer_raw["type"]), params={k: v for k, v in scorer_raw.items() if k != "type"})
    try:
        decoding = Decoding.from_dict(raw.get("decoding") or {})
    except UndriftError as exc:
        raise UndriftError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UndriftError(f"{where}: bad `decoding`: {_one_line(exc)}") from None
    rows = _sample_rows(raw.get("samples"), base_dir, inside, where)
    samples = [sample_from_row(row, raw.get("template"), raw.get("system"), f"{where}: {label}") for label, row in rows]
    try:
        return Task(name=str(raw["name"]), samples=tuple(samples), scorer=scorer, decoding=decoding,
                    description=str(raw.get("description", "")))
    except SuiteProblem as problem:
        at = f"{rows[problem.sample][0]}: " if problem.sample is not None else ""
        raise UndriftError(f"{where}: {at}{problem.detail}") from None


def _sample_rows(value: Any, base_dir: Path, inside: Path | None, where: str) -> list[tuple[str, dict]]:
    """The task's sample rows, inline or from a JSONL file (which must lie in `inside`, symlinks resolved, if given)."""
    if isinstance(value, list):
        rows = [(f"sample {i + 1}", row) for i, row in enumerate(value)]
    elif isinstance(value, str):
        path = (base_dir / value).resolve()
        if inside is not None and not path.is_relative_to(inside):
            raise UndriftError(f"{where}: samples file {value!r} lies outside the suite's folder {str(inside)!r}; "
                               f"move it there, or give {option('allow_outside', True)} if you trust this suite file")
        if not path.is_file():
            raise UndriftError(f"{where}: samples file {value!r} does not exist (paths are relative to the suite file)")
        try:
            rows = [(f"{path.name} line {number}", row) for number, row in jsonl_rows(path)]
        except UndriftError as exc:
            raise UndriftError(f"{where}: {exc}") from None
    else:
        raise UndriftError(f"{where}: `samples` must be a list or the name of a .jsonl file")
    for label, row in rows:
        if not isinstance(row, dict):
            raise UndriftError(f"{where}: {label} must be a JSON object")
    return rows


def sample_from_row(row: dict, template: str | None, system: str | None, where: str) -> Sample:
    """A sample from one row: `id`, then `messages`, `prompt` or template fields; `target`, `slices`, extra data."""
    if "id" not in row:
        raise UndriftError(f"{where}: missing `id`; every sample needs a unique id")
    messages = _messages(row, template, system, where)
    check_prompt_length(messages, where)
    counterfactual = None
    if "counterfactual" in row:
        twin = row["counterfactual"]
        twin_row = twin if isinstance(twin, dict) else {"prompt": twin}
        counterfactual = tuple(_messages({**row, **twin_row}, template, system, f"{where} counterfactual"))
        check_prompt_length(counterfactual, f"{where} counterfactual")
    slices = row.get("slices") or ()
    decoding = None
    if row.get("decoding") is not None:
        try:
            decoding = Decoding.from_dict(row["decoding"]) if isinstance(row["decoding"], dict) else None
        except UndriftError as exc:
            raise UndriftError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise UndriftError(f"{where}: bad `decoding`: {_one_line(exc)}") from None
        if decoding is None:
            raise UndriftError(f"{where}: a sample's `decoding` is a mapping such as {{max_tokens: 64, temperature: 0}}")
    reserved = {"id", "messages", "prompt", "target", "slices", "counterfactual", "decoding"}
    return Sample(
        id=str(row["id"]),
        messages=tuple(messages),
        target=row.get("target"),
        slices=(slices,) if isinstance(slices, str) else tuple(str(s) for s in slices),
        data={k: v for k, v in row.items() if k not in reserved},
        counterfactual=counterfactual,
        decoding=decoding,
    )


def _messages(row: dict, template: str | None, system: str | None, where: str) -> list[dict[str, str]]:
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise UndriftError(f"{where}: `messages` must be a list of {{role, content}} objects")
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    elif template:
        try:
            messages = [{"role": "user", "content": template.format_map(row)}]
        except KeyError as exc:
            raise UndriftError(f"{where}: the template needs field {exc.args[0]!r}, which the sample lacks") from None
    elif "prompt" in row:
        messages = [{"role": "user", "content": str(row["prompt"])}]
    else:
        raise UndriftError(f"{where}: give `messages`, `prompt`, or the fields of the task's `template`")
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def _no_unknown_keys(mapping: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise UndriftError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(known))}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
