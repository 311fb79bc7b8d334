#!/bin/bash
# Issue 15's experiment: does training on detailed captions (ground truth, or the trained captioner's) make the
# model follow text better than short prompts? Rung 2 of the ladder (all colours, shapes, sizes, backgrounds),
# world_tiny's chosen recipe (bf16, mask 0.5, lr 1e-3, WSD), 1.5e14 FLOPs an arm (the ladder's proxy budget),
# the new VAE. Step 1 here: the three caches and the captioned manifest. Rerunnable: finished steps skipped.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
VAE=$HOME/runs/world_tiny_v2/vae
DATA=$HOME/runs/ladder/data
L=$HOME/runs/lang
echo "queue8 start $(date -Is)"
encode() {  # encode RUNG OUT [--set ... | --data M]
  local rung=$1 out=$2; shift 2
  [ -f "$out/index.json" ] && return
  echo "encode $out start $(date -Is)"
  $PF data encode --recipe "world_rung$rung" --out "$out" --set train.vae_path=$VAE --set data.cache_dir=$DATA "$@" \
    > "$out.log" 2>&1
  echo "encode $out end $(date -Is)"
}
encode 2 $L/short_latents --set data.prompt_ratio=1.0
encode 2 $L/gt_latents --set data.prompt_ratio=0.0
M2=$(ls -d $DATA/world-* | while read d; do grep -q '"rung": 2' $d/world_config.json && echo $d; done | head -1)
echo "rung-2 world: $M2"
[ -f $L/captioned.jsonl ] || $PF data caption $M2/manifest.jsonl --backend world \
  --model $HOME/runs/world_captioner_v2 --out $L/captioned.jsonl > $L/caption.log 2>&1
echo "captioned $(date -Is)"
encode 2 $L/captioner_latents --set data.prompt_ratio=0.0 --data $L/captioned.jsonl
echo "queue8 end $(date -Is)"
