#!/bin/bash
# Download, here, the wheels that the GPU machine lacks into .whl/ (git-ignored), for
# scripts/gpu_session.sh. That machine runs Python 3.12 with torch, numpy, numba, scipy,
# matplotlib, click, tqdm, pyyaml and onnx(runtime) installed and reaches no registry
# (/work/.library/device/README.md); what it lacks travels as wheels (about 46 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    pythia8mc==8.317.2 fastjet uproot awkward awkward-cpp cramjam vector hist \
    boost-histogram histoprint mplhep mplhep-data uhi
python3 -m pip wheel -q --no-deps -w .whl nflows  # published as a source archive only
du -sh .whl
