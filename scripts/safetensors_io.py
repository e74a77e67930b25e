"""Minimal safetensors writer and reader in pure Python + numpy (no `safetensors` package needed).

Format: 8-byte little-endian u64 header length, then a UTF-8 JSON header padded with spaces to a
multiple of 8 bytes, then the raw little-endian tensor data. Each header entry is
{"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the start of the data
and contiguous from 0; "__metadata__" maps str -> str. Supported dtypes: F32, F64, I64.

The writer keeps the caller's tensor order, except that tensors with wider elements come first
(a stable sort by element size), so every tensor's offset is aligned to its element size.
Output is deterministic: the same tensors and metadata give the same bytes.
"""

import json
import struct

import numpy as np

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_NAMES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}


def encode(tensors, metadata=None) -> bytes:
    """Serialise an ordered mapping name -> numpy array (float32, float64 or int64) to bytes."""
    items = []
    for name, arr in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        a = np.asarray(arr)
        if a.dtype not in _NAMES:
            raise TypeError(f"{name}: unsupported dtype {a.dtype}")
        items.append((name, a))
    items.sort(key=lambda it: -it[1].dtype.itemsize)  # stable: keeps order within a size
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, a in items:
        dt = _NAMES[a.dtype]
        data = np.ascontiguousarray(a, dtype=_DTYPES[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": [int(d) for d in a.shape], "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


def save_file(tensors, path, metadata=None) -> int:
    """Write a safetensors file; returns its size in bytes."""
    blob = encode(tensors, metadata)
    with open(path, "wb") as f:
        f.write(blob)
    return len(blob)


def decode(blob: bytes):
    """Parse safetensors bytes -> (dict name -> numpy array, metadata dict), validating the layout."""
    (n,) = struct.unpack("<Q", blob[:8])
    if n % 8 != 0 or 8 + n > len(blob):
        raise ValueError("bad header length")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = blob[8 + n :]
    spans = []
    tensors = {}
    for name, info in header.items():
        dt = _DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if e - b != count * dt.itemsize:
            raise ValueError(f"{name}: size mismatch")
        spans.append((b, e))
        tensors[name] = np.frombuffer(data[b:e], dtype=dt).reshape(shape).copy()
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError("data offsets are not contiguous from 0")
        pos = e
    if pos != len(data):
        raise ValueError("trailing bytes after the last tensor")
    return tensors, metadata


def load_file(path):
    with open(path, "rb") as f:
        return decode(f.read())


if __name__ == "__main__":
    t = {"b": np.arange(5, dtype=np.float32), "lbl": np.array([3, 1], dtype=np.int64), "s": np.array(1.5, dtype=np.float32)}
    blob = encode(t, {"k": "v"})
    back, meta = decode(blob)
    assert meta == {"k": "v"} and all(np.array_equal(back[k], v) and back[k].shape == v.shape for k, v in t.items())
    print("round trip ok,", len(blob), "bytes")
