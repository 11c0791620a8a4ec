"""The per-user data directory: an exclusive lock, atomic writes, debris and row counts.

One concern: writing the user layer safely. Standard library only (``oreflow data list``
reads the row-count cache without importing pandas).

* :func:`locked` takes an exclusive lock (``fcntl.flock``, ``msvcrt.locking`` on Windows) on
  ``tables/.lock`` around every read-modify-write of a user table, so two imports into the
  same table run one after the other instead of losing one file's rows.
* :func:`atomic_write_text` writes via a temporary file in the same directory, ``fsync`` and a
  rename; the temporary file is created like any new file (mode ``0666`` less the umask,
  where ``tempfile.mkstemp`` would force ``0600``).
* :func:`clean_stale_temps` removes the ``.TABLE.csv.*.tmp`` files a killed import left
  behind; it runs under the lock, when no live writer can own one.
* :func:`write_counts` / :func:`read_counts` keep a small JSON record of a user table's row
  count, valid while the table file keeps the size and modification time it was written with.

Every failure to create, lock or write in the directory (read-only, full, not a directory)
is an :class:`~oreflow.errors.InputError` naming the directory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oreflow.errors import InputError, OreflowError

__all__ = [
    "LOCK_TIMEOUT_S",
    "StoreBusyError",
    "atomic_write_text",
    "check_user_dir",
    "clean_stale_temps",
    "drop_counts",
    "locked",
    "read_counts",
    "tables_dir",
    "temp_files",
    "write_counts",
    "write_error",
]

#: How long a writer waits for another one to finish before giving up [s].
LOCK_TIMEOUT_S = 60.0
_LOCK_NAME = ".lock"
_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a path component is a file, not a directory",
    errno.EEXIST: "a file is in the way of the directory",
    errno.EDQUOT: "disk quota exceeded",
}


class StoreBusyError(OreflowError):
    """Another process held the user data directory's lock for longer than the timeout."""


def tables_dir(user: Path) -> Path:
    """Directory of the user tables under the user data directory ``user``."""
    return user / "tables"


def check_user_dir(user: Path, *, setting: str = "the data directory") -> None:
    """Raise :class:`InputError` if ``user`` exists but is not a directory."""
    if user.exists() and not user.is_dir():
        raise InputError(f"{setting} {user} is a file, not a directory; "
                         "point OREFLOW_DATA_DIR at a directory")


def write_error(directory: Path, exc: OSError) -> InputError:
    """The one-line error for a failed create or write in ``directory``."""
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return InputError(
        f"{directory}: cannot write to the data directory ({reason}); nothing was written "
        "(free space, fix its permissions, or set OREFLOW_DATA_DIR to a writable directory)"
    )


def _ensure_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{directory}: is a file, not a directory; point OREFLOW_DATA_DIR "
                         "at a directory") from None
    except OSError as exc:
        raise write_error(directory, exc) from None
    if not directory.is_dir():
        raise InputError(f"{directory}: is not a directory; point OREFLOW_DATA_DIR at one")


@contextlib.contextmanager
def locked(user: Path, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the exclusive lock of the user data directory ``user``; yield its tables dir.

    Waits up to ``timeout_s`` seconds for another writer, then raises
    :class:`StoreBusyError`. The lock is released when the process dies, so a killed import
    never blocks the next one.
    """
    check_user_dir(user)
    directory = tables_dir(user)
    _ensure_dir(directory)
    try:
        fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise write_error(directory, exc) from None
    try:
        deadline = time.monotonic() + timeout_s
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise StoreBusyError(
                    f"{directory}: another oreflow process has been writing for more than "
                    f"{timeout_s:g} s; try again when it has finished")
            time.sleep(0.02)
        try:
            yield directory
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def temp_files(directory: Path) -> list[Path]:
    """The temporary files of atomic writes in ``directory`` (``.NAME.*.tmp``)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.name.startswith(".") and p.name.endswith(".tmp"))


def clean_stale_temps(directory: Path) -> list[Path]:
    """Remove the temporary files of interrupted writes; return those removed.

    Call only while holding :func:`locked`: every writer holds the lock while its temporary
    file exists, so any temporary file seen under the lock belongs to a dead process.
    """
    removed: list[Path] = []
    for p in temp_files(directory):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def _create_new(directory: Path, prefix: str) -> tuple[int, Path]:
    """Create a fresh file ``prefix<random>.tmp`` with the umask applied; return fd, path."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(6)}.tmp"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue


def atomic_write_text(text: str, target: Path) -> None:
    """Write ``text`` (UTF-8) to ``target`` via a temporary file, ``fsync`` and a rename.

    An interruption at any point leaves ``target`` as it was (the temporary file is removed
    on the way out, or by :func:`clean_stale_temps` if the process was killed). Failures to
    write are :class:`InputError`s naming the directory.
    """
    directory = target.parent
    _ensure_dir(directory)
    try:
        fd, tmp = _create_new(directory, f".{target.name}.")
    except OSError as exc:
        raise write_error(directory, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
        _fsync_dir(directory)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise write_error(directory, exc) from None
        raise


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where unsupported)."""
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


# -- row counts -------------------------------------------------------------------------------
def _counts_path(table_file: Path) -> Path:
    return table_file.with_name(f".{table_file.stem}.counts.json")


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def write_counts(table_file: Path, embedded_stamp: str, counts: dict[str, Any]) -> None:
    """Record ``counts`` for the user table ``table_file`` as it is now on disk.

    ``embedded_stamp`` identifies the embedded table the counts were layered over; the
    record is ignored once either file changes. Best effort: a failure leaves no record.
    """
    record = {"file": _stamp(table_file), "embedded": embedded_stamp, **counts}
    with contextlib.suppress(OSError, InputError):
        atomic_write_text(json.dumps(record), _counts_path(table_file))


def read_counts(table_file: Path, embedded_stamp: str) -> dict[str, Any] | None:
    """The counts recorded for ``table_file`` if still valid, else ``None``."""
    try:
        record: dict[str, Any] = json.loads(_counts_path(table_file).read_text("utf-8"))
        if record.get("file") != _stamp(table_file) or record.get("embedded") != embedded_stamp:
            return None
    except (OSError, ValueError):
        return None
    return record


def drop_counts(table_file: Path) -> None:
    """Forget the counts of ``table_file`` (after removing the table)."""
    with contextlib.suppress(OSError):
        _counts_path(table_file).unlink()
