#!/usr/bin/env bash
# On a GPU machine with the torch 2.11 + CUDA 13.0 wheel (see bench/README.md "On a GPU"), with what
# bench/gpu/carry.sh packed into .gpu/. Parts (second argument, default "AB"):
#   A  the carried binaries (built on the build machine): the *_CUDA tests
#   M  the main job (the quick-start suite on Fashion-MNIST) on the GPU, carried binaries
#   B  a build from source there, against that machine's own torch and NCCL (MPI left out), and
#      the *_CUDA tests of that build
#   S  the whole carried test suite on the GPU (device auto), in 8 parallel shards
#   P  GPU benchmarks: ViT-B/16 training steps (full fine-tuning and SD-LoRA, FP32 and TF32) and
#      the image loader on 1-16 threads
#   G  bench/gpu_step.py: one training step at batch 128 (SD-LoRA, full fine-tuning, ResNet-18;
#      fp32, tf32, bf16, fp16), clbench against eager PyTorch, images/s and MFU
#      (g_gpu_step.md), then both sides' profiles of the SD-LoRA bf16 step (profile/*.json.gz,
#      summaries in g_profile.md); about 4 minutes on an H200
#   T  bench/throughput.py (CPU training samples/s, 1 and 2 MPI ranks) on two of the machine's
#      cores (CLBENCH_REPEATS runs each, default 3), with the Open MPI and h5py that carry.sh packs
#      when CLBENCH_CARRY_MPI=1
# Usage: bench/gpu/device.sh OUT_DIR [PARTS]
set -uo pipefail
out=$(realpath -m "${1:?usage: device.sh OUT_DIR [PARTS]}")
parts=${2:-AB}
root=$(cd "$(dirname "$0")/../.." && pwd)
carry=$root/.gpu
mkdir -p "$out"
py=python3
torch_dir=$($py -c 'import torch, os; print(os.path.dirname(torch.__file__))')
nccl_dir=$($py -c 'import nvidia.nccl as m; print(list(m.__path__)[0])')
step() { echo; echo "=== $* ($(date +%T))"; }

step machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
grep PRETTY_NAME /etc/os-release
echo "cores: $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"
$py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
echo "nccl: $nccl_dir"

# The carried binaries, with their libraries first and this machine's torch, CUDA and NCCL.
bin=/tmp/carried
mkdir -p $bin
tar -C $bin -xJf "$carry/bin.tar.xz" && tar -C $bin --strip-components=1 -xJf "$carry/lib.tar.xz"
runtime_path=$bin:$torch_dir/lib:$nccl_dir/lib
# The tests find clbench and the sources where the build machine had them, and Fashion-MNIST at
# its Debian path.
if [ "$root" != /work/main ]; then mkdir -p /work && ln -sfn "$root" /work/main; fi
ln -sfn $bin /work/main/build
mkdir -p /usr/share/datasets && ln -sfn "$carry/fmnist" /usr/share/datasets/fashion-mnist

if [[ $parts == *A* ]]; then
  (
    export LD_LIBRARY_PATH=$runtime_path
    step "A1 carried binaries: *_CUDA tests"
    $bin/clbench_tests --gtest_filter='*_CUDA*' 2>&1 | tee "$out/a1_cuda_tests.log"
  )
fi

if [[ $parts == *M* ]]; then
  (
    export LD_LIBRARY_PATH=$runtime_path
    step "M main job on the GPU: quick-start suite on Fashion-MNIST, --device cuda"
    time $bin/clbench suite "$root/launch/suites/default.json" --out /tmp/gpu-results \
      --set device=cuda 2>&1 | tee "$out/m_suite.log" | grep -v -E '^\s*(epoch|step)' | tail -40
    $bin/clbench leaderboard /tmp/gpu-results --markdown "$out/m_leaderboard.md" && cat "$out/m_leaderboard.md"
  )
fi

if [[ $parts == *B* ]]; then
  step "B1 build from source against this machine's torch ($torch_dir)"
  deps=/tmp/deps
  mkdir -p $deps && for f in "$carry"/debs/*.deb; do dpkg -x "$f" $deps; done
  ln -sfn /lib/x86_64-linux-gnu/libz.so.1 $deps/usr/lib/x86_64-linux-gnu/libz.so  # was absolute
  (
    export CPATH=$deps/usr/include:$deps/usr/include/x86_64-linux-gnu
    export LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$runtime_path
    export TORCH_CUDA_ARCH_LIST=9.0
    cmake -S "$root" -B /tmp/build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$deps/usr;$($py -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
      -DHDF5_ROOT=$deps/usr/lib/x86_64-linux-gnu/hdf5/serial -DCLBENCH_USE_MPI=OFF \
      -DNCCL_ROOT="$nccl_dir" >"$out/b1_configure.log" 2>&1 || { tail -30 "$out/b1_configure.log"; exit 1; }
    grep -E "clbench:|Found (Torch|CUDA|HDF5)" "$out/b1_configure.log"
    start=$(date +%s)
    ninja -C /tmp/build-gpu -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" clbench clbench_tests >"$out/b1_build.log" 2>&1 ||
      { grep -B2 -A10 -m3 "error" "$out/b1_build.log"; exit 1; }
    echo "built in $(($(date +%s) - start)) s"
    # LibTorch's CPU half is linked, its CUDA half (with NCCL) loaded at start-up where the
    # driver is (harness/distributed/cuda_library.h): the second line must name libtorch_cuda.so.
    ldd /tmp/build-gpu/clbench | grep -E "torch_cpu|torch_cuda|nccl|cudart" || true
    LD_DEBUG=files /tmp/build-gpu/clbench --version 2>&1 | grep -m1 -E "file=.*libtorch_cuda\.so.*dynamically loaded" ||
      echo "libtorch_cuda.so was NOT loaded"
    step "B2 the source build's *_CUDA tests"
    /tmp/build-gpu/clbench_tests --gtest_filter='*_CUDA*' 2>&1 | tee "$out/b2_cuda_tests.log" | tail -15
  )
fi

if [[ $parts == *S* ]]; then
  (
    export LD_LIBRARY_PATH=$runtime_path OMP_NUM_THREADS=2
    step "S whole carried test suite, device auto (= the GPU), 8 shards"
    for i in 0 1 2 3 4 5 6 7; do
      GTEST_TOTAL_SHARDS=8 GTEST_SHARD_INDEX=$i timeout 360 $bin/clbench_tests --gtest_brief=1 \
        >"$out/s_shard$i.log" 2>&1 &
    done
    timeout 120 $bin/clbench_core_tests --gtest_brief=1 >"$out/s_core.log" 2>&1
    wait
    grep -h -E "^\[  (PASSED|FAILED|SKIPPED) |tests? ran" "$out"/s_*.log
  )
fi

if [[ $parts == *P* ]]; then
  (
    export LD_LIBRARY_PATH=$runtime_path
    step "P1 ViT-B/16 SD-LoRA step (task 2), batch 64"
    for tf32 in 0 1; do
      $bin/clbench_lora_step --preset vit-b16 --batch 64 --steps 20 --device cuda --tf32 $tf32
    done
    step "P2 image loader on 1-16 threads, and ViT-B/16 full fine-tuning, batch 64"
    $bin/clbench_image_bench --images 400 --threads 1,2,4,8,16 --vit vit-b16 --vit-batch 64 \
      --vit-steps 10 --device cuda 2>&1 | tee "$out/p2_image_bench.log"
    $bin/clbench_image_bench --images 64 --threads 1 --vit vit-b16 --vit-batch 64 --vit-steps 10 \
      --device cuda --tf32 1 2>&1 | tail -1
  )
fi

if [[ $parts == *G* ]]; then
  (
    export LD_LIBRARY_PATH=$runtime_path
    step "G1 one training step, batch 128: clbench_gpu_step against eager PyTorch"
    $py "$root/bench/gpu_step.py" --bin $bin/clbench_gpu_step --device cuda --batch 128 --steps 30 \
      --precisions fp32,tf32,bf16,fp16 2>&1 | tee "$out/g_gpu_step.md"
    step "G2 profiles of the SD-LoRA bf16 step, both sides (5 steps each)"
    $py "$root/bench/gpu_step.py" --bin $bin/clbench_gpu_step --device cuda --batch 128 --steps 10 \
      --cases sd-lora --precisions bf16 --profile "$out/profile" 2>&1 | tee "$out/g_profile.md"
    gzip -f "$out"/profile/*.json
    ls -la "$out/profile"
  )
fi

if [[ $parts == *T* ]]; then
  (
    step "T CPU training throughput, 1 and 2 ranks on two cores, carried Open MPI"
    mpi=/tmp/ompi
    mkdir -p $mpi /tmp/pylib && tar -C $mpi -xJf "$carry/ompi.tar.xz"
    $py -m pip install -q --upgrade --no-deps --no-index --target /tmp/pylib "$carry"/wheels/*.whl
    # Open MPI finds its plugins under a moved prefix through OPAL_PREFIX.
    export OPAL_PREFIX=$mpi/usr PMIX_MCA_pcompress_base_silence_warning=1
    export PATH=$mpi/usr/bin:$PATH PYTHONPATH=/tmp/pylib
    export LD_LIBRARY_PATH=$runtime_path:$mpi/lib:$mpi/usr/lib/x86_64-linux-gnu/openmpi/lib
    $py -c 'import h5py' || { echo "no h5py/numpy here: part T skipped"; exit 0; }
    # Two CPUs on different physical cores, core 0 left to the system.
    cpus=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | sed -n '2,3p' | cut -d, -f1 | paste -sd,)
    lscpu | grep -E "Model name|Thread\(s\) per core|L3"
    echo "pinned to CPUs $cpus"
    taskset -c "$cpus" $py "$root/bench/throughput.py" --repeats "${CLBENCH_REPEATS:-3}" \
      --bin $bin/clbench 2>&1 | tee "$out/t_throughput.md"
  )
fi
