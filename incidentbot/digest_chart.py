"""The weekly digest's chart: one PNG with two panels, drawn with matplotlib (Agg, no display).

Left: incidents declared per week of the window, stacked by severity (``digest.weekly``),
the digest's own week highlighted. Right: the response-time distributions of the window
(``digest.trends``): min–max as a line, the median as a dot, the p90 as a diamond, each
metric labelled with its n. Below the digest's ``min_sample`` the metric is drawn faded
and without a p90, as the text formats do. Nothing is computed here either.

matplotlib is imported when a chart is drawn, so importing this module costs nothing, and
only the object-oriented API is used (no pyplot state), so threads may draw at once.
"""

from __future__ import annotations

import io
import math

from incidentbot.core.digest_report import Digest, Trend
from incidentbot.digest_render import fmt

# Most severe first; severities beyond the palette are grey.
PALETTE = ("#b42318", "#e8590c", "#f2b705", "#4a90c2", "#7a869a", "#a5adba")
OTHER = "#c1c7d0"
FADED = 0.35
SIZE = (11, 4.2)  # inches; at DPI 110 → 1210 × 462 px
DPI = 110


def chart_png(digest: Digest) -> bytes:
    """The chart as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    weekly, durations = figure.subplots(1, 2, width_ratios=(3, 2))
    _weekly(weekly, digest)
    _durations(durations, digest)
    figure.suptitle(f"Incident digest {digest.week.label} · last {fmt.plural(digest.window_weeks, 'week')} "
                    f"({digest.timezone})", fontsize=12)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, facecolor="white")
    return out.getvalue()


def _severities(digest: Digest) -> list[str]:
    """Severity keys in the digest's own order (the policy's), then any others the weeks mention."""
    keys = [c.key for c in digest.by_severity]
    for week in digest.weekly:
        keys += [k for k in week.by_severity if k not in keys]
    return keys


def _weekly(ax, digest: Digest) -> None:
    from matplotlib.ticker import MaxNLocator

    labels = [w.week.split("-")[-1] for w in digest.weekly]  # "W47"
    x = list(range(len(labels)))
    bottoms = [0] * len(labels)
    for i, severity in enumerate(_severities(digest)):
        values = [w.by_severity.get(severity, 0) for w in digest.weekly]
        if not any(values):
            continue
        ax.bar(x, values, bottom=bottoms, label=severity, color=PALETTE[i] if i < len(PALETTE) else OTHER,
               width=0.7, edgecolor="white", linewidth=0.5)
        bottoms = [b + v for b, v in zip(bottoms, values)]
    ax.set_title("Incidents declared per week, by severity", fontsize=10, loc="left")
    ax.set_xticks(x, labels, fontsize=8, rotation=0 if len(x) <= 13 else 90)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    if not any(bottoms):
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, "No incidents in the window", transform=ax.transAxes, ha="center", va="center",
                color="#616061")
        return
    ax.set_ylim(0, max(bottoms) * 1.18 + 0.5)
    for xi, total in zip(x, bottoms):
        if total:
            ax.text(xi, total, str(total), ha="center", va="bottom", fontsize=8)
    if x:
        ax.get_xticklabels()[-1].set_fontweight("bold")  # the digest's own week
    ax.legend(fontsize=8, frameon=False, ncols=min(4, len(ax.get_legend_handles_labels()[1])), loc="upper left")


def _durations(ax, digest: Digest) -> None:
    trends = list(digest.trends)
    ax.set_title(f"Response times, last {fmt.plural(digest.window_weeks, 'week')}", fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    values = [v for t in trends for v in (t.window.minimum, t.window.maximum) if v is not None and v > 0]
    if not trends or not values:
        ax.set_yticks([])
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No durations in the window (n = 0)", transform=ax.transAxes, ha="center",
                va="center", color="#616061")
        return
    floor = max(min(values) / 2, 0.5)  # a log axis: durations of 0 are drawn at its left edge
    y = list(range(len(trends)))[::-1]  # first metric on top
    for yi, trend in zip(y, trends):
        _metric(ax, yi, trend, digest.min_sample, floor)
    ax.set_yticks(y, [_label(t, digest.min_sample) for t in trends], fontsize=8)
    ax.set_ylim(-0.7, len(trends) - 0.3)
    ax.set_xscale("log")
    ax.set_xlim(floor / 1.5, max(values) * 1.6)
    _duration_ticks(ax)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [ax.plot([], [], "o", color="#1d1c1d", label="median")[0],
               ax.plot([], [], "D", color="#1264a3", markersize=5, label="p90")[0],
               ax.plot([], [], "-", color="#8d8d8d", label="min – max")[0]]
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3)


def _metric(ax, y: int, trend: Trend, min_sample: int, floor: float) -> None:
    dist = trend.window
    if dist.n == 0 or dist.median is None:
        return
    alpha = 1.0 if dist.n >= min_sample else FADED

    def at(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else max(value, floor)

    low, high = at(dist.minimum), at(dist.maximum)
    if low is not None and high is not None:
        ax.plot([low, high], [y, y], "-", color="#8d8d8d", linewidth=2, alpha=alpha, solid_capstyle="round")
    ax.plot([at(dist.median)], [y], "o", color="#1d1c1d", alpha=alpha)
    if dist.n >= min_sample and dist.p90 is not None:
        ax.plot([at(dist.p90)], [y], "D", color="#1264a3", markersize=5)


def _label(trend: Trend, min_sample: int) -> str:
    n = trend.window.n
    few = " (too few)" if 0 < n < min_sample else ""
    return f"{fmt.metric_name(trend.metric)}\nn = {n}{few}"


def _duration_ticks(ax) -> None:
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    low, high = ax.get_xlim()
    candidates = (1, 5, 15, 30, 60, 120, 240, 480, 1440, 2880, 7 * 1440, 14 * 1440, 30 * 1440)
    ticks = [t for t in candidates if low <= t <= high] or [round(high)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks, [fmt.duration(t) for t in ticks], fontsize=7)
