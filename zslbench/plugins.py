"""Loading plugins from the ``zslbench`` entry-point group and filling the registries.

A plugin that fails to import produces one warning naming its distribution
and the error, and everything else keeps working; ``ZSLBENCH_STRICT_PLUGINS=1``
turns that into an error. Duplicate names are always an error naming both
origins.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

import pluggy

from zslbench import hookspecs, registry
from zslbench.errors import ZSLBenchError
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


_state: dict = {"loaded": False, "plugins": []}


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


def _registrar(target: registry.Registry, origin: Origin) -> Callable:
    def register(spec) -> None:
        target.add(spec.name, spec, origin, tuple(getattr(spec, "aliases", ()) or ()))

    return register


def _register_module(module, origin: Origin) -> None:
    """Call one plugin module's hooks with registrars that record its origin."""
    pm = plugin_manager()
    pm.register(module, name=origin.plugin)
    pm.hook.register_methods(register=_registrar(registry.methods, origin))
    pm.hook.register_datasets(register=_registrar(registry.datasets, origin))
    pm.hook.register_backbones(register=_registrar(registry.backbones, origin))
    pm.hook.register_text_encoders(register=_registrar(registry.text_encoders, origin))


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
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take the toolkit down
            msg = f"zslbench plugin {ep.name!r} from {dist_name or 'an unknown distribution'} failed to load: {type(exc).__name__}: {exc}"
            if _strict():
                raise PluginLoadError(msg, "fix or uninstall the plugin, or unset ZSLBENCH_STRICT_PLUGINS") from exc
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            infos.append(PluginInfo(ep.name, dist_name, version, ep.value, error=str(exc)))
            continue
        _register_module(module, origin)
        infos.append(PluginInfo(ep.name, dist_name, version, ep.value))
    _state.update(loaded=True, plugins=infos)
    return infos


def ensure_loaded() -> None:
    load_plugins(force=False)
