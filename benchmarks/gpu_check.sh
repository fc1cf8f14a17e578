#!/usr/bin/env bash
# The first check of a lent GPU, in one command: at most 8 minutes on one H100/H200, from a
# bare checkout, with no package registry, on the machine's own python3 and torch.
#
#   OUT=/path/to/results benchmarks/gpu_check.sh
#
# Nothing is installed: the package runs from src/ (PYTHONPATH). Wheels for anything the
# machine lacks (jsonschema is optional; `make gpu-wheels` downloads it for cp312 on a
# machine with a registry) are read from the folder $LSAT_WHEELS when it is set.
# Steps, each under its own timeout, results written to $OUT as they come (six files, so
# that a device tool returning at most 8 brings all of them back):
#   env.txt           python, torch, CUDA, GPU (nvidia-smi)
#   smoke.jsonl       benchmarks/gpu_smoke.py: each model forward + backward, fp32 / bf16 /
#                     compiled, padded and fully masked inputs, finite gradients, SDPA vs
#                     explicit, the engine step's host synchronisations
#   demo.json         benchmarks/gpu_demo.py: demo training with gpu residency, SIGTERM,
#                     resume, lsat predict, lsat evaluate, lsat validate-result
#   bench.jsonl       benchmarks/bench_train.py per model: paper-configuration throughput at
#                     batch 64 (bf16 eager, compiled, CUDA graphs), ms/step, compile time,
#                     graph breaks, MFU against the measured bf16 matrix-product peak
#   logs.txt          every step's output, one after the other
#   summary.txt       one line per step: status and seconds
# Without a GPU (e.g. CUDA_VISIBLE_DEVICES=) it is a dry run: tiny models and world on the
# CPU, no compiled rows, no throughput step (tests/benchmarks/test_gpu_check.py runs it).
# LSAT_GPU_CHECK_BLOCK="jsonschema snakemake dvc" makes those imports fail, as on the bare
# machine. Exit status: the number of failed steps.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/gpu-check-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lsat-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export PYTHONPATH=$REPO/src${PYTHONPATH:+:$PYTHONPATH}
FAILED=0

note() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME SECONDS COMMAND...: run under `timeout`, output appended to $OUT/logs.txt,
# one summary line.
LOGS=$OUT/logs.txt
: >"$LOGS"
step() {
	local name=$1 limit=$2 start rc
	shift 2
	start=$(date +%s)
	echo "===== $name: $*" >>"$LOGS"
	timeout -k 10 "$limit" "$@" >>"$LOGS" 2>&1
	rc=$?
	[ "$rc" -eq 124 ] && echo "===== $name timed out after ${limit}s" >>"$LOGS"
	[ "$rc" -ne 0 ] && FAILED=$((FAILED + 1))
	note "$name: exit $rc, $(($(date +%s) - start)) s (limit $limit s)"
	return 0
}

if [ -n "${LSAT_WHEELS:-}" ]; then
	"$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" \
		"$LSAT_WHEELS"/*.whl >>"$LOGS" 2>&1 || note "wheels: install failed"
	export PYTHONPATH=$PYTHONPATH:$WORK/site
fi
for mod in ${LSAT_GPU_CHECK_BLOCK:-}; do
	mkdir -p "$WORK/block/$mod"
	echo "raise ImportError('$mod is blocked by gpu_check.sh')" >"$WORK/block/$mod/__init__.py"
	export PYTHONPATH=$WORK/block:$PYTHONPATH
done

GPU=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
{
	date -u
	"$PY" -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available() and torch.cuda.get_device_name())'
	[ "$GPU" = 1 ] && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
} >"$OUT/env.txt" 2>&1
note "gpu_check: $([ "$GPU" = 1 ] && echo GPU run || echo CPU dry run), results in $OUT"

cd "$REPO" || exit 1
if [ "$GPU" = 1 ]; then
	step smoke 180 "$PY" benchmarks/gpu_smoke.py --out "$OUT/smoke.jsonl"
	step demo 90 "$PY" benchmarks/gpu_demo.py --work "$WORK/demo" --out "$OUT/demo.json"
	for m in trar mcan lsat; do
		step "bench_$m" 70 "$PY" benchmarks/bench_train.py --device cuda --models "$m" \
			--variants bf16,bf16+compile,bf16+cudagraphs --steps 50 --warmup 5 \
			--jsonl "$OUT/bench.jsonl"
	done
else
	step smoke 420 "$PY" benchmarks/gpu_smoke.py --device cpu --tiny --no-compile \
		--batch-size 8 --out "$OUT/smoke.jsonl"
	step demo 420 "$PY" benchmarks/gpu_demo.py --work "$WORK/demo" --tiny --out "$OUT/demo.json"
	note "bench: skipped (no GPU)"
fi
note "gpu_check: $FAILED step(s) failed"
exit "$FAILED"
