"""gymnasium's CarRacing with byte-identical observations, faster (the env of minwm/carracing.py).

`FastCarRacing` keeps the physics and draws the same state frame as the stock `_render`:
- on the pygame-ce and smoothscale backend it was verified on (`pygame_verified`), without pygame:
  it reads the car's Box2D state once per frame, and carracing_render's Numba kernels list the
  polygons, vertices and colours the stock code would hand to pygame, rasterise them and shrink
  to 96x96 exactly as pygame-ce does;
- otherwise with pygame, two hot spots rewritten: `_render_road` rotates and translates all ~800
  road and grass polygons at once with NumPy, culls the off-screen ones with the stock test, and
  draws the visible ones with the same gfxdraw calls, in the same order; `_render` keeps one font,
  the last score text and one drawing surface.
Both transform vertices with bit-identical floats: pygame rotates (x, y) by (cos x - sin y,
sin x + cos y), and rotating the unit vector (1, 0) with pygame itself gives the exact (cos, sin)
it uses, including its special cases at multiples of 90 degrees.
"""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on import

import numpy as np
import pygame
from gymnasium.envs.box2d import car_racing as gym_car_racing
from pygame import gfxdraw

from minwm import carracing_render

VERIFIED_GYMNASIUM = "1.4.0"  # FastCarRacing was checked byte-identical against this version
VERIFIED_PYGAME = ("2.5.8", "SSE2")  # pygame-ce and smoothscale backend the Numba frames match


def pygame_verified():
    """True on the pygame-ce version and smoothscale backend carracing_render was checked on."""
    return (pygame.version.ver, pygame.transform.get_smoothscale_backend()) == VERIFIED_PYGAME


def _grass_polygons():
    """The stock grass patches, built with the stock arithmetic: (400, 4, 2) float64."""
    d = gym_car_racing.GRASS_DIM
    grass = []
    for x in range(-20, 20, 2):
        for y in range(-20, 20, 2):
            grass.append([(d * x + d, d * y + 0), (d * x + 0, d * y + 0),
                          (d * x + 0, d * y + d), (d * x + d, d * y + d)])
    return np.array(grass, dtype=np.float64)


class FastCarRacing(gym_car_racing.CarRacing):
    """gymnasium's CarRacing with the same pixels, faster. With `numba` (the default on the verified
    pygame-ce) the state frame is drawn by minwm.carracing_render; otherwise by pygame, with
    vectorised road geometry and a cached font."""

    GRASS = _grass_polygons()  # (400, 4, 2)

    def __init__(self, numba=None, **kwargs):
        super().__init__(**kwargs)
        self.numba = pygame_verified() if numba is None else numba
        self._polys_of = None   # the road_poly list self._vertices was built from
        self._vertices = None   # (P, 4, 2) float64: background, grass patches, road_poly; stock order
        self._colours = None    # (P, 3) float64: their colours; tiles' own colours are views into it
        self._font = None
        self._text = (None, None)  # (string, rendered surface)
        self._texts = {}           # string -> (T, 4) int64 runs of the rendered text
        self._canvas = None        # one WINDOW_W x WINDOW_H surface, cleared every frame
        self._frame = carracing_render.shared_frame() if self.numba else None
        self._car_of = self._car_shapes = None  # the car whose fixtures _car_shapes holds
        self._car = np.zeros((16, 8), np.int64), np.zeros((16, 8), np.int64), np.zeros(16, np.int64), \
            np.zeros(16, np.int64)  # the car's polygons: vx, vy (Q, 8), sizes, colours (Q,)
        self._bars = np.zeros((8, 4), np.int64), np.zeros((8, 4), np.int64), np.zeros(8, np.int64)

    def _render(self, mode):
        """The stock `_render` for "state_pixels", drawn by Numba, or with the font, the score text
        and the drawing surface kept between frames (`_render_road` clears the surface)."""
        if mode != "state_pixels":
            return super()._render(mode)
        W, H = gym_car_racing.WINDOW_W, gym_car_racing.WINDOW_H
        if self._font is None:
            pygame.font.init()
            self._font = pygame.font.Font(pygame.font.get_default_font(), 42)
        if "t" not in self.__dict__:
            return  # reset() not called yet
        angle = -self.car.hull.angle
        zoom = (0.1 * gym_car_racing.SCALE * max(1 - self.t, 0)
                + gym_car_racing.ZOOM * gym_car_racing.SCALE * min(self.t, 1))  # zoom-in, 1st second
        scroll_x = -(self.car.hull.position[0]) * zoom
        scroll_y = -(self.car.hull.position[1]) * zoom
        trans = pygame.math.Vector2((scroll_x, scroll_y)).rotate_rad(angle)
        trans = (W / 2 + trans[0], H / 4 + trans[1])
        if self.numba:
            return self._render_numba(zoom, trans, angle)
        if self._canvas is None:
            self._canvas = pygame.Surface((W, H))
        self.surf = self._canvas
        self._render_road(zoom, trans, angle)
        self.car.draw(self.surf, zoom, trans, angle, False)  # no particles in state_pixels
        self.surf = pygame.transform.flip(self.surf, False, True)
        self._render_indicators(W, H)

        string = f"{self.reward:04.0f}"
        if self._text[0] != string:
            self._text = (string, self._font.render(string, True, (255, 255, 255), (0, 0, 0)))
        text = self._text[1]
        text_rect = text.get_rect()
        text_rect.center = (60, H - H * 2.5 / 40.0)
        self.surf.blit(text, text_rect)
        return self._create_image_array(self.surf, (gym_car_racing.STATE_W, gym_car_racing.STATE_H))

    def _render_numba(self, zoom, trans, angle):
        """The same frame from carracing_render: the polygons the stock code would draw, with the
        vertices and colours it would pass to pygame, computed by carracing_render's kernels into
        buffers kept between frames. The rows under the indicator bar's black box (the bottom
        5 / 40 of the screen after the flip, the top 100 rows before) are not drawn: the box covers
        them whole."""
        W, H = gym_car_racing.WINDOW_W, gym_car_racing.WINDOW_H
        self._update_track()
        cos, sin = pygame.math.Vector2(1.0, 0.0).rotate_rad(angle)  # pygame's own cos and sin
        view = np.array([cos, sin, zoom, trans[0], trans[1]])
        rx, ry, rc = self._road
        k = carracing_render.road_polygons(view, self._vertices, self._centres, self._radii, self._colours, rx, ry, rc)
        frames, phases, indicators = self._car_state()
        local, sizes, body, colours = self._car_shapes
        cx, cy, ck, cc = self._car
        q = carracing_render.car_polygons(view, frames, phases, local, sizes, body, colours, cx, cy, ck, cc)
        bx, by, bc = self._bars
        b = carracing_render.indicator_polygons(indicators, bx, by, bc)
        text = self._text_runs(f"{self.reward:04.0f}", W, H)
        return self._frame.render((rx[:k], ry[:k], rc[:k]), (cx[:q], cy[:q], ck[:q], cc[:q]),
                                  (bx[:b], by[:b], bc[:b]), text, ymin=H - int(H - 5 * H / 40.0))

    def _car_state(self):
        """What Car.draw and _render_indicators read from Box2D this frame: each body's transform
        (c, s, px, py) float32 (B, 4) in drawlist order, wheel phases (B,) (nan for the hull), and
        the indicators' values (hull velocity x, y, angular velocity, 4 wheel omegas, steering
        joint angle). The bodies' fixtures are read once per car."""
        car = self.car
        if self._car_of is not car:
            shapes = [(b, f.shape.vertices, [int(c * 255) for c in obj.color])
                      for b, obj in enumerate(car.drawlist) for f in obj.fixtures]
            local = np.zeros((len(shapes), 8, 2), np.float32)  # (F, 8, 2) body frame, padded
            for i, (b, path, colour) in enumerate(shapes):
                local[i, :len(path)] = path
            self._car_shapes = (local, np.array([len(p) for b, p, c in shapes]),
                                np.array([b for b, p, c in shapes]),
                                np.array([(r << 16) | (g << 8) | b for _, _, (r, g, b) in shapes]))
            self._frames = np.zeros((len(car.drawlist), 4), np.float32)
            self._phases = np.full(len(car.drawlist), np.nan)
            self._car_of = car
        for i, obj in enumerate(car.drawlist):
            t = obj.transform
            q, p = t.q, t.position
            self._frames[i] = q.c, q.s, p[0], p[1]
            if "phase" in obj.__dict__:
                self._phases[i] = obj.phase
        w, hull, v = car.wheels, car.hull, car.hull.linearVelocity
        indicators = np.array([v[0], v[1], hull.angularVelocity,
                               w[0].omega, w[1].omega, w[2].omega, w[3].omega, w[0].joint.angle])
        return self._frames, self._phases, indicators

    def _update_track(self):
        """After a new track: its polygons and colours as arrays. A tile's colour changes in place
        when the car first touches it, so each tile's colour becomes a view into self._colours."""
        if self._polys_of is self.road_poly:
            return
        field = np.array([[(1, 1), (1, -1), (-1, -1), (-1, 1)]]) * gym_car_racing.PLAYFIELD
        road = np.array([poly for poly, colour in self.road_poly], dtype=np.float64)
        self._vertices = np.concatenate([field, self.GRASS, road.reshape(-1, 4, 2)])  # (P, 4, 2)
        self._centres = self._vertices.mean(axis=1)                                 # (P, 2)
        self._radii = np.sqrt(np.square(self._vertices - self._centres[:, None]).sum(-1)).max(1)
        colours = [self.bg_color] + [self.grass_color] * len(self.GRASS)
        self._colours = np.array(colours + [c for poly, c in self.road_poly], np.float64)
        P = len(self._vertices)
        self._road = np.zeros((P, 4), np.int64), np.zeros((P, 4), np.int64), np.zeros(P, np.int64)
        tiles = {id(t.color): t for t in self.road}
        for i, (poly, colour) in enumerate(self.road_poly):
            if id(colour) in tiles:
                tiles[id(colour)].color = self._colours[len(colours) + i]
        self.road_poly = [(poly, self._colours[len(colours) + i])
                          for i, (poly, colour) in enumerate(self.road_poly)]
        self._polys_of = self.road_poly

    def _text_runs(self, string, W, H):
        """The score as the stock code blits it, as (T, 4) runs (row, x0, x1, colour), cached."""
        if string not in self._texts:
            text = self._font.render(string, True, (255, 255, 255), (0, 0, 0))
            rect = text.get_rect()
            rect.center = (60, H - H * 2.5 / 40.0)
            canvas = pygame.Surface(text.get_size())
            canvas.blit(text, (0, 0))  # opaque: the pixels it leaves on any surface
            rgb = pygame.surfarray.array3d(canvas).transpose(1, 0, 2).astype(np.int64)  # (h, w, 3)
            packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            new = np.ones(packed.shape, bool)
            new[:, 1:] = packed[:, 1:] != packed[:, :-1]
            row, x0 = np.nonzero(new)                                # run starts, row by row
            x1 = np.append(x0[1:], 0) - 1
            x1[np.append(row[1:] != row[:-1], True)] = packed.shape[1] - 1  # a row's last run
            runs = np.stack([row + rect.top, np.maximum(x0 + rect.left, 0),
                             np.minimum(x1 + rect.left, W - 1), packed[row, x0]], 1)
            runs = runs[(runs[:, 0] >= 0) & (runs[:, 0] < H) & (runs[:, 1] <= runs[:, 2])]
            self._texts[string] = runs
        return self._texts[string]

    def _render_road(self, zoom, translation, angle):
        """Draw background, grass and road as the stock method does, with NumPy geometry.

        Two shortcuts that change no pixel (the byte-identity tests check them):
        - the background square, when it covers the whole screen with a margin, is drawn with
          `surf.fill`: its filled interior is the whole screen and its outline lies off-screen
          (otherwise the surface is cleared to black, as a new one is, and the square drawn);
        - of the polygons the stock test keeps, those wholly beyond one screen edge (by more than
          the 1-pixel reach of an antialiased line) are not drawn: they would touch no pixel.
        """
        if self._polys_of is not self.road_poly:  # a new track since the last frame
            road = np.array([poly for poly, color in self.road_poly], dtype=np.float64)
            self._vertices = np.concatenate([self.GRASS, road.reshape(-1, 4, 2)])  # (P, 4, 2)
            self._polys_of = self.road_poly
        W, H = gym_car_racing.WINDOW_W, gym_car_racing.WINDOW_H
        cos, sin = pygame.math.Vector2(1.0, 0.0).rotate_rad(angle)  # pygame's own cos and sin

        b = gym_car_racing.PLAYFIELD
        if _screen_inside_square(b, zoom, translation, cos, sin, W, H, margin=4.0):
            self.surf.fill(self.bg_color)
        else:
            self.surf.fill((0, 0, 0))
            field = [(b, b), (b, -b), (-b, -b), (-b, b)]
            self._draw_colored_polygon(self.surf, field, self.bg_color, zoom, translation, angle,
                                       clip=False)

        px, py = self._vertices[..., 0], self._vertices[..., 1]     # (P, 4) each
        x = (cos * px - sin * py) * zoom + translation[0]           # (P, 4) screen coordinates
        y = (sin * px + cos * py) * zoom + translation[1]
        m = gym_car_racing.MAX_SHAPE_DIM  # stock culling: any vertex inside the enlarged screen
        kept = _any4((-m <= x) & (x <= W + m) & (-m <= y) & (y <= H + m))
        e = 4.0  # pixels; vertices are truncated to int, an antialiased line reaches 1 further
        reaches = _any4(x >= -e) & _any4(x <= W + e) & _any4(y >= -e) & _any4(y <= H + e)
        drawn = np.flatnonzero(kept & reaches)
        points = np.stack([x[drawn], y[drawn]], axis=-1).tolist()  # Python floats, (D, 4, 2)
        n_grass = len(self.GRASS)
        for i, poly in zip(drawn.tolist(), points):
            if i < n_grass:
                color = self.grass_color
            else:  # tile colours change in place when the car touches a tile: read them now
                color = [int(c) for c in self.road_poly[i - n_grass][1]]
            gfxdraw.aapolygon(self.surf, poly, color)
            gfxdraw.filled_polygon(self.surf, poly, color)


def _any4(mask):
    """(P, 4) bool -> (P,) bool: any of each polygon's 4 vertices. Reads the 4 bytes of a row as
    one uint32, 10x faster than mask.any(axis=1) on this short axis."""
    return mask.view(np.uint32)[:, 0] != 0


def _screen_inside_square(b, zoom, translation, cos, sin, W, H, margin):
    """True if the W x H screen, mapped back to the world, lies inside the square [-b, b]^2 with
    `margin` pixels to spare: screen = R(world) zoom + translation, so world = R^T (screen -
    translation) / zoom, with R = [[cos, -sin], [sin, cos]]."""
    limit = b - margin / zoom
    for sx, sy in ((0, 0), (W, 0), (W, H), (0, H)):
        dx, dy = (sx - translation[0]) / zoom, (sy - translation[1]) / zoom
        if abs(cos * dx + sin * dy) >= limit or abs(-sin * dx + cos * dy) >= limit:
            return False
    return True
