#!/usr/bin/env bash
# On the build machine: packs what bench/gpu/device.sh needs on a GPU machine that has the same
# torch 2.11 + CUDA 13.0 wheel but none of clbench's other libraries, into .gpu/ (git-ignored):
#   bin.tar.xz  clbench, its test and benchmark binaries from build/
#   lib.tar.xz  the shared libraries they load besides glibc, libstdc++, torch and CUDA
#   debs/       Debian's -dev packages, to build clbench there from source (MPI left out)
#   fmnist/     Fashion-MNIST (IDX, gzip), for the main job on the GPU
# With CLBENCH_CARRY_MPI=1 (device.sh part T), instead of debs/ (the 64 MiB limit):
#   ompi.tar.xz  this machine's Open MPI (mpirun and its plugins) and the libraries they load
#   wheels/      h5py, which bench/throughput.py reads the result files with
set -euo pipefail
cd "$(dirname "$0")/../.."
# Copies into DIR the shared libraries the given files load, besides glibc, libstdc++, torch and
# CUDA (the GPU machine has its own).
copy_libs() {
  local dir=$1
  shift
  for f in "$@"; do ldd "$f" 2>/dev/null || true; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/torch/lib/|/nvidia/|/usr/local/cuda|/(libc|libm|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl|librt|libutil|libresolv)[.-]' |
    xargs -I{} cp -L {} "$dir"/
}
rm -rf .gpu && mkdir -p .gpu/fmnist /tmp/clbench-gpu-carry/lib
bins=(clbench clbench_tests clbench_core_tests clbench_lora_step clbench_image_bench clbench_gpu_step)
tar -C build -cJf .gpu/bin.tar.xz "${bins[@]}"
copy_libs /tmp/clbench-gpu-carry/lib "${bins[@]/#/build/}"
tar -C /tmp/clbench-gpu-carry -cJf .gpu/lib.tar.xz lib && rm -rf /tmp/clbench-gpu-carry
if [ "${CLBENCH_CARRY_MPI:-0}" = 1 ]; then
  m=/tmp/clbench-gpu-mpi
  rm -rf $m && mkdir -p .gpu/wheels $m/usr/bin $m/lib $m/usr/lib/x86_64-linux-gnu
  cp -a /usr/lib/x86_64-linux-gnu/openmpi $m/usr/lib/x86_64-linux-gnu/
  rm -rf $m/usr/lib/x86_64-linux-gnu/openmpi/include && mkdir -p $m/usr/share
  cp -a /usr/share/openmpi $m/usr/share/ && cp -L /usr/bin/orterun $m/usr/bin/ && ln -s orterun $m/usr/bin/mpirun
  mapfile -t plugins < <(find $m -name '*.so*')
  copy_libs $m/lib /usr/bin/orterun "${plugins[@]}"
  tar -C $m -cJf .gpu/ompi.tar.xz . && rm -rf $m
  .venv/bin/pip download -q --no-deps --only-binary :all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d .gpu/wheels h5py
else
  mkdir -p .gpu/debs
  (cd .gpu/debs && apt-get download libhdf5-dev libhdf5-103-1 libhdf5-cpp-103-1 libhdf5-hl-100 \
    libhdf5-hl-cpp-100 libaec-dev libaec0 libsz2 zlib1g-dev nlohmann-json3-dev libcli11-dev \
    libgtest-dev libyaml-cpp-dev libyaml-cpp0.7 libjpeg62-turbo-dev libjpeg62-turbo libpng-dev \
    libpng16-16 >/dev/null)
fi
cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fmnist/
du -sh .gpu/*
