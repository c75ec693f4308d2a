"""Figures: one style and one `save` for every figure, helpers shared by several notebooks, and one
module of pictures per topic.  Every helper draws numbers computed elsewhere and returns the Figure.

    from ntklib.plotting import save
    nk.plotting.setup()                  # the style (style.py), inline PNG in a notebook
    nk.plotting.plot_loglog(widths, {"deviation": d}, reference_slope=-0.5)  # shared (common.py)
    nk.plotting.phases.plot_phase_map(nk.phases.phase_diagram(...))  # one topic's pictures
    save(fig, "04_phase_diagram")        # figures/04_phase_diagram.png and .pdf, byte-stable

Topics: gaussian (notebook 01), limits (02), convergence (03), phases (04, 05), deconv (06, with the
GAN pictures), architectures (07).  `save` writes to $NTKLIB_FIGURES when set (the Makefile sets
it), else figures/ at the top of the repository, else ./figures.
"""

from .style import COLORS, PHASE_COLORS, figure_dir, figure_formats, save, setup
from .common import plot_curves, plot_loglog, plot_matrices, plot_vs_depth
from . import architectures, convergence, deconv, gaussian, limits, phases

__all__ = [
    "setup",
    "save",
    "figure_dir",
    "figure_formats",
    "COLORS",
    "PHASE_COLORS",
    "plot_loglog",
    "plot_curves",
    "plot_matrices",
    "plot_vs_depth",
    "gaussian",
    "limits",
    "convergence",
    "phases",
    "deconv",
    "architectures",
]
