"""An on-disk cache of :func:`prepare_volume` results, shared by processes."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import time
import uuid
import warnings
from typing import Any

import numpy as np

from ._geometry import GeometryRecord, prepare_volume
from ._resample import _as_order
from ._volume import PathLike

# Bump whenever prepare_volume's output or the entry layout changes: old entries then miss.
CACHE_FORMAT_VERSION = 1

_ENTRY_NAME = re.compile(r"^[0-9a-f]{16}$")
_TMP_PREFIX = ".tmp-"
_VERIFY = ("stat", "sha256")
_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(prepare_volume).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY
}
_MASK_ONLY = ("label", "binarize", "atol")


def _as_number_list(value, name: str):
    """``value`` as a (nested) list of floats, or a float, for the key."""
    try:
        return np.asarray(value, dtype=np.float64).tolist()
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numeric, got {value!r}") from None


def _settings_key(prepare_kwargs: dict[str, Any], has_mask: bool) -> dict[str, Any]:
    """The ``prepare_volume`` settings, defaults filled in, in a JSON-stable form."""
    unknown = sorted(set(prepare_kwargs) - set(_DEFAULTS))
    if unknown:
        raise TypeError(
            f"Unknown keyword argument(s) {unknown} of prepare_volume; allowed: {sorted(_DEFAULTS)}"
        )
    s = {**_DEFAULTS, **prepare_kwargs}
    out: dict[str, Any] = {}
    spacing = None if s["spacing"] is None else _as_number_list(s["spacing"], "spacing")
    out["spacing"] = [spacing] * 3 if isinstance(spacing, float) else spacing
    out["interpolation"] = _as_order(s["interpolation"])
    out["shape"] = None if s["shape"] is None else _as_number_list(s["shape"], "shape")
    if s["shape"] is not None:  # the centre only matters for a window
        center = s["center"]
        out["center"] = center if center is None or isinstance(center, str) else (
            _as_number_list(center, "center"))
        out["body_threshold"] = _as_number_list(s["body_threshold"], "body_threshold")
    if has_mask:  # these only change the output when there is a mask
        out["label"] = None if s["label"] is None else _as_number_list(s["label"], "label")
        out["binarize"] = bool(s["binarize"])
        out["atol"] = _as_number_list(s["atol"], "atol")
    return out


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _folder_files(full: str) -> list[str]:
    out = []
    for root, dirs, names in os.walk(full):
        dirs.sort()
        out.extend(os.path.join(root, n) for n in sorted(names))
    return out


def _signature(full: str) -> tuple[int, int | str]:
    """Size and mtime of a file; of a folder (a DICOM series), the total size and a digest
    of every file's name, size and mtime."""
    if not os.path.isdir(full):
        st = os.stat(full)
        return st.st_size, st.st_mtime_ns
    entries, total = [], 0
    for p in _folder_files(full):
        st = os.stat(p)
        total += st.st_size
        entries.append(f"{os.path.relpath(p, full)}\0{st.st_size}\0{st.st_mtime_ns}")
    return total, hashlib.sha256("\n".join(entries).encode()).hexdigest()[:32]


def _content_sha256(full: str) -> str:
    """sha256 of a file, or of a folder's file names and contents."""
    if not os.path.isdir(full):
        return _file_sha256(full)
    h = hashlib.sha256()
    for p in _folder_files(full):
        h.update(f"{os.path.relpath(p, full)}\0{_file_sha256(p)}\n".encode())
    return h.hexdigest()


def _source_info(path: PathLike, arg: str, verify: str) -> dict[str, Any]:
    """Absolute path, size and mtime of a source file or DICOM folder (and its sha256 if
    asked)."""
    given = os.fspath(path)
    full = os.path.abspath(given)
    if not os.path.exists(full):
        raise FileNotFoundError(f"NIfTI file not found: {given} ({arg})")
    if not (os.path.isfile(full) or (arg == "pet_path" and os.path.isdir(full))):
        raise ValueError(f"Expected a NIfTI file for {arg}, got {given}")
    size, mtime = _signature(full)
    info = {"path": full, "size": size, "mtime_ns": mtime}
    if verify == "sha256":
        info["sha256"] = _content_sha256(full)
    return info


def _source_key(info: dict[str, Any] | None, verify: str) -> dict[str, Any] | None:
    """What of a source identifies it: path and stat, or size and contents."""
    if info is None:
        return None
    if verify == "sha256":  # independent of the location and the mtime
        return {"size": info["size"], "sha256": info["sha256"]}
    return {k: info[k] for k in ("path", "size", "mtime_ns")}


def _source_changed(info: dict[str, Any] | None) -> bool:
    """Whether a source file vanished or its size/mtime differs from ``info``."""
    if info is None:
        return False
    try:
        return _signature(info["path"]) != (info["size"], info["mtime_ns"])
    except OSError:
        return True


def _load_array(path: str, shape: tuple) -> np.ndarray:
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.shape != tuple(shape) or arr.dtype != np.float32:
        raise ValueError(f"{path} holds {arr.dtype} {arr.shape}, expected float32 {shape}")
    return arr


def _read_only(arr: np.ndarray | None) -> np.ndarray | None:
    if arr is not None:
        arr.flags.writeable = False
    return arr


class PreprocessedCache:
    """Disk cache of :func:`prepare_volume` results, shared safely between processes.

    Reading, reorienting and resampling a NIfTI file costs far more than reading back the
    prepared array, and it is repeated in every epoch. The cache stores each prepared volume
    once as ``.npy`` files that later reads memory-map, so an epoch over cached files costs
    about what an epoch from memory does. One directory can be shared by DataLoader workers
    and by several training processes (e.g. ``torch.distributed`` ranks) at the same time.

    Parameters
    ----------
    directory : str or path-like
        Cache folder; created if missing. Only the entries this class creates (16-hex-digit
        folders, and ``.tmp-*`` folders while they are written) are ever removed from it.
    verify : {'stat', 'sha256'}, default='stat'
        How an entry is tied to its source files. ``'stat'``: absolute path, size and
        modification time (ns), cheap. ``'sha256'``: size and a hash of the contents, which
        reads each file on every :meth:`get` but survives copying, moving and touching.

    Notes
    -----
    An entry is keyed by the PET (and mask) file, every :func:`prepare_volume` setting
    that changes the output (``spacing``, ``shape``, ``interpolation``; with a window also
    ``center`` and ``body_threshold``; with a mask also ``label``, ``binarize`` and ``atol``;
    defaults filled in, equivalent spellings such as ``spacing=4`` and ``(4, 4, 4)`` shared),
    the cache format version and the petmtl version. A changed source file therefore
    gives a new key and is read again; stale entries stay on disk until :meth:`prune`.

    Entries are written to a temporary folder inside ``directory`` and renamed into place,
    so readers never see a partial entry. Processes that miss the same entry at the same
    time each compute it; the first rename wins and the others discard their copy. An
    entry that cannot be read back (truncated or missing file, wrong shape) is deleted and
    rebuilt with a :class:`RuntimeWarning`.

    With ``verify='stat'``, a file rewritten with the same size within the file system's
    timestamp resolution is not noticed; use ``'sha256'`` where files are rewritten in place.
    The warning :func:`load_mask` gives for an empty mask is only given when the entry is
    computed.

    Examples
    --------
    >>> from petmtl.io import PreprocessedCache, NiftiVolumeDataset
    >>> cache = PreprocessedCache("cache/")  # doctest: +SKIP
    >>> pet, mask, record = cache.get("pet.nii.gz", "mask.nii.gz", spacing=4.0,
    ...                               shape=(48, 48, 48))  # doctest: +SKIP
    >>> pet.flags.writeable  # doctest: +SKIP
    False
    >>> dataset = NiftiVolumeDataset(paths, spacing=4.0, shape=(48, 48, 48),
    ...                              cache="cache/")  # doctest: +SKIP
    """

    def __init__(self, directory: PathLike, *, verify: str = "stat") -> None:
        if verify not in _VERIFY:
            raise ValueError(f"verify must be one of {list(_VERIFY)}, got {verify!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.verify = verify
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise NotADirectoryError(f"cache directory is a file: {self.directory}")
        os.makedirs(self.directory, exist_ok=True)

    def __repr__(self) -> str:
        return f"PreprocessedCache({self.directory!r}, verify={self.verify!r})"

    def __bool__(self) -> bool:  # a cache is "on" even while empty
        return True

    def __len__(self) -> int:
        return len(self._entry_names())

    def get(
        self, pet_path: PathLike, mask_path: PathLike | None = None, **prepare_kwargs
    ) -> tuple[np.ndarray, np.ndarray | None, GeometryRecord]:
        """Return :func:`prepare_volume`'s result, from the cache or computed and stored.

        Parameters
        ----------
        pet_path : str or path-like
            PET NIfTI file or DICOM series folder (keyed by its files' names, sizes and
            modification times, so the series is decoded and converted once).
        mask_path : str or path-like, optional
            Tumour mask on the PET grid.
        **prepare_kwargs
            Settings of :func:`prepare_volume` (``spacing``, ``shape``, ``center``,
            ``interpolation``, ``label``, ``binarize``, ``body_threshold``, ``atol``).

        Returns
        -------
        pet : ndarray of float32, read-only
        mask : ndarray of float32 (0/1), read-only, or None
        record : GeometryRecord
            ``record.path`` is ``pet_path`` as given.

        Notes
        -----
        The arrays are read-only: on a hit they are memory maps of the entry's files
        (``np.load(..., mmap_mode='r')``), on a miss the computed arrays with the writeable
        flag cleared. Copy them (``np.array(pet)``) before changing them in place.
        """
        settings = _settings_key(prepare_kwargs, mask_path is not None)
        sources = [_source_info(pet_path, "pet_path", self.verify),
                   None if mask_path is None else _source_info(mask_path, "mask_path",
                                                               self.verify)]
        key = {"format": CACHE_FORMAT_VERSION, "petmtl": _petmtl_version(),
               "verify": self.verify, "settings": settings,
               "sources": [_source_key(s, self.verify) for s in sources]}
        key_json = json.dumps(key, sort_keys=True)
        entry = os.path.join(self.directory, hashlib.sha256(key_json.encode()).hexdigest()[:16])
        item = self._read_entry(entry, key_json, mask_path is not None)
        if item is None:
            item = prepare_volume(pet_path, mask_path, **prepare_kwargs)
            if not any(_source_changed(s) for s in sources):  # not rewritten while read
                self._write_entry(entry, key, sources, item)
            item = (_read_only(item[0]), _read_only(item[1]), item[2])
        item[2].path = os.fspath(pet_path)
        return item

    def clear(self) -> None:
        """Remove every entry (and every temporary folder) from the cache directory."""
        for name in self._entry_names() + self._tmp_names():
            self._discard(os.path.join(self.directory, name))

    def prune(self, *, tmp_age: float = 3600.0) -> int:
        """Remove entries whose source files changed or vanished, or that are unreadable.

        Also removes entries of other cache format or petmtl versions, and temporary
        folders older than ``tmp_age`` seconds (left by a killed process).

        Parameters
        ----------
        tmp_age : float, default=3600.0
            Age (s) after which a temporary folder counts as abandoned; a younger one may
            still be written by a running process.

        Returns
        -------
        int
            The number of entries removed.
        """
        removed = 0
        for name in self._entry_names():
            path = os.path.join(self.directory, name)
            if self._is_stale(path):
                self._discard(path)
                removed += 1
        now = time.time()
        for name in self._tmp_names():
            path = os.path.join(self.directory, name)
            try:
                old = now - os.stat(path).st_mtime > tmp_age
            except OSError:
                continue
            if old:
                shutil.rmtree(path, ignore_errors=True)
        return removed

    # ------------------------------------------------------------------ helpers
    def _names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []

    def _entry_names(self) -> list[str]:
        return [n for n in self._names() if _ENTRY_NAME.match(n)
                and os.path.isdir(os.path.join(self.directory, n))]

    def _tmp_names(self) -> list[str]:
        return [n for n in self._names() if n.startswith(_TMP_PREFIX)]

    def _make_tmp(self) -> str:
        """A new empty folder in the cache directory (mode from the umask, unlike mkdtemp)."""
        path = os.path.join(self.directory, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
        os.mkdir(path)
        return path

    def _read_entry(self, entry: str, key_json: str, has_mask: bool):
        """The entry's (pet, mask, record), or None if missing; a broken one is removed."""
        if not os.path.isdir(entry):
            return None
        try:
            with open(os.path.join(entry, "record.json"), encoding="utf-8") as f:
                meta = json.load(f)
            if json.dumps(meta["key"], sort_keys=True) != key_json:
                raise ValueError("its key differs from the folder name's")
            record = GeometryRecord.from_dict(meta["record"])
            pet = _load_array(os.path.join(entry, "pet.npy"), record.output_shape)
            mask = None
            if has_mask:
                mask = _load_array(os.path.join(entry, "mask.npy"), record.output_shape)
        except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
            if not os.path.isdir(entry):  # removed meanwhile by another process
                return None
            warnings.warn(f"Cache entry {entry} is unreadable ({exc}); rebuilding it",
                          RuntimeWarning, stacklevel=3)
            self._discard(entry)
            return None
        return pet, mask, record

    def _write_entry(self, entry: str, key: dict, sources: list, item: tuple) -> None:
        """Write ``item`` to a temporary folder and rename it to ``entry`` (first one wins)."""
        pet, mask, record = item
        meta = {"key": key, "sources": sources, "record": record.to_dict(),
                "created": time.time()}
        try:
            tmp = self._make_tmp()
        except OSError as exc:
            warnings.warn(f"Cannot write to cache directory {self.directory}: {exc}",
                          RuntimeWarning, stacklevel=3)
            return
        try:
            np.save(os.path.join(tmp, "pet.npy"), pet)
            if mask is not None:
                np.save(os.path.join(tmp, "mask.npy"), mask)
            with open(os.path.join(tmp, "record.json"), "w", encoding="utf-8") as f:
                json.dump(meta, f)
            os.rename(tmp, entry)
        except OSError as exc:
            # another process renamed its copy first, or clear() removed our folder
            if not os.path.isdir(entry) and os.path.isdir(tmp):
                warnings.warn(f"Cannot store cache entry {entry}: {exc}", RuntimeWarning,
                              stacklevel=3)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _discard(self, path: str) -> None:
        """Remove a folder: first renamed away (atomic), so nobody reads it half-deleted."""
        try:
            trash = self._make_tmp()
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            return
        try:
            os.rename(path, os.path.join(trash, "old"))
        except OSError:
            pass  # already gone
        shutil.rmtree(trash, ignore_errors=True)

    def _is_stale(self, entry: str) -> bool:
        try:
            with open(os.path.join(entry, "record.json"), encoding="utf-8") as f:
                meta = json.load(f)
            key, sources = meta["key"], meta["sources"]
            if (key["format"], key["petmtl"]) != (CACHE_FORMAT_VERSION, _petmtl_version()):
                return True
            for info in sources:
                if info is not None and _source_changed(info):
                    if key["verify"] != "sha256" or not os.path.exists(info["path"]):
                        return True
                    if _content_sha256(info["path"]) != info["sha256"]:
                        return True
        except (OSError, ValueError, KeyError, TypeError):
            return True
        return False


def _petmtl_version() -> str:
    from .. import __version__

    return __version__
