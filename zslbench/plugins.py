"""Loading plugins from the ``zslbench`` entry-point group and filling the registries.

A plugin that fails to import, raises (or calls ``sys.exit``) in a hook, or
registers a name another plugin already has, produces one warning naming its
distribution and the error, and is skipped as a whole (none of its
registrations are kept); the other plugins and every command keep working.
``ZSLBENCH_STRICT_PLUGINS=1`` turns that into an error.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import metadata

import pluggy

from zslbench import hookspecs, registry
from zslbench.errors import UsageError, ZSLBenchError
from zslbench.registry import Origin

GROUP = "zslbench"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    module: str
    error: str | None = None


class PluginLoadError(ZSLBenchError):
    """A plugin failed to load while ZSLBENCH_STRICT_PLUGINS=1."""


_state: dict = {"loaded": False, "plugins": [], "in_process": []}


def _strict() -> bool:
    return os.environ.get("ZSLBENCH_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes")


def _entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points, core first; the same module found twice on sys.path counts once."""
    unique: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        unique.setdefault(ep.value, ep)
    return sorted(unique.values(), key=lambda ep: (ep.name != "core", ep.name))


def _distribution_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    """(name, version) of the distribution that declares ``ep``, from its metadata."""
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"], dist.version) if dist is not None else (None, None)


def installed_plugins() -> list[PluginInfo]:
    """Every declared plugin with its distribution and version, read from metadata without importing it."""
    return [PluginInfo(ep.name, *_distribution_of(ep), ep.value) for ep in _entry_points()]


def version_report() -> str:
    """``zslbench --version``: the core's version, then one line per installed plugin distribution."""
    from zslbench.version import __version__

    lines = [f"zslbench {__version__}"]
    for info in installed_plugins():
        if info.name != "core":
            lines.append(f"  plugin {info.name}: {info.distribution or 'unknown distribution'} {info.version or '(no version)'}")
    return "\n".join(lines)


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("zslbench")
    pm.add_hookspecs(hookspecs)
    return pm


_HOOKS = (("register_methods", "methods"), ("register_datasets", "datasets"),
          ("register_backbones", "backbones"), ("register_text_encoders", "text-encoders"),
          ("register_tasks", "tasks"), ("register_commands", "commands"))

#: Where :func:`register` calls come from (notebooks, tests, scripts): no distribution.
IN_PROCESS = Origin("in-process")


@dataclass(frozen=True)
class _Registration:
    kind: str  # a key of registry.ALL
    spec: object

    @property
    def target(self) -> registry.Registry:
        return registry.ALL[self.kind]

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(getattr(self.spec, "aliases", ()) or ())


class PluginHookError(Exception):
    """A plugin's hook failed (wraps the plugin's own exception, which may be SystemExit)."""


def _collect(module, origin: Origin) -> list[_Registration]:
    """Call one plugin module's hooks; what they register is only staged, not yet added."""
    staged: list[_Registration] = []
    pm = plugin_manager()
    pm.register(module, name=origin.plugin)
    for hook_name, kind in _HOOKS:
        try:
            getattr(pm.hook, hook_name)(register=lambda spec, kind=kind: staged.append(_Registration(kind, spec)))
        except (Exception, SystemExit) as exc:
            raise PluginHookError(f"{hook_name} raised {type(exc).__name__}: {_first_line(exc)}") from exc
    return staged


def _commit(staged: list[_Registration], origin: Origin) -> None:
    """Add a plugin's registrations all together, or none of them when a name is taken."""
    scratch = {kind: registry.Registry(reg.kind) for kind, reg in registry.ALL.items()}
    for item in staged:
        item.target.check_free(item.spec.name, origin, item.aliases)
        scratch[item.kind].add(item.spec.name, item.spec, origin, item.aliases)  # duplicates within the plugin
    for item in staged:
        item.target.add(item.spec.name, item.spec, origin, item.aliases)


def _register_module(module, origin: Origin) -> None:
    """Call one plugin module's hooks and add what it registers, with its origin."""
    _commit(_collect(module, origin), origin)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def load_plugins(force: bool = False) -> list[PluginInfo]:
    """Import every ``zslbench`` entry point once and register what it provides."""
    if _state["loaded"] and not force:
        return _state["plugins"]
    for reg in registry.ALL.values():
        reg.clear()
    infos: list[PluginInfo] = []
    for ep in _entry_points():
        dist_name, version = _distribution_of(ep)
        origin = Origin(ep.name, dist_name, version)
        try:
            _register_module(ep.load(), origin)
        except (Exception, SystemExit) as exc:  # a broken third-party plugin must not take the toolkit down
            detail = str(exc) if isinstance(exc, PluginHookError) else f"{type(exc).__name__}: {_first_line(exc)}"
            msg = (f"zslbench plugin {ep.name!r} from {dist_name or 'an unknown distribution'} failed to load "
                   f"and is skipped: {detail}")
            if _strict():
                raise PluginLoadError(msg, "fix or uninstall the plugin, or unset ZSLBENCH_STRICT_PLUGINS") from exc
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            infos.append(PluginInfo(ep.name, dist_name, version, ep.value, error=detail))
            continue
        infos.append(PluginInfo(ep.name, dist_name, version, ep.value))
    _state.update(loaded=True, plugins=infos)
    _replay_in_process()
    return infos


def _kind_of(spec: object) -> str:
    """The registry a spec object belongs in, from its type."""
    import click

    from zslbench.methods import MethodSpec
    from zslbench.tasks.base import Task

    kinds = ((MethodSpec, "methods"), (registry.DatasetSpec, "datasets"), (registry.BackboneSpec, "backbones"),
             (registry.TextEncoderSpec, "text-encoders"), (Task, "tasks"), (click.Command, "commands"))
    for spec_type, kind in kinds:
        if isinstance(spec, spec_type):
            return kind
    raise UsageError(f"cannot register a {type(spec).__name__}",
                     "register a MethodSpec, DatasetSpec, BackboneSpec, TextEncoderSpec, Task or click.Command")


def register(spec: object, replace: bool = False) -> None:
    """Register ``spec`` in this process, as a plugin would (for notebooks, scripts and tests).

    The registration outlives :func:`load_plugins` (which re-reads the installed
    plugins) until the process ends. A name that is taken is a
    :class:`~zslbench.registry.DuplicateNameError`, unless ``replace`` is true
    and the earlier registration was also made in this process (re-running a
    notebook cell).
    """
    ensure_loaded()
    item = _Registration(_kind_of(spec), spec)
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or not name:
        raise UsageError(f"cannot register a {type(spec).__name__} without a name")
    earlier = [r for r in _state["in_process"] if r.kind == item.kind and r.spec.name == name]
    if earlier and replace:
        item.target.remove(name)
        _state["in_process"] = [r for r in _state["in_process"] if r not in earlier]
    _commit([item], IN_PROCESS)
    _state["in_process"].append(item)


def _replay_in_process() -> None:
    """Put the in-process registrations back after the registries were refilled from the plugins."""
    kept = []
    for item in _state["in_process"]:
        try:
            _commit([item], IN_PROCESS)
        except ZSLBenchError as exc:  # a plugin installed since took the name: the plugin wins, said once
            warnings.warn(f"in-process registration of {item.spec.name!r} is dropped: {exc}", RuntimeWarning,
                          stacklevel=3)
            continue
        kept.append(item)
    _state["in_process"] = kept


def ensure_loaded() -> None:
    load_plugins(force=False)
