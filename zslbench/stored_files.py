"""The one reader of the files of a run directory: nothing followed out of it, malformed content refused in one line.

Run directories are shared, copied and downloaded, so every file a command
reads from one (``config.json``, ``status.json``, ``metrics.json``,
``env.json``, ``timings.json``, ``validation.json``) comes through
:func:`read_run_file`: it opens the file with ``O_NOFOLLOW`` (a symbolic link
is refused, never followed), refuses anything that is not a plain file (a
FIFO would block), decodes strict UTF-8 and JSON, and checks the structure
every reader relies on (an object at the top, ``seed`` an integer, ``test`` an
object of numbers...). Any fault is an :class:`UnreadableRun` naming the file
and what is wrong: listings (``compare``, ``report``, ``load_runs``) skip the
run with one warning line, commands on that run refuse in one line.

:func:`refuse_links` is the writers' check (``--resume``): no entry of the run
directory may be a link or a special file, so nothing written or removed
there can reach outside it.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Callable

from zslbench.errors import ZSLBenchError

#: A stored JSON file larger than this is refused (metrics of the largest benchmarks are a few MiB).
MAX_JSON_BYTES = 256 * 2**20
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NON_BLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOSE_ON_EXEC = getattr(os, "O_CLOEXEC", 0)


class UnreadableRun(Exception):
    """A run directory that cannot be read (corrupt, incomplete, linked out or from an unknown schema)."""


class UnsafeRunDir(ZSLBenchError):
    """A run directory holding a link or a special file: zslbench writes nothing there."""


# --------------------------------------------------------------------------- files and links


def _kind_of_entry(mode: int) -> str | None:
    """Why an entry of this mode may not be in a run directory, or None for plain files and directories."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "not a plain file (a FIFO, socket or device)"


def entry_kind(path: Path) -> str | None:
    """What an entry a run directory may not hold is ("a symbolic link", ...); None for plain files, folders, nothing."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"not examinable ({exc.strerror or exc})"
    return _kind_of_entry(mode)


def link_problems(run_dir: Path) -> list[str]:
    """Every link or special file in ``run_dir`` (the directory itself included), walked without following links."""
    run_dir = Path(run_dir)
    kind = entry_kind(run_dir)
    if kind is not None:
        return [f"the run directory is {kind}"]
    found = []
    for folder, dirs, files in os.walk(run_dir, followlinks=False):
        for name in [*dirs, *files]:
            kind = entry_kind(Path(folder) / name)
            if kind is not None:
                found.append(f"{(Path(folder) / name).relative_to(run_dir)} is {kind}")
    return found


def refuse_links(run_dir: Path, action: str) -> None:
    """Raise :class:`UnsafeRunDir` when ``run_dir`` is or holds a link or special file (checked before any write)."""
    problems = link_problems(run_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnsafeRunDir(f"cannot {action} {run_dir}: {problems[0]}{more}; zslbench follows no link in a run directory",
                           "remove the link (nothing outside the run directory was touched)")


def open_no_follow(path: Path, flags: int, mode: int = 0o666, dir_fd: int | None = None) -> int:
    """``os.open`` that never follows a symbolic link at ``path`` (OSError ELOOP instead)."""
    return os.open(path, flags | _NO_FOLLOW | _CLOSE_ON_EXEC, mode, dir_fd=dir_fd)


def read_plain_file(path: Path, limit_bytes: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of ``path``; UnreadableRun if it is missing, a link, not a plain file, or too large."""
    path = Path(path)
    try:
        fd = open_no_follow(path, os.O_RDONLY | _NON_BLOCK)
    except FileNotFoundError:
        raise UnreadableRun(f"{path.name} is missing") from None
    except OSError as exc:
        kind = entry_kind(path)
        raise UnreadableRun(f"{path.name} is {kind}" if kind else f"{path.name} is unreadable: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableRun(f"{path.name} is {_kind_of_entry(info.st_mode) or 'not a plain file'}")
        if info.st_size > limit_bytes:
            raise UnreadableRun(f"{path.name} is {info.st_size} bytes, more than the {limit_bytes} a run file may hold")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableRun(f"{path.name} is unreadable: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def parse_json(raw: bytes, name: str) -> Any:
    """JSON of ``raw`` (strict UTF-8); UnreadableRun naming ``name`` for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableRun(f"{name} is unreadable: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UnreadableRun(f"{name} is unreadable: nested too deeply") from None
    except ValueError as exc:
        raise UnreadableRun(f"{name} is unreadable: not valid JSON ({exc})") from None


# --------------------------------------------------------------------------- structure checks


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: What a field may hold: a name for messages and a test.
Kind = tuple[str, Callable[[Any], bool]]
OBJECT: Kind = ("an object", lambda v: isinstance(v, dict))
LIST: Kind = ("a list", lambda v: isinstance(v, list))
STRING: Kind = ("a string", lambda v: isinstance(v, str))
NUMBER: Kind = ("a number", is_number)
INTEGER: Kind = ("an integer", is_integer)
BOOLEAN: Kind = ("a boolean", lambda v: isinstance(v, bool))
NULL: Kind = ("null", lambda v: v is None)
STRINGS: Kind = ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))
NUMBERS: Kind = ("a list of numbers", lambda v: isinstance(v, list) and all(is_number(x) or x is None for x in v))
INTEGERS: Kind = ("a list of integers", lambda v: isinstance(v, list) and all(is_integer(x) for x in v))
OBJECTS: Kind = ("a list of objects", lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v))


def check_fields(obj: Any, name: str, fields: dict[str, tuple[Kind, ...]], required: tuple[str, ...] = ()) -> dict:
    """``obj`` if it is an object whose ``fields`` hold one of their kinds (``required`` ones present); else UnreadableRun."""
    if not isinstance(obj, dict):
        raise UnreadableRun(f"{name} holds {_type_name(obj)}, expected an object")
    for key in required:
        if key not in obj:
            raise UnreadableRun(f"{name} has no {key!r}")
    for key, kinds in fields.items():
        if key in obj and not any(test(obj[key]) for _, test in kinds):
            expected = " or ".join(kind_name for kind_name, _ in kinds)
            raise UnreadableRun(f"{name}: {key!r} is {_type_name(obj[key])}, expected {expected}")
    return obj


CONFIG_FIELDS: dict[str, tuple[Kind, ...]] = {
    "method": (STRING,), "dataset": (STRING,), "seed": (INTEGER,), "protocol": (STRING,),
    "backbone": (STRING, NULL), "pretrained": (STRING, NULL), "out": (STRING, NULL), "tags": (STRINGS, NULL),
    "loggers": (STRINGS, NULL), "validation_fraction": (NUMBER,), "tune": (OBJECT, NULL), "data": (OBJECT, NULL),
    "train": (OBJECT, NULL), "method_options": (OBJECT, NULL),
}
STATUS_FIELDS: dict[str, tuple[Kind, ...]] = {
    "state": (STRING,), "schema": (INTEGER,), "updated": (STRING,), "hint": (STRING,), "error": (STRING,),
    "world_size": (INTEGER,),
}
METRICS_FIELDS: dict[str, tuple[Kind, ...]] = {
    "task": (STRING,), "protocol": (STRING,), "test": (OBJECT,), "curve": (OBJECT,), "history": (OBJECTS,),
    "validation": (OBJECT,), "counts": (OBJECT,), "skipped_images": (INTEGER,), "data_version": (INTEGER, NULL),
    "published": (OBJECT,), "patch_selection": (OBJECT,), "features": (OBJECT,),
}
CURVE_FIELDS: dict[str, tuple[Kind, ...]] = {"seen": (NUMBERS,), "unseen": (NUMBERS,), "gammas": (NUMBERS,)}
#: Entries of ``metrics["test"]`` that are tables (every other entry is a number or null).
TEST_TABLES = frozenset({"counts", "per_class", "top_k", "conventions"})
#: Scores of a single-label run that are never null (tables, plots and reports read them).
SINGLE_LABEL_SCORES = ("t1", "u", "s", "h", "ausuc")
ENV_FIELDS: dict[str, tuple[Kind, ...]] = {
    "device": (STRING, NULL), "cuda_device": (STRING, NULL), "git_commit": (STRING, NULL),
}
VALIDATION_FIELDS: dict[str, tuple[Kind, ...]] = {
    "chosen_epochs": (INTEGER,), "chosen_gamma": (NUMBER,), "seconds": (NUMBER,), "per_epoch": (OBJECTS,),
    "train_classes": (INTEGERS,), "val_classes": (INTEGERS,), "counts": (OBJECT,),
}


def check_config(obj: Any, name: str = "config.json") -> dict:
    """A stored run config: an object naming its method and dataset (strings), an integer seed, typed sections."""
    return check_fields(obj, name, CONFIG_FIELDS, required=("method", "dataset"))


def check_status(obj: Any, name: str = "status.json") -> dict:
    return check_fields(obj, name, STATUS_FIELDS, required=("state", "schema"))


def check_metrics(obj: Any, name: str = "metrics.json") -> dict:
    """Stored metrics: typed sections; test values numbers (or null), per-class tables of numbers."""
    check_fields(obj, name, METRICS_FIELDS)
    test = obj.get("test", {})
    for key, value in test.items():
        if not (is_number(value) or value is None or (key in TEST_TABLES and isinstance(value, (dict, list)))):
            raise UnreadableRun(f"{name}: test {key!r} is {_type_name(value)}, expected a number")
    if obj.get("task", "single-label") == "single-label":
        required = ("s", "u") if "curve" in obj else ()  # the curve's operating point is drawn from them
        for key in SINGLE_LABEL_SCORES:
            if key in required and key not in test:
                raise UnreadableRun(f"{name}: test has no {key!r}")
            if key in test and not is_number(test[key]):
                raise UnreadableRun(f"{name}: test {key!r} is {_type_name(test[key])}, expected a number")
    per_class = test.get("per_class", {})
    if not isinstance(per_class, dict):
        raise UnreadableRun(f"{name}: test 'per_class' is {_type_name(per_class)}, expected an object")
    for split, table in per_class.items():
        if not isinstance(table, dict) or not all(_integral_key(k) and is_number(v) for k, v in table.items()):
            raise UnreadableRun(f"{name}: per_class {split!r} is not a table of class id -> number")
    curve = check_fields(obj.get("curve", {}), f"{name}: curve", CURVE_FIELDS)
    if len(curve.get("seen", [])) != len(curve.get("unseen", [])):
        raise UnreadableRun(f"{name}: curve 'seen' and 'unseen' differ in length")
    published = obj.get("published", {})
    for key in ("published_T1", "published_U", "published_S", "published_H"):
        if key in published and not is_number(published[key]):
            raise UnreadableRun(f"{name}: published {key!r} is {_type_name(published[key])}, expected a number")
    return obj


def _integral_key(key: str) -> bool:
    return key.lstrip("-").isdigit()


def check_env(obj: Any, name: str = "env.json") -> dict:
    return check_fields(obj, name, ENV_FIELDS)


def check_timings(obj: Any, name: str = "timings.json") -> dict:
    """Seconds and images/s: every value a number."""
    check_fields(obj, name, {})
    for key, value in obj.items():
        if not is_number(value):
            raise UnreadableRun(f"{name}: {key!r} is {_type_name(value)}, expected a number")
    return obj


def check_validation(obj: Any, max_epochs: int | None = None, name: str = "validation.json") -> dict:
    """GBU phase 1 of an image run: the chosen epoch count (1..max_epochs) and a finite gamma."""
    check_fields(obj, name, VALIDATION_FIELDS, required=("chosen_epochs", "chosen_gamma"))
    epochs = obj["chosen_epochs"]
    if epochs < 1 or (max_epochs is not None and epochs > max_epochs):
        raise UnreadableRun(f"{name}: chosen_epochs {epochs} is outside 1..{max_epochs if max_epochs else 'epochs'}")
    if not math.isfinite(obj["chosen_gamma"]):
        raise UnreadableRun(f"{name}: chosen_gamma {obj['chosen_gamma']} is not finite")
    return obj


def read_run_file(path: Path, check: Callable[[Any, str], Any]) -> Any:
    """The content of a run directory's JSON file at ``path``, checked by ``check(obj, name)``; UnreadableRun otherwise."""
    path = Path(path)
    return check(parse_json(read_plain_file(path), path.name), path.name)
