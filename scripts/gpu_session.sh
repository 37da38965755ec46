#!/bin/bash
# One GPU lease, one script (issue 9 §2): generate fresh, independently seeded training
# events on the machine's CPU cores, then train on its GPU, within a few minutes.
#
# Here, once:   bash scripts/gpu_wheels.sh
# On the GPU machine (device tool `run`, carry [".whl"], timeout_s 590):
#   CHANNEL=semileptonic SEED=601 EVENTS=150000 TRAIN_MINUTES=4 bash scripts/gpu_session.sh
# The model, its training log and the generation records come back under $OUT.
#
# Settings (environment): CHANNEL (semileptonic|dilepton), SEED (a seed never used before:
# nuanalysis/data/README.md lists the used ones), EVENTS (selected events, re-smeared
# copies included; semileptonic ≈ 40 and dilepton ≈ 120 copies/s per core with RESMEAR=4),
# RESMEAR (4), JOBS (cores − 1), TRAIN_MINUTES, INIT (a model to continue, e.g. the shipped
# one; empty: a fresh canonical-frame model), PRESET (default), DEVICE (cuda), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CHANNEL:=semileptonic}" "${SEED:?set SEED to a seed never used for training}"
: "${EVENTS:=150000}" "${RESMEAR:=4}" "${TRAIN_MINUTES:=4}" "${INIT:=}" "${PRESET:=default}"
: "${DEVICE:=cuda}" "${OUT:=runs/gpu}"
: "${JOBS:=$(($(nproc) > 1 ? $(nproc) - 1 : 1))}"
mkdir -p "$OUT"
if [ -d .whl ] && ! python3 -c "import pythia8mc, fastjet, uproot, nflows" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
sample="$OUT/train_${CHANNEL}_${SEED}_r${RESMEAR}.root"
start=$(date +%s)
python3 -m nuanalysis generate --channel "$CHANNEL" --events "$EVENTS" --seed "$SEED" \
    --resmear "$RESMEAR" --jobs "$JOBS" --out "$sample" 2>&1 | tr '\r' '\n' | grep -v "selected:"
echo "generation: $(($(date +%s) - start)) s"
init=()
[ -n "$INIT" ] && init=(--init "$INIT")
python3 -m nuanalysis train --channel "$CHANNEL" --input "$sample" \
    --out "$OUT/model_${CHANNEL}_${SEED}.pt" --preset "$PRESET" --device "$DEVICE" \
    --epochs 10000 --max-minutes "$TRAIN_MINUTES" "${init[@]}" 2>&1 | tr '\r' '\n' \
    | grep -v "epoch/s" | tee "$OUT/train_${CHANNEL}_${SEED}.log" | tail -20
echo "total: $(($(date +%s) - start)) s"
python3 -c "import uproot, sys; print(uproot.open(sys.argv[1])['nuanalysis_generation'])" \
    "$sample" > "$OUT/generation_${CHANNEL}_${SEED}.json"
rm -f "$sample" "$OUT/model_${CHANNEL}_${SEED}.pt.ckpt"  # training data is never kept or committed; the record above says how to remake it
