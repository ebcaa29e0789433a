#!/usr/bin/env bash
# Creates bench/peers/.venv with Avalanche (avalanche-lib 0.6.0) for the peer benchmark
# (bench/peers/README.md). The new environment reuses the project's torch (.venv, made by
# launch/test.sh or launch/setup.sh): a .pth file puts <repo>/.venv's site-packages on its path,
# so the peer runs the same LibTorch 2.11.0 as clbench and no second torch is downloaded.
# torchvision is pinned to 0.26.0, the release built against torch 2.11.0 (its wheel requires
# torch==2.11.0), and a constraints file forbids pip to replace torch. quadprog is added because
# Avalanche's GEM calls qpsolvers with solver="quadprog", and the qpsolvers release pip picks no
# longer has the open_source_solvers extra that avalanche-lib asks for (so it brings no solver).
# Idempotent: does nothing when the environment already imports avalanche. Not part of tests/CI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PROJECT_VENV="$ROOT/.venv"
VENV="$HERE/.venv"
TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
AVALANCHE_VERSION=0.6.0
QUADPROG_VERSION=0.1.14

log() { echo "[peers/setup] $*"; }

if [ -x "$VENV/bin/python" ] &&
  version="$("$VENV/bin/python" -W ignore -c "import avalanche, quadprog; print(avalanche.__version__)" 2>/dev/null)"; then
  log "$VENV already works (avalanche $version)"
  exit 0
fi

project_site="$PROJECT_VENV/lib/python3.11/site-packages"
if [ ! -x "$PROJECT_VENV/bin/python" ] || [ ! -d "$project_site/torch" ]; then
  echo "[peers/setup] $PROJECT_VENV (the project's torch $TORCH_VERSION) is missing: run launch/test.sh first" >&2
  exit 1
fi
have="$("$PROJECT_VENV/bin/python" -W ignore -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)"
if [ "$have" != "$TORCH_VERSION" ]; then
  echo "[peers/setup] $PROJECT_VENV has torch $have, expected $TORCH_VERSION: run launch/test.sh" >&2
  exit 1
fi

log "creating $VENV (python3 -m venv)"
python3 -m venv "$VENV"
venv_site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$project_site" >"$venv_site/clbench-project-torch.pth"
"$VENV/bin/python" -W ignore -c "import torch; assert torch.__version__.split('+')[0] == '$TORCH_VERSION'" 2>/dev/null
log "torch $TORCH_VERSION visible through $venv_site/clbench-project-torch.pth"

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==$TORCH_VERSION" >"$constraints"

log "pip install avalanche-lib==$AVALANCHE_VERSION torchvision==$TORCHVISION_VERSION quadprog==$QUADPROG_VERSION (torch stays the project's)"
"$VENV/bin/pip" install -q --disable-pip-version-check -c "$constraints" \
  "avalanche-lib==$AVALANCHE_VERSION" "torchvision==$TORCHVISION_VERSION" "quadprog==$QUADPROG_VERSION"

"$VENV/bin/python" - <<EOF
import torch, torchvision, avalanche, quadprog
assert torch.__version__.split("+")[0] == "$TORCH_VERSION", torch.__version__
assert torch.__file__.startswith("$project_site"), torch.__file__
print(f"[peers/setup] ok: avalanche {avalanche.__version__}, torch {torch.__version__} "
      f"(from {torch.__file__.rsplit('/torch/', 1)[0]}), torchvision {torchvision.__version__}")
EOF
