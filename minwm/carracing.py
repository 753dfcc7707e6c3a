"""CarRacing as the paper's V saw it, and the gymnasium env it runs on.

`CarRacing` wraps gymnasium's `CarRacing-v3` (continuous actions): 1000-step episodes, the standard
reward (-0.1 per frame, +1000/N per new tile, -100 for leaving the playfield), and frames prepared as
the original code did: keep rows 0:84 of the 96x96 observation (drops the indicator bar), then an
antialiased resize to 64x64x3 uint8. `make_gym_carracing` picks the env: minwm.carracing_fast's
`FastCarRacing` (byte-identical observations) on the versions it was verified on, else the stock one.
"""
import warnings

import gymnasium
import numpy as np
import pygame
from gymnasium.envs.box2d import car_racing as gym_car_racing
from PIL import Image

from minwm.carracing_fast import (
    VERIFIED_GYMNASIUM,
    VERIFIED_PYGAME,
    FastCarRacing,
    pygame_verified,
)

MAX_STEPS = 1000              # CarRacing-v3's TimeLimit, as in the paper
CROP_ROWS = 84                # rows 0:84 of 96: drops the indicator bar (original code)
FRAME_SIZE = 64               # V's input is 64x64x3


def process_frame(obs, rows=CROP_ROWS, size=FRAME_SIZE):
    """Crop and resize one observation, as the original code fed V.

    obs: (H, W, 3) uint8 -> (size, size, 3) uint8: obs[:rows], antialiased (PIL bilinear with a
    support scaled to the reduction, as scipy.misc.imresize used) resize to size x size.
    """
    image = Image.fromarray(np.ascontiguousarray(obs[:rows]))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))  # (64, 64, 3)


def make_gym_carracing(fast=True):
    """The raw gymnasium env (96x96 observations, no time limit): FastCarRacing or the stock one.

    Falls back, with a warning, to the stock env when the installed gymnasium is not the version
    FastCarRacing was verified on, and to FastCarRacing's pygame drawing (exact, 3x slower) when
    pygame-ce or its smoothscale backend is not the one the Numba drawing was verified on.
    """
    if fast and gymnasium.__version__ == VERIFIED_GYMNASIUM:
        if not pygame_verified():
            warnings.warn(f"minwm: the Numba CarRacing frames were verified on pygame-ce "
                          f"{VERIFIED_PYGAME[0]} with the {VERIFIED_PYGAME[1]} smoothscale, found "
                          f"{pygame.version.ver} with {pygame.transform.get_smoothscale_backend()}; "
                          f"drawing with pygame instead (slower).")
        return FastCarRacing(continuous=True)
    if fast:
        warnings.warn(f"minwm: FastCarRacing was verified on gymnasium {VERIFIED_GYMNASIUM}, found "
                      f"{gymnasium.__version__}; using the stock (slower) CarRacing instead.")
    return gym_car_racing.CarRacing(continuous=True)


class CarRacing:
    """CarRacing-v3 with V's 64x64 frames.

    reset(seed) -> frame (64, 64, 3) uint8
    step(action) -> frame (64, 64, 3) uint8, reward float, done bool
    action: (3,) = (steer in [-1, 1], gas in [0, 1], brake in [0, 1]), gymnasium's continuous
    action; it is cast to float32 first, so actions stored as float32 replay exactly.
    done is True when the lap is finished, the car leaves the playfield, or after 1000 steps.
    """

    def __init__(self, fast=True, max_steps=MAX_STEPS):
        self.env = make_gym_carracing(fast)
        self.max_steps = max_steps
        self.t = 0
        self.obs = None  # last raw (96, 96, 3) observation

    def reset(self, seed):
        self.obs, _ = self.env.reset(seed=int(seed))
        self.t = 0
        return process_frame(self.obs)

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)  # (3,)
        self.obs, reward, terminated, truncated, _ = self.env.step(action)
        self.t += 1
        done = terminated or truncated or self.t >= self.max_steps
        return process_frame(self.obs), float(reward), bool(done)

    def close(self):
        self.env.close()
