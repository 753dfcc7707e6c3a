"""CarRacing's 96x96 state frame without pygame: Numba kernels that redo pygame-ce 2.5.8's drawing.

The 1000x800 surface is never made. Each of its rows is a list of runs: run i of row y starts at
column xs[y, i] and has colour col[y, i] (0xRRGGBB, the surface's XRGB8888 layout); adjacent runs
differ in colour. Drawing edits runs in the stock order, and smoothscale's shrink works on runs, so a
frame costs per edge and per run, not per pixel. Every kernel reproduces one C function, with its
integer (or float32) arithmetic; tests/test_carracing_render.py checks each against pygame.
Legend: H x W = 800 x 1000 surface, R = W + 1 runs per row at most, P polygons, S = 96 output.
"""
import numpy as np
from numba import njit

W, H, S = 1000, 800, 96  # gymnasium's WINDOW_W, WINDOW_H, STATE_W == STATE_H


def new_runs():
    """Empty run lists: xs (H, R) int32, col (H, R) int64, n (H,) int32."""
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
    spans (3, H) scratch: a row's first span and its number of cuts, 0 on entry and exit;
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


def shrink_table(src, dst):
    """The cells of pygame-ce's SSE2 shrink filters (filter_shrink_X_SSE2 / _Y_SSE2) for src -> dst
    pixels: a 14-bit counter steps by xspace = 0x4000 src // dst per cell; the pixel where it runs
    out (edge[j]) is split, weight cnt[j] into cell j and 0x4000 - cnt[j] into cell j + 1.
    -> edge, cnt (dst,) int64 and the reciprocal 0x40000000 // xspace."""
    space, counter, edge, cnt = 0x4000 * src // dst, 0x4000 * src // dst, [], []
    for x in range(src):
        if counter > 0x4000:
            counter -= 0x4000
        else:
            edge.append(x)
            cnt.append(counter)
            counter = space - (0x4000 - counter)
    assert len(edge) == dst
    return np.array(edge), np.array(cnt), 0x40000000 // space


@njit(cache=True, inline='always')
def _cell(acc, p, cnt, recip):
    """One output value of the SSE2 filters: mulhi(4 p, cnt) + acc, times the reciprocal (mulhi),
    saturated to 255 (packus)."""
    return min((((((p << 2) * cnt) >> 16) + acc) & 0xFFFF) * recip >> 16, 255)


@njit(cache=True)
def _uniform_row(c, edge, cnt, recip, row):
    """row (S,) = shrink_x of a row all of colour c."""
    for j in range(S):
        inner = edge[j] - edge[j - 1] - 1 if j > 0 else edge[0]  # whole pixels before the split
        v = 0
        for sh in (16, 8, 0):
            p = (c >> sh) & 255
            rest = ((p << 2) * (0x4000 - cnt[j - 1])) >> 16 if j > 0 else 0
            v |= _cell(rest + p * inner, p, cnt[j], recip) << sh
        row[j] = v


@njit(cache=True)
def shrink_x(xs, col, n, edge, cnt, recip, out, flip, rows, keys):
    """filter_shrink_X_SSE2 on every row, from its runs: cell j (pixels edge[j - 1] .. edge[j])
    sums whole pixels (a run adds its colour times its overlap) plus the two split pixels'
    16-bit-truncated shares. Cells inside one run are copied from that colour's whole-row result,
    cached in rows (K, S) under keys (K,) (-1: free), kept from frame to frame; a row with the
    same runs as the one before copies its result.
    out: (H, S) uint32 0xRRGGBB; row y goes to out[H - 1 - y] if flip (pygame.transform.flip)."""
    for y in range(H):
        yo = H - 1 - y if flip else y
        X, C, k = xs[y], col[y], n[y]
        if y > 0 and k == n[y - 1] and _same(X, C, xs[y - 1], col[y - 1], k):
            for j in range(S):
                out[yo, j] = out[yo + 1 if flip else yo - 1, j]
            continue
        r, j = 0, 0
        while j < S:
            first = edge[j - 1] if j > 0 else 0  # the first pixel cell j reads
            while r + 1 < k and X[r + 1] <= first:
                r += 1
            end = X[r + 1] if r + 1 < k else W   # run r is first .. end - 1
            if end > edge[j]:                    # cells j .. inside run r: copy
                slot = _row_of(C[r], edge, cnt, recip, rows, keys)
                while j < S and edge[j] < end:
                    out[yo, j] = rows[slot, j]
                    j += 1
                continue
            t, x, s0, s1, s2 = r, (first + 1 if j > 0 else 0), 0, 0, 0
            while True:  # the whole pixels x .. edge[j] - 1, run by run
                stop = X[t + 1] if t + 1 < k else W
                w = min(stop, edge[j]) - x
                if w > 0:
                    s0, s1, s2 = s0 + (C[t] >> 16) * w, s1 + ((C[t] >> 8) & 255) * w, s2 + (C[t] & 255) * w
                if stop > edge[j]:
                    break
                x, t = stop, t + 1
            q, e, v = C[r] if j > 0 else 0, C[t], 0  # the split pixels edge[j - 1] and edge[j]
            for sh, inner in ((16, s0), (8, s1), (0, s2)):
                rest = ((((q >> sh) & 255) << 2) * (0x4000 - cnt[j - 1])) >> 16 if j > 0 else 0
                v |= _cell(rest + inner, (e >> sh) & 255, cnt[j], recip) << sh
            out[yo, j] = v
            j += 1


@njit(cache=True, inline='always')
def _same(X, C, X2, C2, k):
    for i in range(k):
        if X[i] != X2[i] or C[i] != C2[i]:
            return False
    return True


@njit(cache=True, inline='always')
def _row_of(c, edge, cnt, recip, rows, keys):
    """The slot of colour c's whole-row result in rows, computed on first use."""
    for slot in range(len(keys)):
        if keys[slot] == c:
            return slot
        if keys[slot] == -1:
            break
    else:
        keys[:] = -1  # full: start over
        slot = 0
    keys[slot] = c
    _uniform_row(c, edge, cnt, recip, rows[slot])
    return slot


@njit(cache=True)
def shrink_y(tmp, edge, cnt, recip, obs):
    """filter_shrink_Y_SSE2: the same cells down the columns, a whole row at a time; the three
    channels are summed in 16-bit lanes of one int64. tmp (H, S) uint32 -> obs (S, S, 3) uint8."""
    acc = np.zeros(S, np.int64)
    start = 0
    for i in range(S):
        for y in range(start, edge[i]):
            for j in range(S):
                v = np.int64(tmp[y, j])
                acc[j] += ((v & 0xFF0000) << 16) | ((v & 0xFF00) << 8) | (v & 0xFF)
        for j in range(S):
            v = np.int64(tmp[edge[i], j])
            for ch, sh in ((0, 16), (1, 8), (2, 0)):
                p = (v >> sh) & 255
                obs[i, j, ch] = _cell((acc[j] >> (2 * sh)) & 0xFFFF, p, cnt[i], recip)
            acc[j] = 0
            for sh in (16, 8, 0):
                acc[j] |= (((((v >> sh) & 255) << 2) * (0x4000 - cnt[i])) >> 16) << (2 * sh)
        start = edge[i] + 1


class Frame:
    """The buffers and shrink tables of one env's frames (allocated once)."""

    def __init__(self):
        self.xs, self.col, self.n = new_runs()
        self.spans = np.zeros((3, H), np.int64)
        self.ints = np.zeros(16, np.int64)
        self.x_table, self.y_table = shrink_table(W, S), shrink_table(H, S)
        self.tmp = np.zeros((H, S), np.uint32)
        self.rows, self.keys = np.zeros((64, S), np.uint32), np.full(64, -1, np.int64)

    def render(self, road, car, bars, text, ymin):
        """The state frame: road then car on the surface, bars and text after the flip.

        road: (vx, vy (P, 4) int64, colours (P,) int64), drawn with gfxdraw (outline, then fill);
        car: (vx, vy (Q, 8), sizes (Q,), colours (Q,)) and bars: (vx, vy (B, 4), colours (B,)) with
        draw.polygon, bars in flipped rows; text: (T, 4) int64 runs (row, x0, x1, colour) in
        flipped rows; rows < ymin of the surface are hidden by the bar's black box and not drawn.
        -> (S, S, 3) uint8, what smoothscale to 96x96 and surfarray give."""
        obs = np.empty((S, S, 3), np.uint8)
        _render(self.xs, self.col, self.n, *road, *car, *bars, text, ymin, self.spans,
                self.ints, *self.x_table, self.tmp, self.rows, self.keys)
        shrink_y(self.tmp, *self.y_table, obs)
        return obs


@njit(cache=True)
def _render(xs, col, n, rx, ry, rc, cx, cy, ck, cc, bx, by, bc, text, ymin, spans, ints, edge,
            cnt, recip, tmp, rows, keys):
    n[:] = 1
    xs[:, 0] = 0
    col[:, 0] = 0  # a new surface is black
    for p in range(len(rc)):
        gfx_polygon(xs, col, n, rx[p], ry[p], rc[p], ymin, spans, ints)
    for q in range(len(cc)):
        fill_polygon(xs, col, n, cx[q, :ck[q]], cy[q, :ck[q]], cc[q], ymin, False, ints)
    for b in range(len(bc)):
        fill_polygon(xs, col, n, bx[b], by[b], bc[b], 0, True, ints)
    for t in range(len(text)):  # blit: the text surface is opaque
        paint(xs, col, n, H - 1 - text[t, 0], text[t, 1], text[t, 2], text[t, 3])
    shrink_x(xs, col, n, edge, cnt, recip, tmp, True, rows, keys)
