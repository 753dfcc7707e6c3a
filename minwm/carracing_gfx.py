"""SDL_gfx's aapolygon then filled_polygon (pygame.gfxdraw, as gymnasium draws its road) on
carracing_draw's run lists, with SDL_gfx's integer arithmetic; tests/test_carracing_render.py
checks it against pygame. The outline's pixels are collected as events, then each row changes
once: its events and its fill span in one splice.
Legend: H x W = 800 x 1000.
"""
import numpy as np
from numba import njit

from minwm.carracing_draw import H, W, blend, find, sort_ints, splice


def new_scratch():
    """gfx_polygon's scratch: sc (15, E) int64 and ints (16,) int64 (one row's cuts). Rows of sc:
    0-2 per surface row: the fill's first span and its number of cuts (0 between polygons); 3 per
    surface row: its number of events, then where they end; 4-7 the outline's events (row, first
    and last column, alpha), E at most: 4 lines of up to 2 W + 1 pixels; 8 the events by row;
    9-14 one row's alpha pixels, opaque intervals and new runs."""
    return np.zeros((15, 4 * (2 * W + 2)), np.int64), np.zeros(16, np.int64)


@njit(cache=True)
def gfx_polygon(xs, col, n, vx, vy, c, ymin, sc, ints):
    """pygame.gfxdraw.aapolygon then filled_polygon, as gymnasium draws every road polygon.

    vx, vy: (4,) int vertices, already truncated as gfxdraw does. The fill is SDL_gfx's
    filledPolygonColorMT: per row y, edges with y1 <= y < y2 (or ending at maxy) cut at
    (65536 (y - y1) / (y2 - y1)) (x2 - x1) + 65536 x1, sorted, filled pairwise from the rounded
    (a + 1) to the rounded (b - 1) (hlineColor: in either order). The outline's pixels are
    collected as events first, then each row is changed once (_overlay) with its events and its
    span: exact, as an opaque pixel (fill, end point, axis-parallel line) leaves c whatever lay
    under it (c blended over c is c), and alpha pixels are blended in drawing order.
    sc, ints: new_scratch()."""
    miny, maxy = vy.min(), vy.max()
    y0, y1 = max(miny, ymin), min(maxy, H - 1)
    for y in range(y0, y1 + 1):  # the fill first: the outline drops the pixels it covers
        sc[0, y], sc[1, y], sc[2, y] = _fill_row(vx, vy, y, maxy, ints)
    ev = 0
    for i in range(4):
        ev = aaline(vx[i], vy[i], vx[(i + 1) % 4], vy[(i + 1) % 4], ymin, sc, ev)
    ya, yb = min(y0, H), max(y1, -1)  # the rows touched: events by row (counting sort, stable)
    for t in range(ev):
        sc[3, sc[4, t]] += 1
        ya, yb = min(ya, sc[4, t]), max(yb, sc[4, t])
    start = 0
    for y in range(ya, yb + 1):
        start, sc[3, y] = start + sc[3, y], start
    for t in range(ev):
        sc[8, sc[3, sc[4, t]]] = t
        sc[3, sc[4, t]] += 1
    e0 = 0
    for y in range(ya, yb + 1):  # sc[3, y]: the end of row y's events
        e1, k, m = sc[3, y], sc[2, y] if y0 <= y <= y1 else 0, 0
        if k == 2:
            m = _span(sc, m, sc[0, y], sc[1, y])
        elif k > 2:  # a non-convex row: all its pairs
            _fill_row(vx, vy, y, maxy, ints)
            for t in range(0, k, 2):
                m = _span(sc, m, _round(ints[t] + 1), _round(ints[t + 1] - 1))
        if e1 == e0 and m == 1 and sc[11, 0] == 0 and sc[12, 0] == W - 1:
            n[y], xs[y, 0], col[y, 0] = 1, 0, c  # the whole row (the background): one run
        elif e1 > e0 or m:
            _overlay(xs, col, n, y, c, sc, e0, e1, m)
        sc[2, y], sc[3, y], e0 = 0, 0, e1


@njit(cache=True, inline='always')
def _span(sc, m, a, b):
    """The fill's span a..b (hlineColor: in either order) as opaque interval m of _overlay,
    clipped to the surface. -> the number of intervals."""
    a, b = max(min(a, b), 0), min(max(a, b), W - 1)
    if a > b:
        return m
    sc[11, m], sc[12, m] = a, b
    return m + 1


@njit(cache=True, inline='always')
def _round(a):
    """A 16.16 fixed-point cut rounded to a column, as filledPolygonColorMT does."""
    return (a >> 16) + ((a & 32768) >> 15)


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
    sort_ints(ints, k)
    if k < 2:
        return 1, 0, k
    return _round(ints[0] + 1), _round(ints[1] - 1), k


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
def aaline(x1, y1, x2, y2, ymin, sc, ev):
    """SDL_gfx _aalineColor with draw_endpoint = 0 (as aapolygonColor calls it): Wu's line with a
    32-bit error accumulator, 8-bit weights, pixel alpha (255 * weight) >> 8. Its pixels become
    events after the ev already in sc (see gfx_polygon) -> the new number of events."""
    draw, x1, y1, x2, y2 = clip_line(x1, y1, x2, y2)
    if not draw:
        return ev
    xx0, yy0, xx1, yy1 = x1, y1, x2, y2
    if yy0 > yy1:
        xx0, yy0, xx1, yy1 = xx1, yy1, xx0, yy0
    dx, dy = xx1 - xx0, yy1 - yy0
    if dx == 0:
        for y in range(yy0, yy0 + dy + 1):  # vlineColor, or one pixel
            ev = _event(sc, ev, y, x1, x1, 255, ymin)
        return ev
    if dy == 0:
        return _event(sc, ev, y1, min(xx0, xx0 + dx), max(xx0, xx0 + dx), 255, ymin)  # hlineColor
    xdir = 1
    if dx < 0:
        xdir, dx = -1, -dx
    erracc = 0
    ev = _event(sc, ev, y1, x1, x1, 255, ymin)  # the first point after clipping, not xx0, yy0
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
            ev = _event(sc, ev, yy0, xx0, xx0, (255 * (255 - wgt)) >> 8, ymin)
            ev = _event(sc, ev, yy0, x0pxdir, x0pxdir, (255 * wgt) >> 8, ymin)
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
            ev = _event(sc, ev, yy0, xx0, xx0, (255 * (255 - wgt)) >> 8, ymin)
            ev = _event(sc, ev, y0p1, xx0, xx0, (255 * wgt) >> 8, ymin)
    return ev


@njit(cache=True, inline='always')
def _event(sc, ev, y, xa, xb, alpha, ymin):
    """Event ev: colour columns xa..xb of row y with alpha (255: opaque), clipped to the surface;
    dropped off it, above row ymin, or under the coming fill's first span (it covers them)."""
    if y < ymin or y >= H or xb < 0 or xa >= W:
        return ev
    if sc[2, y] >= 2 and min(sc[0, y], sc[1, y]) <= xa and xb <= max(sc[0, y], sc[1, y]):
        return ev
    sc[4, ev], sc[5, ev], sc[6, ev], sc[7, ev] = y, max(xa, 0), min(xb, W - 1), alpha
    return ev + 1


@njit(cache=True, inline='always')  # inlined: a call per row costs ~10% of the road
def _overlay(xs, col, n, y, c, sc, e0, e1, m):
    """Row y's events sc[8, e0:e1] (in drawing order), then the fill's m spans in sc[11:13, :m]:
    opaque events and spans leave c; a pixel with only alpha events blends them in order over what
    lies under it. The row's runs change once, between the first and the last column touched:
    opaque intervals in sc[11:13] and alpha pixels in sc[9:11], sorted (stably) by column, the
    new runs built in sc[13:15]."""
    a = 0
    for t in range(e0, e1):
        q = sc[8, t]
        if sc[7, q] == 255:
            sc[11, m], sc[12, m] = sc[5, q], sc[6, q]
            m += 1
        else:
            sc[9, a], sc[10, a] = sc[5, q], sc[7, q]
            a += 1
    _sort2(sc[11], sc[12], m)
    _sort2(sc[9], sc[10], a)
    X, C, k = xs[y], col[y], n[y]
    lo = min(sc[11, 0] if m else W, sc[9, 0] if a else W)
    i = r = find(X, k, lo)
    s, cur, u, v, v0 = 0, lo, 0, 0, 0  # cur: the first column not yet decided
    while u < m or v < a:
        opaque = u < m and (v == a or sc[11, u] <= sc[9, v])
        if opaque:                     # an opaque interval
            x0, x1 = sc[11, u], sc[12, u]
            u += 1
        else:                          # an alpha pixel, with its repeats sc[9:11, v0:v]
            x0 = x1 = sc[9, v]
            v0 = v
            while v < a and sc[9, v] == x0:
                v += 1
        if x1 < cur:
            continue                   # under an opaque interval already placed
        x0 = max(x0, cur)
        while cur < x0:                # the runs under the gap cur .. x0 - 1
            while r + 1 < k and X[r + 1] <= cur:
                r += 1
            s = _append(sc, s, cur, C[r])
            cur = min(X[r + 1] if r + 1 < k else W, x0)
        while r + 1 < k and X[r + 1] <= x0:
            r += 1
        colour = c
        if not opaque:
            colour = C[r]
            for t in range(v0, v):
                colour = blend(colour, c, sc[10, t])
        s = _append(sc, s, x0, colour)
        cur = x1 + 1
    splice(X, C, n, y, i, find(X, k, cur - 1), lo, cur - 1, sc[13], sc[14], s)


@njit(cache=True, inline='always')
def _append(sc, s, x, c):
    """Run (x, c) after the s in sc[13:15], unless it continues the last one. -> count."""
    if s > 0 and sc[14, s - 1] == c:
        return s
    sc[13, s], sc[14, s] = x, c
    return s + 1


@njit(cache=True, inline='always')
def _sort2(key, val, k):
    """Stable insertion sort of key[:k], val[:k] by key."""
    for i in range(1, k):
        kv, vv, j = key[i], val[i], i - 1
        while j >= 0 and key[j] > kv:
            key[j + 1], val[j + 1] = key[j], val[j]
            j -= 1
        key[j + 1], val[j + 1] = kv, vv
