"""``lsat summary``: the validation accuracy table, read back from the metrics files.

The last thing ``make demo`` prints, and the table of ``snakemake --report``: one row per
dataset, training split and model, with overall accuracy and the per-answer-type (VQA) or
per-category (CLEVR) columns of each split's ``val_metrics.json``, followed by where the
test result file is. The ``val`` column says "seen in training" for splits that trained on
val, and each dataset lists how its settings differ from the paper recipe
(:mod:`lsat.recipe`), so no table passes for a reproduction it is not. It only reads files
the pipeline wrote, so it is instant.
"""

from __future__ import annotations

import argparse
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsat.config import dataset_config, load_config
from lsat.errors import LsatError
from lsat.io import read_json, write_text_atomic
from lsat.recipe import SEEN, differences, val_label


@dataclass
class Row:
    """One trained split's validation result."""

    dataset: str
    split: str
    model: str
    metrics_file: Path
    overall: float
    detail: dict[str, float]
    eval_version: str = "-"
    val: str = "-"  # "seen in training" when the split trained on val (lsat.recipe)


@dataclass
class DatasetSummary:
    name: str
    rows: list[Row]
    result_files: list[Path]
    differences: list[str] = field(default_factory=list)  # from the paper recipe


def read_metrics(path: Path) -> tuple[float, dict[str, float], str]:
    """Overall accuracy, the per-type/per-category breakdown and the evaluation version
    (VQA: 2021 or legacy; CLEVR: exact; "unrecorded" for files of older releases)."""
    data = read_json(path, "validation metrics file")
    if not isinstance(data, dict) or not isinstance(data.get("overall"), int | float):
        raise LsatError(
            f"validation metrics file {path} has no numeric 'overall' accuracy "
            "(expected the output of `lsat evaluate`)"
        )
    detail = data.get("perAnswerType") or data.get("perCategory") or {}
    version = data.get("eval_version") or ("exact" if "perCategory" in data else "unrecorded")
    return float(data["overall"]), {str(k): float(v) for k, v in detail.items()}, str(version)


def collect(cfg: dict[str, Any], names: list[str] | None) -> list[DatasetSummary]:
    """Summaries of ``names`` (every file must exist), or of every dataset with results."""
    explicit = bool(names)
    summaries = []
    for name in names or list(cfg["datasets"]):
        ds = dataset_config(cfg, name)
        rows = []
        for split in ds.train["splits"]:
            path = ds.paths.val_metrics(split)
            if not path.is_file():
                if explicit:
                    raise LsatError(
                        f"dataset {name!r}, split {split!r}: {path} not found "
                        "(run the pipeline first, e.g. `snakemake --cores all`)"
                    )
                continue
            overall, detail, version = read_metrics(path)
            label = val_label(ds.format, split)
            rows.append(Row(name, split, ds.model["name"], path, overall, detail, version, label))
        results = [ds.paths.result_test]
        if ds.format == "clevr":
            results.append(ds.paths.result_test_clevr_txt)
        if rows or explicit:
            summaries.append(DatasetSummary(name, rows, results, differences(ds)))
    if not summaries:
        raise LsatError(
            f"no val_metrics.json under {cfg['results_dir']}/ for any configured dataset "
            "(run the pipeline first, e.g. `make demo` or `snakemake --cores all`)"
        )
    return summaries


def _columns(summary: DatasetSummary) -> list[str]:
    cols: list[str] = []
    for row in summary.rows:
        cols += [c for c in row.detail if c not in cols]
    return cols


def _table(summary: DatasetSummary) -> tuple[list[str], list[list[str]]]:
    cols = _columns(summary)
    header = ["dataset", "split", "model", "eval", "val", "overall", *cols]
    body = [
        [r.dataset, r.split, r.model, r.eval_version, r.val, f"{r.overall:.2f}"]
        + [f"{r.detail[c]:.2f}" if c in r.detail else "-" for c in cols]
        for r in summary.rows
    ]
    return header, body


def _result_lines(summary: DatasetSummary) -> list[str]:
    lines = []
    if any(r.val == SEEN for r in summary.rows):
        lines.append(
            f"val {SEEN}: those splits trained on the val questions they are scored on "
            "(not comparable with published val numbers)"
        )
    if summary.differences:
        lines.append("differs from the paper recipe: " + "; ".join(summary.differences))
    return lines + [
        f"test result file: {p}" + ("" if p.is_file() else " (not built yet)")
        for p in summary.result_files
    ]


def format_text(summaries: list[DatasetSummary]) -> str:
    """Aligned plain-text tables, one per dataset, as printed on the terminal."""
    blocks = []
    for summary in summaries:
        header, body = _table(summary)
        widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
        lines = [
            "  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *body]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        blocks.append("\n".join(["Validation accuracy (%)", *lines, *_result_lines(summary)]))
    return "\n\n".join(blocks) + "\n"


def format_tsv(summaries: list[DatasetSummary]) -> str:
    out = []
    for summary in summaries:
        header, body = _table(summary)
        out += ["\t".join(header), *("\t".join(r) for r in body)]
    return "\n".join(out) + "\n"


def format_html(summaries: list[DatasetSummary]) -> str:
    """A self-contained HTML page (shown inline by `snakemake --report`)."""
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Validation accuracy</title>',
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;"
        "padding:2px 8px;text-align:right}</style></head><body>",
    ]
    for summary in summaries:
        header, body = _table(summary)
        parts.append(f"<h2>{html.escape(summary.name)}: validation accuracy (%)</h2><table>")
        parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for row in body:
            parts.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>")
        parts.append("</table>")
        parts += [f"<p>{html.escape(line)}</p>" for line in _result_lines(summary)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


WRITERS = {".html": format_html, ".tsv": format_tsv, ".txt": format_text}


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    summaries = collect(cfg, args.dataset)
    print(format_text(summaries), end="")
    if args.out is not None:
        out = Path(args.out)
        writer = WRITERS.get(out.suffix)
        if writer is None:
            raise LsatError(f"--out {out}: expected a file ending in {', '.join(WRITERS)}")
        write_text_atomic(out, writer(summaries))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lsat summary`` to the command line."""
    p = subparsers.add_parser(
        "summary",
        help="print the validation accuracy table and where the test result files are",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="config/config.yaml", help="pipeline config file")
    p.add_argument(
        "--dataset",
        action="append",
        help="dataset to summarise (repeatable; default: every dataset with results)",
    )
    p.add_argument("--out", help="also write the table to this .html, .tsv or .txt file")
    p.set_defaults(func=run)
