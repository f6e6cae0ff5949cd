#!/usr/bin/env bash
# The diffusion training run on par04-siw e- (1-100 GeV, normal incidence), resumable.
#
# Data (benchmarks/make_datasets.sh): data/par04-siw/e-_normal_train.h5 (seed 1) for training and
# data/par04-siw/e-_normal_val.h5 (seed 2, 10k) for validation. Rerun the same command to continue an
# interrupted run (--resume is added when the run folder exists). On a GPU set DEVICE=cuda and the
# larger model: CONFIG="--patch 3,2,3 --dim 384 --depth 12 --heads 6".
#
# With TEACHER set, the run distils that trained run into a 1-4-step consistency generator instead.
# With INIT set, a new run starts from that trained run's weights wherever their shapes match; with TEACHER
# too, a distillation goes on from an earlier student of that teacher (a new step budget and schedule).
#
#   benchmarks/diffusion_training.sh                 # CPU defaults: ~1M parameters, 64 showers per step
#   MAX_TIME=3000 STEPS=30000 benchmarks/diffusion_training.sh
#   TEACHER=runs/par04-siw-diffusion RUN=runs/par04-siw-diffusion-distilled STEPS=1000 LR=1e-4 MAX_TIME=800 \
#       VALIDATE_EVERY=100000 benchmarks/diffusion_training.sh      # the distilled generator of the results
#
# The built-in models (their MODEL_CARD.md) are the continuation of the ring-offset run below (session of
# 2026-12-08; results/diffusion_evaluation_h7.json for the teacher, results/diffusion_evaluation_r4_distilled.json
# for the student); in a fresh checkout runs/par04-siw-diffusion-r3 and -r3-distilled are the built-ins of commit
# 4adf1a9 put back into run folders (git show 4adf1a9:caloforge/models/pretrained/<name>/model.safetensors):
#   INIT=runs/par04-siw-diffusion-r3 RUN=runs/par04-siw-diffusion-r4 STEPS=8000 LR=2e-4 MAX_TIME=3000 \
#       VALIDATE_EVERY=4000 benchmarks/diffusion_training.sh                       # stopped by time at 7351, 50 min
#   INIT=runs/par04-siw-diffusion-r3-distilled TEACHER=runs/par04-siw-diffusion-r4 RUN=runs/par04-siw-diffusion-r4-distilled \
#       STEPS=2000 LR=1e-4 MAX_TIME=1500 VALIDATE_EVERY=100000 benchmarks/diffusion_training.sh
# The format-7 experiment (hit channels; results/diffusion_evaluation_h7.json; weights not kept), from the first:
#   INIT=runs/par04-siw-diffusion-r4 RUN=runs/par04-siw-diffusion-h7 STEPS=6500 LR=3e-4 MAX_TIME=2450 \
#       VALIDATE_EVERY=3250 CONFIG="--hit-cells" benchmarks/diffusion_training.sh    # stopped by time at 5676, 41 min
# Before them, the built-ins were the ring-offset run (format 5 with ring_eps 3e-2, commit 3491680;
# results/diffusion_evaluation_r3*.json), warm-started from the earlier format-5 built-in (below) put back into a
# run folder, and its distillation, continued from the earlier built-in's student (same architecture; the ring
# channels' transform is the new teacher's) (session of 2026-12-07, on the same data):
#   mkdir -p runs/par04-siw-diffusion-f5 && git show \
#       5279127:caloforge/models/pretrained/par04-siw-diffusion/model.safetensors > runs/par04-siw-diffusion-f5/model.safetensors
#   INIT=runs/par04-siw-diffusion-f5 RUN=runs/par04-siw-diffusion-r3 STEPS=6500 LR=3e-4 MAX_TIME=2450 \
#       VALIDATE_EVERY=3250 benchmarks/diffusion_training.sh                               # 6500 steps, 41 min
#   INIT=runs/par04-siw-diffusion-f5-distilled2 TEACHER=runs/par04-siw-diffusion-r3 RUN=runs/par04-siw-diffusion-r3-distilled \
#       STEPS=3800 LR=1e-4 MAX_TIME=2700 VALIDATE_EVERY=1900 benchmarks/diffusion_training.sh
# (runs/par04-siw-diffusion-f5-distilled2: the earlier distilled built-in of commit 7c0ea21 put back the same way;
# --init reads only its EMA weights.)
# Before them, the built-ins were the format-5 run (energy-dependent standardisation, commit
# 1a2fc45), warm-started from the format-4 built-in of commit b16c28d put back into a run folder, and its
# distillation (validation on the first 1000 held-out showers; a copy of the 2000-shower file, since the
# 10k file is rewritten while `caloforge simulate --resume` extends it):
#   mkdir -p runs/par04-siw-diffusion-f4 && git show \
#       b16c28d:caloforge/models/pretrained/par04-siw-diffusion/model.safetensors > runs/par04-siw-diffusion-f4/model.safetensors
#   INIT=runs/par04-siw-diffusion-f4 RUN=runs/par04-siw-diffusion-f5 STEPS=7000 LR=3e-4 MAX_TIME=3300 \
#       VALIDATION=data/par04-siw/e-_normal_val2k.h5 benchmarks/diffusion_training.sh       # stopped by time at 6033
#   OMP_NUM_THREADS=1 TEACHER=runs/par04-siw-diffusion-f5 RUN=runs/par04-siw-diffusion-f5-distilled STEPS=2000 \
#       LR=1e-4 MAX_TIME=1500 VALIDATE_EVERY=100000 VALIDATION=... benchmarks/diffusion_training.sh
# The second distillation goes on from the first (the built-in distilled model put back into a run folder)
# for a longer budget, with the learning curve of the 1-step generator every 1500 steps (session of 2026-12-07):
#   mkdir -p runs/par04-siw-diffusion-distilled-b0 && cp caloforge/models/pretrained/par04-siw-diffusion-distilled/\
#       model.safetensors runs/par04-siw-diffusion-distilled-b0/       # (at commit e3bef3a)
#   INIT=runs/par04-siw-diffusion-distilled-b0 TEACHER=runs/par04-siw-diffusion-f5 RUN=runs/par04-siw-diffusion-f5-distilled2 \
#       STEPS=7500 LR=1e-4 MAX_TIME=6000 VALIDATE_EVERY=1500 benchmarks/diffusion_training.sh
# The format-6 experiment (results/diffusion_evaluation_f6.json; weights not kept; the code at commit ebb6325,
# reverted: the profile channels mapped through their quantiles onto a normal), from the format-5 built-in:
#   INIT=runs/par04-siw-diffusion-f5 RUN=runs/par04-siw-diffusion-f6 STEPS=6500 LR=3e-4 MAX_TIME=2450 \
#       VALIDATE_EVERY=3250 benchmarks/diffusion_training.sh      # at ebb6325; stopped by time at 6495, 41 min
# The windowed-spread experiment (results/diffusion_evaluation_f5w.json; commit 0a31b70: the format-5 spread
# tables as the rms residual in a window of ln E, floor 0.1) warm-started from that built-in, put back into a
# run folder, on the same data (data made from scratch in the same session, 75 min):
#   mkdir -p runs/par04-siw-diffusion-f5 && cp caloforge/models/pretrained/par04-siw-diffusion/model.safetensors \
#       runs/par04-siw-diffusion-f5/       # (at commit 5279127)
#   INIT=runs/par04-siw-diffusion-f5 RUN=runs/par04-siw-diffusion-f5w STEPS=5000 LR=3e-4 MAX_TIME=2700 \
#       VALIDATE_EVERY=2500 benchmarks/diffusion_training.sh                    # 5000 steps in 33 min
# The format-5 built-in's control (results/diffusion_evaluation_f4b.json; weights lost) is the same warm start
# and settings in format 4 (7000 steps). Run nothing else on the machine beside a training run: torch's OpenMP
# threads spin when the cores are oversubscribed (measured: 3 s per step beside a Geant4 simulation and pytest,
# 0.37 s alone); a Geant4 job beside it can be paused (kill -STOP / -CONT its workers).
# The format-4 built-in before it, 7500 steps from scratch in 53 min on 2 cores (at commit 0fab9b7):
#   RUN=runs/par04-siw-diffusion-f4 STEPS=7500 MAX_TIME=4500 benchmarks/diffusion_training.sh
# The format-2 built-in before it (results in git history, a70fceb):
#   RUN=runs/par04-siw-diffusion-f2 STEPS=10000 MAX_TIME=4300 benchmarks/diffusion_training.sh   # at a70fceb
# The format-3 experiment (results/diffusion_evaluation_format3.json; weights not kept) warm-started from it:
#   INIT=runs/par04-siw-diffusion-f2 RUN=runs/par04-siw-diffusion-a STEPS=10500 LR=4e-4 ...
#                                         # at commit 5ccc269 (ring fractions, ring_eps 1e-7), stopped at 5500
#   INIT=runs/par04-siw-diffusion-a RUN=runs/par04-siw-diffusion STEPS=6000 LR=3e-4 MAX_TIME=3000 \
#       benchmarks/diffusion_training.sh
# runs/ and data/ are gitignored: a fresh checkout has neither, so ship a run worth keeping
# (benchmarks/ship_diffusion.py) before its machine goes. The data sets take ~75 min on 2 cores.
# From scratch with the current code, one run does: STEPS=20000 MAX_TIME=... benchmarks/diffusion_training.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${RUN:-runs/par04-siw-diffusion}"
STEPS="${STEPS:-20000}"
MAX_TIME="${MAX_TIME:-3300}"
CONFIG="${CONFIG:-}"
resume=(${INIT:+--init "$INIT"})
[[ -f "$RUN/model.safetensors" ]] && resume=(--resume)
# shellcheck disable=SC2086
caloforge train diffusion -d data/par04-siw/e-_normal_train.h5 --validation "${VALIDATION:-data/par04-siw/e-_normal_val.h5}" \
    -o "$RUN" --steps "$STEPS" --batch-size "${BATCH:-64}" --lr "${LR:-5e-4}" --max-time "$MAX_TIME" \
    --validate-every "${VALIDATE_EVERY:-2500}" --validation-showers "${VAL_SHOWERS:-1000}" --seed 0 \
    ${DEVICE:+--device "$DEVICE"} ${TEACHER:+--teacher "$TEACHER"} $CONFIG "${resume[@]}"
