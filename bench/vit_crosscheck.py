#!/usr/bin/env python3
"""Reference data for cross-checking clbench's ViT (harness/models/vit.cpp) against PyTorch.

Builds a ViT exactly like timm's VisionTransformer (num_classes=0, pre-logits CLS feature; timm is
not needed: the model below is timm's code path written out, with attention computed explicitly as
softmax(q k^T / sqrt(d)) v rather than with the fused kernel), and writes two safetensors files
(format written by hand with struct + json; the safetensors package is not needed):

  OUT/weights.safetensors    the model's state_dict under timm's names
  OUT/reference.safetensors  inputs and expected outputs:
    images {4, C, S, S}, features {4, D}: forward on images at the model's own size
    small {2, C, S-8, S-8}, small_features: forward after a bilinear resize up to S
    large {2, C, 2S, 2S}, large_features: forward after an antialiased bilinear resize down to S
    pos_embed_G {1, 1+G*G, D}: timm resample_abs_pos_embed of pos_embed to a GxG grid (G = 4, 10)
    The model's options are in __metadata__.

The C++ test Vit.MatchesPytorchReference runs this script (when a Python with torch is found) and
compares clbench's outputs to these. By hand:

    .venv/bin/python bench/vit_crosscheck.py --out /tmp/vitref
"""
import argparse
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().clone()
        data = bytes(t.untyped_storage())
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


class Attention(nn.Module):  # timm.models.vision_transformer.Attention, non-fused path
    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        self.num_heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, qkv_bias):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, in_chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):  # timm VisionTransformer(num_classes=0, global_pool='token')
    def __init__(self, img_size, patch, in_chans, dim, depth, heads, mlp_ratio, qkv_bias=True):
        super().__init__()
        self.img_size = img_size
        self.patch_embed = PatchEmbed(in_chans, dim, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)  # non-trivial for the test
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (img_size // patch) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, qkv_bias) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


def resample_abs_pos_embed(posemb, new_size, num_prefix_tokens=1):  # timm.layers.pos_embed
    hw = int(math.sqrt(posemb.shape[1] - num_prefix_tokens))
    prefix, posemb = posemb[:, :num_prefix_tokens], posemb[:, num_prefix_tokens:]
    dim = posemb.shape[-1]
    posemb = posemb.float().reshape(1, hw, hw, -1).permute(0, 3, 1, 2)
    posemb = F.interpolate(posemb, size=new_size, mode="bicubic", antialias=True)
    posemb = posemb.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat([prefix, posemb], dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--patch-size", type=int, default=4)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    model = VisionTransformer(a.image_size, a.patch_size, a.in_channels, a.dim, a.depth, a.heads,
                              a.mlp_ratio).eval()
    s, c = a.image_size, a.in_channels
    ref = {"images": torch.rand(4, c, s, s), "small": torch.rand(2, c, s - 8, s - 8),
           "large": torch.rand(2, c, 2 * s, 2 * s)}
    with torch.no_grad():
        ref["features"] = model(ref["images"])
        up = F.interpolate(ref["small"], size=(s, s), mode="bilinear", align_corners=False)
        ref["small_features"] = model(up)
        down = F.interpolate(ref["large"], size=(s, s), mode="bilinear", align_corners=False,
                             antialias=True)
        ref["large_features"] = model(down)
        for g in (4, 10):
            ref[f"pos_embed_{g}"] = resample_abs_pos_embed(model.pos_embed, (g, g))
    meta = {"image_size": s, "patch_size": a.patch_size, "in_channels": c, "dim": a.dim,
            "depth": a.depth, "heads": a.heads, "mlp_ratio": a.mlp_ratio}
    write_safetensors(os.path.join(a.out, "weights.safetensors"), model.state_dict(),
                      {"format": "pt"})
    write_safetensors(os.path.join(a.out, "reference.safetensors"), ref, meta)
    print(f"wrote {a.out}/weights.safetensors ({len(model.state_dict())} tensors) and "
          f"{a.out}/reference.safetensors")


if __name__ == "__main__":
    main()
