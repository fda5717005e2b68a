#!/usr/bin/env bash
# The GPU benchmark of issue 6, as one short command for a lent accelerator (~5-8 min on an
# H100/H200): bf16 autocast, cudnn.benchmark, pinned host batches copied non_blocking, both
# memory formats; 64^3 base 16 and the paper's network (base 64, depth 5, no norm) at
# batch 4 on 128^3; then data-parallel fit throughput with torchrun on 1, 2, ... N GPUs
# (NCCL, 4 volumes of 96^3 per GPU, base 16, so the global batch grows with N).
# Results go to $OUT (or ./benchmarks/out) as gpu.txt, gpu.json and gpu_ddp.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/out}"
mkdir -p "$out"
python -c "import petmtl" 2>/dev/null || pip install --quiet --no-deps -e .
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python benchmarks/run.py --device cuda --quick --json "$out/gpu.json" 2>&1 | tee -a "$out/gpu.txt"
n_gpus=$(nvidia-smi -L | wc -l)
: > "$out/gpu_ddp.jsonl"
for n in $(seq 1 "$n_gpus"); do
  python -m torch.distributed.run --standalone --nproc_per_node="$n" benchmarks/scale.py \
    --sections ddp-worker --threads 4 --batch $((4 * n)) --size 96 --n-samples 160 \
    --base-width 16 | tail -n 1 | tee -a "$out/gpu_ddp.jsonl"
done
python - "$out/gpu_ddp.jsonl" <<'PY' | tee -a "$out/gpu.txt"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
one = rows[0]["samples_per_second"]
for r in rows:
    print(f"{r['world_size']} GPU(s): {r['samples_per_second']:.1f} volumes/s, "
          f"scaling efficiency {r['samples_per_second'] / (one * r['world_size']):.2f}")
PY
