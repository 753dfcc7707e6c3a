"""The 1000x800 drawing surface of CarRacing as run lists, and pygame-ce 2.5.8's primitives on it.

Each row is a list of runs: run i of row y starts at column xs[y, i] and has colour col[y, i]
(0xRRGGBB, the surface's XRGB8888 layout); adjacent runs differ in colour. Filling a span, or
blending one pixel of an antialiased edge, splices runs, so drawing costs per row and per edge
pixel, never per filled pixel. Each kernel reproduces one C function of pygame-ce with its integer
(or float32) arithmetic; tests/test_carracing_render.py checks each against pygame.
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
def _find(xs, k, x):
    """Index of the run holding column x: the last i < k with xs[i] <= x (xs[0] == 0)."""
    lo, hi = 0, k - 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True, inline='always')
def paint(xs, col, n, y, xa, xb, c):
    """Set columns xa..xb (0 <= xa <= xb < W) of row y to colour c, merging equal neighbours."""
    _splice(xs[y], col[y], n, y, _find(xs[y], n[y], xa), _find(xs[y], n[y], xb), xa, xb, c)


@njit(cache=True, inline='always')
def _splice(X, C, n, y, i, j, xa, xb, c):
    """paint, given the runs i and j that hold columns xa and xb."""
    k = n[y]
    end_j = X[j + 1] - 1 if j + 1 < k else W - 1
    left = X[i] < xa                           # run i keeps its columns before xa
    new_c = (C[i] if left else (C[i - 1] if i > 0 else -1)) != c  # else c extends that run
    cj = C[j]
    right = xb < end_j and cj != c             # run j keeps its columns after xb, as a new run
    after = j + 1                              # first run kept after the new ones
    if xb == end_j and after < k and C[after] == c:
        after += 1                             # ... which c extends
    m = left + new_c + right
    shift = i + m - after
    if shift > 0:
        for t in range(k - 1, after - 1, -1):
            X[t + shift], C[t + shift] = X[t], C[t]
    elif shift < 0:
        for t in range(after, k):
            X[t + shift], C[t + shift] = X[t], C[t]
    if right:
        X[i + m - 1], C[i + m - 1] = xb + 1, cj
    if new_c:
        X[i + left], C[i + left] = xa, c
    n[y] = k + shift


@njit(cache=True, inline='always')
def put_pixel(xs, col, n, x, y, c, alpha, ymin):
    """SDL_gfx _putPixelAlpha on a 32-bit surface (DEFAULT_ALPHA_PIXEL_ROUTINE): alpha 255 stores c,
    otherwise each channel d becomes d + ((c - d) * alpha >> 8); its unsigned wrap-around equals
    this floor. Pixels off the surface (or above row ymin, hidden later) are dropped."""
    if x < 0 or x >= W or y < ymin or y >= H:
        return
    i = _find(xs[y], n[y], x)
    d = col[y, i]
    if alpha != 255:
        e = 0
        for shift in (16, 8, 0):
            dc, cc = (d >> shift) & 255, (c >> shift) & 255
            e |= (dc + (((cc - dc) * alpha) >> 8)) << shift
        c = e
    if c != d:
        _splice(xs[y], col[y], n, y, i, i, x, x, c)


@njit(cache=True, inline='always')
def hline(xs, col, n, x1, x2, y, c, ymin):
    """SDL_gfx hlineColor (opaque), pygame's drawhorzlineclipbounding: x1..x2 in either order."""
    if x1 > x2:
        x1, x2 = x2, x1
    if x2 < 0 or x1 >= W or y < ymin or y >= H:
        return
    paint(xs, col, n, y, max(x1, 0), min(x2, W - 1), c)


@njit(cache=True, inline='always')
def _clip_code(x, y):
    return (1 if x < 0 else (2 if x > W - 1 else 0)) | (8 if y < 0 else (4 if y > H - 1 else 0))


@njit(cache=True)
def clip_line(x1, y1, x2, y2):
    """SDL_gfx _clipLine (Cohen-Sutherland with a float32 slope, truncating casts) against the
    surface: -> (draw, x1, y1, x2, y2); the end points may come back swapped, as in C."""
    while True:
        c1, c2 = _clip_code(x1, y1), _clip_code(x2, y2)
        if (c1 | c2) == 0:
            return True, x1, y1, x2, y2
        if c1 & c2:
            return False, x1, y1, x2, y2
        if c1 == 0:
            x1, y1, x2, y2, c1 = x2, y2, x1, y1, c2
        m = np.float32(1.0)
        if x2 != x1:
            m = np.float32(y2 - y1) / np.float32(x2 - x1)
        if c1 & 1:
            y1, x1 = y1 + int(np.float32(0 - x1) * m), 0
        elif c1 & 2:
            y1, x1 = y1 + int(np.float32(W - 1 - x1) * m), W - 1
        elif c1 & 4:
            if x2 != x1:
                x1 += int(np.float32(H - 1 - y1) / m)
            y1 = H - 1
        else:
            if x2 != x1:
                x1 += int(np.float32(0 - y1) / m)
            y1 = 0


@njit(cache=True)
def aaline(xs, col, n, x1, y1, x2, y2, c, ymin, spans):
    """SDL_gfx _aalineColor with draw_endpoint = 0 (as aapolygonColor calls it): Wu's line with a
    32-bit error accumulator, 8-bit weights, pixel alpha (255 * weight) >> 8. A pixel inside
    its row's one span in spans (see gfx_polygon) is skipped: the fill, drawn next, covers it."""
    draw, x1, y1, x2, y2 = clip_line(x1, y1, x2, y2)
    if not draw:
        return
    xx0, yy0, xx1, yy1 = x1, y1, x2, y2
    if yy0 > yy1:
        xx0, yy0, xx1, yy1 = xx1, yy1, xx0, yy0
    dx, dy = xx1 - xx0, yy1 - yy0
    if dx == 0:
        if dy > 0:
            for y in range(yy0, yy0 + dy + 1):  # vlineColor
                hline(xs, col, n, x1, x1, y, c, ymin)
        else:
            put_pixel(xs, col, n, x1, y1, c, 255, ymin)
        return
    if dy == 0:
        hline(xs, col, n, xx0, xx0 + dx, y1, c, ymin)
        return
    xdir = 1
    if dx < 0:
        xdir, dx = -1, -dx
    erracc = 0
    put_pixel(xs, col, n, x1, y1, c, 255, ymin)  # the first point after clipping, not xx0, yy0
    if dy > dx:  # y-major
        erradj = ((dx << 16) // dy) << 16
        x0pxdir = xx0 + xdir
        for _ in range(dy - 1):
            erracc += erradj
            if erracc >= 1 << 32:  # the accumulator rolled over: x advances
                erracc -= 1 << 32
                xx0 = x0pxdir
                x0pxdir += xdir
            yy0 += 1
            wgt = erracc >> 24
            _aa_pixel(xs, col, n, xx0, yy0, c, 255 - wgt, ymin, spans)
            _aa_pixel(xs, col, n, x0pxdir, yy0, c, wgt, ymin, spans)
    else:  # x-major
        erradj = ((dy << 16) // dx) << 16
        y0p1 = yy0 + 1
        for _ in range(dx - 1):
            erracc += erradj
            if erracc >= 1 << 32:
                erracc -= 1 << 32
                yy0 = y0p1
                y0p1 += 1
            xx0 += xdir
            wgt = erracc >> 24
            _aa_pixel(xs, col, n, xx0, yy0, c, 255 - wgt, ymin, spans)
            _aa_pixel(xs, col, n, xx0, y0p1, c, wgt, ymin, spans)


@njit(cache=True, inline='always')
def _aa_pixel(xs, col, n, x, y, c, weight, ymin, spans):
    """SDL_gfx pixelColorWeightNolock, unless the coming fill covers the pixel."""
    if 0 <= y < H and spans[2, y] == 2 and spans[0, y] <= x <= spans[1, y]:
        return
    put_pixel(xs, col, n, x, y, c, (255 * weight) >> 8, ymin)


@njit(cache=True)
def gfx_polygon(xs, col, n, vx, vy, c, ymin, spans, ints):
    """pygame.gfxdraw.aapolygon then filled_polygon, as gymnasium draws every road polygon.

    vx, vy: (N,) int vertices, already truncated as gfxdraw does. The fill is SDL_gfx's
    filledPolygonColorMT: per row y, edges with y1 <= y < y2 (or ending at maxy) cut at
    (65536 (y - y1) / (y2 - y1)) (x2 - x1) + 65536 x1, sorted, filled pairwise from the rounded
    (a + 1) to the rounded (b - 1). It is computed first, so the outline can skip what it covers.
    spans (3, H) scratch: a row's first span and its number of cuts (0 on entry and exit);
    ints (N,) scratch."""
    N = len(vx)
    miny, maxy = vy.min(), vy.max()
    y0, y1 = max(miny, ymin), min(maxy, H - 1)
    for y in range(y0, y1 + 1):
        spans[0, y], spans[1, y], spans[2, y] = _fill_row(vx, vy, y, maxy, ints)
    for i in range(N):
        j = (i + 1) % N
        aaline(xs, col, n, vx[i], vy[i], vx[j], vy[j], c, ymin, spans)
    for y in range(y0, y1 + 1):
        k = spans[2, y]
        if k == 2:
            hline(xs, col, n, spans[0, y], spans[1, y], y, c, ymin)
        elif k > 2:  # a non-convex row: all its pairs
            _fill_row(vx, vy, y, maxy, ints)
            for t in range(0, k, 2):
                a, b = ints[t] + 1, ints[t + 1] - 1
                hline(xs, col, n, (a >> 16) + ((a & 32768) >> 15), (b >> 16) + ((b & 32768) >> 15),
                      y, c, ymin)
        spans[2, y] = 0


@njit(cache=True, inline='always')
def _fill_row(vx, vy, y, maxy, ints):
    """One row of filledPolygonColorMT: sorted cuts in ints[:k] -> (first span a, b, k)."""
    N, k = len(vx), 0
    for i in range(N):
        p = N - 1 if i == 0 else i - 1
        y1, y2, x1, x2 = vy[p], vy[i], vx[p], vx[i]
        if y1 > y2:
            y1, y2, x1, x2 = y2, y1, x2, x1
        elif y1 == y2:
            continue
        if (y1 <= y < y2) or (y == maxy and y1 < y <= y2):
            ints[k] = ((65536 * (y - y1)) // (y2 - y1)) * (x2 - x1) + 65536 * x1
            k += 1
    _sort(ints, k)
    if k < 2:
        return 1, 0, k
    a, b = ints[0] + 1, ints[1] - 1
    return (a >> 16) + ((a & 32768) >> 15), (b >> 16) + ((b & 32768) >> 15), k


@njit(cache=True, inline='always')
def _sort(a, k):
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
        _sort(ints, k)
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
