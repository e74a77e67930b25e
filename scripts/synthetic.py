"""Bit-exact Python port of src/tensor/synthetic.ts.

The TypeScript engine fills weights with deterministic "synthetic" values; the parity fixture
script uses these functions to build the very same weights in torch, so fixtures only need to
ship inputs and outputs, not weights.

Math.imul is multiplication mod 2**32 and `>>>` a logical shift; here both are done with numpy
uint64 arithmetic masked to 32 bits. Values are computed in float64 and rounded once to float32,
exactly as the TypeScript does.
"""

import numpy as np

_MASK = np.uint64(0xFFFFFFFF)


def fnv1a32(name: str) -> int:
    """FNV-1a over the UTF-16 code units of an (ASCII) name: a 32-bit seed per tensor name."""
    h = 0x811C9DC5
    units = name.encode("utf-16-le")
    for k in range(0, len(units), 2):
        h ^= units[k] | (units[k + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def _hash32_array(seed: int, idx: np.ndarray) -> np.ndarray:
    i = idx.astype(np.uint64) & _MASK
    s = np.uint64(seed & 0xFFFFFFFF)
    h = ((i * np.uint64(0x9E3779B1)) & _MASK) + ((s * np.uint64(0x85EBCA77)) & _MASK)
    h &= _MASK
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _MASK
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _MASK
    h ^= h >> np.uint64(16)
    return h


def hash32(seed: int, i):
    """Counter-based hash (murmur3 fmix32 of i*phi + seed*c). Scalar i -> int; array i -> uint64 array."""
    if np.isscalar(i):
        return int(_hash32_array(seed, np.array([i], dtype=np.uint64))[0])
    return _hash32_array(seed, np.asarray(i))


def synthetic_uniform(seed: int, n: int) -> np.ndarray:
    """n float32 values uniform in [-1, 1), each exactly representable in float32."""
    h = _hash32_array(seed, np.arange(n, dtype=np.uint64))
    v = ((h >> np.uint64(8)).astype(np.float64) / 16777216.0) * 2.0 - 1.0
    return v.astype(np.float32)


def synthetic_tensor(name: str, shape) -> np.ndarray:
    """The float32 value a synthetic state dict holds for `name` with `shape` (flat order, reshaped)."""
    shape = tuple(int(d) for d in shape)
    n = 1
    for d in shape:
        n *= d
    u = synthetic_uniform(fnv1a32(name), n).astype(np.float64)
    offset = 0.0
    if len(shape) >= 2:
        scale = float(np.sqrt(6.0 / (n / shape[0])))
    elif name.endswith("running_var"):
        scale, offset = 0.5, 1.0
    elif name.endswith("bn2.weight") or name.endswith("bn3.weight"):
        # Damped residual branches keep deep train-mode BN stacks well-conditioned (see synthetic.ts).
        scale, offset = 0.05, 0.2
    elif name.endswith(".weight"):
        scale, offset = 0.25, 1.0
    else:
        scale = 0.1
    return (offset + u * scale).astype(np.float32).reshape(shape)


# camelCase aliases matching the TypeScript names
syntheticUniform = synthetic_uniform
syntheticTensor = synthetic_tensor


if __name__ == "__main__":
    print(fnv1a32("conv1.weight"))
    print(synthetic_uniform(7, 4).tolist())
    print(synthetic_tensor("conv1.weight", [2, 3, 1, 1]).ravel().tolist())
