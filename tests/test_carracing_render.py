"""The pygame-free CarRacing frame, primitive by primitive against pygame-ce, and the version gate.

Every drawing kernel draws the same random polygons as pygame (gfxdraw's aapolygon + filled_polygon,
draw.polygon, on the surface and flipped), partly off the surface, tiny and axis-aligned ones
included; the surfaces must be equal pixel for pixel, and so must smoothscale's 96x96 and the
shrink computed from runs. Whole episodes against the stock env: tests/test_envs.py (short) and
bench/carracing_render.py (100,000 observations).
"""
import warnings

import gymnasium
import numpy as np
import pygame
import pytest
from pygame import gfxdraw

from minwm import carracing, carracing_fast
from minwm import carracing_draw as draw
from minwm import carracing_gfx as gfx
from minwm import carracing_render as render


def _pixels(xs, col, n):
    """Run lists -> (H, W) int64 0xRRGGBB image; checks the run-list invariants on the way."""
    image = np.zeros((draw.H, draw.W), np.int64)
    for y in range(draw.H):
        k = n[y]
        assert xs[y, 0] == 0 and (np.diff(xs[y, :k]) > 0).all() and (np.diff(col[y, :k]) != 0).all()
        for start, end, c in zip(xs[y, :k], list(xs[y, 1:k]) + [draw.W], col[y, :k]):
            image[y, start:end] = c
    return image


def _surface_pixels(surface):
    rgb = pygame.surfarray.pixels3d(surface).transpose(1, 0, 2).astype(np.int64)  # (H, W, 3)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _random_polygon(rng):
    """4 float vertices: large or tiny, anywhere from 200 pixels beyond each edge; some rounded
    (horizontal and vertical edges, shared rows)."""
    centre = rng.uniform([-200, -200], [draw.W + 200, draw.H + 200])
    radius = rng.uniform(1, 400) if rng.random() < 0.7 else rng.uniform(0.5, 6)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 4))
    points = centre + radius * rng.uniform(0.3, 1, (4, 1)) * np.stack([np.cos(angles), np.sin(angles)], 1)
    return np.round(points) if rng.random() < 0.2 else points


def test_polygons_and_shrink_match_pygame():
    rng = np.random.default_rng(0)
    spans, ints = gfx.new_scratch()
    x_table, y_table = render.shrink_table(draw.W, render.S), render.shrink_table(draw.H, render.S)
    for trial in range(6):
        surface, (xs, col, n) = pygame.Surface((draw.W, draw.H)), draw.new_runs()
        for _ in range(25):
            points = _random_polygon(rng)
            colour = [int(v) for v in rng.integers(0, 256, 3)]
            packed = (colour[0] << 16) | (colour[1] << 8) | colour[2]
            vx, vy = points[:, 0].astype(np.int64), points[:, 1].astype(np.int64)  # int() truncates
            kind = rng.integers(3)
            if kind == 0:
                gfxdraw.aapolygon(surface, points.tolist(), colour)
                gfxdraw.filled_polygon(surface, points.tolist(), colour)
                gfx.gfx_polygon(xs, col, n, vx, vy, packed, 0, spans, ints)
            elif kind == 1:
                pygame.draw.polygon(surface, colour, points.tolist())
                draw.fill_polygon(xs, col, n, vx, vy, packed, 0, False, ints)
            else:  # drawn on the flipped surface
                flipped = pygame.transform.flip(surface, False, True)
                pygame.draw.polygon(flipped, colour, points.tolist())
                surface = pygame.transform.flip(flipped, False, True)
                draw.fill_polygon(xs, col, n, vx, vy, packed, 0, True, ints)
        assert (spans[2] == 0).all()
        mismatch = _pixels(xs, col, n) != _surface_pixels(surface)
        assert not mismatch.any(), (trial, np.argwhere(mismatch)[:5])

        tmp, obs = np.zeros((draw.H, render.S), np.uint32), np.zeros((render.S, render.S, 3), np.uint8)
        rows, keys = np.zeros((64, render.S), np.uint32), np.full(64, -1, np.int64)
        render.shrink_x(xs, col, n, *x_table, tmp, False, rows, keys)
        render.shrink_y(tmp, *y_table, obs)
        expected = pygame.surfarray.array3d(pygame.transform.smoothscale(surface, (96, 96)))
        assert np.array_equal(obs, expected.transpose(1, 0, 2)), trial


def test_shrink_of_random_pixels_matches_smoothscale():
    """Every pixel its own run (random colours, then random run lengths): all split shares."""
    rng = np.random.default_rng(1)
    for mean_run in (1, 7):
        lengths = rng.geometric(1 / mean_run, (draw.H, draw.W))
        xs, col, n = draw.new_runs()
        image = np.zeros((draw.H, draw.W), np.int64)
        for y in range(draw.H):
            starts = np.concatenate([[0], np.cumsum(lengths[y])])
            starts = starts[starts < draw.W]
            colours = rng.integers(0, 1 << 24, len(starts))
            xs[y, :len(starts)], col[y, :len(starts)], n[y] = starts, colours, len(starts)
            image[y] = np.repeat(colours, np.diff(np.append(starts, draw.W)))
        tmp, obs = np.zeros((draw.H, render.S), np.uint32), np.zeros((render.S, render.S, 3), np.uint8)
        render.shrink_x(xs, col, n, *render.shrink_table(draw.W, render.S), tmp, False,
                        np.zeros((64, render.S), np.uint32), np.full(64, -1, np.int64))
        render.shrink_y(tmp, *render.shrink_table(draw.H, render.S), obs)
        rgb = np.stack([image >> 16, (image >> 8) & 255, image & 255], -1).astype(np.uint8)
        surface = pygame.surfarray.make_surface(rgb.transpose(1, 0, 2))
        expected = pygame.surfarray.array3d(pygame.transform.smoothscale(surface, (96, 96)))
        assert np.array_equal(obs, expected.transpose(1, 0, 2)), mean_run


def test_fast_path_is_taken_on_the_installed_versions():
    """CI installs the newest pygame-ce and gymnasium: when either moves past the verified
    versions this fails, so the upgrade is noticed (and verified) instead of silently slow."""
    assert gymnasium.__version__ == carracing_fast.VERIFIED_GYMNASIUM
    assert (pygame.version.ver, pygame.transform.get_smoothscale_backend()) == carracing_fast.VERIFIED_PYGAME
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = carracing.make_gym_carracing(fast=True)
    assert isinstance(env, carracing_fast.FastCarRacing) and env.numba
    env.close()


def test_unverified_pygame_falls_back_to_pygame_drawing(monkeypatch):
    monkeypatch.setattr(carracing_fast, "VERIFIED_PYGAME", ("0.0.1", "SSE2"))
    with pytest.warns(UserWarning, match="drawing with pygame"):
        slow = carracing.make_gym_carracing(fast=True)
    fast = carracing_fast.FastCarRacing(numba=True)
    assert not slow.numba
    for env in (slow, fast):
        env.reset(seed=4)
    for t in range(60):  # the zoom-in, then the full view
        a = np.array([np.sin(t / 9), 0.6, 0.0], np.float32)
        assert np.array_equal(slow.step(a)[0], fast.step(a)[0]), t
    slow.close(), fast.close()


def test_domain_randomised_colours():
    """Random track, grass and background colours (floats, truncated the way pygame does)."""
    stock = gymnasium.make("CarRacing-v3", domain_randomize=True).unwrapped
    fast = carracing_fast.FastCarRacing(domain_randomize=True)
    for seed in (5, 6):
        assert np.array_equal(stock.reset(seed=seed)[0], fast.reset(seed=seed)[0])
        for t in range(70):
            a = np.array([0.4 * np.sin(t / 7), 0.8, 0.0], np.float32)
            assert np.array_equal(stock.step(a)[0], fast.step(a)[0]), (seed, t)
    stock.close(), fast.close()
