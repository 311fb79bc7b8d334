#!/bin/bash
# (1 thread beside queue9's arms) Text-following and the sampler: the background probe (8 seeds a background, 40 samples) of the 16x model and
# the old pair at other guidance scales and time shifts than their own. Then the text arms left in queue5.
set -u
cd /work/main
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python
OUT=$HOME/runs/scale/probe_sampler.jsonl
export OMP_NUM_THREADS=1  # beside queue9's arm (FLOP-budgeted: its rows stay fair; its minutes grow)
echo "queue11 start $(date -Is)"
probe() {  # probe MODEL [--guidance G] [--shift S]
  local key="$*"
  grep -qF "\"key\": \"$key\"" $OUT 2>/dev/null && { echo "skip $key"; return; }
  $PY bench/background_probe.py --seeds 8 --out $OUT.tmp --model "$@" && \
    $PY -c "import json,sys; r=json.loads(open('$OUT.tmp').read().splitlines()[-1]); r['key']=sys.argv[1]; open('$OUT','a').write(json.dumps(r)+'\n')" "$key"
  rm -f $OUT.tmp
}
M16=$HOME/runs/world_tiny_v3/model
OLDP=models/world-tiny
for m in $M16 $OLDP; do
  probe $m
  probe $m --shift 3
  probe $m --shift 6
  probe $m --guidance 8
done
probe $M16 --guidance 2.5
probe $M16 --shift 6 --guidance 8
echo "queue11 probes end $(date -Is)"
while pgrep -f queue9.sh >/dev/null; do sleep 30; done; unset OMP_NUM_THREADS; bash $HOME/runs/queue/queue5.sh
