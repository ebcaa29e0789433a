#!/usr/bin/env python3
"""Summarises a chrome trace (Kineto: LibTorch's profiler in bench/gpu_step.cpp, or
torch.profiler's export_chrome_trace): total GPU kernel time, memcpy and memset time, GPU idle
time (the span from the first to the last GPU activity minus the union of GPU activity, and the
same for the whole trace's span), the number of steps, and the top kernels by time. A trace
without GPU activity (a CPU run) gets the top CPU ops instead. Reads .json or .json.gz.

    python3 bench/gpu_profile_summary.py TRACE.json [TRACE2.json ...] [--top 10]
"""
import argparse
import collections
import gzip
import json
import sys

GPU_CATS = {"kernel": "kernel", "gpu_memcpy": "memcpy", "gpu_memset": "memset"}


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def union_us(intervals):
    total, end = 0.0, None
    for s, e in sorted(intervals):
        if end is None or s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


def short(name, width=90):
    return name if len(name) <= width else name[:width - 3] + "..."


def summarise(path, top=10, out=sys.stdout):
    events = [e for e in load(path) if e.get("ph") == "X" and "dur" in e and "ts" in e]
    if not events:
        print("no timed events in the trace", file=out)
        return
    gpu = [e for e in events if e.get("cat") in GPU_CATS]
    steps = [e for e in events
             if e.get("name") == "train_step" and e.get("cat") != "gpu_user_annotation"]
    t0 = min(float(e["ts"]) for e in events)
    t1 = max(float(e["ts"]) + float(e["dur"]) for e in events)
    per_cat = collections.Counter()
    for e in gpu:
        per_cat[GPU_CATS[e["cat"]]] += float(e["dur"])
    ms = lambda us: us / 1000.0  # noqa: E731
    print(f"trace span {ms(t1 - t0):.2f} ms, {len(steps)} steps", file=out)
    if not gpu:
        ops = collections.defaultdict(lambda: [0, 0.0])
        for e in events:
            if e.get("cat") == "cpu_op":
                ops[e["name"]][0] += 1
                ops[e["name"]][1] += float(e["dur"])
        print("no GPU activity in this trace (a CPU run); top CPU ops by inclusive time:", file=out)
        print("| op | calls | ms |\n|---|---|---|", file=out)
        for name, (n, us) in sorted(ops.items(), key=lambda kv: -kv[1][1])[:top]:
            print(f"| {short(name)} | {n} | {ms(us):.2f} |", file=out)
        return
    busy = union_us([(float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in gpu])
    g0 = min(float(e["ts"]) for e in gpu)
    g1 = max(float(e["ts"]) + float(e["dur"]) for e in gpu)
    print(f"GPU kernels {ms(per_cat['kernel']):.2f} ms "
          f"({sum(1 for e in gpu if e['cat'] == 'kernel')} launches), "
          f"memcpy {ms(per_cat['memcpy']):.2f} ms, memset {ms(per_cat['memset']):.2f} ms", file=out)
    print(f"GPU busy (union) {ms(busy):.2f} ms; idle {ms(g1 - g0 - busy):.2f} ms of the "
          f"{ms(g1 - g0):.2f} ms from first to last GPU activity "
          f"({100 * (g1 - g0 - busy) / max(g1 - g0, 1e-9):.1f}%), "
          f"{ms(t1 - t0 - busy):.2f} ms of the whole trace span", file=out)
    if steps:  # from the first step's start on the CPU to the last GPU activity
        s0 = min(float(e["ts"]) for e in steps)
        print(f"per step: {ms(g1 - s0) / len(steps):.2f} ms wall, "
              f"{ms(busy) / len(steps):.2f} ms GPU busy", file=out)
    kernels = collections.defaultdict(lambda: [0, 0.0])
    for e in gpu:
        if e["cat"] == "kernel":
            kernels[e["name"]][0] += 1
            kernels[e["name"]][1] += float(e["dur"])
    total = max(per_cat["kernel"], 1e-9)
    print(f"\n| top {top} kernels | calls | ms | % of kernel time |\n|---|---|---|---|", file=out)
    for name, (n, us) in sorted(kernels.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"| {short(name).replace('|', '/')} | {n} | {ms(us):.2f} | {100 * us / total:.1f}% |",
              file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    for path in a.traces:
        print(f"### {path}")
        summarise(path, a.top)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
