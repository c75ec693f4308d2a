"""The figure check: every figure the plotting helpers of notebooks 01-03 draw
(ntklib.plotting.common, gaussian, limits, convergence), built from small synthetic inputs, has a
label on every axis that shows tick labels, and no two of its texts (titles, axis and tick labels,
legend entries, notes) overlap on the canvas, nor a legend box a text outside it.  Extents are
matplotlib's own (`artist.get_window_extent(renderer)` after `fig.canvas.draw()`), in display
pixels; two boxes overlap when they share more than 1 px in both directions (anti-aliasing and the
rounding of extents are below a pixel).  The palette is checked for colour-blind readers: the
colours drawn together stay apart in CIELAB under simulated deuteranopia and protanopia (Machado
et al. 2009).
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import ntklib as nk  # noqa: E402
from ntklib.plotting import common, convergence, gaussian, limits  # noqa: E402
from ntklib.plotting.style import COLORS, LINESTYLES, MARKERS, PHASE_COLORS  # noqa: E402

PAD = 1.0  # px at 72 dpi: overlaps below this in either direction are rounding, not collisions


def _tick_texts(axis):
    """The tick labels matplotlib actually draws (ticks inside the view interval)."""
    return [
        t
        for tick in axis._update_ticks()
        for t in (tick.label1, tick.label2)
        if t.get_visible() and t.get_text().strip()
    ]


def _texts(fig):
    """Every drawn, non-empty text of `fig`, with the legend (if any) that contains it."""
    out, ticks = [], set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks.update(
                id(t)
                for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                for t in (tick.label1, tick.label2)
            )
            if ax.get_visible():
                out += [(t, None) for t in _tick_texts(axis)]
    owners = {
        id(t): leg for leg in fig.findobj(Legend) for t in [*leg.get_texts(), leg.get_title()]
    }
    for t in fig.findobj(Text):
        if id(t) not in ticks and t.get_visible() and t.get_text().strip():
            out.append((t, owners.get(id(t))))
    return out


def _overlap(a, b):
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > PAD) and (min(a.y1, b.y1) - max(a.y0, b.y0) > PAD)


def figure_problems(fig):
    """The list of what is wrong with `fig` (empty when it passes): unlabelled axes, overlapping
    texts, texts under a legend box they do not belong to."""
    fig.set_dpi(72)  # extents scale with the dpi: the same overlaps as at 150, drawn faster
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    problems = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison or hasattr(ax, "_colorbar"):
            continue
        for name, axis, label in (
            ("x", ax.xaxis, ax.get_xlabel()),
            ("y", ax.yaxis, ax.get_ylabel()),
        ):
            if _tick_texts(axis) and not label.strip():
                problems.append(f"axes '{ax.get_title()}': no {name} label")
    texts = [(t, owner, t.get_window_extent(r)) for t, owner in _texts(fig)]
    texts = [(t, o, b) for t, o, b in texts if b.width > 0 and b.height > 0]
    for (t1, _, b1), (t2, _, b2) in itertools.combinations(texts, 2):
        if _overlap(b1, b2):
            problems.append(f"texts overlap: {t1.get_text()!r} and {t2.get_text()!r}")
    for leg in fig.findobj(Legend):
        if not leg.get_visible():
            continue
        box = leg.get_window_extent(r)
        for t, owner, b in texts:
            if owner is not leg and _overlap(box, b):
                problems.append(f"legend box over text {t.get_text()!r}")
    return problems


def assert_figure_ok(fig):
    problems = figure_problems(fig)
    plt.close(fig)
    assert not problems, "\n".join(problems)


# --- the check catches what it is meant to catch --------------------------------------------------


def test_check_catches_overlapping_texts_and_missing_labels():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")  # no y label
    ax.text(0.5, 0.5, "first note", transform=ax.transAxes)
    ax.text(0.52, 0.51, "second note", transform=ax.transAxes)  # on top of the first
    problems = figure_problems(fig)
    plt.close(fig)
    assert any("no y label" in p for p in problems), problems
    assert any("'first note' and 'second note'" in p for p in problems), problems


def test_check_catches_a_title_under_a_legend_and_crowded_ticks():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], label="a long legend entry")
    ax.set(xlabel="x", ylabel="y")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 0.98))  # raised onto the title
    ax.set_title("title")
    problems = figure_problems(fig)
    plt.close(fig)
    assert any("legend box over text 'title'" in p for p in problems), problems
    fig, ax = plt.subplots(figsize=(1.2, 1.2))
    ax.set_xticks(np.arange(10), [f"label {i}" for i in range(10)])  # 10 wide labels in 1 inch
    ax.set(xlabel="x", ylabel="y")
    problems = figure_problems(fig)
    plt.close(fig)
    assert any(p.startswith("texts overlap: 'label") for p in problems), problems


def test_check_passes_a_clean_figure():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.set(xlabel="x", ylabel="y", title="a title")
    ax.legend(loc="lower right")
    assert_figure_ok(fig)


# --- the plotting helpers' figures -------------------------------------------------------------


@pytest.fixture(autouse=True)
def _style():
    nk.plotting.setup()
    yield
    plt.close("all")


RNG = np.random.default_rng(0)
WIDTHS = [64, 128, 256, 512, 1024, 2048, 4096, 8192]


def _width_law():
    w = np.array(WIDTHS, float)
    d = 3.0 / np.sqrt(w)[:, None] * (1 + 0.03 * RNG.standard_normal((len(w), 8)))
    return nk.limits.width_law_test(WIDTHS, d)


def test_common_figures():
    x = np.array(WIDTHS, float)
    assert_figure_ok(
        common.plot_loglog(
            x,
            {"gap, training inputs": 2 / np.sqrt(x), "kernel movement": 1 / np.sqrt(x)},
            reference_slope=-0.5,
            ylabel="relative distance",
            title="3 seeds per width",
        )
    )
    t = np.linspace(0, 5, 50)
    assert_figure_ok(
        common.plot_curves(
            t, {"a": np.exp(-t), "b": np.exp(-2 * t)}, logy=True, xlabel="t", ylabel="loss"
        )
    )
    assert_figure_ok(
        common.plot_vs_depth(
            [1, 2, 4, 8],
            {"chaos": [1, 2, 4, 8], "freeze": [1, 1, 2, 3]},
            points={"chaos": ([2, 4], RNG.uniform(1, 5, (2, 3)))},
            ylabel="condition number",
            title="theory and networks",
        )
    )
    M = RNG.standard_normal((6, 6))
    assert_figure_ok(common.plot_matrices({"empirical": M @ M.T, "analytic": M @ M.T}))


def test_gaussian_and_limits_figures():
    fig = gaussian.plot_qq(RNG.standard_normal(500), label="networks")
    fig.axes[0].set_title("QQ plot, input $x_0$")
    assert_figure_ok(fig)
    z = RNG.standard_normal((2000, 8))
    M = RNG.standard_normal((8, 8))
    fig = gaussian.plot_gaussian_outputs(
        z,
        (z**2).sum(1),
        M @ M.T,
        M @ M.T,
        title="40000 random relu networks, width 1024, L=3, beta=0.1",
    )
    assert_figure_ok(fig)  # the layout of 01_gaussian_outputs
    fig = limits.plot_width_law(
        WIDTHS,
        _width_law(),
        label=r"$\|\hat\Sigma-\Sigma\|_F/\|\Sigma\|_F$",
        title="NNGP at finite width (256 networks per width)",
    )
    assert_figure_ok(fig)
    g = np.linspace(-np.pi, np.pi, 60)
    k = np.cos(g) + 1.0
    snaps = {
        "width 64": (
            k + 0.05 * RNG.standard_normal((2, 60)),
            k + 0.05 * RNG.standard_normal((2, 60)),
        )
    }
    assert_figure_ok(limits.plot_ntk_on_circle(g, k, snaps, others={"other limit": 0.9 * k}))


def test_convergence_figures():
    g = np.linspace(-np.pi, np.pi, 80)
    f = {t: (1 - np.exp(-t)) * np.sin(2 * g) for t in (1.0, 10.0, 100.0)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.35, 1]})
    convergence.plot_function_dynamics(
        g,
        f,
        f,
        list(f),
        gamma_train=g[::10],
        y_train=np.sin(2 * g[::10]),
        target=np.sin(2 * g),
        ax=axes[0],
    )
    axes[0].set_title("width 4096: gradient descent (solid) and the linear ODE (dashed)")
    x = np.array(WIDTHS, float)
    common.plot_loglog(
        x,
        {
            "gap to the ODE, training inputs": 1 / np.sqrt(x),
            "gap to the ODE, test inputs": 1.3 / np.sqrt(x),
            "kernel movement during training": 2 / np.sqrt(x),
        },
        reference_slope=-0.5,
        ylabel="relative distance",
        ax=axes[1],
        title="4 seeds per width, t up to 100",
    )
    assert_figure_ok(fig)  # the layout of 03_train_vs_ode
    t = np.linspace(0, 4, 30)
    rates = np.array([2.0, 1.0, 0.5, 0.1])
    pred = np.exp(-np.outer(t, rates))
    assert_figure_ok(
        convergence.plot_mode_decay(t, pred * (1 + 0.01 * RNG.standard_normal(pred.shape)), pred)
    )
    s = np.linspace(-1, 1, 9)
    L = 0.1 + np.add.outer(4 * s**2, 0.1 * s**2)
    assert_figure_ok(
        convergence.plot_valley({"s": s, "loss": L, "loss_quadratic": L, "modes": (0, 7)})
    )
    V = np.linalg.qr(RNG.standard_normal((30, 3)))[0]
    assert_figure_ok(convergence.plot_pca_scatter(np.array([3.0, 2.0, 1.0]), V, np.arange(30) % 3))
    m = np.sin(g)
    assert_figure_ok(convergence.plot_ensemble_band(g, m, 0.1 + 0 * g, np.stack([m, m + 0.05])))
    sp = {
        "init": {"top": np.array([3.0, 1.0, 0.3, 0.01]), "residual_norm": 0.02},
        "trained": {"top": np.array([2.9, 1.1, 0.31, 0.012]), "residual_norm": 0.03},
    }
    assert_figure_ok(convergence.plot_hessian_spectrum(sp, np.array([3.0, 1.0, 0.3])))


# --- the palette, for colour-blind readers --------------------------------------------------------

# Machado, Oliveira, Fernandes (2009), severity 1.0, acting on linear RGB.
_CVD = {
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
}


def _lab(hex_colour, vision=None):
    c = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if vision:
        lin = np.clip(_CVD[vision] @ lin, 0, 1)
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ lin
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])  # D65 white
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest(colours):
    """The smallest CIE76 distance between two of `colours` (normal vision and both simulations)."""
    return min(
        np.linalg.norm(_lab(a, v) - _lab(b, v))
        for a, b in itertools.combinations(colours, 2)
        for v in (None, *_CVD)
    )


# 20 CIELAB units: well above the ~2.3 of a just-noticeable difference, so two thin lines stay
# distinct; the former red/green pair (13 for a deuteranope) fails it.
MIN_DELTA_E = 20.0


def test_palette_is_colour_blind_safe():
    assert _closest(COLORS[:4]) >= MIN_DELTA_E, _closest(COLORS[:4])
    assert _closest(list(PHASE_COLORS.values())) >= MIN_DELTA_E
    assert _closest(["#d1495b", "#3c8d2f"]) < MIN_DELTA_E  # the test can fail: the old pair
    assert len(set(MARKERS)) == len(MARKERS) >= len(COLORS)
    assert len(LINESTYLES) >= len(COLORS)


def test_curves_separated_by_colour_also_differ_in_marker_or_style():
    x = np.array(WIDTHS[:4], float)
    fig = common.plot_loglog(x, {"a": 1 / x, "b": 2 / x, "c": 3 / x})
    markers = [line.get_marker() for line in fig.axes[0].lines]
    assert len(set(markers)) == 3, markers
    fig = common.plot_curves(x, {"a": x, "b": 2 * x, "c": 3 * x})
    assert len({str(line.get_linestyle()) for line in fig.axes[0].lines}) == 3
    g = np.linspace(0, 1, 24)
    fig = convergence.plot_function_dynamics(g, {1: g, 2: g}, {1: g, 2: g}, [1, 2])
    assert len({line.get_marker() for line in fig.axes[0].lines if line.get_ls() == "-"}) == 2


def test_figure_formats_narrow_what_save_writes(tmp_path, monkeypatch):
    fig = nk.plotting.plot_curves([0, 1], {"y": [0.0, 1.0]})
    monkeypatch.setenv("NTKLIB_FIGURE_FORMATS", "png")
    assert [p.name for p in nk.plotting.save(fig, "00_a", directory=tmp_path)] == ["00_a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00_a.png"]
    monkeypatch.setenv("NTKLIB_FIGURE_FORMATS", " PDF, png ,pdf")
    assert nk.plotting.figure_formats() == ["pdf", "png"]
    for bad in ("svg", "png,jpeg", " , "):
        monkeypatch.setenv("NTKLIB_FIGURE_FORMATS", bad)
        with pytest.raises(ValueError, match="NTKLIB_FIGURE_FORMATS.*accepted"):
            nk.plotting.save(fig, "00_b", directory=tmp_path)
    assert not (tmp_path / "00_b.png").exists()
    monkeypatch.delenv("NTKLIB_FIGURE_FORMATS")
    assert nk.plotting.figure_formats() == ["png", "pdf"]
    plt.close(fig)
