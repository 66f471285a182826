"""Safe access to raw files a user downloaded: existence, checksums, archives, pickles.

Why a module of its own: the official CIFAR archives are tar.gz files of Python pickles, and a pickle can
run arbitrary code. Everything that touches such a file goes through here:
- ``require_file``: a missing file is a clear error naming it and where to get it;
- ``verify_md5``: the published checksum, before anything is read;
- ``extract_archive``: tarfile's ``data`` filter (no absolute paths, no ``..``, no links out, no devices)
  into a temporary folder, so a failure leaves nothing behind;
- ``restricted_load``: an unpickler that admits only what the official batches contain.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np


class RawDataError(ValueError):
    """A raw file is missing, corrupt, tampered with or not in the expected format."""


class MissingRawFileError(RawDataError, FileNotFoundError):
    """A raw file the configured data set needs is not where the parameters say."""


def require_file(path: str | Path, source: str) -> Path:
    """``path`` if it is a file, else a ``MissingRawFileError`` saying where to get it."""
    path = Path(path)
    if not path.is_file():
        raise MissingRawFileError(
            f"raw data file {path} not found: download it from {source} and place it at {path} "
            "(see the README section 'Data sets')"
        )
    return path


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


CHECKSUM_KEY = "verify_checksum"  # the one data-block key, for every archive reader, that skips the check


def verify_md5(path: Path, expected: str | None) -> str:
    """Compare against the published checksum (``None`` skips the check); returns the actual one."""
    actual = md5sum(path)
    if expected is not None and actual != expected.lower():
        raise RawDataError(
            f"{path}: MD5 {actual} does not match the published {expected}; the file is truncated, corrupt "
            f"or not the official one: download it again, or, for a re-packed or subset file you trust, set "
            f"`{CHECKSUM_KEY}: false` in the data parameters (e.g. --params data.{CHECKSUM_KEY}=false)"
        )
    return actual


def extract_archive(archive: Path, dest: Path) -> list[str]:
    """Extract a tar(.gz) into ``dest`` with the ``data`` filter; returns the member names."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise RawDataError(f"{archive}: refused unsafe archive member ({exc}); not an official archive") from exc
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise RawDataError(f"{archive} is truncated or not a readable tar archive: {exc}") from exc
    return [m.name for m in members]


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as pickle protocols 0-2 use it under Python 3 (bytes written as latin-1 text);
    only that use is admitted, so no other codec is reachable from a file."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591") or not isinstance(text, str):
        raise pickle.UnpicklingError(
            f"refused _codecs.encode with encoding {encoding!r}: plain-data pickles "
            "only use it with latin1 to store bytes"
        )
    return text.encode("latin-1", errors)


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_SCALAR = np.float64(0).__reduce__()[0]

# Everything plain-data pickles of dicts, lists, strings and numpy arrays reference, whatever the protocol
# (0-5) and numpy version (pre- and post-numpy-2 module names) wrote them: array reconstruction, numpy
# scalars, dtypes, and bytes stored as latin-1 text. dicts, lists, str/bytes and ints need no global.
_ALLOWED_GLOBALS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _SCALAR for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Admits dicts, lists, str/bytes, numbers and numpy arrays; refuses any other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: CIFAR batches contain only dicts, lists, strings and "
                "numpy arrays, so this file is not one of them (it may run code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id: not an official CIFAR batch")


def restricted_load(path: Path) -> Any:
    """Unpickle a CIFAR batch: the official Python 2 pickles (``latin1`` as numpy documents) or a plain-data
    re-pack of any protocol; anything that names another global is refused before it can run."""
    data = path.read_bytes()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise RawDataError(f"{path.name}: {exc}") from exc
    except Exception as exc:  # truncated or garbage pickles raise many types
        raise RawDataError(f"{path.name} is not a readable CIFAR batch: {type(exc).__name__}: {exc}") from exc
