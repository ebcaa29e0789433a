#!/usr/bin/env python3
"""One SD-LoRA training step: clbench (C++) against the same model and step in eager PyTorch.

Same torch wheel (so the same kernels), same preset, batch, thread count and step: SD-LoRA at
task 2 (one frozen normalised direction + the current LoRA on q and v of every block, two
magnitudes), a 20-class head trained on the current 10 classes, SGD momentum 0.9. The PyTorch
model is timm's ViT code path (fused scaled_dot_product_attention, as timm's default) with
SD-LoRA's adapters written two ways:
  official  as the official code (SD-Lora-CL backbone/lora.py): every adapter is its own pair of
            nn.Linear calls on the activations, old directions divided by ||B|| ||A|| computed in
            every forward, added into qkv[:, :, :D] and qkv[:, :, -D:] in place;
  stacked   clbench's algorithm in Python: the adapters of a slice stacked into one pair of
            matmuls, old norms cached.
Both models are initialised as timm (and clbench) do: Linear weights trunc_normal(std 0.02), biases
0. That init makes subnormal floats appear in the backward pass; clbench flushes them to zero
(harness/cli/main.cpp), eager PyTorch by default does not, so the official-style step is also timed
with torch.set_flush_denormal(True).
Prints a Markdown table (median ms per step, ratio clbench / PyTorch).

    .venv/bin/python bench/lora_step.py [--presets vit-tiny28,vit-b16] [--steps 5]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {  # image, patch, channels, dim, depth, heads, mlp ratio (harness/models/vit.cpp)
    "vit-tiny28": (28, 4, 1, 64, 4, 4, 2.0),
    "vit-small28": (28, 4, 1, 128, 6, 4, 2.0),
    "vit-b16": (224, 16, 3, 768, 12, 12, 4.0),
}


class Attention(nn.Module):
    def __init__(self, dim, heads, adapters):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.adapters = adapters  # callable(x) -> (dq, dv)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x)
        dq, dv = self.adapters(x)
        qkv[:, :, :C] += dq
        qkv[:, :, -C:] += dv
        q, k, v = qkv.reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, ratio, adapters):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, adapters)
        self.fc1, self.fc2 = nn.Linear(dim, int(dim * ratio)), nn.Linear(int(dim * ratio), dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class OfficialAdapters(nn.Module):
    """SD-Lora-CL _LoRA_qkv_timm_train: one nn.Linear pair per task and slice."""

    def __init__(self, dim, mags):
        super().__init__()
        self.mags = mags
        mk = lambda: nn.ModuleList([nn.Linear(dim, 10, bias=False), nn.Linear(10, dim, bias=False)])
        self.q = nn.ModuleList([mk(), mk()])
        self.v = nn.ModuleList([mk(), mk()])
        for lst in (self.q, self.v):
            nn.init.normal_(lst[0][1].weight, std=0.01)
            nn.init.zeros_(lst[1][1].weight)
            lst[0].requires_grad_(False)

    def forward(self, x):
        out = []
        for lst in (self.q, self.v):
            (a0, b0), (a1, b1) = lst
            d = self.mags[0] * b0(a0(x)) / (torch.norm(b0.weight) * torch.norm(a0.weight))
            d = d + self.mags[1] * b1(a1(x))
            out.append(d)
        return out


class StackedAdapters(OfficialAdapters):
    """The same adapters, evaluated as clbench does: one stacked matmul pair per slice."""

    def __init__(self, dim, mags):
        super().__init__(dim, mags)
        self.inv = [1.0 / (torch.norm(l[0][1].weight) * torch.norm(l[0][0].weight)).item()
                    for l in (self.q, self.v)]

    def forward(self, x):
        out = []
        for lst, inv in zip((self.q, self.v), self.inv):
            (a0, b0), (a1, b1) = lst
            right = torch.cat([a0.weight, a1.weight], 0)
            left = torch.cat([b0.weight * (self.mags[0] * inv), b1.weight * self.mags[1]], 1)
            out.append(F.linear(F.linear(x, right), left))
        return out


class Vit(nn.Module):
    def __init__(self, preset, adapter_kind):
        super().__init__()
        img, patch, ch, dim, depth, heads, ratio = PRESETS[preset]
        self.img, self.ch = img, ch
        self.mags = nn.ParameterList([nn.Parameter(torch.tensor([0.8])) for _ in range(2)])
        kind = OfficialAdapters if adapter_kind == "official" else StackedAdapters
        self.adapters = nn.ModuleList([kind(dim, self.mags) for _ in range(depth)])
        self.patch = nn.Conv2d(ch, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + (img // patch) ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, ratio, a) for a in self.adapters])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        for b in self.blocks:  # timm init_weights_vit_timm
            for lin in (b.attn.qkv, b.attn.proj, b.fc1, b.fc2):
                nn.init.trunc_normal_(lin.weight, std=0.02)
                nn.init.zeros_(lin.bias)
        nn.init.normal_(self.cls, std=1e-6)
        self.head = nn.Linear(dim, 20)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x)[:, 0])


def python_step_ms(preset, kind, batch, steps, flush=False):
    torch.set_flush_denormal(flush)
    torch.manual_seed(0)
    model = Vit(preset, kind)
    for name, p in model.named_parameters():  # frozen backbone; old directions frozen above
        current = re.search(r"\.(q|v)\.1\.[01]\.weight$", name) is not None
        p.requires_grad_(name.startswith("mags") or name.startswith("head") or current)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    x = torch.rand(batch, model.ch, model.img, model.img)
    y = torch.randint(10, 20, (batch,))
    times = []
    for s in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x)[:, 10:], y - 10).backward()
        opt.step()
        if s >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), len(params)


def clbench_step_ms(preset, batch, steps, threads):
    out = subprocess.run([os.path.join(ROOT, "build", "clbench_lora_step"), "--preset", preset,
                          "--batch", str(batch), "--steps", str(steps), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+) ms/step", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="vit-tiny28,vit-b16")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("| preset | clbench (ms/step) | PyTorch official-style (ms) | PyTorch stacked (ms) | "
          "PyTorch official-style, subnormals flushed (ms) | clbench / official | "
          "clbench / stacked | clbench / official flushed |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in a.presets.split(","):
        steps = a.steps if preset.endswith("28") else max(3, a.steps // 3)
        c = clbench_step_ms(preset, a.batch, steps, a.threads)
        official, _ = python_step_ms(preset, "official", a.batch, steps)
        stacked, _ = python_step_ms(preset, "stacked", a.batch, steps)
        flushed, _ = python_step_ms(preset, "official", a.batch, steps, flush=True)
        print(f"| {preset} | {c:.1f} | {official:.1f} | {stacked:.1f} | {flushed:.1f} | "
              f"{c / official:.2f} | {c / stacked:.2f} | {c / flushed:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
