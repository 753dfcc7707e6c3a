"""CarRacing's 96x96 state frame without pygame: the polygons the stock code draws (its float64
and Box2D float32 geometry), drawn on carracing_draw's run lists (the road with carracing_gfx),
then pygame-ce 2.5.8's smoothscale (its SSE2 filters, the backend on x86-64) computed from runs.
tests/test_carracing_render.py checks it against pygame. Legend: H x W = 800 x 1000 surface,
S = 96 output, P polygons.
"""
import functools
import math

import numpy as np
from gymnasium.envs.box2d.car_dynamics import SIZE, WHEEL_R, WHEEL_W, WHEEL_WHITE
from gymnasium.envs.box2d.car_racing import MAX_SHAPE_DIM
from numba import njit

from minwm.carracing_draw import H, W, fill_polygon, new_runs, paint
from minwm.carracing_gfx import gfx_polygon, new_scratch

S = 96  # gymnasium's STATE_W == STATE_H


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
        self.spans, self.ints = new_scratch()
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


@functools.cache
def shared_frame():
    """One Frame for the envs of a process: its ~10 MB are scratch within one render (K envs, 1 copy)."""
    return Frame()


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


@njit(cache=True)
def road_polygons(view, vertices, centres, radii, colours, rx, ry, rc):
    """_render_road's polygons (background, grass, tiles; P in all), those that touch the screen.

    view: cos, sin, zoom, translation x, y; vertices (P, 4, 2) and colours (P, 3) float64. A
    vertex maps to screen = R(world) zoom + trans, with the stock float64 operations; gfxdraw
    truncates to int and passes Sint16. Culled: polygons far from the screen (a circle round the
    screen, 1 world unit to spare, against each polygon's circle: centres (P, 2), radii (P,)),
    those the stock test drops (no vertex inside the screen enlarged by MAX_SHAPE_DIM; never the
    background), and those wholly beyond one screen edge (the kernels clip exactly).
    -> k; rx, ry (k, 4) int64 vertices and rc (k,) colours 0xRRGGBB of the drawn ones, in order."""
    cos, sin, zoom, tx, ty = view
    m, e = MAX_SHAPE_DIM, 4.0
    dx, dy = (W / 2 - tx) / zoom, (H / 2 - ty) / zoom
    wx, wy = cos * dx + sin * dy, cos * dy - sin * dx  # the world point under the screen's centre
    screen = math.hypot(W / 2 + 4, H / 2 + 4) / zoom
    x, y, k = np.empty(4), np.empty(4), 0
    for p in range(len(vertices)):
        if (centres[p, 0] - wx) ** 2 + (centres[p, 1] - wy) ** 2 > (screen + radii[p] + 1.0) ** 2:
            continue
        kept = p == 0
        for i in range(4):
            px, py = vertices[p, i, 0], vertices[p, i, 1]
            x[i], y[i] = (cos * px - sin * py) * zoom + tx, (sin * px + cos * py) * zoom + ty
            kept |= -m <= x[i] <= W + m and -m <= y[i] <= H + m
        if kept and x.max() >= -e and x.min() <= W + e and y.max() >= -e and y.min() <= H + e:
            for i in range(4):  # int() truncates, then a Sint16
                rx[k, i] = ((int(x[i]) + 32768) & 0xFFFF) - 32768
                ry[k, i] = ((int(y[i]) + 32768) & 0xFFFF) - 32768
            rc[k] = (int(colours[p, 0]) << 16) | (int(colours[p, 1]) << 8) | int(colours[p, 2])
            k += 1
    return k


@njit(cache=True)
def car_polygons(view, frames, phases, local, sizes, body, colours, cx, cy, ck, cc):
    """Car.draw's polygons (no particles in state_pixels): each fixture of the wheels and the
    hull, and after a wheel's fixture its white stripe where it shows.

    frames (B, 4) float32: each body's Box2D transform (c, s, px, py); phases (B,) (nan: not a
    wheel); local (F, 8, 2) float32 fixture vertices (sizes (F,) of them used) of body (F,), with
    colours (F,). Box2D's `transform * v` is float32 arithmetic, (c vx - s vy) + px; the stripe's
    float64 vertices become float32 on the way in. -> Q; cx, cy (Q, 8) int64, ck, cc (Q,)."""
    stripe, q = np.empty((4, 2), np.float32), 0
    for f in range(len(body)):
        b = body[f]
        ck[q], cc[q] = sizes[f], colours[f]
        _car_vertices(view, frames[b], local[f], sizes[f], cx[q], cy[q])
        q += 1
        if np.isnan(phases[b]):
            continue
        a1, a2 = phases[b], phases[b] + 1.2
        s1, s2, c1, c2 = math.sin(a1), math.sin(a2), math.cos(a1), math.cos(a2)
        if s1 > 0 and s2 > 0:
            continue
        c1 = np.sign(c1) if s1 > 0 else c1
        c2 = np.sign(c2) if s2 > 0 else c2
        for i, (side, c) in enumerate(((-1, c1), (1, c1), (1, c2), (-1, c2))):
            stripe[i, 0], stripe[i, 1] = side * (WHEEL_W * SIZE), WHEEL_R * c * SIZE
        ck[q], cc[q] = 4, (WHEEL_WHITE[0] << 16) | (WHEEL_WHITE[1] << 8) | WHEEL_WHITE[2]
        _car_vertices(view, frames[b], stripe, 4, cx[q], cy[q])
        q += 1
    return q


@njit(cache=True, inline='always')
def _car_vertices(view, frame, v, size, vx, vy):
    """Body frame (float32) -> world (float32, Box2D) -> screen (float64, pygame), truncated."""
    cos, sin, zoom, tx, ty = view
    c, s, px, py = frame
    for i in range(size):
        wx, wy = np.float64((c * v[i, 0] - s * v[i, 1]) + px), np.float64((s * v[i, 0] + c * v[i, 1]) + py)
        vx[i], vy[i] = int((cos * wx - sin * wy) * zoom + tx), int((sin * wx + cos * wy) * zoom + ty)


@njit(cache=True)
def indicator_polygons(values, bx, by, bc):
    """_render_indicators' polygons (after the flip): the black box, then each bar whose value is
    above 1e-4, with the stock float64 vertices truncated to int. values: hull velocity x, y,
    angular velocity, 4 wheel omegas, steering joint angle. -> B; bx, by (B, 4), bc (B,)."""
    s, h = W / 40.0, H / 40.0
    vx, vy, spin, w0, w1, w2, w3, joint = values
    speed = np.sqrt(np.square(vx) + np.square(vy))
    bx[0, 0], bx[0, 1], bx[0, 2], bx[0, 3] = W, W, 0, 0  # the black box
    by[0, 0], by[0, 1], by[0, 2], by[0, 3] = H, int(H - 5 * h), int(H - 5 * h), H
    bc[0], b = 0x000000, 1
    for value, place, val, colour in ((speed, 5, 0.02 * speed, 0xFFFFFF), (w0, 7, 0.01 * w0, 0x0000FF),
                                      (w1, 8, 0.01 * w1, 0x0000FF), (w2, 9, 0.01 * w2, 0x3300FF),
                                      (w3, 10, 0.01 * w3, 0x3300FF)):
        if abs(value) > 1e-4:  # vertical_ind
            b = _bar(bx, by, bc, b, place * s, (place + 1) * s, H - (h + h * val), H - h, colour)
    for value, place, val, colour in ((joint, 20, -10.0 * joint, 0x00FF00), (spin, 30, -0.8 * spin, 0xFF0000)):
        if abs(value) > 1e-4:  # horiz_ind
            b = _bar(bx, by, bc, b, (place + 0) * s, (place + val) * s, H - 4 * h, H - 2 * h, colour)
    return b


@njit(cache=True, inline='always')
def _bar(bx, by, bc, b, x0, x1, y0, y1, colour):
    """Bar b: (x0, y0), (x1, y0), (x1, y1), (x0, y1), truncated to int. -> b + 1."""
    bx[b, 0], bx[b, 1], bx[b, 2], bx[b, 3] = int(x0), int(x1), int(x1), int(x0)
    by[b, 0], by[b, 1], by[b, 2], by[b, 3] = int(y0), int(y0), int(y1), int(y1)
    bc[b] = colour
    return b + 1
