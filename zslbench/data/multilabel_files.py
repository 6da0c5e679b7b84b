"""Reading the files of real multi-label datasets: name lists, 0/1 matrices, label-vector pickles,
sparse annotation matrices and the report of ``zslbench data check``.

Shared by :mod:`zslbench.data.nuswide` and :mod:`zslbench.data.openimages`.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

from zslbench import paths
from zslbench.data.archive_specs import download_command
from zslbench.data.check import report_head_lines, section_lines, titled_block
from zslbench.data.dataset import MULTI_LABEL, FileImages, ZSLDataset
from zslbench.errors import DataError


# --------------------------------------------------------------------------- finding files


def existing_root(name: str, data_cfg: Any, title: str, layout_hint: str) -> Path:
    """The dataset folder: ``data.root``, else ``$ZSLBENCH_DATA/<name>``; a missing folder is a DataError."""
    root = paths.data_root(name, getattr(data_cfg, "root", None))
    if not root.is_dir():
        raise DataError(f"{title} root not found: {root}", f"set --data-root or $ZSLBENCH_DATA; {layout_hint}")
    return root


def find_first(root: Path, candidates: Sequence[str]) -> Path | None:
    """The first of ``candidates`` (paths relative to ``root``) that exists, else None."""
    for rel in candidates:
        path = root / rel
        if path.exists():
            return path
    return None


def require_file(root: Path, candidates: Sequence[str], what: str, layout_hint: str) -> Path:
    """Like :func:`find_first` but a missing file is a DataError naming the places searched."""
    found = find_first(root, candidates)
    if found is None:
        raise DataError(f"{what} not found under {root} (looked for {', '.join(candidates)})", layout_hint)
    return found


# --------------------------------------------------------------------------- plain files


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file.

    UTF-8 with a byte-order mark stripped (the authors' Open Images CSVs start
    with one), any newline convention (\\n, \\r\\n, \\r), undecodable bytes replaced.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_binary_matrix(path: Path, rows: int, columns: int, layout_hint: str) -> np.ndarray:
    """A whitespace-separated 0/1 matrix (``rows`` x ``columns``) as int8; a wrong size is a DataError."""
    try:
        values = np.fromfile(path, dtype=np.int64, sep=" ")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}", layout_hint) from None
    if values.size != rows * columns:
        raise DataError(f"{path} holds {values.size} values, expected {rows} x {columns} = {rows * columns}",
                        layout_hint)
    if values.size and (values.min() < 0 or values.max() > 1):
        raise DataError(f"{path} must hold only 0 and 1", layout_hint)
    return values.reshape(rows, columns).astype(np.int8)


# --------------------------------------------------------------------------- pickles

#: Globals a label-vector pickle may reference: numpy arrays and scalars only (no arbitrary code).
_SAFE_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles containers of numpy arrays and refuses everything else (a pickle can run code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a label-vector pickle")


def load_array_pickle(path: Path, layout_hint: str) -> Any:
    """Load a pickle holding numpy arrays / lists / tuples only (Python 2 pickles too, as latin-1)."""
    data = path.read_bytes()
    last_error: Exception | None = None
    for encoding in ("ASCII", "latin1"):
        try:
            return _ArrayUnpickler(io.BytesIO(data), encoding=encoding).load()
        except UnicodeDecodeError as exc:
            last_error = exc
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
            raise DataError(f"cannot read {path}: {exc}", layout_hint) from None
    raise DataError(f"cannot read {path}: {last_error}", layout_hint)


def as_vector_matrix(value: Any, rows: int, path: Path, what: str, layout_hint: str) -> np.ndarray:
    """``value`` as a float32 (rows, D) matrix; any other shape is a DataError."""
    try:
        matrix = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {what} are not a numeric matrix", layout_hint) from None
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise DataError(f"{path}: {what} have shape {matrix.shape}, expected ({rows}, D)", layout_hint)
    return matrix


def l2_normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def encoder_label_vectors(dataset_name: str, names: list[str], data_cfg: Any) -> np.ndarray:
    """L2-normalised (L, D) vectors of label names from ``data_cfg.text_encoder`` (cached)."""
    from zslbench.models.text_encoders import attribute_vectors

    encoder = getattr(data_cfg, "text_encoder", None) or "glove-6b-50d"
    request = SimpleNamespace(name=dataset_name, attribute_names=list(names), meta={})
    return l2_normalise_rows(attribute_vectors(request, encoder, data_cfg))


def encoder_vectors_and_source(dataset_name: str, names: list[str], data_cfg: Any) -> tuple[np.ndarray, str]:
    """:func:`encoder_label_vectors` and the ``label_vectors`` source a run records for them."""
    return (encoder_label_vectors(dataset_name, names, data_cfg),
            f"text-encoder:{getattr(data_cfg, 'text_encoder', '')}")


# --------------------------------------------------------------------------- label vectors

#: ``data.label_vectors`` values besides a path: search the authors' layouts, or encode the label names.
LABEL_VECTORS_AUTO = "auto"
LABEL_VECTORS_TEXT_ENCODER = "text-encoder"


def label_vector_dirs(root: Path) -> list[Path]:
    """Folders where the field's repositories keep label-vector pickles, in search order.

    The root itself (Generative_MLZSL), ``wiki_contexts/`` or ``word_embedding/``
    inside it (LESA, BiAM), and ``wiki_contexts/`` beside or above it (LESA's
    ``data/`` next to ``wiki_contexts/``).
    """
    root = Path(root)
    return [root / "wiki_contexts", root / "word_embedding", root, root.parent / "wiki_contexts",
            root.parent.parent / "wiki_contexts"]


def find_label_vector_file(root: Path, file_names: Sequence[str]) -> Path | None:
    """The first pickle named in ``file_names`` found in :func:`label_vector_dirs`, else None."""
    for folder in label_vector_dirs(root):
        for name in file_names:
            if (folder / name).is_file():
                return folder / name
    return None


def resolve_label_vectors(dataset_name: str, root: Path, file_names: Sequence[str], names: list[str], data_cfg: Any,
                          from_pickle: Callable[[Path, Any], np.ndarray], layout_hint: str) -> tuple[np.ndarray, str]:
    """(L2-normalised (L, D) label vectors, their source) as ``data.label_vectors`` asks.

    ``auto`` (default): the authors' pickle, searched in every layout of
    :func:`label_vector_dirs`; none found is a DataError (never a silent switch
    to another encoder). ``text-encoder``: vectors of the label names from
    ``data.text_encoder``. A path: that pickle. ``from_pickle(path, content)``
    turns the pickle's content into the (L, D) matrix in label order. A label
    whose vector is all zeros (absent from the pickle or the encoder's
    vocabulary) is a DataError naming it.
    """
    setting = str(getattr(data_cfg, "label_vectors", None) or LABEL_VECTORS_AUTO)
    if setting == LABEL_VECTORS_TEXT_ENCODER:
        vectors, source = encoder_vectors_and_source(dataset_name, names, data_cfg)
    else:
        if setting == LABEL_VECTORS_AUTO:
            path = find_label_vector_file(root, file_names)
            if path is None:
                looked = ", ".join(str(d) for d in label_vector_dirs(root))
                raise DataError(f"no label-vector pickle {file_names[0]} found (looked in {looked})",
                                "put the authors' pickle there, pass --set data.label_vectors=PATH, or "
                                "--set data.label_vectors=text-encoder to encode the label names instead")
        else:
            path = Path(setting).expanduser()
            if not path.is_file():
                raise DataError(f"data.label_vectors file not found: {path}",
                                "pass an existing pickle, 'auto' or 'text-encoder'")
        vectors = l2_normalise_rows(from_pickle(path, load_array_pickle(path, layout_hint)))
        source = f"pickle:{path}"
    empty = np.flatnonzero(~np.any(vectors != 0, axis=1))
    if empty.size:
        raise DataError(f"{empty.size} labels have no vector in {source}, e.g. {names[int(empty[0])]!r}",
                        "use the authors' label-vector pickle (data.label_vectors=PATH) or another data.text_encoder")
    return vectors, source


def vector_pair(path: Path, content: Any, pair: str, layout_hint: str) -> tuple[Any, Any]:
    """The two matrices of a label-vector pickle that holds a pair; anything else is a DataError."""
    if not isinstance(content, (tuple, list)) or len(content) < 2:
        raise DataError(f"{path} should hold a pair {pair}", layout_hint)
    return content[0], content[1]


# --------------------------------------------------------------------------- precomputed features


def h5_image_keys(path: Path) -> set[str]:
    """The image keys of an authors' HDF5 feature file (the names of its ``<key>-features`` datasets)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return {name[: -len("-features")] for name in h5.keys() if name.endswith("-features")}
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}",
                        "the authors' feature files hold one '<image>-features' dataset per image") from None


# --------------------------------------------------------------------------- sparse annotations


class SparseLabels:
    """An (N, L) +1/-1/0 annotation matrix stored sparse (CSR); rows come out dense int8.

    Used where a dense matrix would not fit (Open Images: millions of images x
    7,586 labels, almost all 0). Supports ``len``, ``shape``, ``ndim`` and row
    indexing with an int, slice or index array, which is all the runner needs.
    """

    ndim = 2

    def __init__(self, rows: np.ndarray, columns: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
        from scipy.sparse import csr_matrix

        self.matrix = csr_matrix((np.asarray(values, dtype=np.int8), (rows, columns)), shape=shape)
        self.matrix.sum_duplicates()

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.matrix.shape)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self.matrix[int(index)].toarray()[0].astype(np.int8)
        return self.matrix[index].toarray().astype(np.int8)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        dense = self.matrix.toarray().astype(np.int8)
        return dense if dtype is None else dense.astype(dtype)


# --------------------------------------------------------------------------- datasets


def file_dataset(name: str, *, class_names: list[str], vectors: np.ndarray, vector_source: str, labels: Any,
                 split_sizes: dict[str, int], num_seen: int, image_paths: list[Path], top_k: tuple[int, ...],
                 skipped_by_split: dict[str, int], root: Path, **extra_meta: Any) -> ZSLDataset:
    """A real multi-label dataset: trainval images first, then test; seen labels first, then unseen.

    ``labels`` is the (N, L) +1/-1/0 matrix (dense int8 or :class:`SparseLabels`);
    ``extra_meta`` is added to the dataset's ``meta``.
    """
    trainval = split_sizes["trainval"]
    return ZSLDataset(
        name=name, class_names=class_names, attribute_names=[f"vector[{i}]" for i in range(vectors.shape[1])],
        class_attributes=vectors, labels=labels,
        splits={"trainval": np.arange(trainval), "test": np.arange(trainval, trainval + split_sizes["test"])},
        seen_classes=np.arange(num_seen), unseen_classes=np.arange(num_seen, len(class_names)),
        images=FileImages(image_paths), task=MULTI_LABEL,
        meta={"recipe": "imagenet", "top_k": top_k, "label_vectors": vector_source, **extra_meta,
              "skipped_images": sum(skipped_by_split.values()), "skipped_by_split": skipped_by_split,
              "root": str(root)},
    )


# --------------------------------------------------------------------------- check report


@dataclass
class MultiLabelCheckReport:
    """What a copy of a real multi-label dataset has and lacks; ``ok`` means loading will work."""

    dataset: str
    root: str
    layout: str
    ok: bool = False
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def require_root(self) -> bool:
        """Whether the dataset root is a folder; when it is not, it is recorded as missing."""
        if Path(self.root).is_dir():
            return True
        self.missing.append(f"dataset root {self.root}")
        return False

    def check_label_vectors(self, root: Path, file_names: Sequence[str]) -> None:
        """Record the label-vector pickle found in the authors' layouts, or its absence as missing."""
        path = find_label_vector_file(root, file_names)
        if path is not None:
            self.present.append(f"label vectors {path}")
            return
        self.missing.append(f"label-vector pickle {file_names[0]} (in {Path(root) / 'wiki_contexts'}/, <root>/ or "
                            "wiki_contexts/ beside <root>; or run with --set data.label_vectors=PATH|text-encoder)")

    def render(self) -> str:
        """Plain-text report, one fact per line; the expected layout when something is missing."""
        lines = report_head_lines(self.dataset, self.root, self.ok, self.present, self.missing, self.counts)
        lines += section_lines("notes", self.notes, "* ")
        if not self.ok:
            lines += section_lines("downloads", self.downloads)
            lines.append(f"fetch what is missing: {download_command(self.dataset, self.root)}")
            lines += titled_block("expected layout", self.layout)
        return "\n".join(lines)
