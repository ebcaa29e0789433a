#!/usr/bin/env python3
"""Reference vectors for tests/core/test_transforms.cpp, from Pillow (the library torchvision
resizes PIL images with). Prints C++ initialisers; paste them into the test.

    .venv/bin/pip install pillow && .venv/bin/python bench/transforms_vectors.py

Made with Pillow 13.0.0. The pipelines are torchvision's on a PIL image, written with PIL calls:
  RandomResizedCrop -> img.crop((left, top, left + w, top + h)).resize((size, size), BILINEAR)
  Resize(256, 3)    -> img.resize((int(256 * long / short) or 256 ...), BICUBIC)
  CenterCrop(224)   -> crop at int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
"""
from PIL import Image

BILINEAR, BICUBIC = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC


def image(w, h, f):
    img = Image.new("RGB", (w, h))
    img.putdata([tuple(f(x, y, c) for c in range(3)) for y in range(h) for x in range(w)])
    return img


# The formula images; the test builds the same ones with the same formulas.
def small(x, y, c):  # 7x5 is embedded literally; this only makes it
    return (x * 37 + y * 91 + c * 50 + x * y * 13) % 256


def texture(x, y, c):  # 12x9 and 500x375
    if c == 0:
        return (x + 2 * y) & 255
    if c == 1:
        return (x * y // 16) & 255
    return ((x ^ y) * 3) & 255


def halves(x, y, c):  # 500x375: left half red, right half blue
    return (255, 0, 0)[c] if x < 250 else (0, 0, 255)[c]


def values(img):  # HWC, flattened
    return list(img.tobytes())


def cpp(name, vals, per_line=24):
    lines = [", ".join(str(v) for v in vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    print(f"const std::vector<int> {name} = {{\n    " + ",\n    ".join(lines) + "};")


def shorter_side(w, h, s):
    if w <= h:
        return s, int(s * h / w)
    return int(s * w / h), s


def center(n, size):
    return int(round((n - size) / 2.0))


def samples(img, points):  # HWC values at (y, x) points
    px = img.load()
    return [px[x, y][c] for (y, x) in points for c in range(3)]


POINTS = [(0, 0), (0, 223), (223, 0), (223, 223), (5, 7), (17, 100), (64, 150), (100, 31),
          (111, 112), (112, 113), (150, 200), (199, 64), (200, 222), (222, 1), (120, 120),
          (33, 177)]

if __name__ == "__main__":
    a = image(7, 5, small)
    cpp("kSmall7x5", values(a))
    cpp("kSmallBicubic3x4", values(a.resize((3, 4), BICUBIC)))    # w 3, h 4
    cpp("kSmallBilinear4x6", values(a.resize((4, 6), BILINEAR)))  # w 4, h 6
    cpp("kSmallShorter3", values(a.resize(shorter_side(7, 5, 3), BICUBIC)))  # 4x3

    t = image(12, 9, texture)
    cpp("kTextureBicubic4x3", values(t.resize((4, 3), BICUBIC)))    # downscale by 3
    cpp("kTextureBilinear4x3", values(t.resize((4, 3), BILINEAR)))
    # A fractional source region, taps reaching outside it (the test view's single resampling).
    cpp("kTextureRegionBicubic5x4", values(t.resize((5, 4), BICUBIC, box=(1.5, 0.75, 10.25, 8.0))))
    # A crop, then a resize: taps stop at the crop's edges (RandomResizedCrop).
    cpp("kTextureCropBilinear4x5", values(t.crop((2, 1, 11, 8)).resize((4, 5), BILINEAR)))

    big = image(500, 375, texture)
    rw, rh = shorter_side(500, 375, 256)
    top, left = center(rh, 224), center(rw, 224)
    print(f"// Resize(256) of 500x375: {rw}x{rh}, CenterCrop(224) at top {top}, left {left}")
    test_view = big.resize((rw, rh), BICUBIC).crop((left, top, left + 224, top + 224))
    cpp("kBigTestSamples", samples(test_view, POINTS))
    cpp("kBigTestBilinearSamples",
        samples(big.resize((rw, rh), BILINEAR).crop((left, top, left + 224, top + 224)), POINTS))
    cpp("kBigTestSquareSamples", samples(big.resize((224, 224), BICUBIC), POINTS))
    # RandomResizedCrop box (top 37, left 101, height 211, width 250), bilinear to 224.
    cpp("kBigCropSamples", samples(big.crop((101, 37, 351, 248)).resize((224, 224), BILINEAR),
                                   POINTS))
    h = image(500, 375, halves)
    hv = h.resize((rw, rh), BICUBIC).crop((left, top, left + 224, top + 224))
    print("// halves, row 100, red channel, columns 108..117:",
          [hv.load()[x, 100][0] for x in range(108, 118)])
