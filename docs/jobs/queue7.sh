#!/bin/bash
# After queue6: the shipped (old) pair's VAE ceiling on the full bench, for models/world-tiny/bench_vae_ceiling.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
while pgrep -f "queue[56].sh" >/dev/null; do sleep 60; done
echo "queue7 start $(date -Is)"
O=$HOME/runs/scale/old_bundled
[ -f $O/bench_vae_ceiling/summary.json ] || .venv/bin/patchflow eval world --model world-truth --through-vae models/world-tiny \
  --n-per-category 8 --long --json --out $O/bench_vae_ceiling > $O/bench_vae_ceiling.json 2>&1
echo "queue7 end $(date -Is)"
