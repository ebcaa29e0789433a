"""Reads `clbench leaderboard --csv` with Python's csv module and checks it against --json.

check_csv.py BOARD.csv BOARD.json LABEL PART: one aggregate row per JSON entry, followed by one row
per run of it (its seeds); the columns; every number equal to the JSON's (17 significant digits
read back as the same double); LABEL (with a comma) read back as written, and a run's file whose
path holds PART (a comma and quotes). Exits 1 naming the fault.
"""

import csv
import json
import sys


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def number(text):
    return None if text == "" else float(text)


def main(csv_path, json_path, label, part):
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    with open(json_path, encoding="utf-8") as f:
        board = json.load(f)
    header, body = rows[0], rows[1:]
    accuracy = ["final_acc", "final_acc_weighted", "aaa", "forgetting", "bwt", "fwt",
                "task_il_final_acc", "task_il_aaa", "task_il_forgetting"]
    cost = ["stored_params_final", "stored_params_per_task", "memory_samples", "memory_bytes",
            "seconds_per_task", "peak_host_bytes", "peak_device_bytes", "train_images_per_second"]
    expected = ["kind", "benchmark", "scenario", "method", "label", "fingerprint", "seed", "runs",
                "file"]
    expected += [c for s in accuracy for c in (s, s + "_std")]
    expected += ["forward_passes_per_test_image"] + [c for s in cost for c in (s, s + "_std")]
    if header != expected:
        fail(f"columns {header}, expected {expected}")
    entries = board["entries"]
    if len(body) != sum(1 + e["runs"] for e in entries):
        fail(f"{len(body)} rows for {len(entries)} entries")
    for r in body:
        if len(r) != len(header):
            fail(f"a row of {len(r)} fields: {r}")
    rows = [dict(zip(header, r)) for r in body]
    at = 0
    for e in entries:
        agg = rows[at]
        if agg["kind"] != "aggregate" or agg["seed"] != "" or int(agg["runs"]) != e["runs"]:
            fail(f"row {at + 1} is not the aggregate of {e['label']}: {agg}")
        for key in ("benchmark", "scenario", "method", "label", "fingerprint"):
            if agg[key] != e[key]:
                fail(f"{key} {agg[key]!r}, the JSON's {e[key]!r}")
        for s in accuracy:
            if number(agg[s]) != e[s]["mean"] or number(agg[s + "_std"]) != e[s]["std"]:
                fail(f"{e['label']} {s}: {agg[s]} ± {agg[s + '_std']}, the JSON's {e[s]}")
        for s in cost:
            want = (None, None) if e[s] is None else (e[s]["mean"], e[s]["std"])
            if (number(agg[s]), number(agg[s + "_std"])) != want:
                fail(f"{e['label']} {s}: {agg[s]}, the JSON's {e[s]}")
        runs = rows[at + 1:at + 1 + e["runs"]]
        if [r["kind"] for r in runs] != ["run"] * e["runs"]:
            fail(f"the runs of {e['label']} do not follow its aggregate")
        if [int(r["seed"]) for r in runs] != e["seeds"]:
            fail(f"the seeds of {e['label']}: {[r['seed'] for r in runs]}, the JSON's {e['seeds']}")
        for s in accuracy:  # the aggregate is the mean of its runs
            mean = sum(float(r[s]) for r in runs) / len(runs)
            if abs(mean - e[s]["mean"]) > 1e-9 or any(r[s + "_std"] != "" for r in runs):
                fail(f"the runs of {e['label']} average {mean} for {s}, not {e[s]['mean']}")
        at += 1 + e["runs"]
    if label not in [r["label"] for r in rows]:
        fail(f"label {label!r} not read back: {sorted(set(r['label'] for r in rows))}")
    if not any(part in r["file"] for r in rows):
        fail(f"no file read back with {part!r} in its path: {[r['file'] for r in rows]}")
    print(f"ok: {len(rows)} rows, {len(header)} columns, numbers equal to the JSON's")


if __name__ == "__main__":
    main(*sys.argv[1:5])
