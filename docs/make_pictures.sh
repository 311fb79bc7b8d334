#!/usr/bin/env bash
# Regenerates the contact sheets in docs/img/ that docs/generate.md shows, with the bundled model.
#   bash docs/make_pictures.sh [MODEL_DIR]      (default models/world-tiny; about 2 minutes on 2 CPU cores)
# Inputs are rendered by the built-in world; every picture is `patchflow generate ... --sheet`.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/world-tiny}
PF=".venv/bin/patchflow"
export HF_HUB_OFFLINE=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
IMG=docs/img

$PF world render --caption "A cyan triangle on navy." --size 64x64 --frames 1 --seed 1 --out "$WORK/start.png"
$PF world render --caption "A blue box moves to the right. The background is black." --size 80x48 --frames 17 \
    --seed 2 --out "$WORK/in.mp4"
$PF world render --caption "A small cyan ball moves to the right on black." --size 80x48 --frames 9 --seed 3 \
    --out "$WORK/a.mp4"
$PF world render --caption "A magenta ball moves down on black." --size 80x48 --frames 9 --seed 4 --out "$WORK/b.mp4"

gen() {  # gen NAME ARGS...: one sample, its contact sheet copied to docs/img/generate_NAME.png
    local name=$1
    shift
    $PF generate --model "$MODEL" --seed 0 "$@" --out "$WORK/$name.mp4" --sheet
    cp "$WORK/${name}_sheet.png" "$IMG/generate_$name.png"
}

gen t2v --prompt "a cyan triangle moving downward" --size 64x64 --frames 17
$PF generate --model "$MODEL" --seed 0 --prompt "a cyan triangle moving downward" --size 64x64 --frames 1 \
    --out "$IMG/generate_t2i.png"
gen i2v --prompt "a cyan triangle moving downward" --image "$WORK/start.png" --frames 17
gen extend_forward --prompt "A blue box moves to the right. The background is black." --video "$WORK/in.mp4" \
    --extend forward --frames 16
gen extend_backward --prompt "A blue box moves to the right. The background is black." --video "$WORK/in.mp4" \
    --extend backward --frames 17
gen connect --prompt "A small cyan ball moves to the right on black." --video "$WORK/a.mp4" --video "$WORK/b.mp4" \
    --frames 16
gen loop --prompt "a green triangle bounces around on gray" --loop --size 64x64 --frames 17
gen loop_video --prompt "A blue box moves to the right. The background is black." --loop --video "$WORK/in.mp4" \
    --frames 8
gen v2v --prompt "A yellow box moves to the right. The background is black." --video "$WORK/in.mp4" --strength 0.6
gen long --prompt "a red ball bouncing around on navy" --size 64x64 --seconds 8 --window 5
echo "wrote $(ls $IMG/generate_*.png | wc -l) pictures to $IMG"
