"""Hook specifications: how plugins (including the core itself) register things.

A plugin is a module exposed under the ``zslbench`` entry-point group that
implements any of these hooks with ``@zslbench.hookimpl``. Each hook receives
a ``register`` callable taking one spec object.
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("zslbench")
hookimpl = pluggy.HookimplMarker("zslbench")


@hookspec
def register_methods(register: Callable) -> None:
    """Register methods: call ``register(MethodSpec(...))`` once per method."""


@hookspec
def register_datasets(register: Callable) -> None:
    """Register datasets: call ``register(DatasetSpec(...))`` once per dataset."""


@hookspec
def register_backbones(register: Callable) -> None:
    """Register backbones: call ``register(BackboneSpec(...))`` once per backbone."""


@hookspec
def register_text_encoders(register: Callable) -> None:
    """Register text encoders: call ``register(TextEncoderSpec(...))`` once per encoder."""


@hookspec
def register_tasks(register: Callable) -> None:
    """Register task types: call ``register(task)`` with a :class:`zslbench.tasks.Task` instance.

    A dataset names its task (``DatasetSpec.task``); the run flow asks the task
    for training targets, evaluation and table columns.
    """


@hookspec
def register_commands(register: Callable) -> None:
    """Register CLI subcommands: call ``register(command)`` with a ``click.Command`` (or group).

    The command is mounted under its own name on ``zslbench``; the core's
    commands keep their names. Import heavy modules inside the command's body,
    so that ``zslbench --help`` stays fast.
    """
