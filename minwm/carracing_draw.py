"""The 1000x800 drawing surface of CarRacing as run lists, and pygame-ce 2.5.8's pygame.draw.polygon on it.

Each row is a list of runs: run i of row y starts at column xs[y, i] and has colour col[y, i]
(0xRRGGBB, the surface's XRGB8888 layout); adjacent runs differ in colour. Filling a span, or
blending the pixels of antialiased edges, splices runs, so drawing costs per row and per edge
pixel, never per filled pixel. Each kernel reproduces one C function of pygame-ce with its integer
(or float32) arithmetic; tests/test_carracing_render.py checks each against pygame. SDL_gfx's
polygons (gfxdraw): carracing_gfx.py.
Legend: H x W = 800 x 1000, N vertices.
"""
import numpy as np
from numba import njit

W, H = 1000, 800  # gymnasium's WINDOW_W, WINDOW_H

def new_runs():
    """Run lists of a black surface: xs (H, W + 1) int32, col (H, W + 1) int64, n (H,) int32
    (a run is at least one pixel wide)."""
    return np.zeros((H, W + 1), np.int32), np.zeros((H, W + 1), np.int64), np.ones(H, np.int32)


@njit(cache=True, inline='always')
def find(xs, k, x):
    """Index of the run holding column x: the last i < k with xs[i] <= x (xs[0] == 0). A
    branch-free binary search: the halving steps compile to conditional moves."""
    lo = 0
    while k > 1:
        half = k >> 1
        lo = lo + half if xs[lo + half] <= x else lo
        k -= half
    return lo


@njit(cache=True, inline='always')
def paint(xs, col, n, y, xa, xb, c):
    """Set columns xa..xb (0 <= xa <= xb < W) of row y to colour c, merging equal neighbours."""
    X, C, k = xs[y], col[y], n[y]
    splice(X, C, n, y, find(X, k, xa), find(X, k, xb), xa, xb, (xa,), (c,), 1)


@njit(cache=True, inline='always')
def hline(xs, col, n, x1, x2, y, c, ymin):
    """SDL_gfx hlineColor (opaque), pygame's drawhorzlineclipbounding: x1..x2 in either order."""
    if x1 > x2:
        x1, x2 = x2, x1
    if x2 < 0 or x1 >= W or y < ymin or y >= H:
        return
    paint(xs, col, n, y, max(x1, 0), min(x2, W - 1), c)


@njit(cache=True, inline='always')
def blend(d, c, alpha):
    """SDL_gfx _putPixelAlpha's colour: alpha 255 stores c, otherwise each channel d becomes
    d + ((c - d) alpha >> 8) (its unsigned wrap-around equals this floor), which is
    (c alpha + d (256 - alpha)) >> 8: all three channels at once, in 16-bit lanes of an int64."""
    if alpha == 255:
        return c
    v = _lanes(c) * alpha + _lanes(d) * (256 - alpha)
    return ((v >> 24) & 0xFF0000) | ((v >> 16) & 0xFF00) | ((v >> 8) & 0xFF)


@njit(cache=True, inline='always')
def _lanes(c):
    """0xRRGGBB -> 0xRR0000GG0000BB: each channel in its own 16-bit lane."""
    return ((c & 0xFF0000) << 16) | ((c & 0xFF00) << 8) | (c & 0xFF)


@njit(cache=True, inline='always')
def splice(X, C, n, y, i, j, xa, xb, nx, nc, s):
    """Columns xa..xb of row y, held by runs i..j, become the s runs nx, nc (nx[0] == xa,
    neighbours differ), merging equal neighbours at both ends."""
    k = n[y]
    end_j = X[j + 1] - 1 if j + 1 < k else W - 1
    left = X[i] < xa                                # run i keeps its columns before xa
    prev = C[i] if left else (C[i - 1] if i > 0 else -1)
    skip = 1 if nc[0] == prev else 0                # the first new run extends the one before
    last = nc[s - 1] if s > skip else prev
    cj = C[j]
    right = xb < end_j and cj != last               # run j keeps its columns after xb
    after = j + 1                                   # first run kept after the new ones
    if xb == end_j and after < k and C[after] == last:
        after += 1                                  # ... which the last new run extends
    m = left + (s - skip) + right
    shift = i + m - after
    if shift > 0:
        for t in range(k - 1, after - 1, -1):
            X[t + shift], C[t + shift] = X[t], C[t]
    elif shift < 0:
        for t in range(after, k):
            X[t + shift], C[t + shift] = X[t], C[t]
    for t in range(skip, s):
        X[i + left + t - skip], C[i + left + t - skip] = nx[t], nc[t]
    if right:
        X[i + m - 1], C[i + m - 1] = xb + 1, cj
    n[y] = k + shift


@njit(cache=True, inline='always')
def sort_ints(a, k):
    """Insertion sort of a[:k] (C's qsort of a few ints)."""
    for i in range(1, k):
        v, j = a[i], i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit(cache=True)
def fill_polygon(xs, col, n, vx, vy, c, ymin, flip, ints):
    """pygame.draw.polygon (width 0, N != 3): draw.c's draw_fillpoly. Per row, edges with
    y1 <= y < y2 (or ending at maxy) cut at x1 + (y - y1) (x2 - x1) / float32(y2 - y1), floored for
    an even and ceiled for an odd count so far; sorted, filled pairwise; then the horizontal edges
    strictly between miny and maxy. flip: draw on row H - 1 - y (the surface after the flip)."""
    N = len(vx)
    miny, maxy = vy.min(), vy.max()
    if miny == maxy:
        _flip_hline(xs, col, n, vx.min(), vx.max(), miny, c, ymin, flip)
        return
    for y in range(max(miny, 0), min(maxy, H - 1) + 1):  # other rows are clipped away
        k = 0
        for i in range(N):
            p = N - 1 if i == 0 else i - 1
            y1, y2, x1, x2 = vy[p], vy[i], vx[p], vx[i]
            if y1 > y2:
                y1, y2, x1, x2 = y2, y1, x2, x1
            elif y1 == y2:
                continue
            if (y1 <= y < y2) or (y == maxy and y2 == maxy):
                cut = np.float32((y - y1) * (x2 - x1)) / np.float32(y2 - y1)
                ints[k] = (np.floor(cut) if k % 2 == 0 else np.ceil(cut)) + x1
                k += 1
        sort_ints(ints, k)
        for t in range(0, k, 2):
            _flip_hline(xs, col, n, ints[t], ints[t + 1], y, c, ymin, flip)
    for i in range(N):
        p = N - 1 if i == 0 else i - 1
        if miny < vy[i] < maxy and vy[p] == vy[i]:
            _flip_hline(xs, col, n, vx[i], vx[p], vy[i], c, ymin, flip)


@njit(cache=True, inline='always')
def _flip_hline(xs, col, n, x1, x2, y, c, ymin, flip):
    if 0 <= y < H:
        hline(xs, col, n, x1, x2, H - 1 - y if flip else y, c, ymin)
