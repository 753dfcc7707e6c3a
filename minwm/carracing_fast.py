"""A faster gymnasium CarRacing with byte-identical observations (the env of minwm/carracing.py).

`FastCarRacing` is gymnasium's env with two hot spots rewritten:
- `_render_road` rotates and translates all ~800 road and grass polygons at once with NumPy, culls
  the off-screen ones with the stock test, and draws the visible ones with the same gfxdraw calls,
  in the same order, with bit-identical float arguments. pygame rotates (x, y) by
  (cos * x - sin * y, sin * x + cos * y); rotating the unit vector (1, 0) with pygame itself gives
  the exact (cos, sin) it uses, including its special cases at multiples of 90 degrees. It also
  skips draws that cannot change a pixel (see `_render_road`).
- `_render` keeps one font and the last rendered score text instead of loading the font file and
  rasterising the text every frame, and one drawing surface instead of allocating a new one.
Everything else (physics, car drawing, flip, indicators, smoothscale to 96x96) is the stock code.
It is only used on the gymnasium version it was verified on (carracing.make_gym_carracing).
"""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on import

import numpy as np
import pygame
from gymnasium.envs.box2d import car_racing as gym_car_racing
from pygame import gfxdraw


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
    """gymnasium's CarRacing with vectorised road geometry and a cached font (same pixels)."""

    GRASS = _grass_polygons()  # (400, 4, 2)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._polys_of = None   # the road_poly list self._vertices was built from
        self._vertices = None   # (P, 4, 2) float64: grass patches then road_poly, stock order
        self._font = None
        self._text = (None, None)  # (string, rendered surface)
        self._canvas = None        # one WINDOW_W x WINDOW_H surface, cleared every frame

    def _render(self, mode):
        """The stock `_render` for "state_pixels", with the font, the score text and the drawing
        surface kept between frames (`_render_road` clears the surface)."""
        if mode != "state_pixels":
            return super()._render(mode)
        W, H = gym_car_racing.WINDOW_W, gym_car_racing.WINDOW_H
        if self._font is None:
            pygame.font.init()
            self._font = pygame.font.Font(pygame.font.get_default_font(), 42)
        if "t" not in self.__dict__:
            return  # reset() not called yet
        if self._canvas is None:
            self._canvas = pygame.Surface((W, H))
        self.surf = self._canvas
        angle = -self.car.hull.angle
        zoom = (0.1 * gym_car_racing.SCALE * max(1 - self.t, 0)
                + gym_car_racing.ZOOM * gym_car_racing.SCALE * min(self.t, 1))  # zoom-in, 1st second
        scroll_x = -(self.car.hull.position[0]) * zoom
        scroll_y = -(self.car.hull.position[1]) * zoom
        trans = pygame.math.Vector2((scroll_x, scroll_y)).rotate_rad(angle)
        trans = (W / 2 + trans[0], H / 4 + trans[1])

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
