"""`lsat evaluate` against the official evaluation loop on VQA-v2-val-sized files.

Writes seeded files of the size of VQA-v2 val (214,354 questions, 10 answers each with
distinct ``answer_id``, a Zipf answer distribution, 10 % of predictions un-normalised), then
times, in this one process and on the same files, each version of:

- ``lsat``: :func:`lsat.engine.evaluation.evaluate_files` (parses each JSON file once);
- ``official loop``: a re-statement of the official ``VQA``/``VQAEval`` flow — load the
  three files, index them, and for every question normalise the strings anew and compare
  whole answer dicts for the leave-one-out subsets, as ``vqaEval.py`` does;
- with ``--official DIR`` (legacy) and ``--official-2021 DIR`` also the real official
  scripts found there, ``vqa.py`` and ``vqaEval.py``: openvqa's copy of the legacy version
  (Python 3), and GT-Vision-Lab/VQA's 2021 version with its Python 2 print statements
  converted (``2to3``, tabs expanded); neither is shipped with the project.

Both must give the same numbers; the script checks it.

    python benchmarks/bench_evaluate.py [--questions 214354] [--official DIR]
        [--official-2021 DIR] [--dir DIR] [--repeat N]

With ``--dir``, files already there are reused (generating them takes minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import random
import tempfile
import time
from pathlib import Path

from lsat.data.answers import process_digit_article, process_punctuation
from lsat.engine.evaluation import evaluate_files

KINDS = {"yes/no": ("is the", "are there"), "number": ("how many",), "other": ("what color",)}


def _vocabulary(rng: random.Random) -> list[str]:
    words = [f"{a}{b}" for a in "bcdfghklmnprst" for b in ("at", "og", "ue", "ed", "in")]
    singles = ["yes", "no", *map(str, range(20)), "two", "three", "red", "white", "blue"]
    pairs = [f"{rng.choice(words)} {rng.choice(words)}" for _ in range(2500)]
    return singles + words + pairs


def _variant(rng: random.Random, answer: str) -> str:
    return rng.choice([answer.upper(), answer.title() + ".", f"the {answer}", answer + "!"])


def generate(directory: Path, n: int, seed: int = 0) -> dict[str, Path]:
    """VQA-v2-val-sized question, annotation and prediction files under ``directory``."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    weights = [1 / (i + 1) for i in range(len(vocab))]
    questions, annotations, predictions = [], [], []
    for i in range(n):
        qid, image = 1_000_000 + i, i // 5
        kind = rng.choice(list(KINDS))
        majority = rng.choices(vocab, weights)[0]
        humans = [
            majority if rng.random() < 0.7 else rng.choices(vocab, weights)[0] for _ in range(10)
        ]
        humans = [_variant(rng, h) if rng.random() < 0.05 else h for h in humans]
        answers = [
            {"answer": h, "answer_confidence": "yes", "answer_id": j + 1}
            for j, h in enumerate(humans)
        ]
        questions.append({"question_id": qid, "image_id": image, "question": "what is it?"})
        annotations.append(
            {
                "question_id": qid,
                "image_id": image,
                "question_type": rng.choice(KINDS[kind]),
                "answer_type": kind,
                "multiple_choice_answer": majority,
                "answers": answers,
            }
        )
        pred = majority if rng.random() < 0.6 else rng.choices(vocab, weights)[0]
        predictions.append({"question_id": qid, "answer": _variant(rng, pred)
                            if rng.random() < 0.1 else pred})  # fmt: skip
    head = {"info": {}, "license": {}, "data_type": "mscoco", "data_subtype": "val2014"}
    head["task_type"] = "Open-Ended"
    files = {
        "q": (directory / "questions.json", {**head, "questions": questions}),
        "a": (directory / "annotations.json", {**head, "annotations": annotations}),
        "p": (directory / "predictions.json", predictions),
    }
    for path, data in files.values():
        path.write_text(json.dumps(data), encoding="utf-8")
    return {k: v[0] for k, v in files.items()}


def _official_sides(version: str, pred: str, answers: list[dict]) -> str:
    """The official per-question string work (answers rewritten in place, as there)."""
    pred = pred.replace("\n", " ").replace("\t", " ").strip()
    if version == "2021":
        for a in answers:
            a["answer"] = a["answer"].replace("\n", " ").replace("\t", " ").strip()
        if len({a["answer"] for a in answers}) > 1:
            for a in answers:
                a["answer"] = process_digit_article(process_punctuation(a["answer"]))
            pred = process_digit_article(process_punctuation(pred))
        return pred
    pred = process_digit_article(process_punctuation(pred))
    if len({a["answer"] for a in answers}) > 1:
        for a in answers:
            a["answer"] = process_punctuation(a["answer"])
    return pred


def official_loop(paths: dict[str, Path], version: str) -> float:
    """Overall accuracy by the official flow: load, index, per-question loop."""
    with open(paths["a"], encoding="utf-8") as f:
        qa = {a["question_id"]: a for a in json.load(f)["annotations"]}
    with open(paths["q"], encoding="utf-8") as f:
        qqa = {q["question_id"]: q for q in json.load(f)["questions"]}
    with open(paths["p"], encoding="utf-8") as f:
        res = {r["question_id"]: r for r in json.load(f)}
    assert set(res) == set(qa) and set(qa) <= set(qqa)
    accs = []
    for qid, ann in qa.items():
        pred = _official_sides(version, res[qid]["answer"], ann["answers"])
        credits = []
        for gt in ann["answers"]:
            others = [a for a in ann["answers"] if a != gt]
            credits.append(min(1, float(len([a for a in others if a["answer"] == pred])) / 3))
        accs.append(float(sum(credits)) / len(credits))
    return round(100 * float(sum(accs)) / len(accs), 2)


def real_official(paths: dict[str, Path], directory: Path) -> float:
    """The official scripts of ``directory`` (``vqa.py``, ``vqaEval.py``), run as they are.

    Loaded from their files under names of their own, so that the two versions' copies
    (which share module names) can both run in this process.
    """
    modules = {}
    for name in ("vqa", "vqaEval"):
        spec = importlib.util.spec_from_file_location(f"official_{name}_{directory.name}",
                                                      directory / f"{name}.py")  # fmt: skip
        assert spec is not None and spec.loader is not None, directory
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    with contextlib.redirect_stdout(io.StringIO()):
        vqa = modules["vqa"].VQA(str(paths["a"]), str(paths["q"]))
        result = vqa.loadRes(str(paths["p"]), str(paths["q"]))
        evaluator = modules["vqaEval"].VQAEval(vqa, result, n=2)
        evaluator.evaluate()
    return evaluator.accuracy["overall"]


def _timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    """The value and the best wall time of ``repeat`` calls (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return value, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=214_354)
    parser.add_argument("--official", type=Path, help="legacy vqa.py + vqaEval.py (openvqa's)")
    parser.add_argument("--official-2021", type=Path, help="GT-Vision-Lab's, in Python 3")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    parser.add_argument("--repeat", type=int, default=1, help="best of N, both sides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"q": directory / "questions.json", "a": directory / "annotations.json"}
        paths["p"] = directory / "predictions.json"
        if not (args.dir and all(p.is_file() for p in paths.values())):
            paths = generate(directory, args.questions)
        n = len(json.loads(paths["p"].read_text()))
        print(f"# {n} questions; seconds per evaluation, one process", flush=True)
        print("| version | lsat evaluate | official loop | speed-up | real official |")
        print("|---|---|---|---|---|")
        for version in ("2021", "legacy"):
            ours, t_ours = _timed(lambda v=version: evaluate_files(
                paths["q"], paths["p"], paths["a"], "vqa", v)["overall"], args.repeat)  # fmt: skip
            theirs, t_theirs = _timed(lambda v=version: official_loop(paths, v), args.repeat)
            assert ours == theirs, (version, ours, theirs)
            real = "-"
            official = {"legacy": args.official, "2021": args.official_2021}[version]
            if official is not None:
                value, t_real = _timed(lambda d=official: real_official(paths, d), args.repeat)
                assert value == ours, (value, ours)
                real = f"{t_real:.1f} s ({t_real / t_ours:.1f}×)"
            print(f"| {version} ({ours:.2f} %) | {t_ours:.1f} s | {t_theirs:.1f} s | "
                  f"{t_theirs / t_ours:.1f}× | {real} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
