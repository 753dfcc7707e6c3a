"""CarRacing as the paper's V saw it: every fact of the environment (SPEC), and the env itself.

`CarRacing` wraps gymnasium's `CarRacing-v3` (continuous actions): 1000-step episodes, the standard
reward (-0.1 per frame, +1000/N per new tile, -100 for leaving the playfield), and frames prepared as
the original code did: keep rows 0:84 of the 96x96 observation (drops the indicator bar), then an
antialiased resize to 64x64x3 uint8. By default it runs on `FastCarRacing` (minwm/carracing_fast.py),
gymnasium's env with the same pixels, faster. gymnasium and pygame are imported only when an env is
made, so the spec costs nothing to import.
"""
import warnings

import numpy as np
from PIL import Image

from minwm.config import EnvSpec
from minwm.controller import ControllerConfig

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


def env_action(a):
    """C's output a (N, 3) in [-1, 1] -> (N, 3) float32 (steer a0, gas (a1 + 1) / 2, brake
    clip(a2, 0, 1)), the original code's map."""
    return np.stack([a[:, 0], (a[:, 1] + 1.0) / 2.0, np.clip(a[:, 2], 0.0, 1.0)], axis=1).astype(np.float32)


def m_input(actions):
    """Recorded actions (T, 3) are already (steer, gas, brake), what M is fed (original code)."""
    return np.asarray(actions, np.float32).reshape(len(actions), 3)


def brownian_actions(rng, T, dt=1 / 50):
    """The exploration policy of collect: (T, 3) float32 (steer, gas, brake), smoothly varying.

    Each of u = (steer, gas, brake) is an Ornstein-Uhlenbeck process, Brownian motion pulled back
    to a mean: du = (mean - u) dt / tau + sigma sqrt(2 dt / tau) dW, dt = 1/50 s (one frame).
    Plain white noise leaves the car jittering at the start; pure Brownian motion often holds the
    brake half the episode. These values keep the car moving (gas ~0.3, brake ~4% of frames) and
    turning both ways, so it crosses road, kerbs and grass at many angles.
    """
    mean, sigma, tau = np.array([0.0, 0.3, -0.5]), np.array([0.5, 0.3, 0.3]), np.array([0.5, 1.0, 1.0])
    noise = rng.standard_normal((T, 3))                                   # (T, 3)
    u = np.empty((T, 3))
    u[0] = mean + sigma * noise[0]
    for t in range(1, T):
        u[t] = u[t - 1] + (mean - u[t - 1]) * dt / tau + sigma * np.sqrt(2 * dt / tau) * noise[t]
    lo, hi = np.array([-1.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])      # CarRacing's action box
    return np.clip(u, lo, hi).astype(np.float32)


def make_gym_carracing(fast=True):
    """The raw gymnasium env (96x96 observations, no time limit): FastCarRacing or the stock one.

    Falls back, with a warning, to the stock env when the installed gymnasium is not the version
    FastCarRacing was verified on, and to FastCarRacing's pygame drawing (exact, 3x slower) when
    pygame-ce or its smoothscale backend is not the one the Numba drawing was verified on.
    """
    import gymnasium
    from gymnasium.envs.box2d import car_racing as gym_car_racing

    from minwm import carracing_fast as fast_env
    if fast and gymnasium.__version__ == fast_env.VERIFIED_GYMNASIUM:
        if not fast_env.pygame_verified():
            import pygame
            warnings.warn(f"minwm: the Numba CarRacing frames were verified on pygame-ce "
                          f"{fast_env.VERIFIED_PYGAME[0]} with the {fast_env.VERIFIED_PYGAME[1]} "
                          f"smoothscale, found {pygame.version.ver} with "
                          f"{pygame.transform.get_smoothscale_backend()}; drawing with pygame "
                          f"instead (slower).")
        return fast_env.FastCarRacing(continuous=True)
    if fast:
        warnings.warn(f"minwm: FastCarRacing was verified on gymnasium {fast_env.VERIFIED_GYMNASIUM}, "
                      f"found {gymnasium.__version__}; using the stock (slower) CarRacing instead.")
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


SPEC = EnvSpec(
    name="carracing", title="CarRacing", score="score", max_steps=MAX_STEPS,
    # C: a = tanh(W [z, h] + b), 3 x (32 + 256) + 3 = 867 parameters (appendix A.3)
    controller=ControllerConfig(nz=32, hidden=256, na=3, inputs="zh", bias=True, env="carracing"),
    m_restart=False, m_done=False,      # whole episodes per window: no restart input, no done head
    make=lambda max_steps: CarRacing(max_steps=max_steps),
    explore=brownian_actions, env_action=env_action, m_input=m_input,
    presets={
        # appendix: Nz 32, 256 units; original code: whole 999-step episodes per window
        "paper": ("vae.nz=32", "rnn.hidden=256", "rnn.seq_len=999"),
        "default": ("collect.rollouts=200", "rnn.epochs=20", "evolve.generations=30",
                    "evolve.rollouts=2", "evolve.eval_rollouts=16"),
        "tiny": ("collect.max_frames=60", "evolve.max_steps=50", "evaluate.max_steps=50"),
    })
