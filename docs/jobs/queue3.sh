#!/bin/bash
# The work after the bundled run, in priority order (one heavy job at a time, 2 threads). Rerunnable: finished
# arms, encodes and benches are skipped; an interrupted arm starts over. Rows: ~/runs/ablate/*.jsonl.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
VAE=$HOME/runs/world_tiny_v2/vae
DATA=$HOME/runs/ladder/data
$HOME/runs/world_tiny_v3/after.sh || exit 1
echo "queue3 start $(date -Is)"
arm() {  # arm NAME RUNG LATENTS OUT [--set ...]
  local name=$1 rung=$2 latents=$3 out=$4; shift 4
  [ -d "$HOME/runs/ablate/$out/$name/model" ] && { echo "skip $out/$name"; return; }
  rm -rf "$HOME/runs/ablate/$out/$name" "$HOME/runs/ablate/$out/$name-probe"
  echo "arm $out/$name start $(date -Is)"
  $PY bench/ablate.py --name "$name" --recipe "world_rung$rung" --flops 1.5e14 --out "$HOME/runs/ablate/$out.jsonl" \
    --runs "$HOME/runs/ablate/$out" --set train.vae_path=$VAE --set data.latents="$latents" \
    --set data.cache_dir=$DATA --set train.precision=bf16 "$@"
  echo "arm $out/$name end $(date -Is)"
}
encode() {  # encode RUNG OUT [--set ... | --data M]
  local rung=$1 out=$2; shift 2
  [ -f "$out/index.json" ] && return
  $PF data encode --recipe "world_rung$rung" --out "$out" --set train.vae_path=$VAE --set data.cache_dir=$DATA "$@" \
    > "$out.log" 2>&1
}
OLD="--set train.lr=5e-4 --set train.lr_schedule=cosine --set train.token_mask=0"  # the rung-1 arms' base
L1=$HOME/runs/ladder/rung1/latents
# 1. the ladder at the chosen recipe (world_tiny's: bf16, mask 0.5, lr 1e-3, wsd)
arm recipe 1 $L1 rung1
for r in 2 3 4; do
  mkdir -p $HOME/runs/ladder/rung$r
  encode $r $HOME/runs/ladder/rung$r/latents
  arm recipe $r $HOME/runs/ladder/rung$r/latents rung$r
done
# 2. issue 15's experiment on rung 2 at the chosen recipe
mkdir -p $HOME/runs/lang
encode 2 $HOME/runs/lang/short_latents --set data.prompt_ratio=1.0
encode 2 $HOME/runs/lang/gt_latents --set data.prompt_ratio=0.0
M2=$(ls -d $DATA/world-* | while read d; do grep -q '"rung": 2' $d/world_config.json && echo $d; done | head -1)
[ -f $HOME/runs/lang/captioned.jsonl ] || $PF data caption $M2/manifest.jsonl --backend world \
  --model $HOME/runs/world_captioner_v2 --out $HOME/runs/lang/captioned.jsonl > $HOME/runs/lang/caption.log 2>&1
encode 2 $HOME/runs/lang/captioner_latents --set data.prompt_ratio=0.0 --data $HOME/runs/lang/captioned.jsonl
for kind in short gt captioner; do
  arm $kind 2 $HOME/runs/lang/${kind}_latents lang
  m=$HOME/runs/ablate/lang/$kind/model
  [ -f $HOME/runs/ablate/lang/$kind/bench_expanded/summary.json ] || \
    $PF eval world --model $m --quick --rung 2 --expand-prompt --json --out $HOME/runs/ablate/lang/$kind/bench_expanded \
      > $HOME/runs/ablate/lang/$kind/bench_expanded.json 2>&1
done
# 3. the remaining rung-1 ablations, against the old base
arm batch2x 1 $L1 rung1 $OLD --set data.buckets.token_budget=4096
arm xpred 1 $L1 rung1 $OLD --set flow.prediction=x
arm depth3 1 $L1 rung1 $OLD --set dit.depth=3
arm lr05x 1 $L1 rung1 $OLD --set train.lr=2.5e-4
arm shift3 1 $L1 rung1 $OLD --set flow.shift_base=2
# 4. queue2's work: the sampling sweep on rung 1's base arm, a 16-a-category rung-1 bench of every rung-1 arm,
#    the quick bench of issue 11's candidate
bash $HOME/runs/queue/queue2.sh
echo "queue3 end $(date -Is)"
