#!/bin/bash
# Why does the chosen recipe follow the text worse than the old one on the new VAE? (background probe: old
# recipe 75 %, the new recipe's 4x/16x points 40/60 %). Arms on world_tiny's own cache (v3, 128 text tokens),
# all at the old single-stream image share (data.image_ratio=0.03), at the candidate's compute (its 4000 steps).
# Then the rung-1 ablations that do not depend on the recipe. Rerunnable: finished arms are skipped.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
R=$HOME/runs/world_tiny_v3
OUT=$HOME/runs/ablate/text.jsonl
echo "queue5 start $(date -Is)"
tarm() {  # tarm NAME BUDGET... [--set ...]
  local name=$1; shift
  [ -d "$HOME/runs/ablate/text/$name/model" ] && { echo "skip text/$name"; return; }
  rm -rf "$HOME/runs/ablate/text/$name" "$HOME/runs/ablate/text/$name-probe"
  echo "arm text/$name start $(date -Is)"
  $PY bench/ablate.py --name "$name" --recipe world_tiny --out $OUT --runs $HOME/runs/ablate/text \
    --set train.vae_path=$R/vae --set data.latents=$R/latents --set data.cache_dir=$R/data \
    --set data.image_ratio=0.03 "$@"
  $PY bench/background_probe.py --model $HOME/runs/ablate/text/$name/model --seeds 4 \
    --out $HOME/runs/ablate/text_probe.jsonl
  echo "arm text/$name end $(date -Is)"
}
OLDR="--set train.lr=5e-4 --set train.lr_schedule=cosine --set train.token_mask=0 --set train.precision=bf16"
tarm old --steps 4000 $OLDR
FLOPS=$($PY -c "import json; print([json.loads(l) for l in open('$OUT') if json.loads(l)['name']=='old'][-1]['flops'])")
echo "budget $FLOPS"
tarm nomask --flops $FLOPS --set train.token_mask=0
tarm lr05 --flops $FLOPS --set train.lr=5e-4
tarm new --flops $FLOPS
# the quick bench of the old-recipe candidate (48 tokens) and the 4x point, for the table
for m in $HOME/runs/world_tiny_v2/candidate $HOME/runs/scale/4x/model; do
  [ -f $m/../bench_quick_$(basename $m)/summary.json ] || $PF eval world --model $m --quick --json \
    --out $m/../bench_quick_$(basename $m) > $m/../bench_quick_$(basename $m).json 2>&1
done
echo "queue5 text end $(date -Is)"
