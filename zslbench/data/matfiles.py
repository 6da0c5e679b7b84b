"""Reading MATLAB v5 files (the xlsa17 split files, res101 features, attribute-name lists), nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zslbench.errors import DataError


def read_mat(path: Path, keys: list[str] | tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read only ``keys`` (required) and ``optional`` variables of a MATLAB v5 file.

    A missing required key, an unreadable file or an HDF5 (v7.3) file is a DataError.
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    wanted = [*keys, *optional]
    try:
        data = scipy.io.loadmat(str(path), variable_names=wanted)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except NotImplementedError:
        raise DataError(f"{path} is a MATLAB v7.3 (HDF5) file, which zslbench cannot read",
                        "re-save it in MATLAB with save(..., '-v7') or use the original xlsa17 file") from None
    except (MatReadError, ValueError, TypeError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}", "the file may be truncated; download it again") from None
    for key in keys:
        if key not in data:
            raise DataError(f"{path} has no variable {key!r}",
                            "this is not an xlsa17 file, or a different version; download xlsa17.zip again")
    return {k: data[k] for k in wanted if k in data}


def cellstr(value: Any) -> list[str]:
    """Strings of a MATLAB cell array of strings (or char matrix) as loaded by scipy."""
    arr = np.asarray(value)
    if arr.dtype.kind == "U":  # char matrix: one string per row
        return [str(s).strip() for s in arr.ravel()]
    out = []
    for cell in arr.ravel():
        flat = np.asarray(cell).ravel()
        out.append(str(flat[0]).strip() if flat.size else "")
    return out
