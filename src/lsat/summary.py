"""``lsat summary``: the validation accuracy table, read back from the metrics files.

The last thing ``make demo`` prints, and the table of ``snakemake --report``: one row per
dataset, training split and configuration, with overall accuracy and the per-answer-type
(VQA) or per-category (CLEVR) columns of each run's ``val_metrics.json``, followed by where
the test result file is. With several seeds (``train.seeds``) a row gives mean ± std over
the seeds and their number n; with a sweep, each configuration is compared with the first
on the same val questions (difference of B − A with a paired bootstrap 95 % interval, from
the runs' ``val_predictions.json``). The ``val`` column says "seen in training" for
splits that trained on val, and each dataset lists how its settings differ from the paper
recipe (:mod:`lsat.recipe`). It only reads files the pipeline wrote.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsat.config import dataset_config, load_config
from lsat.errors import LsatError
from lsat.formats import CLEVR, breakdown
from lsat.io import read_json, write_text_atomic
from lsat.recipe import SEEN, differences, val_label


@dataclass
class Row:
    """One trained run's validation result."""

    dataset: str
    split: str
    model: str
    metrics_file: Path
    overall: float
    detail: dict[str, float]
    eval_version: str = "-"
    val: str = "-"  # "seen in training" when the split trained on val (lsat.recipe)
    variant: str = ""
    seed: int | None = None
    predictions: Path | None = None


@dataclass
class Group:
    """The runs of one configuration (dataset, split, sweep variant) over its seeds."""

    dataset: str
    split: str
    variant: str
    model: str
    rows: list[Row]

    @property
    def label(self) -> str:
        return f"{self.split}/{self.variant}" if self.variant else self.split

    @property
    def eval_version(self) -> str:
        return ",".join(sorted({r.eval_version for r in self.rows}))

    def stat(self, column: str | None) -> tuple[float, float | None, int] | None:
        """(mean, std, n) of ``overall`` (column None) or of a per-type column."""
        values = [r.overall if column is None else r.detail.get(column) for r in self.rows]
        present = [v for v in values if v is not None]
        from lsat.stats import mean_std  # numpy: not at import (the lsat parser loads this)

        return (*mean_std(present), len(present)) if present else None


@dataclass
class DatasetSummary:
    name: str
    rows: list[Row]
    result_files: list[Path]
    differences: list[str] = field(default_factory=list)  # from the paper recipe
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def groups(self) -> list[Group]:
        out: dict[tuple[str, str], Group] = {}
        for r in self.rows:
            key = (r.split, r.variant)
            if key not in out:
                out[key] = Group(r.dataset, r.split, r.variant, r.model, [])
            out[key].rows.append(r)
        return list(out.values())

    @property
    def spread(self) -> bool:
        """True when any configuration has several seeds or a sweep exists."""
        return any(len(g.rows) > 1 or g.variant for g in self.groups)


def read_metrics(path: Path) -> tuple[float, dict[str, float], str]:
    """Overall accuracy, the per-type/per-category breakdown and the evaluation version
    (VQA: 2021 or legacy; CLEVR: exact; "unrecorded" for files of older releases)."""
    data = read_json(path, "validation metrics file")
    if not isinstance(data, dict) or not isinstance(data.get("overall"), int | float):
        raise LsatError(
            f"validation metrics file {path} has no numeric 'overall' accuracy "
            "(expected the output of `lsat evaluate`)"
        )
    detail = breakdown(data)
    version = data.get("eval_version") or ("exact" if CLEVR.breakdown in data else "unrecorded")
    return float(data["overall"]), {str(k): float(v) for k, v in detail.items()}, str(version)


def _rows(ds: Any, explicit: bool) -> list[Row]:
    rows = []
    for split in ds.train.splits:
        for run in ds.runs:
            path = ds.paths.val_metrics(split, run.id)
            if not path.is_file():
                if explicit:
                    raise LsatError(
                        f"dataset {ds.name!r}, split {split!r}"
                        + (f", run {run.id!r}" if run.id else "")
                        + f": {path} not found (run the pipeline first, e.g. "
                        "`snakemake --cores all`)"
                    )
                continue
            overall, detail, version = read_metrics(path)
            model = str(run.overrides.get("model.name", ds.model["name"]))
            preds = ds.paths.val_predictions(split, run.id)
            rows.append(Row(ds.name, split, model, path, overall, detail, version))
            rows[-1].variant, rows[-1].seed, rows[-1].predictions = run.variant, run.seed, preds
            rows[-1].val = val_label(ds.format, split)
    return rows


def collect(
    cfg: dict[str, Any], names: list[str] | None, compare: bool = True
) -> list[DatasetSummary]:
    """Summaries of ``names`` (every file must exist), or of every dataset with results."""
    explicit = bool(names)
    summaries = []
    for name in names or list(cfg["datasets"]):
        ds = dataset_config(cfg, name)
        rows = _rows(ds, explicit)
        results = ds.paths.test_results(ds.fmt)
        if rows or explicit:
            summary = DatasetSummary(name, rows, results, differences(ds))
            if compare:
                summary.comparisons = compare_variants(ds, summary.groups)
            summaries.append(summary)
    if not summaries:
        raise LsatError(
            f"no val_metrics.json under {cfg['results_dir']}/ for any configured dataset "
            "(run the pipeline first, e.g. `make demo` or `snakemake --cores all`)"
        )
    return summaries


def compare_variants(ds: Any, groups: list[Group]) -> list[dict[str, Any]]:
    """Each sweep configuration against the first of its split, paired on the val questions."""
    out = []
    for split in ds.train.splits:
        same = [g for g in groups if g.split == split and g.variant]
        for other in same[1:]:
            out.append(compare_groups(ds, same[0], other))
    return out


def compare_groups(ds: Any, a: Group, b: Group) -> dict[str, Any]:
    """Paired bootstrap of B − A from the runs' val predictions."""
    from lsat.stats import paired_bootstrap, question_scores

    scores = {}
    for g in (a, b):
        files = [r.predictions for r in g.rows]
        missing = [str(f) for f in files if f is None or not f.is_file()]
        if missing:
            raise LsatError(
                f"comparing {a.label} with {b.label} needs the val predictions: "
                f"{', '.join(missing)} not found"
            )
        version = ds.eval_version
        found = [f for f in files if f is not None]
        scores[g.label] = [question_scores(ds.fmt, ds.raw_dir, f, version) for f in found]
    paired = paired_bootstrap(scores[a.label], scores[b.label])
    return {
        "split": a.split,
        "a": a.label,
        "b": b.label,
        "seeds_a": len(a.rows),
        "seeds_b": len(b.rows),
        **paired.as_dict(),
    }


def _columns(summary: DatasetSummary) -> list[str]:
    cols: list[str] = []
    for row in summary.rows:
        cols += [c for c in row.detail if c not in cols]
    return cols


def _cell(stat: tuple[float, float | None, int] | None) -> str:
    if stat is None:
        return "-"
    mean, std, _ = stat
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _table(summary: DatasetSummary) -> tuple[list[str], list[list[str]]]:
    cols = _columns(summary)
    if not summary.spread:
        header = ["dataset", "split", "model", "eval", "val", "overall", *cols]
        body = [
            [r.dataset, r.split, r.model, r.eval_version, r.val, f"{r.overall:.2f}"]
            + [f"{r.detail[c]:.2f}" if c in r.detail else "-" for c in cols]
            for r in summary.rows
        ]
        return header, body
    header = ["dataset", "split", "config", "model", "n", "eval", "val", "overall", *cols]
    body = [
        [g.dataset, g.split, g.variant or "-", g.model, str(len(g.rows)), g.eval_version]
        + [g.rows[0].val, _cell(g.stat(None))]
        + [_cell(g.stat(c)) for c in cols]
        for g in summary.groups
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


def comparison_line(c: dict[str, Any]) -> str:
    low, high = c["ci95"]
    verdict = "beyond" if low > 0 or high < 0 else "within"
    return (
        f"{c['b']} - {c['a']}: {c['difference']:+.2f} points on {c['n_questions']} val "
        f"questions, paired bootstrap 95% CI [{low:+.2f}, {high:+.2f}] ({verdict} "
        f"question noise; seeds {c['seeds_b']} vs {c['seeds_a']})"
    )


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
        title = "Validation accuracy (%)" + (", mean ± std over n seeds" if summary.spread else "")
        extra = [comparison_line(c) for c in summary.comparisons]
        blocks.append("\n".join([title, *lines, *extra, *_result_lines(summary)]))
    return "\n\n".join(blocks) + "\n"


def format_tsv(summaries: list[DatasetSummary]) -> str:
    out = []
    for summary in summaries:
        header, body = _table(summary)
        out += ["\t".join(header), *("\t".join(r) for r in body)]
    return "\n".join(out) + "\n"


def as_json(summaries: list[DatasetSummary]) -> dict[str, Any]:
    """Every configuration's mean, std, n and per-seed values, and the comparisons."""
    datasets = []
    for s in summaries:
        groups = []
        for g in s.groups:
            entry: dict[str, Any] = {
                "split": g.split,
                "config": g.variant,
                "model": g.model,
                "n": len(g.rows),
                "eval_version": g.eval_version,
                "val": g.rows[0].val,
                "seeds": [r.seed for r in g.rows],
                "metrics_files": [str(r.metrics_file) for r in g.rows],
            }
            for col in [None, *_columns(s)]:
                stat = g.stat(col)
                if stat is not None:
                    values = [r.overall if col is None else r.detail.get(col) for r in g.rows]
                    entry[col or "overall"] = {
                        "mean": round(stat[0], 4),
                        "std": None if stat[1] is None else round(stat[1], 4),
                        "n": stat[2],
                        "values": values,
                    }
            groups.append(entry)
        datasets.append(
            {
                "dataset": s.name,
                "configurations": groups,
                "comparisons": s.comparisons,
                "differences_from_paper": s.differences,
                "result_files": [str(p) for p in s.result_files],
            }
        )
    return {"datasets": datasets}


def run(args: argparse.Namespace) -> int:
    from lsat.summary_html import format_html

    cfg = load_config(args.config)
    summaries = collect(cfg, args.dataset)
    if args.json:
        print(json.dumps(as_json(summaries), indent=2))
    else:
        print(format_text(summaries), end="")
    if args.out is not None:
        out = Path(args.out)
        writers = {".html": format_html, ".tsv": format_tsv, ".txt": format_text}
        writer = writers.get(out.suffix)
        if out.suffix == ".json":
            write_text_atomic(out, json.dumps(as_json(summaries), indent=2) + "\n")
        elif writer is None:
            raise LsatError(f"--out {out}: expected a file ending in .html, .tsv, .txt or .json")
        else:
            write_text_atomic(out, writer(summaries))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lsat summary`` to the command line."""
    p = subparsers.add_parser(
        "summary",
        help="print the validation accuracy table (mean ± std over seeds) and the result files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="config/config.yaml", help="pipeline config file")
    p.add_argument(
        "--dataset",
        action="append",
        help="dataset to summarise (repeatable; default: every dataset with results)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--out", help="also write the summary to this .html, .tsv, .txt or .json file")
    p.set_defaults(func=run)
