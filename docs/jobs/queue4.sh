#!/bin/bash
# After queue3: issue 13's remaining ablation rows. Rung 1 (against the old base): patch size, distinct samples.
# Rung 4 (at the chosen recipe, where images exist): the image share, and a two-stage curriculum (images only,
# then the mix) against one run at the same FLOPs. Rerunnable like queue3.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; PF=.venv/bin/patchflow
VAE=$HOME/runs/world_tiny_v2/vae
DATA=$HOME/runs/ladder/data
while pgrep -f queue3.sh >/dev/null; do sleep 60; done
echo "queue4 start $(date -Is)"
arm() {  # arm NAME RUNG LATENTS OUT FLOPS [--set ... | --init-from DIR]
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
# patch size: 4x4 latent pixels a token (36 tokens a 17-frame clip instead of 144... x4 fewer), same FLOPs
arm patch4 1 $L1 rung1 1.5e14 $OLD --set 'dit.patch_size=[1,4,4]'
# distinct world samples: 500 instead of 2000 (same FLOPs, so each sample is seen 4x as often)
encode 1 $HOME/runs/ladder/rung1_n500/latents --set world.n=500
arm samples500 1 $HOME/runs/ladder/rung1_n500/latents rung1 1.5e14 $OLD --set world.n=500
# rung 4: image share (the recipe arm of queue3 has data.image_ratio 0.3; 0.03 is what caches gave before)
L4=$HOME/runs/ladder/rung4/latents
arm images003 4 $L4 rung4 1.5e14 --set data.image_ratio=0.03
arm images06 4 $L4 rung4 1.5e14 --set data.image_ratio=0.6
# curriculum: half the FLOPs on images only, then half on the mix, from the first stage's model
arm cur_images 4 $L4 rung4 7.5e13 --set data.image_ratio=1.0
arm cur_then_mix 4 $L4 rung4 7.5e13 --init-from $HOME/runs/ablate/rung4/cur_images/model
echo "queue4 end $(date -Is)"
