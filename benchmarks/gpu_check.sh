#!/usr/bin/env bash
# The prepared GPU check of issue 18:   bash benchmarks/gpu_check.sh OUT_DIR [--budget-s SECONDS]
#
# On a Linux machine with an NVIDIA GPU and this checkout: makes a virtual environment (torch pinned by
# constraints.txt; an already installed CUDA torch is reused when there is one, e.g. without network),
# installs zslbench and the svip and baselines plugins, then runs benchmarks/gpu_check.py, which writes
# OUT_DIR/gpu_check.json (see its docstring for what is measured). Everything ends within
# GPU_CHECK_TIMEOUT_S (default 570) seconds. Without a GPU it stops at once: one line, exit status 1.
#
# Environment: PYTHON (default python3), GPU_CHECK_VENV (default /tmp/zslbench-gpu-check-venv, reused
# when it works), GPU_CHECK_TIMEOUT_S, NVIDIA_SMI (default nvidia-smi), ZSLBENCH_PEAK_TFLOPS (the card's
# dense bf16 peak, for a card gpu_check.py does not know).
set -euo pipefail

fail() { echo "gpu_check: $*" >&2; exit 1; }

if [[ $# -lt 1 || $1 == -* ]]; then
    echo "usage: bash benchmarks/gpu_check.sh OUT_DIR [--budget-s SECONDS]" >&2
    exit 2
fi
out=$1
shift
started=$(date +%s)
limit=${GPU_CHECK_TIMEOUT_S:-570}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Fail fast, before anything is installed or written.
smi=${NVIDIA_SMI:-nvidia-smi}
command -v "$smi" >/dev/null 2>&1 || fail "no NVIDIA GPU: '$smi' not found (run this on a Linux machine with an NVIDIA GPU and its driver)"
gpus=$("$smi" -L 2>/dev/null | grep -c '^GPU ' || true)
[[ $gpus -ge 1 ]] || fail "no NVIDIA GPU: '$smi -L' lists none (is the driver loaded?)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
"$smi" >"$out/nvidia-smi.txt" 2>&1 || true

python=${PYTHON:-python3}
venv=${GPU_CHECK_VENV:-/tmp/zslbench-gpu-check-venv}
ready='import torch, zslbench, zslbench_svip, zslbench_baselines; assert torch.cuda.is_available()'
cd "$repo"
if ! "$venv/bin/python" -c "$ready" 2>/dev/null; then
    echo "gpu_check: setting up $venv" >&2
    if "$python" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
        "$python" -m venv --system-site-packages "$venv"  # keep the installed CUDA torch
        pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    else
        "$python" -m venv "$venv"
        pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt)
        "${pip[@]}" torch torchvision
    fi
    "${pip[@]}" --no-build-isolation ./ ./plugins/svip ./plugins/baselines 2>/dev/null \
        || "${pip[@]}" ./ ./plugins/svip ./plugins/baselines
    "$venv/bin/python" -c "$ready" || fail "the environment in $venv does not see a CUDA device through torch"
fi

left=$((limit - ($(date +%s) - started)))
((left > 150)) || fail "setting up took too long: ${left}s of ${limit}s left"
echo "gpu_check: measuring (at most $((left - 30))s), results in $out/gpu_check.json" >&2
PYTHONUNBUFFERED=1 timeout "$((left - 10))" "$venv/bin/python" -m benchmarks.gpu_check "$out" \
    --budget-s "$((left - 60))" "$@"
