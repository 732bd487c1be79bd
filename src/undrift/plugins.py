"""Backends, scorers and suites from installed packages, found through entry points, undrift's own included.

A package extends undrift by declaring entry points in three groups (see docs/plugins.md):

    undrift.backends   spec scheme -> a `Backend` (models/base.py): `reverse = "pkg.module:REVERSE"` gives `reverse:`
    undrift.scorers    scorer type -> a scorer class or factory: the `type` a suite file's task names
    undrift.suites     suite name  -> a builder `(seed) -> Suite`: the name `undrift run NAME` takes

undrift declares its own backends, scorers and suites in its pyproject.toml under the same groups, so a built-in and
a plugin are found, listed and refused the same way; there is no second, hard-coded list.

Entry points are read once per process, at the first lookup and not at import, so `import undrift` and
`undrift --help` never pay for scanning the installed distributions.  A name's module is imported only when that
name is used, and once: a plugin that fails to import, or names the wrong kind of object, is a one-line error that
names its distribution and entry point, for that name only; every other name and command keeps working.  Two
distributions that claim the same name are refused for that name rather than one silently winning.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from .errors import UndriftError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from .models.base import Backend
    from .scoring.base import Scorer
    from .suites.schema import Suite

T = TypeVar("T")
SELF = "undrift"  # the distribution whose entry points are the built-ins


@dataclass(frozen=True)
class Plugin:
    """One entry point: the name it registers in its group, the object it points at, and who declares it."""

    group: str
    name: str
    value: str  # "module:attribute", as written in the declaring package's metadata
    distribution: str
    version: str

    @property
    def builtin(self) -> bool:
        return self.distribution == SELF

    def describe(self) -> str:
        """How error messages name it: `undrift-example-plugin 0.1.0 (undrift_example:REVERSE)`."""
        return f"{self.distribution} {self.version} ({self.value})"


@dataclass(frozen=True)
class Installed(Generic[T]):
    """A name as `undrift models` / `undrift suites` list it: what it loaded to, or why it did not."""

    name: str
    plugin: Plugin
    value: T | None
    problem: str | None = None


class Registry(Generic[T]):
    """The names of one entry-point group, each loaded on first use and checked to be the right kind of object."""

    def __init__(self, group: str, noun: str, accepts: Callable[[Any], bool], expected: str):
        self.group = group
        self.noun = noun  # "backend", "scorer", "suite": how messages name an entry
        self._accepts = accepts
        self._expected = expected  # what `accepts` wants, for the message when a plugin points at something else
        self._loaded: dict[str, T] = {}

    def names(self) -> list[str]:
        """Every registered name, sorted, without importing any plugin."""
        return sorted(self._scan())

    def plugins(self) -> list[Plugin]:
        """Every entry point of the group, sorted by name (a name claimed twice appears twice)."""
        return [plugin for name in self.names() for plugin, _ in self._scan()[name]]

    def get(self, name: str) -> T | None:
        """The object registered as `name`, or None if nothing is; raises `UndriftError` if it cannot be had."""
        if name in self._loaded:
            return self._loaded[name]
        claims = self._scan().get(name)
        if not claims:
            return None
        if len(claims) > 1:
            who = " and ".join(plugin.describe() for plugin, _ in claims)
            raise UndriftError(f"the {self.noun} {name!r} is registered twice, by {who}: uninstall one of them")
        plugin, entry_point = claims[0]
        remedy = f"reinstall or uninstall {plugin.distribution}" if not plugin.builtin else "reinstall undrift"
        try:
            value = entry_point.load()
        except Exception as exc:  # a plugin's import can raise anything; it must not take other commands down
            raise UndriftError(f"the {self.noun} {name!r} of {plugin.describe()} does not load ({reason(exc)}): "
                               f"{remedy}")
        if not self._accepts(value):
            raise UndriftError(f"the {self.noun} {name!r} of {plugin.describe()} is not {self._expected} "
                               f"(it is {type(value).__name__}): {remedy}")
        self._loaded[name] = value
        return value

    def provider(self, name: str) -> str:
        """Who provides `name`, for messages about what its object did: `dist version (module:attr)`."""
        return " and ".join(plugin.describe() for plugin, _ in self._scan().get(name, ())) or "no package"

    def culprit(self, name: str) -> str:
        """How a message names the code behind `name` when it misbehaves at run time (raises, returns the wrong
        thing): `the backend 'x' of dist 1.0 (module:attr)`, so the user knows which package to fix or report."""
        claimed = self._scan().get(name)
        return f"the {self.noun} {name!r}" + (f" of {self.provider(name)}" if claimed else "")

    def unknown(self, subject: str, hint: str = "") -> UndriftError:
        """The error for a name nobody registered (`subject`, e.g. "scorer 'x'"): it lists what is installed, and
        says so if even undrift's own entries are missing (a checkout used without installing it)."""
        installed = ", ".join(self.names()) or "none"
        message = f"unknown {subject}: the installed {self.noun}s are {installed}{hint}"
        if not any(plugin.builtin for plugin in self.plugins()):
            message += (f"; undrift's own {self.noun}s are missing from its install metadata, so reinstall it "
                        "(`pip install -e .` in a checkout)")
        return UndriftError(message)

    def installed(self) -> list[Installed[T]]:
        """Every name loaded (for listings), once each: a broken one, or one that two packages claim (refused),
        carries its one-line problem instead of raising."""
        listed = []
        for name in self.names():
            plugin = self._scan()[name][0][0]
            try:
                listed.append(Installed(name, plugin, self.get(name)))
            except UndriftError as problem:
                listed.append(Installed(name, plugin, None, str(problem)))
        return listed

    def _scan(self) -> dict[str, list[tuple[Plugin, EntryPoint]]]:
        return _scan_all().get(self.group, {})


def reason(exc: BaseException) -> str:
    """An exception from a plugin's code as one line: `TypeError: what it said`."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


@cache
def _scan_all() -> dict[str, dict[str, list[tuple[Plugin, EntryPoint]]]]:
    """Every entry point of the three groups, read in one pass over the installed distributions (on first use)."""
    from importlib.metadata import entry_points  # here, not at import: it costs start-up time

    everything = entry_points()
    groups = [registry.group for registry in (BACKENDS, SCORERS, SUITES)]
    providers: dict[int, tuple[str, str]] = {}  # one metadata read per distribution, not per entry point
    found: dict[str, dict[str, list[tuple[Plugin, EntryPoint]]]] = {}
    for group in groups:
        entries = found.setdefault(group, {})
        for entry_point in everything.select(group=group):
            dist = entry_point.dist
            if id(dist) not in providers:
                metadata = (dist.metadata if dist is not None else None) or {}
                providers[id(dist)] = (metadata.get("Name") or "?", metadata.get("Version") or "?")
            name, version = providers[id(dist)]
            plugin = Plugin(group, entry_point.name, entry_point.value, name, version)
            entries.setdefault(entry_point.name, []).append((plugin, entry_point))
        for claims in entries.values():  # undrift's own first, so messages read the same on every sys.path
            claims.sort(key=lambda claim: (not claim[0].builtin, claim[0].distribution))
    return found


def _is_backend(value: Any) -> bool:
    from .models.base import Backend  # models.base imports this module, so not at the top

    return isinstance(value, Backend)


BACKENDS: Registry[Backend] = Registry("undrift.backends", "backend", _is_backend, "a Backend (undrift.models.Backend)")
SCORERS: Registry[Callable[..., Scorer]] = Registry("undrift.scorers", "scorer", callable,
                                                    "a scorer class or factory")
SUITES: Registry[Callable[[int], Suite]] = Registry("undrift.suites", "suite", callable,
                                                    "a suite builder (a function from a seed to a Suite)")
