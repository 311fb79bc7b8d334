#!/bin/bash
# The ladder's rung 2 at the chosen recipe (world_tiny's 40 % short prompts), new VAE, 1.5e14 FLOPs: does the
# prompt mix follow the background as the detailed-captions arm does (lang/gt: 100 % of 40 probe samples)
# or as the short-prompts arm does (lang/short: 28 %)? Encode now on 1 thread beside queue9; the arm after it.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
VAE=$HOME/runs/world_tiny_v2/vae
DATA=$HOME/runs/ladder/data
LAT=$HOME/runs/ladder/rung2/latents
echo "queue13 start $(date -Is)"
mkdir -p $HOME/runs/ladder/rung2
[ -f $LAT/index.json ] || OMP_NUM_THREADS=1 $PF data encode --recipe world_rung2 --out $LAT \
  --set train.vae_path=$VAE --set data.cache_dir=$DATA > $LAT.log 2>&1
echo "encoded $(date -Is)"
while pgrep -f queue9.sh >/dev/null; do sleep 30; done
run=$HOME/runs/ablate/rung2/recipe
if [ ! -d $run/model ]; then
  rm -rf $run $run-probe
  echo "arm rung2/recipe start $(date -Is)"
  $PY bench/ablate.py --name recipe --recipe world_rung2 --flops 1.5e14 --out $HOME/runs/ablate/rung2.jsonl \
    --runs $HOME/runs/ablate/rung2 --set train.vae_path=$VAE --set data.latents=$LAT \
    --set data.cache_dir=$DATA --set train.precision=bf16
  echo "arm rung2/recipe end $(date -Is)"
fi
grep -q "rung2/recipe/model" $HOME/runs/lang/probe.jsonl 2>/dev/null || \
  $PY bench/background_probe.py --model $run/model --seeds 8 --out $HOME/runs/lang/probe.jsonl
echo "queue13 end $(date -Is)"
