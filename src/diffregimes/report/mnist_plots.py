"""Table 1 and Figs 6-11 (MNIST synchronization experiment, paper §5) from saved results only.

x axes are DDPM step k (reverse time runs from k = T-1 on the left to k = 0 on the right); a top
axis gives the OU time t = -1/2 log alpha_bar_k read from the saved ``ou_t`` column. Legends of
curve plots sit below the axes, where they cannot hide a curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath
from matplotlib.ticker import Locator, MaxNLocator

from ..protocols.sync import PAPER_TABLE1, PAPER_TABLE1_SD
from ..protocols.sync import TAUS as PAPER_TAUS
from .style import Figure, subplots

COLORS = {"main": "C0", "ctrl": "C3"}
#: the modes in Figs 10-11: other colours than MAIN/CTRL, which blue and red mean everywhere else
MODE_COLORS = {"u": "C2", "v": "C4"}
MODE_STYLE = {"u": "-", "v": "--"}
#: the g of the MNIST experiment is the correlation parameter of the mode-shaped noise (92), not a rate
G_NOISE = r"noise coupling $g$ of (92) (dimensionless)"
MODE = {"u": r"$u$", "v": r"$v$"}


def _reverse_k_axis(ax, k: np.ndarray, ou: np.ndarray, label: str = "DDPM step $k$ (reverse time →)") -> None:
    """Reverse-time x axis in DDPM steps with a top axis in OU time."""
    order = np.argsort(k)
    ks, ts = np.asarray(k, float)[order], np.asarray(ou, float)[order]
    ks, idx = np.unique(ks, return_index=True)
    ts = ts[idx]
    ax.set_xlim(ks.max(), ks.min())
    ax.set_xlabel(label)
    if ks.size >= 2 and np.all(np.diff(ts) > 0):
        top = ax.secondary_xaxis("top", functions=(lambda x: np.interp(x, ks, ts), lambda t: np.interp(t, ts, ks)))
        top.xaxis.set_major_locator(SpacedOUTicks(OU_TICK_SIZE))
        top.set_xlabel(r"OU time $t = -\frac{1}{2}\log\bar\alpha_k$", fontsize=8)
        top.tick_params(labelsize=OU_TICK_SIZE)


#: font size (points) of the OU-time tick labels
OU_TICK_SIZE = 7


class SpacedOUTicks(Locator):
    """OU-time ticks for a top axis whose labels never touch: OU time grows fast near k = T - 1, where evenly
    spaced OU ticks pile up ("6 5" printed over each other). Candidates are round OU times; going from
    t = 0 (k = 0) towards large t, a tick is kept when its label clears the last kept one by ``gap_em`` of the
    font size, measured where the axis is drawn (pixels, with each label's own width), so the spacing holds
    in any panel width and at any T."""

    def __init__(self, fontsize: float, gap_em: float = 0.8, nbins: int = 8) -> None:
        self.fontsize, self.gap_em, self.nbins = float(fontsize), float(gap_em), int(nbins)

    def __call__(self) -> list[float]:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        """Round OU times in [vmin, vmax], thinned so that neighbouring labels keep their gap on screen."""
        lo, hi = sorted((float(vmin), float(vmax)))
        cands = [float(t) for t in MaxNLocator(self.nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)]
        cands = [t for t in cands if lo - 1e-12 <= t <= hi + 1e-12]
        if self.axis is None or len(cands) < 2:
            return cands
        axes = self.axis.axes
        x = axes.transData.transform(np.column_stack([cands, np.zeros(len(cands))]))[:, 0]
        px_per_pt = axes.figure.dpi / 72.0
        font = FontProperties(size=self.fontsize)
        texts = self.axis.major.formatter.format_ticks(cands)
        half = [TextPath((0, 0), s, prop=font).get_extents().width * px_per_pt / 2 for s in texts]
        gap = self.gap_em * self.fontsize * px_per_pt
        kept: list[int] = []
        for i in range(len(cands)):  # candidates ascend in t: from k = 0 (the low-noise end) outwards
            if not kept or abs(x[i] - x[kept[-1]]) >= half[i] + half[kept[-1]] + gap:
                kept.append(i)
        return [cands[i] for i in kept]


def _legend_below(fig: Figure, ax, ncol: int = 4) -> None:
    """One legend for the figure, below its axes (call after tight_layout)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(ncol, len(labels)), fontsize=8)


def _sel(data: dict[str, np.ndarray], **conds: Any) -> np.ndarray:
    mask = np.ones(len(next(iter(data.values()))), dtype=bool)
    for key, value in conds.items():
        col = data[key]
        mask &= np.isclose(col.astype(float), float(value)) if col.dtype.kind in "fiu" else col == value
    return mask


def plot_table1(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Δt(τ) per g: ours as the seed mean with its 95 % two-level bootstrap interval (the interval the verdicts
    use, from summary.json), the paper's Table 1 as mean ± sd over its four seeds (rescaled to this T)."""
    p = config["params"]
    taus = sorted(set(data["tau"].tolist()))
    cells = {(c["pairing"], float(c["g"]), float(c["tau"])): c for c in summary.get("records", {}).get("table1", [])}
    fig, axes = subplots(1, len(taus), figsize=(3.4 * len(taus), 3.6), sharey=True, squeeze=False)
    gs = sorted(set(data["g"].tolist()))
    for ax, tau in zip(axes[0], taus):
        for j, pairing in enumerate(("main", "ctrl")):
            est, lo, hi = (
                np.array([cells.get((pairing, float(g), float(tau)), {}).get(k, np.nan) for g in gs], float)
                for k in ("dt_mean", "dt_ci_low", "dt_ci_high")
            )
            x = np.array(gs) + (j - 0.5) * 0.03
            ax.errorbar(
                x,
                est,
                yerr=[est - lo, hi - est],
                fmt="o-",
                color=COLORS[pairing],
                capsize=3,
                lw=1.5,
                ms=5,
                zorder=3,
                label=f"ours {pairing.upper()} (95 % interval)",
            )
        if tau in PAPER_TAUS:  # the paper's Table 1, rescaled from T = 200 to this T
            i = PAPER_TAUS.index(tau)
            for j, pairing in enumerate(("main", "ctrl")):
                pg = np.array(sorted(g for (pp, g) in PAPER_TABLE1 if pp == pairing))
                scale = p["T"] / 200
                mean = np.array([PAPER_TABLE1[(pairing, g)][i] for g in pg]) * scale
                sd = np.array([PAPER_TABLE1_SD[(pairing, g)][i] for g in pg]) * scale
                ax.errorbar(
                    pg + (j - 0.5) * 0.03 + 0.012,
                    mean,
                    yerr=sd,
                    fmt="s:",
                    color=COLORS[pairing],
                    alpha=0.45,
                    mfc="white",
                    capsize=2,
                    ms=4,
                    label=f"paper {pairing.upper()} (± sd, × T/200)",
                )
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(xlabel=G_NOISE, title=rf"$\tau$ = {tau:.2f}")
    axes[0, 0].set_ylabel(rf"$\Delta t(\tau) = t_v - t_u$ (DDPM steps, $T$ = {p['T']})")
    n = p["n_seeds"]
    fig.suptitle(
        f"Protocol I synchronization gap (ours: mean of {n} seed{'s' if n != 1 else ''}; "
        "negative: $u$ stabilises first)",
        fontsize=10,
    )
    fig.tight_layout()
    _legend_below(fig, axes[0, 0])
    return fig


def plot_fig6(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Cos_u, Cos_v (98) per g and pairing: the whole trajectory (top) and the band of the τ levels, where
    Table 1's crossings (99) are read off (bottom, τ lines labelled)."""
    p = config["params"]
    pairings = [pp for pp in ("main", "ctrl") if np.any(data["pairing"] == pp)]
    gs = sorted(set(data["g"].tolist()))
    taus = sorted(p["taus"])
    fig, axes = subplots(
        2,
        len(pairings),
        figsize=(5.2 * len(pairings), 6.0),
        sharex="col",
        squeeze=False,
        gridspec_kw={"height_ratios": [1.0, 1.0]},
    )
    for col, pairing in enumerate(pairings):
        top, zoom = axes[0, col], axes[1, col]
        for i, g in enumerate(gs):
            m = _sel(data, pairing=pairing, g=g)
            k = data["k"][m]
            for mode in ("u", "v"):
                y, sd = data[f"cos_{mode}"][m], data[f"cos_{mode}_sd"][m]
                for ax in (top, zoom):
                    ax.plot(k, y, MODE_STYLE[mode], color=f"C{i}", lw=1.5, label=f"Cos$_{mode}$, $g$ = {g:g}")
                if mode == "u":  # one band per g (the u curve's ± sd); two overlapping bands read as one colour
                    zoom.fill_between(k, y - sd, y + sd, color=f"C{i}", alpha=0.12, lw=0)
        for tau in taus:
            zoom.axhline(tau, color="0.35", lw=0.8, ls=":")
            zoom.annotate(
                f"τ = {tau:.2f}",
                xy=(1.0, tau),
                xycoords=("axes fraction", "data"),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color="0.3",
            )
        _reverse_k_axis(top, data["k"][_sel(data, pairing=pairing)], data["ou_t"][_sel(data, pairing=pairing)])
        zoom.set_xlabel("DDPM step $k$ (reverse time →)")
        top.set_xlabel("")
        top.set_title(f"({'ab'[col]}) {pairing.upper()}", fontsize=10)
        low = float(np.nanmin(np.concatenate([data["cos_u"], data["cos_v"]])))
        top.set_ylim(max(-1.02, low - 0.05), 1.02)
        zoom.set_ylim(min(taus) - 0.04, 1.005)
    axes[0, 0].set_ylabel("Cos$_m(k)$ (98)")
    axes[1, 0].set_ylabel("Cos$_m(k)$ near the τ levels")
    fig.suptitle(
        rf"Cosine of each mode's $\hat{{x}}_0$ prediction to its final value, $u$ solid / $v$ dashed ($T$ = {p['T']}; "
        "band: ± sd of $u$ over the batch)",
        fontsize=10,
    )
    fig.tight_layout()
    _legend_below(fig, axes[1, -1])
    return fig


def plot_fig7(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    p = config["params"]
    pairings = [pp for pp in ("main", "ctrl") if np.any(data["pairing"] == pp)]
    # GI lives on its own scale: a row of its own instead of a twin axis over the cosines
    fig, axes = subplots(
        2,
        len(pairings),
        figsize=(5.2 * len(pairings), 5.6),
        sharex="col",
        sharey="row",
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 2]},
    )
    for j, pairing in enumerate(pairings):
        ax, gi_ax = axes[0, j], axes[1, j]
        m = _sel(data, pairing=pairing)
        k = data["k"][m]
        ax.plot(k, data["c_u"][m], "-", color="C0", lw=1.8, label="$c_u$ (common mode)")
        ax.plot(k, data["c_a"][m], "--", color="C1", label="$c_A$ (channel A)")
        ax.plot(k, data["c_b"][m], ":", color="C2", label="$c_B$ (channel B)")
        gi_ax.plot(k, data["gi"][m], "-", color="k", lw=1.2, label="GI $= 2c_u - c_A - c_B$ (108)")
        if "gi_lo" in data:  # older runs stored no band
            gi_ax.fill_between(
                k, data["gi_lo"][m], data["gi_hi"][m], color="0.5", alpha=0.3, lw=0, label="GI 95 % band"
            )
        gi_ax.axhline(0, color="0.6", lw=0.6)
        _reverse_k_axis(ax, k, data["ou_t"][m])
        ax.set_xlabel("")
        gi_ax.set_xlabel("DDPM step $k$ (reverse time →)")
        ax.set_title(f"({'ab'[j]}) {pairing.upper()}", fontsize=10)
    axes[0, 0].set_ylabel("cosine to the final frame (107)")
    axes[1, 0].set_ylabel("ghosting index GI (108)")
    fig.suptitle(f"Ghosting index, $g$ = {p['g']:g}, $T$ = {p['T']}", fontsize=10)
    fig.tight_layout()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    gi_h, gi_l = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles + gi_h, labels + gi_l, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8)
    return fig


def plot_fig8(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    p = config["params"]
    k, states, x0 = arrays["k"], arrays["states"], arrays["x0"]
    n = len(k)
    rows = [
        ("state $x_A$", states[:, 0]),
        ("state $x_B$", states[:, 1]),
        ("state $(x_A+x_B)/2$", states.mean(1)),
        (r"$\hat{x}_0$: $x_A$", x0[:, 0]),
        (r"$\hat{x}_0$: $x_B$", x0[:, 1]),
        (r"$\hat{x}_0$: $(x_A+x_B)/2$", x0.mean(1)),
    ]
    fig, axes = subplots(len(rows), n, figsize=(1.1 * n + 1.2, 1.15 * len(rows) + 0.6), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        is_state = label.startswith("state")
        for c in range(n):
            ax = axes[r, c]
            img = imgs[c]
            # states carry noise of scale ~1: show each on its own range; predictions on the pixel range
            lo, hi = (float(img.min()), float(img.max())) if is_state else (0.0, 1.0)
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.spines[:].set_visible(False)
            if r == 0:
                ax.set_title(f"$k$={int(k[c])}\n$t$={arrays['ou_t'][c]:.2f}", fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(
        f"Denoising trajectory ({p['pairing'].upper()}, $g$ = {p['g']:g}, $T$ = {p['T']}; columns: DDPM "
        r"step $k$ and OU time $t$; states on their own grey scale, $\hat{x}_0$ on [0, 1])",
        fontsize=9,
    )
    return fig


def plot_fig9(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    p = config["params"]
    pairings = [pp for pp in ("main", "ctrl") if f"{pp}_rms_du" in arrays]
    k_ints, k_paper = arrays["k_ints"], int(arrays["k_paper"])
    i_paper = int(np.nonzero(k_ints == k_paper)[0][0])
    fig, axes = subplots(1, 3, figsize=(13, 4.2))
    ax = axes[0]
    width = 0.35
    for j, pairing in enumerate(pairings):
        vals = np.array([arrays[f"{pairing}_rms_du"][i_paper], arrays[f"{pairing}_rms_dv"][i_paper]])
        err = None
        if f"{pairing}_rms_du_ci" in arrays:  # 95 % bootstrap over samples (older runs did not store it)
            ci = np.array([arrays[f"{pairing}_rms_du_ci"][i_paper], arrays[f"{pairing}_rms_dv_ci"][i_paper]])
            err = np.clip([vals - ci[:, 0], ci[:, 1] - vals], 0.0, None)
        x = np.arange(2) + (j - 0.5) * width
        bars = ax.bar(x, vals, width, color=COLORS[pairing], label=pairing.upper(), yerr=err, capsize=3)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, label_type="center", color="white")  # clear of the error bars
    ax.set_xticks([0, 1], [r"RMS $\Delta u$", r"RMS $\Delta v$"])
    ax.set(ylabel="RMS change of the final output (pixel units)", title=f"(a) intervention at $k$ = {k_paper}")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax = axes[1]
    for pairing in pairings:
        for mode, style in (("u", "o-"), ("v", "s--")):
            ax.plot(
                k_ints,
                arrays[f"{pairing}_rms_d{mode}"],
                style,
                color=COLORS[pairing],
                label=rf"{pairing.upper()} $\Delta {mode}$",
            )
            if f"{pairing}_rms_d{mode}_ci" in arrays:
                ci = arrays[f"{pairing}_rms_d{mode}_ci"]
                ax.fill_between(k_ints, ci[:, 0], ci[:, 1], color=COLORS[pairing], alpha=0.12, lw=0)
    ax.axvline(k_paper, color="0.6", lw=0.8, ls=":")
    ax.set(ylabel="RMS change of the final output (pixel units)", title="(b) scan over the intervention step")
    _reverse_k_axis(
        ax, arrays["steps"], arrays["ou_t"], r"intervention step $k_{\mathrm{int}}$ (DDPM step, reverse time →)"
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    ax = axes[2]
    steps = arrays["steps"]
    for pairing in pairings:
        for mode, style in (("u", "-"), ("v", "--")):
            ax.plot(
                steps,
                arrays[f"{pairing}_path_d{mode}"][i_paper],
                style,
                color=COLORS[pairing],
                label=rf"{pairing.upper()} $\Delta {mode}$",
            )
    ax.set(
        ylabel=r"RMS difference of $\hat{x}_0(k)$ (pixel units)", title=f"(c) after the intervention at $k$ = {k_paper}"
    )
    _reverse_k_axis(ax, steps, arrays["ou_t"])
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    fig.suptitle(
        rf"$v$-only intervention (101): $\sigma$ = {p['sigma']:g}, $g$ = {p['g']:g}, $T$ = {p['T']}", fontsize=10
    )
    fig.tight_layout()
    return fig


def plot_fig10(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """(a) t_spec^u, t_spec^v per g with the crossings of the Wilson-bound curves (106); (b) their gap in DDPM
    steps with its bootstrap interval over masters and the claim's ± 5 % of T band. The OU-time gap is in the
    table: its size depends on where along the trajectory the gap sits, so it is not drawn against the step gap."""
    p = config["params"]
    fig, axes = subplots(1, 2, figsize=(10.5, 3.9))
    ax = axes[0]
    for j, mode in enumerate(("u", "v")):
        m = _sel(data, mode=mode)
        g, t = data["g"][m], data["t_spec"][m]
        lo, hi = data["t_spec_lo"][m], data["t_spec_hi"][m]
        yerr = np.vstack([np.where(np.isfinite(lo), t - lo, 0), np.where(np.isfinite(hi), hi - t, 0)])
        ax.errorbar(
            g + (j - 0.5) * 0.01,
            t,
            yerr=np.clip(yerr, 0, None),
            fmt="o-" if mode == "u" else "s--",
            color=MODE_COLORS[mode],
            capsize=3,
            label=rf"$t_{{\mathrm{{spec}}}}^{{{mode}}}$",
        )
    ax.set(
        xlabel=G_NOISE,
        ylabel=r"$t_{\mathrm{spec}}$ (DDPM step; larger = earlier)",
        title=rf"(a) speciation steps at $\varphi^* = {p['phi_star']:g}$ (Wilson bounds)",
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    gs = sorted(set(data["g"].tolist()))
    est = np.array(
        [data["t_spec"][_sel(data, mode="u", g=g)][0] - data["t_spec"][_sel(data, mode="v", g=g)][0] for g in gs]
    )
    ax = axes[1]
    head = summary.get("headline", {})
    bounds = [(head.get(f"gap_g{g:g}_lo"), head.get(f"gap_g{g:g}_hi")) for g in gs]
    band = 0.05 * float(p["T"])
    ax.axhspan(-band, band, color="0.9", zorder=0, label="±5 % of T (claim band)")
    ax.axhline(0, color="0.6", lw=0.8)
    if all(lo is not None and hi is not None for lo, hi in bounds):
        yerr = np.clip(
            np.array([[e - lo for e, (lo, _) in zip(est, bounds)], [hi - e for e, (_, hi) in zip(est, bounds)]]),
            0,
            None,
        )
        ax.errorbar(gs, est, yerr=yerr, fmt="o-", color="k", capsize=3, label="95 % bootstrap over masters")
    else:
        ax.plot(gs, est, "o-", color="k", label="gap (no interval recorded)")
    span = max(band * 1.3, float(np.nanmax(np.abs(est))) * 1.3 if np.isfinite(est).any() else band)
    ax.set_ylim(-span, span)
    ax.set(
        xlabel=G_NOISE,
        ylabel=r"gap $t_{\mathrm{spec}}^u - t_{\mathrm{spec}}^v$ (DDPM steps)",
        title=f"(b) synchronization gap, T = {p['T']}",
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.suptitle(
        f"Protocol II cloning (digits {p['classes'][0]} vs {p['classes'][1]}, {p['trials']} × "
        f"{p['masters']} masters; gap > 0: $u$ speciates first)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_fig11(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    p = config["params"]
    gs = sorted(set(data["g"].tolist()))
    fig, axes = subplots(1, len(gs), figsize=(5.2 * len(gs), 3.8), sharey=True, squeeze=False)
    for ax, g in zip(axes[0], gs):
        for mode, color in MODE_COLORS.items():
            m = _sel(data, g=g, mode=mode)
            k = data["k"][m]
            ax.plot(
                k,
                data["phi_ex"][m],
                "o" + MODE_STYLE[mode],
                color=color,
                ms=3,
                label=rf"$\varphi^{{\mathrm{{ex}}}}_{mode}$ (105)",
            )
            ax.fill_between(k, data["ex_lo"][m], data["ex_hi"][m], color=color, alpha=0.15)
            t = data["t_spec"][m][0]
            if np.isfinite(t):
                ax.axvline(t, color=color, lw=0.8, ls=":", label=rf"$t_{{\mathrm{{spec}}}}^{{{mode}}}$ (106)")
        ax.axhline(p["phi_star"], color="k", lw=0.8, ls="-.", label=rf"$\varphi^* = {p['phi_star']:g}$")
        ax.axhline(0, color="0.6", lw=0.6)
        m = _sel(data, g=g)
        _reverse_k_axis(ax, data["k"][m], data["ou_t"][m], "clone start: DDPM step $k$ (reverse time →)")
        ax.set_title(f"({'abcdefg'[gs.index(g)]}) $g$ = {g:g}", fontsize=10)
    axes[0, 0].set_ylabel("baseline-corrected agreement\n" r"$\varphi^{\mathrm{ex}}$ (105), dimensionless")
    fig.suptitle(
        f"Speciation curves, clones started at step $k$ ($T$ = {p['T']}; bands: 95% Wilson intervals "
        "mapped through (105))",
        fontsize=9,
    )
    fig.tight_layout()
    _legend_below(fig, axes[0, 0], ncol=5)
    return fig


def plot_robustness(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """The robustness study against the training budget (edge, g = 0): (a) sample quality, both channels and the
    plain-digit channel alone; (b) the pooled MAIN/CTRL ratio of |Δt| with its paired interval, the paper's
    ≈ 2–3, and the settings that need no training; (c) the mean GI difference MAIN − CTRL on both readings of
    (107); (d) the memorised fraction of generated pairs (Wilson) beside held-out real pairs."""
    edge = data["transform"] == "edge"
    steps = np.unique(data["steps"][edge].astype(float))
    span = float(steps.max() - steps.min()) or 1.0
    xlabel = f"training steps (× batch {config.get('params', {}).get('batch', '?')})"
    fig, axes = subplots(2, 2, figsize=(10.0, 7.0))
    (a, b), (c, d) = axes
    _robustness_quality(a, data, edge, span)
    settings = summary.get("records", {}).get("settings", [])
    _robustness_ratio(b, settings, span)
    _robustness_ghosting(c, settings, span)
    _robustness_memorisation(d, data, edge, span)
    titles = ("(a) sample quality", "(b) MAIN ÷ CTRL ratio of |Δt|", "(c) ghosting index", "(d) memorisation")
    for ax, title in zip(axes.flat, titles):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_xticks(steps)
        ax.set_xlim(steps.min() - 0.15 * span, steps.max() + 0.15 * span)
    fig.tight_layout()
    return fig


def _robustness_quality(ax: Any, data: dict[str, np.ndarray], edge: np.ndarray, span: float) -> None:
    for pairing in ("main", "ctrl"):
        m = edge & _sel(data, pairing=pairing)
        x = data["steps"][m].astype(float)
        shift = (-0.02 if pairing == "main" else 0.02) * span
        both = data["recognised"][m].astype(float) / data["recognised_real"][m].astype(float)
        ax.plot(x + shift, both, "o", color=COLORS[pairing], label=f"{pairing.upper()}, both channels")
        if "plain_recognised" in data:
            plain = data["plain_recognised"][m].astype(float) / data["plain_recognised_real"][m].astype(float)
            ax.plot(x + shift, plain, "^", mfc="none", color=COLORS[pairing], label=f"{pairing.upper()}, plain digit")
    ax.axhline(0.7, color="0.4", lw=0.8, ls=":", label="gate threshold 0.70")
    ax.set_ylabel("recognised, generated ÷ real (each seed)")
    ax.legend(fontsize=7, frameon=False)


def _robustness_ratio(ax: Any, settings: list[dict[str, Any]], span: float) -> None:
    budget = [s for s in settings if s["transform"] == "edge" and not s["variant"] and "ratio" in s]
    if budget:
        x = np.array([s["steps"] for s in budget], float)
        est, lo, hi = (np.array([s["ratio"][i] for s in budget], dtype=float) for i in range(3))  # None -> NaN
        ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="o-", color="k", capsize=3, label="as run (95 % paired)")
    marks = {"clip-off": ("s", "x̂0 not clipped"), "batch16": ("D", "evaluation batch 16")}
    marks |= {t: (m, f"T = {t}") for t, m in (("invert", "v"), ("dilate", "^"), ("blur", "P"))}
    others = [x for x in settings if (x["variant"] or x["transform"] != "edge") and "ratio" in x]
    for k, s in enumerate(others):
        e, lo_, hi_ = (np.nan if v is None else float(v) for v in s["ratio"])  # JSON keeps NaN as null
        if not np.isfinite([e, lo_, hi_]).all():
            continue
        key = s["variant"] or s["transform"]
        marker, label = marks.get(key, ("X", key))
        ax.errorbar(
            s["steps"] + (0.05 + 0.04 * k) * span,
            e,
            yerr=[[e - lo_], [hi_ - e]],
            fmt=marker,
            color="0.45",
            capsize=3,
            label=label,
        )
    ax.axhspan(2.0, 3.0, color="C2", alpha=0.15, label="paper: ≈ 2–3")
    ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    ax.set_ylabel("|Δt| MAIN ÷ CTRL (pooled over τ)")
    ax.legend(fontsize=7, frameon=False)


def _robustness_ghosting(ax: Any, settings: list[dict[str, Any]], span: float) -> None:
    for reading, marker, shift in (("x0", "o-", -0.02), ("states", "s--", 0.02)):
        rows = [s for s in settings if s["transform"] == "edge" and not s["variant"] and s["reading"] == reading]
        if not rows:
            continue
        x = np.array([s["steps"] for s in rows], float) + shift * span
        est, lo, hi = (np.array([s["gi_diff"][i] for s in rows], dtype=float) for i in range(3))
        label = "on x̂0 predictions" if reading == "x0" else "on states z_k"
        ax.errorbar(
            x,
            est,
            yerr=[est - lo, hi - est],
            fmt=marker,
            color="k",
            mfc="none" if shift > 0 else "k",
            capsize=3,
            label=label,
        )
    ax.axhline(0.0, color="0.4", lw=0.8, ls=":")
    ax.set_ylabel("mean GI, MAIN − CTRL (> 0: paper's claim)")
    ax.legend(fontsize=7, frameon=False)


def _robustness_memorisation(ax: Any, data: dict[str, np.ndarray], edge: np.ndarray, span: float) -> None:
    for pairing in ("main", "ctrl"):
        m = edge & _sel(data, pairing=pairing)
        x = data["steps"][m].astype(float) + (-0.02 if pairing == "main" else 0.02) * span
        mem, lo, hi = (data[k][m].astype(float) for k in ("memorised", "memorised_lo", "memorised_hi"))
        ax.errorbar(
            x,
            mem,
            yerr=[mem - lo, hi - mem],
            fmt="o",
            color=COLORS[pairing],
            capsize=3,
            label=f"{pairing.upper()} generated",
        )
        ax.plot(
            x,
            data["memorised_real"][m].astype(float),
            "x",
            color=COLORS[pairing],
            ms=7,
            label=f"{pairing.upper()} held-out real",
        )
    ax.set_ylabel("fraction of copies (d₁/d₂ < 1/3)")
    ax.legend(fontsize=7, frameon=False)
