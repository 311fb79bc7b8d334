#!/bin/bash
# The bundled model's DiT (issue 13): make's model stage on the world_tiny recipe, resumable (rerun this script).
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
make $HOME/runs/world_tiny_v3/model/model_index.json WM_RUN=$HOME/runs/world_tiny_v3
