#!/usr/bin/env python3
"""Training throughput of clbench on 1 and 2 MPI ranks (one thread per rank).

Runs `clbench run` (finetune on split-fmnist, 1 epoch per task, global batch 128, CPU) for each
backbone and rank count, reads the result files, and reports training samples/s = training samples
/ training seconds (the per-task wall times in /time/task_seconds; evaluation is not counted).

A third figure is the ceiling that communication cannot beat on the same cores: two independent
1-rank runs at batch 64 (one 2-rank run's share each) started together, their samples/s added
(approximately: the one that finishes later trains its last steps alone).
What they lose against twice one rank is the machine (shared memory bandwidth and caches); what the
2-rank run loses against them is clbench's (the gradient sums and the ranks waiting for each other).

Prints two Markdown tables: the best run of each kind with the median ratios of the runs taken back
to back, then every run, so the spread of a shared machine shows. Python only drives and reads;
clbench never needs it.

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
ENV = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def command(binary, backbone, out, batch_size=128):
    return [binary, "run", "-b", "split-fmnist", "-m", "finetune", "--backbone", backbone,
            "--epochs", "1", "--threads", "1", "--device", "cpu", "--batch-size", str(batch_size),
            "--out", out, "--force"]


def samples_per_second(out, ranks):
    with h5py.File(os.path.join(out, "split-fmnist", "finetune", "seed-0.h5")) as f:
        assert int(f.attrs["world_size"]) == ranks
        return float(f["task_train_counts"][:].sum()) / float(f["time/task_seconds"][:].sum())


def ranks_run(binary, ranks, backbone, out):
    args = command(binary, backbone, out)
    if ranks > 1:
        args = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks)] + args
    subprocess.run(args, check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return samples_per_second(out, ranks)


def independent_pair(binary, backbone, out):
    outs = [out + "-a", out + "-b"]
    procs = [subprocess.Popen(command(binary, backbone, o, batch_size=64), env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for o in outs]
    if any([p.wait() != 0 for p in procs]):  # a list: wait for both before raising
        raise RuntimeError("an independent run failed")
    return sum(samples_per_second(o, 1) for o in outs)


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbones", default="mlp,cnn")
    parser.add_argument("--bin", default=BIN, help="the clbench binary to measure")
    opts = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in opts.backbones.split(","):
            # The kinds alternate, so slow phases of a shared machine hit all of them alike.
            one, two, pair = [], [], []
            for _ in range(opts.repeats):
                one.append(ranks_run(opts.bin, 1, backbone, os.path.join(tmp, "one")))
                two.append(ranks_run(opts.bin, 2, backbone, os.path.join(tmp, "two")))
                pair.append(independent_pair(opts.bin, backbone, os.path.join(tmp, "pair")))
            rows.append((backbone, one, two, pair))
    print("| backbone | 1 rank | 2 ranks | 2 independent runs (ceiling) |"
          " speed-up (best / best) | speed-up (median of repeats) |"
          " ceiling / 1 rank (median) | 2 ranks / ceiling (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for backbone, one, two, pair in rows:
        print(f"| {backbone} | {max(one):,.0f} | {max(two):,.0f} | {max(pair):,.0f} |"
              f" {max(two) / max(one):.2f}x | {median([b / a for a, b in zip(one, two)]):.2f}x |"
              f" {median([p / a for a, p in zip(one, pair)]):.2f}x |"
              f" {median([b / p for b, p in zip(two, pair)]):.0%} |")
    print("\nsamples/s; best of", opts.repeats, "runs each. Every run, in the order taken:\n")
    print("| backbone | repeat | 1 rank | 2 ranks | ceiling | 2 ranks / 1 rank | ceiling / 1 rank |")
    print("|---|---|---|---|---|---|---|")
    for backbone, one, two, pair in rows:
        for k, (a, b, p) in enumerate(zip(one, two, pair)):
            print(f"| {backbone} | {k + 1} | {a:,.0f} | {b:,.0f} | {p:,.0f} | {b / a:.2f}x |"
                  f" {p / a:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
