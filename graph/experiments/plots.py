"""PNG figures for ``glia stack`` and ``glia sweep``. matplotlib is the optional extra ``plot``, imported here only
when a figure is drawn; without it the commands still write their tables."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("matplotlib is not installed; pip install 'glia[plots]' for the figures") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def bar_panels(labels: list[str], panels: list[tuple[str, list[float], list[list[float]], float | None]],
               path: Path, title: str) -> None:
    """One bar panel per (title, means, CIs, reference line or None), the same bars in each."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    colours = plt.cm.tab10.colors
    for ax, (name, means, cis, line) in zip(axes[0], panels, strict=True):
        err = [[m - lo for m, (lo, _) in zip(means, cis, strict=True)],
               [hi - m for m, (_, hi) in zip(means, cis, strict=True)]]
        ax.bar(range(len(means)), means, yerr=err, capsize=4, color=[colours[i % 10] for i in range(len(means))])
        if line is not None:
            ax.axhline(line, color="black", linestyle="--", linewidth=1, label=f"bound {line:g}")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=8)
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def line_plot(series: dict[str, tuple[list[float], list[float], list[list[float]]]], path: Path, xlabel: str,
              ylabel: str, bound: float | None, title: str) -> None:
    """One line per name: (x values, means, CIs), with the constraint's bound as a dashed line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, (xs, ys, cis) in series.items():
        line, = ax.plot(xs, ys, marker="o", label=name)
        ax.fill_between(xs, [lo for lo, _ in cis], [hi for _, hi in cis], color=line.get_color(), alpha=0.15)
    if bound is not None:
        ax.axhline(bound, color="black", linestyle="--", linewidth=1, label=f"bound {bound:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
