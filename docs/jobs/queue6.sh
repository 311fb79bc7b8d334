#!/bin/bash
# After queue5: issue 13's rung-1 ablations against the old base (they do not depend on the recipe question).
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
VAE=$HOME/runs/world_tiny_v2/vae
DATA=$HOME/runs/ladder/data
while pgrep -f queue5.sh >/dev/null; do sleep 60; done
echo "queue6 start $(date -Is)"
arm() {  # arm NAME RUNG LATENTS OUT FLOPS [--set ...]
  local name=$1 rung=$2 latents=$3 out=$4 flops=$5; shift 5
  [ -d "$HOME/runs/ablate/$out/$name/model" ] && { echo "skip $out/$name"; return; }
  rm -rf "$HOME/runs/ablate/$out/$name" "$HOME/runs/ablate/$out/$name-probe"
  echo "arm $out/$name start $(date -Is)"
  $PY bench/ablate.py --name "$name" --recipe "world_rung$rung" --flops $flops --out "$HOME/runs/ablate/$out.jsonl" \
    --runs "$HOME/runs/ablate/$out" --set train.vae_path=$VAE --set data.latents="$latents" \
    --set data.cache_dir=$DATA --set train.precision=bf16 "$@"
  echo "arm $out/$name end $(date -Is)"
}
encode() {  # encode RUNG OUT [--set ...]
  local rung=$1 out=$2; shift 2
  [ -f "$out/index.json" ] && return
  mkdir -p "$(dirname $out)"
  $PF data encode --recipe "world_rung$rung" --out "$out" --set train.vae_path=$VAE --set data.cache_dir=$DATA "$@" \
    > "$out.log" 2>&1
}
OLD="--set train.lr=5e-4 --set train.lr_schedule=cosine --set train.token_mask=0"  # the rung-1 arms' base
L1=$HOME/runs/ladder/rung1/latents
arm batch2x 1 $L1 rung1 1.5e14 $OLD --set data.buckets.token_budget=4096
arm xpred 1 $L1 rung1 1.5e14 $OLD --set flow.prediction=x
arm depth3 1 $L1 rung1 1.5e14 $OLD --set dit.depth=3
arm lr05x 1 $L1 rung1 1.5e14 $OLD --set train.lr=2.5e-4
arm shift3 1 $L1 rung1 1.5e14 $OLD --set flow.shift_base=2
arm patch4 1 $L1 rung1 1.5e14 $OLD --set 'dit.patch_size=[1,4,4]'
encode 1 $HOME/runs/ladder/rung1_n500/latents --set world.n=500
arm samples500 1 $HOME/runs/ladder/rung1_n500/latents rung1 1.5e14 $OLD --set world.n=500
echo "queue6 end $(date -Is)"
