"""Winograd F(m, r) matrices from interpolation points, and their float32 error.

The blocked kernels' schemes (native/nchwc/winograd_transforms.h, winograd.cc) come from here: F(4x4, 3x3) on the
points 0, 1, -1, 2, -2 and infinity, F(5x5, 3x3) on 0, 1, -1, 2, -2, 1/2 and infinity. Correlation
y_i = sum_k g_k d_(i+k) is the transpose of the polynomial product c = g * h, which Toom-Cook computes as
c = E_n^-1 [(E_r g) . (E_m h)] with E_k the k-column evaluation matrix at the points (infinity: the leading
coefficient). So A^T = E_m^T, G = E_r and B^T = (E_n^-1)^T; each row of B^T is scaled to coprime integers, the scale
moved into G (which the packing applies once, in double).

The error check runs the 2-D transform in float32 the way the kernels do (U rounded from double, V and the sum over
channels in float32) against the exact correlation in float64, over C = 256 channels, and prints the largest and
the mean error relative to the output's largest magnitude.

Run: python3 scripts/winograd_points.py M R POINTS, e.g. 5 3 0,1,-1,2,-2,1/2 (needs numpy only).
"""

import sys
from fractions import Fraction
from functools import reduce
from math import gcd, lcm

import numpy as np


def evaluation(points, k):
    rows = [[Fraction(p) ** i for i in range(k)] for p in points]
    rows.append([Fraction(0)] * (k - 1) + [Fraction(1)])  # infinity
    return rows


def inverse(m):
    n = len(m)
    a = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(m)]
    for c in range(n):
        p = next(r for r in range(c, n) if a[r][c] != 0)
        a[c], a[p] = a[p], a[c]
        pivot = a[c][c]
        a[c] = [x / pivot for x in a[c]]
        for r in range(n):
            if r != c and a[r][c] != 0:
                f = a[r][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c])]
    return [row[n:] for row in a]


def matrices(points, m, r):
    n = m + r - 1
    assert len(points) == n - 1, f"F({m}, {r}) takes {n - 1} finite points"
    em, g, c = evaluation(points, m), evaluation(points, r), inverse(evaluation(points, n))
    at = [[em[j][i] for j in range(n)] for i in range(m)]
    bt = [[c[i][j] for i in range(n)] for j in range(n)]
    for j in range(n):
        scale = Fraction(reduce(lcm, [x.denominator for x in bt[j]], 1))
        scale /= reduce(gcd, [abs(x.numerator) * scale.numerator // x.denominator for x in bt[j] if x != 0])
        if next(x for x in bt[j] if x != 0) < 0:
            scale = -scale
        bt[j] = [x * scale for x in bt[j]]
        g[j] = [x / scale for x in g[j]]
    return at, g, bt


def float32_error(at, g, bt, m, r, channels=256, trials=200):
    n = m + r - 1
    at64, g64, bt32 = np.array(at, float), np.array(g, float), np.array(bt, float).astype(np.float32)
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(trials):
        d = rng.standard_normal((channels, n, n))
        w = rng.standard_normal((channels, r, r)) / np.sqrt(channels * r * r)
        exact = np.array([[(w * d[:, i : i + r, j : j + r]).sum() for j in range(m)] for i in range(m)])
        u = np.einsum("ik,ckl,jl->cij", g64, w, g64).astype(np.float32)
        v = np.einsum("ik,ckl,jl->cij", bt32, d.astype(np.float32), bt32).astype(np.float32)
        prod = (u * v).sum(0, dtype=np.float32)
        y = at64.astype(np.float32) @ prod @ at64.T.astype(np.float32)
        errors.append(np.abs(y - exact).max() / np.abs(exact).max())
    return max(errors), float(np.mean(errors))


def main():
    m, r = int(sys.argv[1]), int(sys.argv[2])
    points = [Fraction(p) for p in sys.argv[3].split(",")]
    at, g, bt = matrices(points, m, r)
    for name, rows in (("B^T", bt), ("G", g), ("A^T", at)):
        print(name)
        for row in rows:
            print("  {" + ", ".join(str(x) for x in row) + "},")
    largest, mean = float32_error(at, g, bt, m, r)
    print(f"float32 error over 256 channels, relative to the output's scale: largest {largest:.2e}, mean {mean:.2e}")


if __name__ == "__main__":
    main()
