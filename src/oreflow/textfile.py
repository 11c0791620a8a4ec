"""Reading a user's file as text: one place for every way a file can be unreadable.

A leaf module (it imports only :mod:`oreflow.errors`) shared by the CSV reader of data
imports (:mod:`oreflow.data.csvfile`) and the YAML loader of scenarios and BOMs
(:mod:`oreflow.yamlio`): a missing path, a directory, no permission, a file over its size
cap (checked before and while reading, so a pipe or a growing file cannot slip past) and
bytes that are not UTF-8 (with the line of the first bad byte) are all input errors, never
internal ones.
"""

from __future__ import annotations

from pathlib import Path

from oreflow.errors import InputError, Problem, ValidationError

__all__ = ["decode_utf8", "read_limited", "size_words"]


def size_words(n: int) -> str:
    """``n`` bytes in words (``100 MiB``, ``12 KiB``, ``10 bytes``)."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def read_limited(path: Path, *, label: str | None = None, max_bytes: int,
                 what: str = "file") -> bytes:
    """The bytes of ``path``, at most ``max_bytes``.

    Raises
    ------
    oreflow.errors.InputError
        ``label: …`` for a missing path, a directory, no permission, any other OS error, or
        more than ``max_bytes`` bytes (``what`` names the file in the message).
    """
    label = label or str(path)
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"{label}: is a directory, not a {what}")
        size = p.stat().st_size
        if size > max_bytes:
            raise InputError(f"{label}: {what} is {size_words(size)}, more than the "
                             f"{size_words(max_bytes)} limit; split it into smaller files")
        with p.open("rb") as fh:  # in chunks: a pipe or a growing file has no size
            chunks: list[bytes] = []
            total = 0
            while total <= max_bytes:
                chunk = fh.read(min(1 << 20, max_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied (cannot read the {what})") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a {what}") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise InputError(f"{label}: {what} is more than the {size_words(max_bytes)} limit; "
                         "split it into smaller files")
    return data


def decode_utf8(data: bytes, label: str) -> str:
    """UTF-8 text of ``data`` (a byte-order mark is dropped).

    Raises
    ------
    oreflow.errors.ValidationError
        One problem naming the line of the first byte that is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = Problem(label, line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} "
                          f"at offset {exc.start}); save the file as UTF-8")
        raise ValidationError([problem]) from None
