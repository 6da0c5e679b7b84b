"""Reading a stored prediction matrix from any codebase: one reader per file format, no code executed.

Every reader returns a plain numpy array (float64 for scores, int64 for a
column of predicted labels) and refuses anything else in one line
(:class:`~zslbench.errors.DataError`): an ``.npz`` or ``.mat`` with several
candidate arrays and no ``--key``, a ``.pt`` holding something other than
tensors (read with ``torch.load(weights_only=True)``, which unpickles no code),
a file that is not what its suffix says. torch is imported only for ``.pt`` /
``.pth`` files; scipy and h5py only for ``.mat``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from zslbench.errors import DataError, UsageError

#: The suffixes ``zslbench score`` reads, in the order the docs list them.
FORMATS = (".npz", ".npy", ".mat", ".csv", ".tsv", ".txt", ".safetensors", ".pt", ".pth")


def _pick(arrays: dict[str, Any], key: str | None, path: Path) -> tuple[str, Any]:
    """The array named ``key``, or the only candidate; several candidates without a key is an error."""
    if key is not None:
        if key not in arrays:
            raise UsageError(f"{path} has no array {key!r}", f"its arrays: {', '.join(sorted(arrays)) or 'none'}")
        return key, arrays[key]
    if len(arrays) == 1:
        return next(iter(arrays.items()))
    if not arrays:
        raise DataError(f"{path} holds no numeric array", "save the score matrix itself into the file")
    raise UsageError(f"{path} holds {len(arrays)} candidate arrays ({', '.join(sorted(arrays)[:8])})",
                     "name the predictions with --key NAME")


def _numeric(value: Any) -> bool:
    array = np.asarray(value) if not hasattr(value, "dtype") else value
    return getattr(array, "dtype", np.dtype(object)).kind in "biuf" and getattr(array, "ndim", 0) in (1, 2)


def _read_npz(path: Path, key: str | None) -> tuple[str | None, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {}
            for name in archive.files:
                try:
                    array = archive[name]
                except ValueError:  # an object array: would need pickle, so never a candidate
                    if key == name:
                        raise DataError(f"{path}: array {name!r} holds Python objects", "store a numeric array") from None
                    continue
                if name == key or _numeric(array):
                    arrays[name] = array
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {path} as .npz: {exc}", "the file may be truncated or not an .npz") from None
    return _pick(arrays, key, path)


def _read_npy(path: Path, key: str | None) -> tuple[str | None, Any]:
    _no_key(key, path)
    try:
        return None, np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {path} as .npy: {exc}", "store a numeric array (np.save without objects)") from None


def _read_mat(path: Path, key: str | None) -> tuple[str | None, Any]:
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head[:8] == b"\x89HDF\r\n\x1a\n" or b"MATLAB 7.3" in head:
        return _read_mat_v73(path, key)
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        data = scipy.io.loadmat(str(path))
    except (MatReadError, ValueError, TypeError, OSError, EOFError, NotImplementedError) as exc:
        raise DataError(f"cannot read {path} as a MATLAB file: {exc}", "save it with save(..., '-v7') or '-v7.3'") from None
    arrays = {k: v for k, v in data.items() if not k.startswith("__") and (k == key or _numeric(v))}
    name, value = _pick(arrays, key, path)
    # MATLAB saves every vector as a (1, N) or (N, 1) matrix (of doubles, by default): a vector is a label column.
    value = np.asarray(value)
    return name, value.ravel() if value.ndim == 2 and 1 in value.shape and value.size > 1 else value


def _read_mat_v73(path: Path, key: str | None) -> tuple[str | None, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            datasets: dict[str, Any] = {}

            def collect(name: str, item: Any) -> None:  # returning a value would stop visititems
                if isinstance(item, h5py.Dataset) and not name.startswith("#"):  # "#refs#": MATLAB's cell storage
                    datasets[name] = item

            handle.visititems(collect)
            candidates = {n: d for n, d in datasets.items() if n == key or (d.dtype.kind in "biuf" and d.ndim in (1, 2))}
            name, dataset = _pick(candidates, key, path)
            if dataset.dtype.kind not in "biuf":
                raise DataError(f"{path}: {name!r} is not numeric ({dataset.dtype})", "store a numeric matrix")
            # MATLAB writes column-major: HDF5 holds the transpose of the matrix MATLAB showed.
            value = np.asarray(dataset[()]).T
    except OSError as exc:
        raise DataError(f"cannot read {path} as a MATLAB v7.3 file: {exc}", "the file may be truncated") from None
    return name, value


def _read_text(path: Path, key: str | None) -> tuple[str | None, Any]:
    _no_key(key, path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ("," if path.suffix.lower() == ".csv" else None)
    try:
        return None, np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=1)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {path} as a numeric table: {str(exc).splitlines()[0]}",
                        "one row per image, one number per class, no header") from None


def _read_safetensors(path: Path, key: str | None) -> tuple[str | None, Any]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise DataError(f"cannot read {path} as .safetensors: {exc}", "the file may be truncated") from None
    return _pick(tensors, key, path)


def _read_torch(path: Path, key: str | None) -> tuple[str | None, Any]:
    """A tensor, or a dict holding tensors, through ``torch.load(weights_only=True)``: no pickled code runs."""
    import pickle

    import torch

    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True, mmap=False)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError, AttributeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} is refused: it holds more than tensors ({first[:160]})",
                        "save only the score tensor: torch.save(scores, path) or torch.save({'scores': scores}, path)") from None
    if isinstance(loaded, torch.Tensor):
        if key is not None:
            raise UsageError(f"{path} holds a single tensor; --key {key!r} names nothing in it", "drop --key")
        return None, _tensor_array(loaded)
    if isinstance(loaded, dict) and all(isinstance(k, str) for k in loaded):
        tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
        if key is not None and key in loaded and key not in tensors:
            raise DataError(f"{path}: {key!r} is a {type(loaded[key]).__name__}, not a tensor", "store a tensor")
        if key is None and len(tensors) != len(loaded):
            others = sorted(k for k in loaded if k not in tensors)
            if len(tensors) != 1:
                raise DataError(f"{path} holds {', '.join(others[:5])} besides tensors", "save only the score tensor")
        name, tensor = _pick(tensors, key, path)
        return name, _tensor_array(tensor)
    raise DataError(f"{path} holds a {type(loaded).__name__}, not a tensor or a dict of tensors",
                    "save only the score tensor: torch.save(scores, path)")


def _tensor_array(tensor: Any) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() and tensor.element_size() < 4:  # float16 / bfloat16 have no exact numpy twin here
        tensor = tensor.float()
    return tensor.numpy()


def _no_key(key: str | None, path: Path) -> None:
    if key is not None:
        raise UsageError(f"--key applies to .npz, .mat, .safetensors and .pt files, not {path.suffix}", "drop --key")


_READERS: dict[str, Callable[[Path, str | None], tuple[str | None, Any]]] = {
    ".npz": _read_npz, ".npy": _read_npy, ".mat": _read_mat, ".csv": _read_text, ".tsv": _read_text,
    ".txt": _read_text, ".safetensors": _read_safetensors, ".pt": _read_torch, ".pth": _read_torch,
}


def read_predictions(path: str | Path, key: str | None = None) -> tuple[np.ndarray, str | None]:
    """The matrix ((N, C), float32 or float64) or label column (int64, (N,)) in ``path``, and the key it came from.

    A vector, or a 2-D array with one column, is a column of predicted labels (integer values).
    Anything else (more dimensions, strings, objects, a non-integer single column)
    is a one-line :class:`~zslbench.errors.DataError`.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"predictions file not found: {path}")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"cannot read {path.suffix or 'files without a suffix'} predictions ({path.name})",
                         f"save them as one of {', '.join(FORMATS)}")
    name, raw = reader(path, key)
    return as_prediction_array(np.asarray(raw), f"{path}" + (f"[{name}]" if name else "")), name


def as_prediction_array(array: np.ndarray, what: str) -> np.ndarray:
    """A score matrix (N, C) as float32/float64 (other types as float64), or predicted labels as int64 (N,)."""
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} holds {array.dtype} values, not numbers", "store a numeric matrix")
    if array.ndim == 2 and array.shape[1] == 1:  # one score per image is no ranking: a column of labels
        array = array[:, 0]
    if array.ndim == 1:
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)):
                raise DataError(f"{what} holds NaN or infinite labels", "predicted labels are class ids")
            if not np.all(array == np.round(array)):
                raise DataError(f"{what} is a single column of non-integer values",
                                "pass a (images, classes) score matrix, or integer predicted labels")
        return array.astype(np.int64)
    if array.ndim != 2:
        raise DataError(f"{what} has shape {array.shape}", "pass a 2-D (images, classes) matrix or a 1-D label column")
    # float32 stays float32 (every value is kept exactly, and the metrics are the same as in float64).
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def read_lines(path: str | Path, what: str) -> list[str]:
    """Non-empty stripped lines of a small text file (row ids, class names, labels)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} file {path}: {exc}", "one entry per line, UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
