#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target (creditlens::fuzz) into OUT/<target>/, from the repository's fixtures
and a few hand-made files. Standard library only; run by tests/fuzz/run.sh.

    python3 tests/fuzz/seed.py OUT
"""
import glob
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def put(out, target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def safetensors(tensors):
    """A safetensors file: tensors is a list of (name, dtype, shape, bytes)."""
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def gguf_header_end(b):
    """Byte offset where a GGUF file's tensor table ends (its data follows, aligned)."""
    at = 8
    wide = struct.unpack_from("<I", b, 4)[0] >= 2
    def ln():
        nonlocal at
        v = struct.unpack_from("<Q" if wide else "<I", b, at)[0]
        at += 8 if wide else 4
        return v
    def skip(kind):
        nonlocal at
        sizes = {0: 1, 1: 1, 7: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 10: 8, 11: 8, 12: 8}
        if kind in sizes:
            at += sizes[kind]
        elif kind == 8:
            n = ln()
            at += n
        elif kind == 9:
            inner = struct.unpack_from("<I", b, at)[0]
            at += 4
            for _ in range(ln()):
                skip(inner)
    tensors, entries = ln(), ln()
    for _ in range(entries):
        n = ln()
        at += n
        kind = struct.unpack_from("<I", b, at)[0]
        at += 4
        skip(kind)
    for _ in range(tensors):
        n = ln()
        at += n
        dims = struct.unpack_from("<I", b, at)[0]
        at += 4 + dims * (8 if wide else 4) + 4 + 8
    return at


def main(out):
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    put(out, "safetensors_header", safetensors([("model.embed_tokens.weight", "F32", [2, 2], f32)]))
    put(out, "safetensors_header", safetensors([("a", "BF16", [3], b"\x80\x3f" * 3), ("b", "F16", [1, 1], b"\x00\x3c")]))
    put(out, "safetensors_header", safetensors([("x", "I64", [1], b"\x00" * 8)]))

    put(out, "shard_index", json.dumps({"metadata": {"total_size": 16}, "weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}))
    put(out, "shard_index", json.dumps({"weight_map": {"a": "../x.safetensors", "b": "/abs.safetensors"}}))

    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures/models/**/*.gguf"), recursive=True)):
        b = open(path, "rb").read()
        put(out, "gguf", b[: gguf_header_end(b)])

    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures/models/*/config.json"))):
        put(out, "config", open(path, "rb").read())
    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures/models/*/adapter_config.json"))):
        put(out, "adapter_config", open(path, "rb").read())

    for path in ["fixtures/records.jsonl", "fixtures/chat/records.jsonl"]:
        put(out, "data_records", open(os.path.join(ROOT, path), "rb").read())
    lines = open(os.path.join(ROOT, "assets/demo/pairs.jsonl"), "rb").read().splitlines()[:3]
    put(out, "data_records", b"\n".join(lines) + b"\n")
    put(out, "data_records", b"[" + b",\n".join(lines) + b"]")

    for path in ["assets/demo/checkpoints/checkpoint-40/trainer_state.json", "assets/demo/policy/trainer_state.json"]:
        put(out, "trainer_state", open(os.path.join(ROOT, path), "rb").read())

    conv = json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello."}]).encode()
    templates = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(ROOT, "fixtures/chat/templates/*")))]
    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures/models/*/tokenizer_config.json"))):
        t = json.load(open(path)).get("chat_template")
        if isinstance(t, str):
            templates.append(t.encode())
    for t in sorted(set(templates)):
        put(out, "chat_template", t + b"\0" + conv)


if __name__ == "__main__":
    main(sys.argv[1])
