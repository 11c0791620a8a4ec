"""The path check of ``--plot`` and ``--figures``: a known suffix and an existing directory.

One concern, shared by the CLI and :func:`oreflow.report.export.write_figure` (which draws
and writes the Plotly figures); checked before any work, so a bad path costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from oreflow.errors import InputError

__all__ = ["PLOT_SUFFIXES", "check_plot_path"]

#: Static file types a figure can be written as (``.html`` too with ``html=True``).
PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")


def check_plot_path(path: str | Path, *, html: bool = False) -> Path:
    """The plot path, checked before any work: a known suffix and an existing directory.

    ``html=True`` also accepts ``.html`` (the Plotly figures of :mod:`oreflow.report`).

    Raises
    ------
    oreflow.errors.InputError
        One line naming the path.
    """
    out = Path(path)
    known = ((".html",) if html else ()) + PLOT_SUFFIXES
    if out.suffix.lower() not in known:
        names = ", ".join(known[:-1]) + " or " + known[-1]
        raise InputError(f"--plot {path}: use a {names} file name")
    if out.expanduser().is_dir():
        raise InputError(f"--plot {path}: is a directory; give a file name")
    parent = out.expanduser().resolve().parent
    if not parent.is_dir():
        raise InputError(f"--plot {path}: directory {parent} does not exist")
    return out
