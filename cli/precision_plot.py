"""The PNG of `vigil report precision --plot`: precision per list and match rule as bars.

matplotlib is an optional extra (`pip install 'vigil[report]'`): workers never draw, and
it is a large install that the engine does not need.
"""

from __future__ import annotations

from pathlib import Path

from tables.precision import PrecisionRow

INSTALL_HINT = "pip install 'vigil[report]'"


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""


def check_plotting() -> None:
    """Raise PlotUnavailable, saying how to install matplotlib, when it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(f"--plot needs matplotlib, which is not installed: "
                              f"{INSTALL_HINT}") from None


def plot_precision(rows: list[PrecisionRow], path: str | Path, threshold: float) -> None:
    """Draw one bar per list and match rule (its precision, with the hits judged on it) and
    the alert threshold as a line, to the PNG file `path`. A row with nothing judged gets
    no bar, only its label and "n/a", since no precision is not a precision of 0."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    labels = [f"{r.list}\n{r.match}" for r in rows]
    values = [r.precision or 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2), 4.5))
    bars = ax.bar(range(len(rows)), values,
                  color=["tab:red" if r.precision is not None and r.precision < threshold
                         else "tab:blue" for r in rows])
    for bar, r in zip(bars, rows, strict=True):
        judged = r.confirmed + r.false_positives
        text = "n/a" if r.precision is None else f"{r.precision:.0%}\nn={judged}"
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.axhline(threshold, color="grey", linestyle=":",
               label=f"alert threshold {threshold:.0%} (alerts.min_list_precision)")
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("confirmed / (confirmed + false positives)")
    ax.set_title("Vigil: precision per list and match rule")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
