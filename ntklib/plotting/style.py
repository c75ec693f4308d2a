"""One style and one `save` for every figure: the rcParams, the palettes, the figure folder.

`save(fig, name)` writes figures/NAME.png and figures/NAME.pdf atomically (a temporary file, then a
rename, so an interrupted run never leaves half a figure) and byte-stable (no creation date in the
PDF).  The folder is $NTKLIB_FIGURES when set (the Makefile sets it), else figures/ at the top of
the repository, else ./figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

__all__ = [
    "setup",
    "save",
    "figure_dir",
    "COLORS",
    "PHASE_COLORS",
    "MARKERS",
    "LINESTYLES",
    "STYLE",
]


# Okabe and Ito's colour-blind-safe palette ("Color Universal Design", jfly.uni-koeln.de), without
# its yellow (too faint on white) and its black (the theory curves are black).  Ordered so that the
# colours drawn together most often, the first four, stay at least 20 CIELAB units apart for normal
# vision and under simulated deuteranopia and protanopia (Machado, Oliveira, Fernandes; checked in
# tests/test_figures.py): blue, vermillion, bluish green, sky blue, reddish purple, orange.  The
# former red #d1495b and green #3c8d2f were 13 units apart for a deuteranope.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#56B4E9", "#CC79A7", "#E69F00"]
# Curves told apart by colour also differ in marker (and, where markers would clutter, line style),
# so that no reader depends on colour alone.
MARKERS = ["o", "s", "^", "D", "v", "P"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
    "image.cmap": "viridis",
    "svg.hashsalt": "ntk-notebooks",
    "figure.max_open_warning": 0,
}

PHASE_COLORS = {"freeze": COLORS[0], "edge": COLORS[2], "chaos": COLORS[1]}


def setup():
    """Apply the project's matplotlib style; in a notebook, show figures inline as PNG.

    In a Jupyter kernel the inline backend is switched on whatever MPLBACKEND says: a kernel started
    with MPLBACKEND=Agg would otherwise drop every figure from the committed outputs (and the book).

    Returns:
        None (the style goes into matplotlib's global rcParams: STYLE, colour cycle COLORS).
    Example:
        >>> nk.plotting.setup()
        >>> import matplotlib.pyplot as plt
        >>> plt.rcParams["savefig.dpi"], plt.rcParams["axes.spines.top"]
        (150.0, False)
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            shell.run_line_magic("matplotlib", "inline")
    except Exception:  # noqa: BLE001 - not in IPython
        pass
    plt.rcParams.update(STYLE)
    try:  # in a notebook: PNG only, so nbval has nothing volatile to compare
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:  # noqa: BLE001 - not in IPython
        pass


def figure_dir() -> Path:
    """The folder `save` writes to: $NTKLIB_FIGURES when set (the Makefile sets it), else figures/
    at the top of the repository (when ntklib sits in a checkout with notebooks/), else ./figures.

    Returns:
        pathlib.Path (not created here; `save` creates it).
    Example:
        >>> import os; from unittest import mock
        >>> with mock.patch.dict(os.environ, {"NTKLIB_FIGURES": "/tmp/my_figures"}):
        ...     nk.plotting.figure_dir().as_posix()
        '/tmp/my_figures'
    """
    env = os.environ.get("NTKLIB_FIGURES")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "notebooks").is_dir():
        return repo / "figures"
    return Path.cwd() / "figures"


_FORMATS = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}


def figure_formats() -> list:
    """The formats `save` writes: $NTKLIB_FIGURE_FORMATS when set (comma-separated, from png and
    pdf; `make test` sets png, since its figures are thrown away and a PDF costs as much to write
    as the PNG), else both.

    Returns:
        list of format names, e.g. ["png", "pdf"].
    Example:
        >>> import os; from unittest import mock
        >>> with mock.patch.dict(os.environ, {"NTKLIB_FIGURE_FORMATS": "png"}):
        ...     nk.plotting.figure_formats()
        ['png']
    """
    env = os.environ.get("NTKLIB_FIGURE_FORMATS")
    if env is None:
        return list(_FORMATS)
    got = [f.strip().lower() for f in env.split(",") if f.strip()]
    bad = [f for f in got if f not in _FORMATS]
    if bad or not got:
        raise ValueError(
            f"NTKLIB_FIGURE_FORMATS: got {env!r}; accepted: a comma-separated list of "
            f"{', '.join(_FORMATS)} (e.g. 'png' or 'png,pdf')"
        )
    return list(dict.fromkeys(got))


def save(fig, name: str, directory=None):
    """Write `fig` to DIR/NAME.png and DIR/NAME.pdf, atomically and byte-stably.

    Each file is written to a temporary name in DIR and renamed into place (an interrupted run never
    leaves half a figure); the PNG carries no Software tag and the PDF no CreationDate or Producer,
    so the same figure gives the same bytes.  Notebooks save every figure through it, NAME prefixed
    by the notebook number (e.g. "04_gram_matrices").  $NTKLIB_FIGURE_FORMATS narrows the formats
    (`figure_formats`).

    Args:
        fig: a matplotlib Figure.  name: file name without extension.
        directory: the folder (created if missing); None means `figure_dir()`.
    Returns:
        [path of the PNG, path of the PDF] (the formats written) as pathlib.Path objects.
    Example:
        >>> import tempfile
        >>> fig = nk.plotting.plot_curves([0, 1], {"y": [0.0, 1.0]})
        >>> with tempfile.TemporaryDirectory() as d:
        ...     first = [p.read_bytes() for p in nk.plotting.save(fig, "00_example", directory=d)]
        ...     again = nk.plotting.save(fig, "00_example", directory=d)
        ...     [p.name for p in again], first == [p.read_bytes() for p in again]
        (['00_example.png', '00_example.pdf'], True)
    """
    formats = figure_formats()
    d = Path(directory) if directory is not None else figure_dir()
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = d / f"{name}.{ext}"
        tmp = d / f".{name}.{os.getpid()}.tmp.{ext}"
        fig.savefig(tmp, format=ext, metadata=_FORMATS[ext])
        os.replace(tmp, path)
        paths.append(path)
    return paths
