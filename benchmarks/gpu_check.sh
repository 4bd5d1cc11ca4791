#!/usr/bin/env bash
# The device check of docs/performance.md, prepared for a lent GPU machine: one call, under
# 10 minutes, with the machine's own python3 (torch with CUDA; no registry access, so selrob
# runs from src/ without installing). Logs go to $OUT (default: gpu-check/):
#   1. the gpu-marked tests (device-resident loader, training, robustness training, attacks,
#      packed runs, bf16 training, corruptions: each against the CPU path);
#   2. benchmarks/throughput.py --device cuda (train step and sections vs the bf16 and fp32
#      matmul ceilings, and the sweeps' projected wall time, paper-cifar10 included);
#   3. benchmarks/packing.py --device cuda (vmapped vs one-after-another, checked equal first).
#
#   bash benchmarks/gpu_check.sh          (PYTHON=... picks another interpreter)
set -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch, selrob; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  2>&1 | tee "$OUT/versions.txt"
status=0
timeout 240 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/perturb/corruptions/test_api.py 2>&1 | tee "$OUT/gpu-tests.log" || status=1
timeout 240 "$PY" benchmarks/throughput.py --device cuda 2>&1 | tee "$OUT/throughput.log" || status=1
timeout 90 "$PY" benchmarks/packing.py --device cuda --k 8 2>&1 | tee "$OUT/packing.log" || status=1
exit $status
