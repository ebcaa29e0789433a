#!/usr/bin/env bash
# Installs what clbench needs on Debian bookworm (missing packages only), LibTorch 2.11 from the
# torch==2.11.0 wheel in a project-local virtual environment, and builds build/clbench.
# Sourced by quickstart.sh and test.sh; safe to run again (it only does what is missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLBENCH_BUILD:-$ROOT/build}"
VENV="$ROOT/.venv"
TORCH_VERSION=2.11.0
DEBIAN_PACKAGES=(cmake g++ ninja-build ccache python3-venv zlib1g-dev libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools nlohmann-json3-dev libgtest-dev libcli11-dev libyaml-cpp-dev libjpeg62-turbo-dev
  libpng-dev dataset-fashion-mnist chromium)

log() { printf '[clbench setup] %s\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_libtorch() {
  if [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    return 0
  fi
  local python=/usr/bin/python3
  [ -x "$python" ] || python="$(command -v python3)"
  log "creating $VENV with torch==$TORCH_VERSION (LibTorch for the C++ build; several GB the first time)"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION"
}

build_clbench() {
  local prefix
  prefix="$("$VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)"
  # ccache across fresh clones: hash paths relative to the checkout; tolerate precompiled headers.
  export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=true
  export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
  # CLBENCH_WERROR=ON: compiler warnings are errors (CI); set, it also applies to a configured build.
  if [ ! -f "$BUILD/CMakeCache.txt" ] || [ -n "${CLBENCH_WERROR:-}" ]; then
    log "configuring $BUILD"
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
      -DCLBENCH_WERROR="${CLBENCH_WERROR:-OFF}" -Wno-dev >"$BUILD/configure.log" 2>&1 ||
      { cat "$BUILD/configure.log" >&2; exit 1; }
  fi
  log "building (first build takes a few minutes)"
  # Every core, whatever OMP_NUM_THREADS says (nproc answers it when set).
  cmake --build "$BUILD" -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" "$@"
}

install_debian_packages
install_libtorch
build_clbench "$@"
