#!/usr/bin/env python3
"""One training step of each prompt method: clbench (C++) against eager PyTorch.

The PyTorch side is written the way the official codes write the step (GT-RIPL/CODA-Prompt
models/zoo.py and models/vit.py for L2P++, DualPrompt and CODA-P; google-research/l2p for L2P's
prompt-tuning; thu-ml/HiDe-Prompt for HiDe's prompt stage): a query from a no-grad pass of the
frozen ViT, then the prompted pass in which every block asks the prompt module for its prefix,
the prompt module's loss summed in, past-class logits masked, Adam over the prompts and the head.
Same torch wheel (same kernels), same ViT preset, batch, threads, task 2 of 10. Subnormals are
flushed on both sides (clbench runs that way). Also times the query pass and one frozen forward
of each side. Prints a Markdown table of medians (ms).

    .venv/bin/python bench/prompt_step.py [--presets vit-tiny28,vit-b16] [--steps 3]
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
    "vit-ti16": (224, 16, 3, 192, 12, 3, 4.0),
    "vit-b16": (224, 16, 3, 768, 12, 12, 4.0),
}
METHODS = ["l2p", "l2p++", "dualprompt", "coda-prompt", "hide-prompt"]
TASKS, TASK = 10, 1  # timed at the second of ten tasks, two classes each


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x, prompt=None):  # prompt: [keys, values] {B, P, D}, prepended to k and v
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        if prompt is not None:
            pk, pv = (p.reshape(B, -1, self.heads, C // self.heads).permute(0, 2, 1, 3)
                      for p in prompt)
            k, v = torch.cat((pk, k), 2), torch.cat((pv, v), 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, ratio):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.fc1, self.fc2 = nn.Linear(dim, int(dim * ratio)), nn.Linear(int(dim * ratio), dim)

    def forward(self, x, prompt=None):
        x = x + self.attn(self.norm1(x), prompt)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Vit(nn.Module):
    """timm's ViT code path, with CODA-Prompt's per-block prompt call."""

    def __init__(self, preset):
        super().__init__()
        img, patch, ch, dim, depth, heads, ratio = PRESETS[preset]
        self.img, self.ch, self.dim = img, ch, dim
        self.patch = nn.Conv2d(ch, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + (img // patch) ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        for b in self.blocks:
            for lin in (b.attn.qkv, b.attn.proj, b.fc1, b.fc2):
                nn.init.trunc_normal_(lin.weight, std=0.02)
                nn.init.zeros_(lin.bias)
        self.requires_grad_(False)

    def forward(self, x, prompt=None, q=None, tokens=None):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        if tokens is not None:
            x = torch.cat([x[:, :1], tokens, x[:, 1:]], 1)
        loss = 0
        for i, b in enumerate(self.blocks):
            p = None
            if prompt is not None:
                p, l = prompt(q, i)
                loss = loss + l
            x = b(x, p)
        return self.norm(x), loss


def cos(q, k):
    return F.normalize(q, dim=1) @ F.normalize(k, dim=1).t()


class L2pPlusPlus(nn.Module):  # CODA-Prompt's L2P: prefix at block 0, top-5 of 30, length 20
    def __init__(self, dim):
        super().__init__()
        self.p = nn.Parameter(torch.rand(30, 20, dim))
        self.k = nn.Parameter(torch.rand(30, dim))

    def forward(self, q, layer):
        if layer != 0:
            return None, 0
        s = cos(q, self.k)
        idx = s.topk(5, 1).indices
        P = self.p[idx]  # {B, 5, 20, D}
        B = q.shape[0]
        return [P[:, :, :10].reshape(B, -1, q.shape[1]), P[:, :, 10:].reshape(B, -1, q.shape[1])], \
            (1 - s.gather(1, idx)).sum()


class DualPrompt(nn.Module):  # G length 6 on blocks 0-1, E pool 10 length 20 on blocks 2-4
    def __init__(self, dim):
        super().__init__()
        self.g = nn.ParameterList([nn.Parameter(torch.rand(6, dim)) for _ in range(2)])
        self.e = nn.ParameterList([nn.Parameter(torch.rand(10, 20, dim)) for _ in range(3)])
        self.k = nn.ParameterList([nn.Parameter(torch.rand(10, dim)) for _ in range(3)])

    def forward(self, q, layer):
        B = q.shape[0]
        if layer < 2:
            P = self.g[layer].expand(B, -1, -1)
            return [P[:, :3], P[:, 3:]], 0
        if layer < 5:
            i = layer - 2
            loss = (1 - cos(q, self.k[i])[:, TASK]).sum()
            P = self.e[i][TASK].expand(B, -1, -1)
            return [P[:, :10], P[:, 10:]], loss
        return None, 0


class CodaPrompt(nn.Module):  # pool 100, length 8, blocks 0-4; task 2 trains components 10-19
    def __init__(self, dim):
        super().__init__()
        self.k = nn.ParameterList([nn.Parameter(torch.randn(100, dim)) for _ in range(5)])
        self.a = nn.ParameterList([nn.Parameter(torch.randn(100, dim)) for _ in range(5)])
        self.p = nn.ParameterList([nn.Parameter(torch.randn(100, 8, dim)) for _ in range(5)])

    def forward(self, q, layer):
        if layer >= 5:
            return None, 0
        s, f = TASK * 10, (TASK + 1) * 10
        K = torch.cat((self.k[layer][:s].detach().clone(), self.k[layer][s:f]), 0)
        A = torch.cat((self.a[layer][:s].detach().clone(), self.a[layer][s:f]), 0)
        p = torch.cat((self.p[layer][:s].detach().clone(), self.p[layer][s:f]), 0)
        aq = F.normalize(torch.einsum('bd,kd->bkd', q, A), dim=2)
        alpha = torch.einsum('bkd,kd->bk', aq, F.normalize(K, dim=1))
        P = torch.einsum('bk,kld->bld', alpha, p)
        return [P[:, :4], P[:, 4:]], 0


class HidePrompt(nn.Module):  # task prompts {5, 2, 20, D} on blocks 0-4, momentum 0.01
    def __init__(self, dim):
        super().__init__()
        self.p = nn.Parameter(torch.rand(TASKS, 5, 2, 20, dim) * 2 - 1)

    def forward(self, q, layer):
        if layer >= 5:
            return None, 0
        P = 0.99 * self.p[TASK] + 0.01 * self.p[:TASK].detach().mean(0)
        B = q.shape[0]
        return [P[layer, 0].expand(B, -1, -1), P[layer, 1].expand(B, -1, -1)], 0


class L2p(nn.Module):  # the official L2P: prompt-tuning, pool 10, length 5, top-5, pull 0.1
    def __init__(self, dim):
        super().__init__()
        self.p = nn.Parameter(torch.rand(10, 5, dim) * 0.01)
        self.k = nn.Parameter(torch.rand(10, dim) * 0.01)


def python_step_ms(preset, method, batch, steps):
    torch.manual_seed(0)
    vit = Vit(preset)
    dim = vit.dim
    module = {"l2p": L2p, "l2p++": L2pPlusPlus, "dualprompt": DualPrompt,
              "coda-prompt": CodaPrompt, "hide-prompt": HidePrompt}[method](dim)
    head = nn.Linear(dim, 2 * TASKS)
    means = torch.randn(2 * TASK * 10, dim)  # HiDe: centroids of the earlier classes
    params = [p for p in list(module.parameters()) + list(head.parameters())]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.rand(batch, vit.ch, vit.img, vit.img)
    y = torch.randint(2 * TASK, 2 * TASK + 2, (batch,))

    def step():
        opt.zero_grad()
        with torch.no_grad():
            q = vit(x)[0][:, 0]
        if method == "l2p":
            s = cos(q, module.k)
            idx = s.topk(5, 1).indices
            tokens = module.p[idx].reshape(batch, -1, dim)
            out, _ = vit(x, tokens=tokens)
            feat = out[:, 1:1 + tokens.shape[1]].mean(1)
            prompt_loss = -0.1 * s.gather(1, idx).sum() / batch
        else:
            out, prompt_loss = vit(x, module, q)
            feat = out[:, 0]
        logits = head(feat)[:, :2 * TASK + 2]
        logits[:, :2 * TASK] = -float("inf")
        loss = F.cross_entropy(logits, y) + prompt_loss
        if method == "hide-prompt":
            m = torch.cat((means, feat))
            loss = loss + 0.5 * F.cross_entropy(m @ m.t() / 0.8, torch.arange(m.shape[0]))
        loss.backward()
        opt.step()

    def query():
        with torch.no_grad():
            vit(x)

    return median_ms(step, steps), median_ms(query, steps)


def median_ms(fn, steps):
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        fn()
        if s >= 1:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def clbench_ms(method, preset, batch, steps, threads, kernels):
    out = subprocess.run([os.path.join(ROOT, "build", "clbench_prompt_step"), "--method", method,
                          "--preset", preset, "--batch", str(batch), "--steps", str(steps),
                          "--threads", str(threads), "--cpu-kernels", kernels],
                         check=True, capture_output=True, text=True).stdout
    step, query, frozen = (float(v) for v in re.search(
        r"step ([0-9.]+) ms, query pass ([0-9.]+) ms, frozen forward ([0-9.]+) ms", out).groups())
    return step, query, frozen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="vit-tiny28,vit-b16")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--b16-methods", default="l2p,coda-prompt",
                    help="the methods timed on vit-b16 (a step there takes about a minute)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    # clbench in its default (portable: the same bits on Intel and AMD) and its native CPU kernels
    # (those eager PyTorch runs).
    print("| preset | method | PyTorch step (ms) | clbench step, native (ms) | clbench / PyTorch, "
          "native | clbench step, portable (ms) | clbench / PyTorch, portable | clbench query "
          "pass, native (ms) | clbench frozen forward, native (ms) | PyTorch query pass (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset in a.presets.split(","):
        small = preset.endswith("28")
        steps = a.steps if small else 1
        for method in a.methods.split(",") if small else a.b16_methods.split(","):
            p, pq = python_step_ms(preset, method, a.batch, steps)
            n, nq, nf = clbench_ms(method, preset, a.batch, steps, a.threads, "native")
            c, _, _ = clbench_ms(method, preset, a.batch, steps, a.threads, "portable")
            print(f"| {preset} | {method} | {p:.1f} | {n:.1f} | {n / p:.2f} | {c:.1f} | "
                  f"{c / p:.2f} | {nq:.1f} | {nf:.1f} | {pq:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
