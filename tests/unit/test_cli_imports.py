"""The command line loads no heavy library it does not need.

torch costs 1.5 CPU s to import on the project's machines: `lsat --help` and
`lsat validate-result` (a 447,793-entry result validated in under 3 s, issue 12) must not
pay it, nor numpy's import; the handlers that need them import them themselves.
"""

import json
import subprocess
import sys

HEAVY = ("torch", "numpy", "h5py", "matplotlib", "jsonschema")


def _loaded(code: str) -> list[str]:
    report = f"import sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    probe = f"{code}\n{report}"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_building_the_parser_imports_no_heavy_library():
    assert _loaded("from lsat.cli import build_parser\nbuild_parser()") == []


def test_validate_result_imports_no_heavy_library(tmp_path):
    questions = tmp_path / "v2_OpenEnded_mscoco_test2015_questions.json"
    items = [{"question_id": q, "image_id": 1, "question": "Is it?"} for q in (1, 2)]
    questions.write_text(json.dumps({"data_subtype": "test2015", "questions": items}))
    result = tmp_path / "result.json"
    result.write_text(json.dumps([{"question_id": q, "answer": "yes"} for q in (2, 1)]))
    code = (
        "from lsat.cli import main\n"
        f"assert main(['validate-result', '--result', {str(result)!r}, "
        f"'--questions', {str(questions)!r}]) == 0"
    )
    assert _loaded(code) == []
    # the probe can fail: a command that needs torch shows it
    assert "torch" in _loaded("import lsat.analyze")
