"""Falling blocks: a toy Take Cover in pure NumPy, small enough that the whole pipeline (V, M, C
trained in M's dream, then the real game) runs in about a minute (the tutorials' fast mode).

The rules, one step at a time (64x64 field, pixels; y grows downwards):
- the player is a paddle PADDLE_W wide on the bottom rows; C's scalar output moves it left
  (a < -1/3), right (a > 1/3) or not at all, SPEED pixels per step (Take Cover's actions and
  threshold: minwm.doom.env_action), stopping at the walls;
- every SPAWN steps a block BLOCK x BLOCK appears above the top edge, aimed at where the paddle is
  then (give or take AIM pixels), like Take Cover's fireballs, and falls FALL pixels per step;
- the episode ends when a block reaches the paddle's rows while overlapping it, or after MAX_STEPS
  steps; the reward is +1 per step survived, the last one included (Take Cover's living reward).
reset(seed) draws every block's aim from np.random.default_rng(seed): the same seed and actions
give the same episode. Frames are 64x64x3 uint8: green paddle, red blocks, dark background.

Everything else is Take Cover's: collect's random policy (a value held 1 to 10 steps), the
action map, what M is fed, M's restart input and done head, and C evolved in M's dream.
"""
import numpy as np

from minwm.config import EnvSpec
from minwm.controller import ControllerConfig
from minwm.doom import THRESHOLD, env_action, held_actions, m_input

SIZE = 64                       # V's frames: 64x64x3
PADDLE_W, PADDLE_H = 14, 8      # the paddle: 14 px wide, on the bottom 8 rows
SPEED = 6                       # paddle pixels per step
BLOCK, FALL = 14, 4             # blocks: 14x14 px, falling 4 px per step (~14 steps to the paddle)
SPAWN, AIM = 12, 8              # a new block every 12 steps, aimed within +-8 px of the paddle
MAX_STEPS = 200                 # the episode cap
MIN_FRAMES = 0                  # collect keeps every episode
BACKGROUND, PADDLE, BLOCKS = (20, 20, 40), (60, 200, 80), (230, 60, 50)   # RGB


class FallingBlocks:
    """reset(seed) -> frame (64, 64, 3) uint8; step(a) -> frame, reward (+1.0), done.

    a: a scalar (C's output or collect's action; -1 / 0 / +1 already mapped also works).
    State: the paddle's centre x, blocks (n, 2) float [centre x, top y], the step count t.
    """

    def __init__(self, max_steps=MAX_STEPS):
        self.max_steps = max_steps

    def reset(self, seed):
        self.rng = np.random.default_rng(seed)
        self.x, self.t = SIZE / 2, 0
        self.blocks = np.zeros((0, 2))                                   # (n, [x, y])
        self._spawn()
        return self.frame()

    def _spawn(self):
        lo, hi = BLOCK / 2, SIZE - BLOCK / 2
        x = np.clip(self.x + self.rng.uniform(-AIM, AIM), lo, hi)
        self.blocks = np.vstack([self.blocks, [[x, -BLOCK]]])

    def hit(self):
        """Does a block overlap the paddle (its rows and its columns)?"""
        x, y = self.blocks[:, 0], self.blocks[:, 1]
        return bool(np.any((y + BLOCK > SIZE - PADDLE_H) & (np.abs(x - self.x) < (PADDLE_W + BLOCK) / 2)))

    def step(self, a):
        a = float(np.asarray(a).reshape(()))
        move = (a > THRESHOLD) - (a < -THRESHOLD)                         # -1 left, 0 stay, +1 right
        self.x = float(np.clip(self.x + SPEED * move, PADDLE_W / 2, SIZE - PADDLE_W / 2))
        self.blocks[:, 1] += FALL
        dead = self.hit()
        self.blocks = self.blocks[self.blocks[:, 1] < SIZE]               # gone past the bottom
        self.t += 1
        if self.t % SPAWN == 0:
            self._spawn()
        return self.frame(), 1.0, dead or self.t >= self.max_steps

    def frame(self):
        img = np.empty((SIZE, SIZE, 3), np.uint8)
        img[:] = BACKGROUND
        x0 = round(self.x - PADDLE_W / 2)
        img[SIZE - PADDLE_H:, x0:x0 + PADDLE_W] = PADDLE
        for x, y in self.blocks:
            x0, y0 = round(x - BLOCK / 2), round(y)
            img[max(y0, 0):max(y0 + BLOCK, 0), x0:x0 + BLOCK] = BLOCKS
        return img

    def close(self):
        pass


SPEC = EnvSpec(
    name="toy", title="Falling blocks", score="time steps survived", max_steps=MAX_STEPS,
    # C: a = tanh(w . [z, c, h]), no bias, as Take Cover's: 16 + 64 + 64 = 144 parameters
    controller=ControllerConfig(nz=16, hidden=64, na=1, inputs="zch", bias=False, env="toy"),
    m_restart=True, m_done=True,        # as Take Cover: C is evolved in the dream, which must end
    make=lambda max_steps: FallingBlocks(max_steps=max_steps),
    explore=held_actions, env_action=env_action, m_input=m_input, min_frames=MIN_FRAMES,
    presets={
        "paper": ("vae.nz=16", "rnn.hidden=64", "rnn.seq_len=100", "evolve.in_dream=true",
                  "evolve.generations=300", "collect.workers=1"),
        "default": ("collect.rollouts=100", "vae.batch=16", "vae.lr=0.001", "vae.epochs=3",
                    "rnn.epochs=100", "rnn.seq_len=32", "rnn.batch=16", "evolve.generations=20",
                    "evolve.population=32", "evolve.rollouts=8", "evolve.eval_rollouts=256",
                    "evolve.eval_every=5"),
        "tiny": ("evolve.max_steps=50", "evaluate.max_steps=50", "rnn.seq_len=10",
                 "evolve.workers=1"),              # one process: starting workers costs more
    })
