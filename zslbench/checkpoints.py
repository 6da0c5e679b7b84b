"""Training checkpoints that cannot execute code when loaded.

A checkpoint is one safetensors file: every tensor of the training state
(model weights, optimizer moments, RNG states, numpy arrays as raw bytes) is a
safetensors tensor, and the structure around them (dicts, lists, tuples,
numbers, strings) is JSON in the file's metadata. Loading parses that header
and those buffers only; nothing is unpickled, so a shared or downloaded run
directory cannot run code on the machine that resumes or explains it.

``--resume`` and ``zslbench explain`` both go through :func:`load_checkpoint`;
anything that is not such a file (a pickle ``checkpoint.pt`` of an older
zslbench, a truncated or random file) is refused with one line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench.errors import DataError
from zslbench.store import atomic_write_bytes
from zslbench.stored_files import entry_kind

#: Bumped when the encoding of the training state changes.
CHECKPOINT_FORMAT = 2
_FORMAT_KEY = "zslbench_checkpoint"
_STATE_KEY = "state"
#: The pickle checkpoint name of zslbench < 0.2 (never loaded).
LEGACY_SUFFIX = ".pt"


class CheckpointError(DataError):
    """A checkpoint file that is not a zslbench safetensors checkpoint, or is damaged."""


# --------------------------------------------------------------------------- encoding


class _Encoder:
    """Splits a state tree into named tensors and a JSON skeleton that points at them."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._storages: set[int] = set()

    def _add(self, tensor: torch.Tensor) -> str:
        t = tensor.detach().cpu()
        storage = t.untyped_storage()
        # safetensors refuses tensors sharing memory (tied weights, views): give those their own copy
        if storage.data_ptr() in self._storages or storage.nbytes() != t.numel() * t.element_size():
            t = t.clone()
        self._storages.add(t.untyped_storage().data_ptr())
        key = f"t{len(self.tensors)}"
        self.tensors[key] = t.contiguous()
        return key

    def encode(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return {"$t": self._add(obj)}
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise TypeError("object arrays cannot be stored in a checkpoint")
            raw = torch.from_numpy(np.frombuffer(np.ascontiguousarray(obj).tobytes(), dtype=np.uint8).copy())
            return {"$a": self._add(raw), "dtype": obj.dtype.str, "shape": list(obj.shape)}
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, dict):
            return {"$m": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"$u": [self.encode(v) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v) for v in obj]
        if isinstance(obj, float) and not math.isfinite(obj):
            return {"$f": repr(obj)}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def _decode(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    if "$t" in node:
        return tensors[node["$t"]]
    if "$a" in node:
        raw = tensors[node["$a"]].numpy().tobytes()
        dtype = np.dtype(node["dtype"])
        if dtype.hasobject:
            raise ValueError("object arrays are not loaded")
        return np.frombuffer(raw, dtype=dtype).reshape(node["shape"]).copy()
    if "$m" in node:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in node["$m"]}
    if "$u" in node:
        return tuple(_decode(v, tensors) for v in node["$u"])
    if "$f" in node:
        return float(node["$f"])
    raise ValueError(f"unknown checkpoint node {sorted(node)}")


# --------------------------------------------------------------------------- files


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (tensors, arrays, dicts, lists, tuples, numbers, strings) atomically to ``path``."""
    from safetensors.torch import save

    encoder = _Encoder()
    skeleton = encoder.encode(state)
    metadata = {_FORMAT_KEY: str(CHECKPOINT_FORMAT), _STATE_KEY: json.dumps(skeleton)}
    atomic_write_bytes(Path(path), save(encoder.tensors, metadata=metadata))


def load_checkpoint(path: Path) -> dict:
    """The training state saved by :func:`save_checkpoint`; CheckpointError (one line) for anything else."""
    from safetensors import safe_open

    path = Path(path)
    _refuse_link(path)
    if not path.is_file():
        legacy = path.with_suffix(LEGACY_SUFFIX)
        if legacy.is_file():
            raise CheckpointError(
                f"{legacy} is a pickle checkpoint of an older zslbench and is not loaded (pickle can run code)",
                "start the run again with this version; its checkpoints are safetensors files")
        raise CheckpointError(f"checkpoint {path} not found", "the run has not finished an epoch yet")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            skeleton = _skeleton(fh.metadata())
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
        state = _decode(skeleton, tensors)
        if not isinstance(state, dict):
            raise ValueError("it holds no training state")
    except Exception as exc:  # any parse failure means the same thing for the user: not loadable
        raise _unloadable(path, exc) from None
    return state


def _refuse_link(path: Path) -> None:
    """A checkpoint (or its legacy name) that is a link or a special file is never opened (nothing followed out)."""
    for candidate in (path, path.with_suffix(LEGACY_SUFFIX)):
        kind = entry_kind(candidate)
        if kind is not None:
            raise CheckpointError(f"checkpoint {candidate} is {kind}; zslbench follows no link in a run directory",
                                  "replace it by the file itself")


def _skeleton(metadata: dict | None) -> Any:
    """The JSON structure of a checkpoint's header, after checking its format."""
    metadata = metadata or {}
    if metadata.get(_FORMAT_KEY) != str(CHECKPOINT_FORMAT):
        raise ValueError(f"format {metadata.get(_FORMAT_KEY)!r}, expected {CHECKPOINT_FORMAT}")
    return json.loads(metadata[_STATE_KEY])


def _unloadable(path: Path, exc: BaseException) -> CheckpointError:
    return CheckpointError(f"cannot load checkpoint {path}: {type(exc).__name__}: {_first_line(exc)}",
                           f"the file is damaged or not a zslbench checkpoint; delete {path} to start training again")


def check_checkpoint(path: Path) -> None:
    """Refuse (CheckpointError) a checkpoint that :func:`load_checkpoint` would refuse, reading its header only.

    safetensors checks that the header's tensor offsets fit the file, so random,
    pickled and truncated files are caught here, before ``--resume`` writes anything.
    """
    from safetensors import safe_open

    path = Path(path)
    _refuse_link(path)
    if not path.is_file():
        load_checkpoint(path)  # the legacy or not-found message
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            _skeleton(fh.metadata())
    except Exception as exc:
        raise _unloadable(path, exc) from None


def load_resume_state(path: Path) -> dict | None:
    """The state to resume from, or None when no epoch was saved yet (a legacy pickle file is refused)."""
    path = Path(path)
    if not path.exists() and not path.with_suffix(LEGACY_SUFFIX).exists():
        return None
    return load_checkpoint(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
