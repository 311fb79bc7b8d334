#!/bin/bash
# Issue 15's experiment, step 2 (after queue8's caches): three arms at equal FLOPs on rung 2 (short prompts only,
# ground-truth detailed captions, the trained captioner's captions), then each scored on rung 2's bench prompts
# (8 a category, seeds 0 and 1) as written (short) and expanded by the world expander, and the background probe.
# Rerunnable: finished arms and benches are skipped; an interrupted arm starts over.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
VAE=$HOME/runs/world_tiny_v2/vae
DATA=$HOME/runs/ladder/data
L=$HOME/runs/lang
while pgrep -f queue8.sh >/dev/null; do sleep 30; done
[ -f $L/captioner_latents/index.json ] || { echo "queue8 did not finish"; exit 1; }
echo "queue9 start $(date -Is)"
for kind in short gt captioner; do
  run=$HOME/runs/ablate/lang/$kind
  if [ ! -d $run/model ]; then
    rm -rf $run $run-probe
    echo "arm lang/$kind start $(date -Is)"
    $PY bench/ablate.py --name $kind --recipe world_rung2 --flops 1.5e14 --out $HOME/runs/ablate/lang.jsonl \
      --runs $HOME/runs/ablate/lang --set train.vae_path=$VAE --set data.latents=$L/${kind}_latents \
      --set data.cache_dir=$DATA --set train.precision=bf16
    echo "arm lang/$kind end $(date -Is)"
  fi
done
for kind in short gt captioner; do
  m=$HOME/runs/ablate/lang/$kind/model
  for seed in 0 1; do
    b=$HOME/runs/ablate/lang/$kind/bench_short_s$seed
    [ -f $b/summary.json ] || $PF eval world --model $m --rung 2 --n-per-category 8 --seed $seed --json --out $b > $b.log 2>&1
    b=$HOME/runs/ablate/lang/$kind/bench_expanded_s$seed
    [ -f $b/summary.json ] || $PF eval world --model $m --rung 2 --n-per-category 8 --seed $seed --expand-prompt \
      --json --out $b > $b.log 2>&1
  done
  grep -q "lang/$kind/model" $L/probe.jsonl 2>/dev/null || \
    $PY bench/background_probe.py --model $m --seeds 8 --out $L/probe.jsonl
  echo "benched lang/$kind $(date -Is)"
done
echo "queue9 end $(date -Is)"
