"""The HTML page of ``lsat summary``: the table, one plot of the spread over seeds, the
paired comparisons and the analysis figures, self-contained (images inlined) so that
``snakemake --report`` shows it as it is."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from lsat.summary import DatasetSummary, _result_lines, _table, comparison_line


def spread_png(summary: DatasetSummary) -> bytes:
    """Overall val accuracy of every run, one column per configuration, mean ± std bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = summary.groups
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(groups) + 2), 3.2))
    for x, g in enumerate(groups):
        values = [r.overall for r in g.rows]
        ax.scatter([x] * len(values), values, color="tab:blue", alpha=0.6, zorder=3)
        stat = g.stat(None)
        if stat is not None:
            mean, std, _ = stat
            ax.errorbar([x + 0.15], [mean], yerr=[std or 0.0], fmt="o", color="black", capsize=4)
    ax.set_xticks(range(len(groups)), [g.label for g in groups], rotation=20, ha="right")
    ax.set(ylabel="val accuracy (%)", title=f"{summary.name}: spread over seeds")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}"></p>'


def analysis_figures(summary: DatasetSummary) -> list[Path]:
    """PNG figures written by ``lsat analyze`` into the dataset's runs (if any)."""
    found: list[Path] = []
    for r in summary.rows:
        folder = r.metrics_file.parent / "analysis"
        if folder.is_dir():
            found += sorted(folder.glob("*.png"))
    return found


def format_html(summaries: list[DatasetSummary]) -> str:
    """A self-contained HTML page (shown inline by `snakemake --report`)."""
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Validation accuracy</title>',
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;"
        "padding:2px 8px;text-align:right}</style></head><body>",
    ]
    for summary in summaries:
        parts += _dataset_html(summary)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _dataset_html(summary: DatasetSummary) -> list[str]:
    header, body = _table(summary)
    title = "validation accuracy (%)" + (", mean ± std over n seeds" if summary.spread else "")
    parts: list[Any] = [f"<h2>{html.escape(summary.name)}: {title}</h2><table>"]
    parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in body:
        parts.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>")
    parts.append("</table>")
    if summary.spread and summary.rows:
        parts.append(_img(spread_png(summary), f"{summary.name} spread over seeds"))
    parts += [f"<p>{html.escape(comparison_line(c))}</p>" for c in summary.comparisons]
    for fig in analysis_figures(summary):
        parts.append(f"<h3>{html.escape(str(fig))}</h3>")
        parts.append(_img(fig.read_bytes(), fig.stem))
    parts += [f"<p>{html.escape(line)}</p>" for line in _result_lines(summary)]
    return parts
