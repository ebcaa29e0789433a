#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: small valid files (and a few near-misses) in
each format, one folder per target: make_seeds.py <out>  ->  <out>/<target>/<seed>.

The multi-file targets take their files joined by the separator byte 0x01 (tests/fuzz/fuzz_util.h
kSeparator), in the order their target documents, optionally followed by one more separator and
option letters (e.g. 'f': check_files)."""
import gzip
import json
import os
import struct
import sys

SEP = b"\x01"
DEEP = b"a/" * 2100


def idx(dims, data, dtype=0x08):
    return bytes([0, 0, dtype, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def cifar_record(coarse, fine, seed):
    return bytes([coarse, fine]) + bytes((seed * 31 + i) % 256 for i in range(3072))


def coda_yaml(rows, keys):
    """PyYAML block style: one "key:" line, then "- value" lines, per key."""
    out = ""
    for k, key in enumerate(keys):
        out += key + ":\n" + "".join("- " + str(r[k]) + "\n" for r in rows)
    return out.encode()


def safetensors(tensors, metadata=None, pad=True):
    header, data, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def idx_seeds(s):
    """IDX arrays (Fashion-MNIST)."""
    s["fuzz_idx"] = {
        "labels": idx([5], bytes([9, 0, 3, 3, 7])),
        "images": idx([3, 2, 2], bytes(range(12))),
        "images4d": idx([2, 1, 2, 3], bytes(range(12))),
        "labels.gz": gzip.compress(idx([4], bytes([1, 2, 3, 4])), mtime=0),
        "truncated": idx([3, 2, 2], bytes(range(11))),
    }


def cifar_seeds(s):
    """CIFAR-100 (and CIFAR-10: 1 label byte) binary records and class names."""
    names = "".join(f"class_{i}\n" for i in range(100)).encode()
    s["fuzz_cifar100"] = {
        "bin1": b"\x00" + cifar_record(4, 31, 0),
        "bin2_expect2": b"\x06" + cifar_record(19, 99, 1) + cifar_record(0, 0, 2),
        "cifar10_bin2": b"\x08" + cifar_record(0, 9, 3)[1:] + cifar_record(0, 0, 4)[1:],
        "names": b"\x01" + names,
        "names_crlf": b"\x01" + names.replace(b"\n", b"\r\n") + b"\n\n",
    }


def cub_seeds(s):
    """CUB-200-2011 list files."""
    images = (b"1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg\n"
              b"2 001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg\n"
              b"3 002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg\n"
              b"4 003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg\n")
    labels = b"1 1\n2 1\n3 2\n4 3\n"
    split = b"1 1\n2 0\n3 1\n4 0\n"
    classes = b"1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n"
    s["fuzz_cub200"] = {
        "official": SEP.join([images, labels, split, classes]),
        "crlf": SEP.join(x.replace(b"\n", b"\r\n") for x in [images, labels, split, classes]),
        "one": SEP.join([b"1 a/b.jpg\n", b"1 1\n", b"1 0\n", b"1 001.A\n"]),
        "check_files": SEP.join([images, labels, split, classes, b"f"]),
        "check_counts": SEP.join([images, labels, split, classes, b"c"]),
        # A path longer than PATH_MAX (4096): checking it fails with ENAMETOOLONG.
        "deep_path": SEP.join([b"1 " + DEEP + b"b.jpg\n", b"1 1\n", b"1 0\n", b"1 A\n", b"f"]),
    }


def list_seeds(s):
    """The YAML and text split lists of ImageNet-R and DomainNet."""
    inr_train = [("data/imagenet-r/n02165456/art_0.jpg", 0),
                 ("data/imagenet-r/n01443537/cartoon_3.jpg", 2),
                 ("data/imagenet-r/n03594945/sketch_1.jpg", 1)]
    inr_test = [("data/imagenet-r/n03594945/toy_2.jpg", 1),
                ("data/imagenet-r/n01443537/tattoo_5.jpg", 2)]
    dn_train = [("painting/megaphone/painting_191_000001.jpg", "painting", 0),
                ("real/toothbrush/real_316_000002.jpg", "real", 1),
                ("clipart/The_Eiffel_Tower/clipart_001_000003.jpg", "clipart", 10)]
    dn_test = [("infograph/toothbrush/infograph_316_000009.jpg", "infograph", 1)]
    flow = (b"{data: [data/imagenet-r/n02165456/a.jpg, 'data/imagenet-r/n01443537/b.jpg'],"
            b" targets: [0, \"2\"]}\n")
    s["fuzz_split_yaml"] = {
        "block": coda_yaml(inr_train, ["data", "targets"]),
        "flow": flow,
        "extra_keys": b"name: x\nother: {a: [1, 2]}\n" + coda_yaml(inr_test, ["data", "targets"]),
        "gzip": gzip.compress(coda_yaml(inr_test, ["data", "targets"]), mtime=0),
        "domains": coda_yaml(dn_train, ["data", "domains", "targets"]) + SEP + b"d",
        "documents": b"---\ndata: [a]\ntargets: [1]\n...\n",
    }
    s["fuzz_imagenet_r"] = {
        "coda": coda_yaml(inr_train, ["data", "targets"]) + SEP +
                coda_yaml(inr_test, ["data", "targets"]),
        "flow": flow + SEP + b"data: [data/imagenet-r/n02165456/c.jpg]\ntargets: [0]\n",
        "no_prefix_check_files": b"data: [n02165456/a.jpg]\ntargets: [0]\n" + SEP +
                                 b"data: [n02165456/b.jpg]\ntargets: [0]\n" + SEP + b"pf",
        "check_counts": coda_yaml(inr_train, ["data", "targets"]) + SEP +
                        coda_yaml(inr_test, ["data", "targets"]) + SEP + b"c",
    }
    s["fuzz_domainnet_yaml"] = {
        "coda": coda_yaml(dn_train, ["data", "domains", "targets"]) + SEP +
                coda_yaml(dn_test, ["data", "domains", "targets"]),
        "prefix_check_files": b"data: [data/real/apple/a.jpg]\ndomains: [real]\ntargets: [3]\n" +
                              SEP + b"data: [data/sketch/apple/b.jpg]\ndomains: [sketch]\n"
                              b"targets: [3]\n" + SEP + b"pf",
    }
    s["fuzz_domainnet_txt"] = {
        "official": (b"clipart/aircraft_carrier/clipart_001_000018.jpg 0\n"
                     b"clipart/apple/clipart_002_000001.jpg 1\n"
                     b"clipart/The_Eiffel_Tower/clipart_300_000004.jpg 300\n" + SEP +
                     b"clipart/apple/clipart_002_000007.jpg 1\n"
                     b"clipart/aircraft_carrier/clipart_001_000020.jpg 0\n"),
        "counts": b"clipart/a/x.jpg 0\n" + SEP + b"clipart/a/y.jpg 0\n" + SEP + b"c",
        "files": b"clipart/a/x.jpg 0\n" + SEP + b"clipart/a/y.jpg 0\n" + SEP + b"f",
        "deep_path": b"clipart/" + DEEP + b"x.jpg 0\n" + SEP + b"clipart/a/y.jpg 0\n" + SEP + b"f",
    }


def binary_seeds(s):
    """The safetensors header and the image cache index."""
    f32 = struct.pack("<2f", 1.0, -2.0)
    s["fuzz_safetensors_header"] = {
        "one": safetensors([("w", "F32", [2], f32)]),
        "many": safetensors([("a", "F16", [2, 2], b"\x00\x3c" * 4), ("b", "I64", [1], b"\x07" * 8),
                             ("c", "BOOL", [0, 3], b""), ("d", "BF16", [], b"\x80\x3f"),
                             ("e", "U8", [3], b"abc")],
                            metadata={"format": "pt", "producer": "clbench"}),
        "unpadded": safetensors([("x", "F64", [1, 1], struct.pack("<d", 0.5))], pad=False),
        "empty": safetensors([]),
    }
    def cache_index(num_classes, pixel_bytes, files, records):
        return struct.pack("<3q", num_classes, pixel_bytes, files) + b"".join(
            struct.pack("<qiiq", *r) for r in records)
    s["fuzz_image_cache_index"] = {
        "two": cache_index(2, 21, 2, [(0, 2, 2, 0), (12, 1, 3, 1)]),
        "one": cache_index(1, 3, 1, [(0, 1, 1, 0)]),
        "empty": cache_index(5, 0, 0, []),
    }


def npy(descr, shape, data, major=1, fortran="False"):
    """A .npy file as numpy/lib/format.py writes it: header padded to 64 bytes, then the data."""
    dims = "".join(f"{d}, " for d in shape).rstrip(" ")
    if len(shape) != 1:
        dims = dims.rstrip(",")
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({dims}), }}"
    prefix = 10 if major == 1 else 12
    text += " " * ((64 - (prefix + len(text) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + length + text.encode() + data


def npy_seeds(s):
    """NumPy .npy files (Mammoth's Tiny-ImageNet arrays); first byte: the reader (fuzz_npy.cpp)."""
    f4 = struct.pack("<12f", *[i / 11 for i in range(12)])
    s["fuzz_npy"] = {
        "header_f4": b"\x00" + npy("<f4", [1, 2, 2, 3], f4),
        "header_v2": b"\x00" + npy("<i8", [2], struct.pack("<2q", 3, 4), major=2),
        "header_v3_scalar": b"\x01" + npy("<f8", [], struct.pack("<d", 0.5), major=3),
        "labels_i8": b"\x02" + npy("<i8", [3], struct.pack("<3q", 0, 199, 7)),
        "labels_i4": b"\x02" + npy("<i4", [2], struct.pack("<2i", 5, 6)),
        "labels_u1": b"\x02" + npy("|u1", [2], bytes([1, 2])),
        "images_f4": b"\x03" + npy("<f4", [1, 2, 2, 3], f4),
        "images_f8": b"\x03" + npy("<f8", [1, 2, 2, 3], struct.pack("<12d", *[0.25] * 12)),
        "images_u1": b"\x03" + npy("|u1", [2, 2, 2, 3], bytes(range(24))),
        "fortran": b"\x01" + npy("<f4", [1, 2, 2, 3], f4, fortran="True"),
        "truncated": b"\x01" + npy("<f4", [1, 2, 2, 3], f4[:-1]),
    }


def seeds():
    s = {}
    for add in (idx_seeds, cifar_seeds, cub_seeds, list_seeds, binary_seeds, npy_seeds):
        add(s)
    return s


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py <out folder>")
    for target, files in seeds().items():
        folder = os.path.join(sys.argv[1], target)
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
