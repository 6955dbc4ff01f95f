#!/usr/bin/env bash
# Runs `npm run bench` and the PyTorch reference (../shared/tools/gatys_torch.py, 1 thread) alternately, ROUNDS
# times, and prints each pair and the median ratio of ms per iteration. Other jobs on the machine skew single
# timings; alternating and taking the median keeps the comparison fair.
#   scripts/quality/bench-vs-torch.sh [SIZE=256] [ITERS=3] [ROUNDS=3]
set -euo pipefail
size=${1:-256}
iters=${2:-3}
rounds=${3:-3}
here=$(cd "$(dirname "$0")/../.." && pwd)
torch_py=${TORCH_PYTHON:-/usr/bin/python3}
ratios=()
for ((r = 1; r <= rounds; r++)); do
  ours=$(cd "$here" && npx tsx src/cli/bench.ts --size "$size" --iters "$iters" --json | tail -n 1)
  ours_ms=$(node -e 'console.log(JSON.parse(process.argv[1]).msPerIter)' "$ours")
  theirs=$("$torch_py" "$here/../shared/tools/gatys_torch.py" "$size" "$iters" 1)
  theirs_ms=$(sed -E 's/.*ms_per_iter=([0-9.]+).*/\1/' <<<"$theirs")
  ratio=$(node -e 'console.log((process.argv[1] / process.argv[2]).toFixed(2))' "$ours_ms" "$theirs_ms")
  ratios+=("$ratio")
  echo "round $r: ours $ours_ms ms/iter ($ours) · torch $theirs_ms ms/iter · ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
echo "size $size: median ratio ours/torch = $median (${rounds} rounds)"
