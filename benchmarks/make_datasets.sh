#!/usr/bin/env bash
# The standard training / validation shower sets of caloforge, made with `caloforge simulate`.
#
# Per geometry and particle (e-, gamma): energies log-uniform 1-100 GeV (-E 1:100), once at normal
# incidence and once with angles (theta 0.87-2.27 rad = 50-130 deg, phi 0-2pi), a training and a
# validation file each. Every file has its own fixed seed (same command = same showers, any -j):
#   seed = BASE[geometry] + 1 e- normal train, +2 e- normal val, +3/+4 e- angular train/val,
#          +5/+6 gamma normal train/val, +7/+8 gamma angular train/val   (par04-siw e- train = seed 1)
# Sizes: par04-siw e- 20k train + 10k val, par04-siw gamma and every other geometry 5k + 2k.
# Output: data/GEOMETRY/PARTICLE_INCIDENCE_SPLIT.h5 (data/ is gitignored). Every command has --resume:
# rerun the script after an interruption and each file continues where it stopped (finished files are
# skipped in seconds). The sampling fraction of each geometry is measured (and cached) on first use.
#
# Usage (from anywhere, with the venv active so that `caloforge` is on PATH):
#   benchmarks/make_datasets.sh                                  # everything, 2 workers
#   CALOFORGE_JOBS=8 GEOMETRIES="par04-siw" PARTICLES="e-" benchmarks/make_datasets.sh
#   DRY_RUN=1 benchmarks/make_datasets.sh                        # print the commands only
#
# DURATION. Measured: par04-siw e- 1-100 GeV, 10k showers, -j 2 on this 2-core machine (AMD EPYC):
# 1497 s wall (6.7 showers/s, 273 ms CPU per shower, 42 MB file; benchmarks/results/dataset_timing.json).
# The other rows are ESTIMATES from benchmarks/results/fullsim_speed.json (CPU ms per GeV at 10 GeV x the
# 21.5 GeV mean energy of log-uniform 1-100 GeV, two workers at the 1.82x par04-siw achieved above);
# gamma and angled showers are assumed to cost the same as normal e-.
#
#   geometry      ms/GeV  ms/shower   5k set   2k set   all sets of the geometry
#   par04-siw       12.7     273       11 min    4 min   e- 20k 50 min, 10k 25 min (measured); total ~3 h
#   par04-scipb      6.7     144        7 min    3 min   ~40 min
#   par04-pbwo4      5.6     120        6 min    2 min   ~30 min
#   odd-like        24.9     535       25 min   10 min   ~2.3 h
#   cld-like        24.1     518       24 min   10 min   ~2.2 h
#   allegro-like    14.7     316       15 min    6 min   ~1.4 h
#   everything: ~10 h with -j 2 on this machine; 214k showers, ~4 kB each with gzip (~1 GB).
set -euo pipefail

cd "$(dirname "$0")/.."
JOBS="${CALOFORGE_JOBS:-2}"
DATA="${DATA_DIR:-data}"
GEOMETRIES="${GEOMETRIES:-par04-siw par04-scipb par04-pbwo4 odd-like cld-like allegro-like}"
PARTICLES="${PARTICLES:-e- gamma}"
ANGLES=(--theta 0.87:2.27 --phi 0:6.283185307)
declare -A BASE=([par04-siw]=0 [par04-scipb]=10 [par04-pbwo4]=20 [odd-like]=30 [cld-like]=40 [allegro-like]=50)

# one file: GEOMETRY PARTICLE INCIDENCE SPLIT N SEED [angle options]
make_set() {
    local geometry=$1 particle=$2 incidence=$3 split=$4 n=$5 seed=$6
    shift 6
    local out="$DATA/$geometry/${particle}_${incidence}_${split}.h5"
    local cmd=(caloforge simulate -o "$out" -g "$geometry" -p "$particle" -E 1:100 -n "$n" --seed "$seed"
        -j "$JOBS" --resume "$@")
    echo "${cmd[*]}"
    if [[ -z "${DRY_RUN:-}" ]]; then
        mkdir -p "$DATA/$geometry"
        "${cmd[@]}"
    fi
}

for geometry in $GEOMETRIES; do
    base=${BASE[$geometry]:?"no seed base for geometry '$geometry'"}
    for particle in $PARTICLES; do
        case "$geometry/$particle" in
            par04-siw/e-) train=20000 val=10000 offset=0 ;;
            */e-) train=5000 val=2000 offset=0 ;;
            */gamma) train=5000 val=2000 offset=4 ;;
            *) echo "unknown particle '$particle'" >&2; exit 2 ;;
        esac
        s=$((base + offset))
        make_set "$geometry" "$particle" normal train "$train" $((s + 1))
        make_set "$geometry" "$particle" normal val "$val" $((s + 2))
        make_set "$geometry" "$particle" angular train "$train" $((s + 3)) "${ANGLES[@]}"
        make_set "$geometry" "$particle" angular val "$val" $((s + 4)) "${ANGLES[@]}"
    done
done
