#!/usr/bin/env python3
"""One training step, clbench (build/clbench_gpu_step) against eager PyTorch: images/s and MFU.

Three cases at one batch size, per precision (bench/README.md "One training step on a GPU"):
  sd-lora   ViT with SD-LoRA at task 2, frozen backbone, 20-class head trained on classes 10..19:
            bench/lora_step.py's timm-style ViT with OfficialAdapters (the SD-Lora-CL code);
  full-ft   the same ViT without adapters, every weight trained, 20-class head;
  resnet18  torchvision.models.resnet18(num_classes=20) if torchvision is importable, else the
            same network written below (BasicBlock, [2, 2, 2, 2], torchvision's init), every weight
            trained, channels_last on CUDA.
The eager side is written as the official codes write it: torch.optim.SGD(lr 0.01, momentum 0.9)
with its defaults (foreach on CUDA); bf16/fp16 through torch.autocast, fp16 with
torch.amp.GradScaler; tf32 through torch.backends.cuda.matmul.allow_tf32 and
torch.backends.cudnn.allow_tf32; torch.backends.cudnn.benchmark = True on CUDA (timm's and
torchvision's reference train.py). Same timing as the C++ side: one fixed random batch on the
device, warm-up steps, then N steps between two synchronisations (none per step). The model FLOPs
per image and the peak are clbench_gpu_step's (its --json rows), so both MFU columns use one
definition.

    .venv/bin/python bench/gpu_step.py --device cuda --batch 128 --steps 30
    .venv/bin/python bench/gpu_step.py --device cpu --preset vit-tiny28 --batch 8 --steps 2 \\
        --precisions fp32,bf16
    .venv/bin/python bench/gpu_step.py --device cuda --cases sd-lora --precisions bf16 \\
        --profile OUT/profile   # traces of both sides, summarised by bench/gpu_profile_summary.py
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the working tree
import gpu_profile_summary  # noqa: E402
import lora_step  # noqa: E402  (the timm-style ViT and the official SD-LoRA adapters)

CLASSES = 20
TARGET = "target: bf16 sd-lora MFU >= 40% and >= 1.5x eager"


class PlainAttention(lora_step.Attention):
    """timm Attention without adapters (fused qkv, scaled_dot_product_attention, proj)."""

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


def vit(preset, sd_lora):
    """bench/lora_step.py's ViT (timm init); without SD-LoRA its adapters are taken out."""
    model = lora_step.Vit(preset, "official")
    if sd_lora:  # frozen backbone and old directions; the magnitudes, current LoRA, head train
        for name, p in model.named_parameters():
            current = re.search(r"\.(q|v)\.1\.[01]\.weight$", name) is not None
            p.requires_grad_(name.startswith("mags") or name.startswith("head") or current)
    else:
        for b in model.blocks:
            b.attn.__class__ = PlainAttention
            del b.attn.adapters
        del model.adapters, model.mags
    return model


class BasicBlock(nn.Module):  # torchvision.models.resnet.BasicBlock
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """torchvision's resnet18 (or, cifar_stem and width 16, clbench's resnet-tiny)."""

    def __init__(self, num_classes, width=64, cifar_stem=False):
        super().__init__()
        if cifar_stem:
            self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        layers, cin = [], width
        for i in range(4):
            planes = width << i
            layers += [BasicBlock(cin, planes, 1 if i == 0 else 2), BasicBlock(planes, planes, 1)]
            cin = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet(name):
    """(model, description)."""
    if name == "resnet-tiny":
        return ResNet18(CLASSES, width=16, cifar_stem=True), "resnet-tiny (script, width 16)"
    try:
        import torchvision
        return torchvision.models.resnet18(num_classes=CLASSES), "torchvision resnet18"
    except ImportError:
        return ResNet18(CLASSES), "resnet18 (script; torchvision not installed)"


def workload(case, a, device):
    """(model, x, y, loss_fn, description) for one case, fresh, seed 0."""
    torch.manual_seed(0)
    if case in ("sd-lora", "full-ft"):
        model = vit(a.preset, case == "sd-lora").to(device)
        x = torch.rand(a.batch, model.ch, model.img, model.img, device=device)
        if case == "sd-lora":
            y = torch.randint(0, 10, (a.batch,), device=device)
            return model, x, y, lambda out, t: F.cross_entropy(out[:, 10:], t), "timm-style ViT"
        y = torch.randint(0, CLASSES, (a.batch,), device=device)
        return model, x, y, F.cross_entropy, "timm-style ViT"
    if case == "resnet18":
        model, what = resnet(a.resnet)
        model = model.to(device)
        x = torch.rand(a.batch, 3, a.image, a.image, device=device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
            x = x.to(memory_format=torch.channels_last)
        y = torch.randint(0, CLASSES, (a.batch,), device=device)
        return model, x, y, F.cross_entropy, what
    raise SystemExit(f"unknown case {case} (sd-lora, full-ft, resnet18)")


def set_precision(p, device):
    """As an official script run at precision p sets it (cuDNN's TF32 is on by default)."""
    torch.backends.cuda.matmul.allow_tf32 = p == "tf32"
    torch.backends.cudnn.allow_tf32 = True
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def eager_case(case, p, a, device, profile_path=None):
    set_precision(p, device)
    model, x, y, loss_fn, what = workload(case, a, device)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    amp = p in ("bf16", "fp16")
    dtype = torch.bfloat16 if p == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=p == "fp16")

    def step():
        opt.zero_grad()
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(a.warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    skipped = round(math.log2(65536.0 / scaler.get_scale())) if p == "fp16" else 0
    if profile_path:
        acts = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            acts.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=acts) as prof:
            for _ in range(a.profile_steps):
                with torch.profiler.record_function("train_step"):
                    step()
            sync(device)
        prof.export_chrome_trace(profile_path)
    return {"ms_per_step": 1000 * seconds / a.steps, "images_per_s": a.batch * a.steps / seconds,
            "skipped_steps": skipped, "model": what}


def run_clbench(a, json_path):
    cmd = [a.bin, "--device", a.device, "--cases", a.cases, "--precisions", a.precisions,
           "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup),
           "--preset", a.preset, "--resnet", a.resnet, "--image", str(a.image),
           "--fused", a.fused, "--json", json_path]
    if a.peak:
        cmd += ["--peak", str(a.peak)]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    if a.profile:
        cmd += ["--profile", a.profile, "--profile-steps", str(a.profile_steps)]
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    rows = {}
    if os.path.exists(json_path):
        for line in open(json_path):
            r = json.loads(line)
            rows[(r["case"], r["precision"])] = r
    if rc != 0:
        print(f"clbench_gpu_step exited with {rc}", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--cases", default="sd-lora,full-ft,resnet18")
    ap.add_argument("--precisions", default="fp32,tf32,bf16,fp16")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--preset", default="vit-b16")
    ap.add_argument("--resnet", default=None,
                    help="resnet18 (224 px) with vit-b16, else resnet-tiny (32 px)")
    ap.add_argument("--image", type=int, default=None, help="ResNet input size")
    ap.add_argument("--fused", default="1", help="clbench's fused SGD (1) or LibTorch's (0)")
    ap.add_argument("--peak", type=float, default=0, help="one peak TFLOP/s for every precision")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "clbench_gpu_step"))
    ap.add_argument("--profile", default=None, help="DIR: traces of both sides' steps")
    ap.add_argument("--profile-steps", type=int, default=5)
    a = ap.parse_args()
    for case in a.cases.split(","):
        if case not in ("sd-lora", "full-ft", "resnet18"):
            ap.error(f"unknown case {case} (sd-lora, full-ft, resnet18)")
    tiny = a.preset != "vit-b16"
    a.resnet = a.resnet or ("resnet-tiny" if tiny else "resnet18")
    a.image = a.image or (32 if a.resnet == "resnet-tiny" else 224)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if a.profile:
        os.makedirs(a.profile, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        clbench = run_clbench(a, os.path.join(tmp, "rows.json"))

    print(f"\neager PyTorch {torch.__version__} on {a.device}"
          + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""), flush=True)
    eager, models = {}, set()
    for case in a.cases.split(","):
        for p in a.precisions.split(","):
            path = os.path.join(a.profile, f"eager-{case}-{p}.json") if a.profile else None
            try:
                r = eager_case(case, p, a, device, path)
                models.add(f"{case}: {r['model']}")
                r["status"] = "ok"
            except Exception as e:  # noqa: BLE001  (a row says why, the others still run)
                r = {"status": "n/a", "reason": str(e).split("\n")[0][:160]}
            eager[(case, p)] = r
            print(f"  {case} {p}: " + (f"{r['ms_per_step']:.2f} ms/step, "
                                      f"{r['images_per_s']:.0f} images/s" if r["status"] == "ok"
                                      else f"n/a ({r['reason']})"), flush=True)
    print("  models: " + "; ".join(sorted(models)))

    print(f"\n| case | precision | clbench images/s | clbench MFU | eager PyTorch images/s | "
          f"eager MFU | speed-up clbench/eager | notes |\n|---|---|---|---|---|---|---|---|")
    verdict = None
    for case in a.cases.split(","):
        for p in a.precisions.split(","):
            c, e = clbench.get((case, p), {}), eager[(case, p)]
            c_ok, e_ok = c.get("status") == "ok", e["status"] == "ok"
            cells = [f"{c['images_per_s']:,.0f}" if c_ok else "n/a",
                     f"{100 * c['mfu']:.1f}%" if c_ok else "n/a"]
            e_mfu = None
            if e_ok and c_ok:  # clbench's FLOPs per image and peak
                e_mfu = e["images_per_s"] * c["gflop_per_image"] / 1000 / c["peak_tflops"]
            cells += [f"{e['images_per_s']:,.0f}" if e_ok else "n/a",
                      f"{100 * e_mfu:.1f}%" if e_mfu is not None else "n/a"]
            ratio = c["images_per_s"] / e["images_per_s"] if c_ok and e_ok else None
            cells.append(f"{ratio:.2f}x" if ratio is not None else "n/a")
            notes = [f"{side} {r['skipped_steps']} fp16 steps skipped" for side, r in
                     (("clbench", c), ("eager", e)) if r.get("skipped_steps")]
            notes += [f"{side}: {r['reason']}" for side, r in (("clbench", c), ("eager", e))
                      if r.get("reason")]
            if not c:
                notes.append("clbench: no result")
            print(f"| {case} | {p} | " + " | ".join(cells) + " | " + "; ".join(notes) + " |")
            if case == "sd-lora" and p == "bf16" and c_ok and ratio is not None:
                met = c["mfu"] >= 0.40 and ratio >= 1.5
                verdict = (f"clbench MFU {100 * c['mfu']:.1f}%, {ratio:.2f}x eager: "
                           + ("met" if met else "not met"))
    peaks = sorted({(r["precision"], r["peak_tflops"]) for r in clbench.values()})
    print("\npeak TFLOP/s used: " + ", ".join(f"{p} {v:g}" for p, v in peaks)
          + "; model FLOPs per image from clbench_gpu_step (bench/gpu_step.cpp)")
    print(TARGET + (f" -- {verdict}" if verdict else ""))

    if a.profile:
        for case in a.cases.split(","):
            for p in a.precisions.split(","):
                for side, name in (("clbench", f"{case}-{p}.json"),
                                   ("eager PyTorch", f"eager-{case}-{p}.json")):
                    path = os.path.join(a.profile, name)
                    if os.path.exists(path):
                        print(f"\n### profile: {side}, {case} {p}, {a.profile_steps} steps "
                              f"({path})")
                        gpu_profile_summary.summarise(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
