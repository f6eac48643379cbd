"""Figures as PNG bytes: matplotlib (the optional ``report`` extra) imported lazily, Agg canvas only.

No pyplot: figures are built on ``matplotlib.figure.Figure`` with an Agg canvas, so nothing touches a
global backend (safe in notebooks and threads), and the PNGs carry no timestamps (same input, same bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = "pip install 'pixelis[report]'"
DPI = 100
CATEGORY_COLOURS = {"simple": "#4c9f70", "medium": "#e3a23b", "hard": "#c8553d"}


class ReportDependencyError(ImportError):
    """matplotlib is not installed."""


@dataclass(frozen=True)
class FigureOut:
    """One rendered figure: a stable id (file name and HTML anchor), a title, a caption and the PNG."""

    id: str
    title: str
    caption: str
    png: bytes


def new_figure(width: float = 9.0, height: float = 4.0) -> Any:
    """A matplotlib Figure with an Agg canvas (raises ReportDependencyError with the install hint)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportDependencyError(f"pixelis report needs matplotlib: {INSTALL_HINT}") from None
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Any) -> bytes:
    """PNG bytes of ``fig`` without creation-time metadata (byte-identical reruns)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def figure(id: str, title: str, caption: str, fig: Any) -> FigureOut:
    """Render ``fig`` into a :class:`FigureOut`."""
    return FigureOut(id=id, title=title, caption=caption, png=to_png(fig))


def bars(ax: Any, bins: list[tuple[float, float, int]], **style: Any) -> None:
    """Draw (lo, hi, count) bins as adjacent bars."""
    ax.bar(
        [lo for lo, _, _ in bins], [c for _, _, c in bins], width=[hi - lo for lo, hi, _ in bins], align="edge", **style
    )


def close_range(values: list[float], below: float = 0.15, above: float = 0.35) -> tuple[float, float]:
    """An axis range from a bit below the smallest value to a bit above the largest: ``below`` / ``above``
    times their spread (room for a value label on the right), or 5% of the magnitude (at least 0.01) when
    they are all equal. Close values then differ visibly, where an axis from 0 makes them look equal."""
    lo, hi = min(values), max(values)
    spread = hi - lo if hi > lo else max(abs(hi) * 0.05, 0.01)
    return lo - below * spread, hi + above * spread


def empty_note(ax: Any, text: str) -> None:
    """A centred note in an axes that has no data to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def heatmap(
    ax: Any,
    matrix: list[list[float]],
    rows: list[str],
    cols: list[str],
    fmt: str,
    cmap: str,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Any:
    """An annotated heatmap (NaN cells are left blank and labelled n/a)."""
    import numpy as np

    data = np.array(matrix, dtype=float) if rows and cols else np.zeros((max(len(rows), 1), max(len(cols), 1)))
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = data[i, j]
            # a light box behind the number keeps it readable on dark and light cells alike
            ax.text(
                j,
                i,
                "n/a" if not np.isfinite(v) else format(v, fmt),
                ha="center",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.65, "lw": 0},
            )
    return image
