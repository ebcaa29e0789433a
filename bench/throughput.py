#!/usr/bin/env python3
"""Training throughput of clbench on 1 and 2 MPI ranks (one thread per rank).

Runs `clbench run` (finetune on split-fmnist, 1 epoch per task, global batch 128) for each backbone
and rank count, reads the result files, and reports training samples/s = training samples /
training seconds (the per-task wall times in /time/task_seconds; evaluation is not counted).
Prints a Markdown table: the best run of each rank count, and the median ratio of the runs taken
back to back. Python only drives and reads; clbench never needs it.

    .venv/bin/python bench/throughput.py [--repeats 3] [--backbones cnn] [--bin OTHER/clbench]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "clbench")


def run(binary, ranks, backbone, out):
    args = [binary, "run", "-b", "split-fmnist", "-m", "finetune", "--backbone", backbone,
            "--epochs", "1", "--threads", "1", "--out", out, "--force"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if ranks > 1:
        args = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks)] + args
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with h5py.File(os.path.join(out, "split-fmnist", "finetune", "seed-0.h5")) as f:
        samples = float(f["task_train_counts"][:].sum())
        seconds = float(f["time/task_seconds"][:].sum())
        assert int(f.attrs["world_size"]) == ranks
    return samples / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbones", default="mlp,cnn")
    parser.add_argument("--bin", default=BIN, help="the clbench binary to measure")
    opts = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in opts.backbones.split(","):
            # 1 and 2 ranks alternate, so slow phases of a shared machine hit both alike.
            runs = {1: [], 2: []}
            for i in range(opts.repeats):
                for ranks in (1, 2):
                    runs[ranks].append(run(opts.bin, ranks, backbone,
                                           os.path.join(tmp, f"{backbone}{ranks}")))
            pairs = sorted(two / one for one, two in zip(runs[1], runs[2]))
            rows.append((backbone, max(runs[1]), max(runs[2]), max(runs[2]) / max(runs[1]),
                         pairs[len(pairs) // 2]))
    print("| backbone | 1 rank (samples/s) | 2 ranks (samples/s) | speed-up (best / best) |"
          " speed-up (median of pairs) |")
    print("|---|---|---|---|---|")
    for backbone, one, two, ratio, median in rows:
        print(f"| {backbone} | {one:,.0f} | {two:,.0f} | {ratio:.2f}x | {median:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
