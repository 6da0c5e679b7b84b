"""Name registries for methods, datasets, backbones, text encoders, task types and CLI commands.

Each registry maps a name to a spec and remembers where the spec came from
(the plugin distribution and its version), so ``zslbench list`` can show it
and a duplicate name is reported with both origins. Registries are filled by
the plugin hooks (:mod:`zslbench.plugins`); they are the only globals.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from zslbench.errors import UnknownNameError, ZSLBenchError

T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """The plugin a registration came from."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip() + f" (plugin {self.plugin!r})"
        return f"plugin {self.plugin!r}"


@dataclass
class Entry(Generic[T]):
    name: str
    spec: T
    origin: Origin
    aliases: tuple[str, ...] = ()


class DuplicateNameError(ZSLBenchError, ValueError):
    """Two plugins registered the same name."""


@dataclass
class Registry(Generic[T]):
    """A name -> spec mapping with origins, aliases and helpful unknown-name errors."""

    kind: str
    _entries: dict[str, Entry[T]] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)

    def check_free(self, name: str, origin: Origin, aliases: tuple[str, ...] = ()) -> None:
        """Raise DuplicateNameError if ``name`` or an alias is taken (naming both origins)."""
        for key in (name, *aliases):
            existing = self._owner(key)
            if existing is not None:
                raise DuplicateNameError(
                    f"{self.kind} {key!r} is registered twice: by {existing.origin} and by {origin}"
                )
        if len(set((name, *aliases))) != 1 + len(aliases):
            raise DuplicateNameError(f"{self.kind} {name!r} lists a name twice among its aliases ({origin})")

    def add(self, name: str, spec: T, origin: Origin, aliases: tuple[str, ...] = ()) -> None:
        self.check_free(name, origin, aliases)
        self._entries[name] = Entry(name, spec, origin, tuple(aliases))
        for alias in aliases:
            self._aliases[alias] = name

    def _owner(self, key: str) -> Entry[T] | None:
        if key in self._entries:
            return self._entries[key]
        if key in self._aliases:
            return self._entries[self._aliases[key]]
        return None

    def get(self, name: str) -> T:
        return self.entry(name).spec

    def entry(self, name: str) -> Entry[T]:
        found = self._owner(name)
        if found is None:
            known = sorted([*self._entries, *self._aliases])
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            raise UnknownNameError(self.kind, name, close, known)
        return found

    def canonical(self, name: str) -> str:
        return self.entry(name).name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._owner(name) is not None

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def remove(self, name: str) -> None:
        """Drop ``name`` and its aliases (an in-process registration being replaced)."""
        entry = self._entries.pop(name, None)
        for alias in entry.aliases if entry else ():
            self._aliases.pop(alias, None)

    def clear(self) -> None:
        self._entries.clear()
        self._aliases.clear()


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset. ``load(options)`` returns a ``ZSLDataset``.

    ``options`` is a :class:`zslbench.config.DataConfig`. ``check(root)``, when
    given, inspects a dataset copy for ``zslbench data check`` and returns a
    :class:`zslbench.data.check.CheckReport`. ``archives`` are the
    :class:`zslbench.data.archive_specs.Archive` records ``zslbench data
    download`` fetches (or names, when they are fetched by hand).
    """

    name: str
    load: Callable[[Any], Any]
    task: str = "single-label"
    description: str = ""
    default_image_size: int = 224
    check: Callable[[Any], Any] | None = None
    needs_download: bool = True
    homepage: str = ""
    aliases: tuple[str, ...] = ()
    data_version: int | None = None  # generated datasets: the data's version today (runs record theirs)
    # versions once generated under this same name: a run that recorded no version may be one of them
    earlier_data_versions: tuple[int, ...] = ()
    archives: tuple[Any, ...] = ()


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone. ``create(pretrained, **kwargs)`` returns an ``nn.Module``."""

    name: str
    create: Callable[..., Any]
    description: str = ""
    image_size: int = 224


@dataclass(frozen=True)
class TextEncoderSpec:
    """A registered text encoder. ``create(options)`` returns an object with
    ``encode(names: list[str]) -> np.ndarray`` (one row per name) and ``dim``."""

    name: str
    create: Callable[..., Any]
    description: str = ""
    semantic: bool = True


methods: Registry = Registry("method")
datasets: Registry = Registry("dataset")
backbones: Registry = Registry("backbone")
text_encoders: Registry = Registry("text encoder")
tasks: Registry = Registry("task type")
commands: Registry = Registry("command")

ALL: dict[str, Registry] = {
    "methods": methods,
    "datasets": datasets,
    "backbones": backbones,
    "text-encoders": text_encoders,
    "tasks": tasks,
    "commands": commands,
}
