"""Writing matplotlib figures for ``--plot``: the backend, the path check, the save.

One concern, shared by the figure modules of the planner and the ranking (they draw; this
writes). Matplotlib is imported only when a figure is made (about half a second), with the
non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from oreflow.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOT_SUFFIXES", "check_plot_path", "pyplot", "save_figure"]

#: File types ``--plot`` writes.
PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    parent = out.expanduser().resolve().parent
    if out.expanduser().is_dir():
        raise InputError(f"--plot {path}: is a directory; give a file name")
    if not parent.is_dir():
        raise InputError(f"--plot {path}: directory {parent} does not exist")
    return out


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG, SVG or PDF (by suffix) and close it.

    Raises
    ------
    oreflow.errors.InputError
        Unknown suffix, a missing directory or a path that cannot be written.
    """
    out = check_plot_path(path)
    try:
        fig.savefig(out, dpi=150)
    except OSError as exc:
        raise InputError(f"--plot {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        pyplot().close(fig)
    return out
