#!/usr/bin/env bash
# The GPU benchmark of issue 6, as one short command for a lent accelerator (~5-8 min on an
# H100/H200): bf16 autocast, cudnn.benchmark, pinned host batches copied non_blocking, both
# memory formats; 64^3 base 16 and the paper's network (base 64, depth 5, no norm) at
# batch 4 on 128^3. Results go to $OUT (or ./benchmarks/out) as gpu.txt and gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/out}"
mkdir -p "$out"
python -c "import petmtl" 2>/dev/null || pip install --quiet --no-deps -e .
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python benchmarks/run.py --device cuda --quick --json "$out/gpu.json" 2>&1 | tee -a "$out/gpu.txt"
