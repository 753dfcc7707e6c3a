"""Take Cover as the paper saw it (DoomTakeCover-v0), from ViZDoom's bundled scenario.

Settings that make scores comparable with the paper's (from the authors' code, hardmaru/WorldModelsExperiments):
- skill 4, one game tic per step, +1 per tic survived (the scenario's living reward), episodes
  capped at 2100 steps (the scenario itself has no cap), episode start time 14;
- actions left / stay / right from the controller's continuous output: a < -1/3 moves left,
  a > 1/3 moves right, anything between stays;
- frames with the paper's framing: the paper kept rows 0:400 of a 640x480 frame with the HUD on.
  We render with the HUD at 160x120 (5x faster than 640x480, identical game dynamics) and keep
  rows 0:100, the same top 5/6 of the picture, then an antialiased resize to 64x64x3 uint8 RGB.
  (tests/test_envs.py compares these frames with 320x240 rows 0:200.)

Each game runs the ViZDoom engine in a child process. The engine writes `_vizdoom.ini` and
`_vizdoom/` into its working directory, so it is started inside a private temporary directory;
`close()` (or garbage collection, or interpreter exit) ends the process and removes the directory.
multiprocessing workers leave by os._exit (no atexit) and are stopped by SIGTERM (Pool.terminate),
which kills a Python process without any cleanup (the engine ignores SIGTERM and would live on):
in a worker, a TakeCover therefore registers a multiprocessing finalizer and turns a default
SIGTERM into an orderly exit that runs it, deferred while an engine is starting or closing. Only a
process killed with SIGKILL still orphans its engine.
"""
import contextlib
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import weakref

import numpy as np
from PIL import Image

from minwm.config import EnvSpec
from minwm.controller import ControllerConfig

SKILL = 4             # the paper's "5" was effectively 4; with 5 a random policy scores ~56
MAX_STEPS = 2100      # DoomTakeCover-v0's episode cap
START_TIME = 14       # episode start time (tics skipped at the start), as the paper's setting
THRESHOLD = 1 / 3     # a < -1/3: left, a > 1/3: right, else stay
RESOLUTION = "160x120"
FRAME_SIZE = 64
LEFT, STAY, RIGHT = [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]  # buttons (MOVE_LEFT, MOVE_RIGHT)
MIN_FRAMES = 101      # collect drops episodes of 100 frames or fewer (original code)

_chdir_lock = threading.Lock()  # the working directory is per process: one game starts at a time


def process_frame(screen, size=FRAME_SIZE):
    """screen (H, W, 3) uint8 -> (size, size, 3) uint8: keep rows 0:5H/6 (the paper's 0:400 of
    480), antialiased (PIL bilinear with a support scaled to the reduction) resize."""
    rows = screen.shape[0] * 5 // 6
    image = Image.fromarray(np.ascontiguousarray(screen[:rows]))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))  # (64, 64, 3)


def env_action(a):
    """C's output a (N, 1) in [-1, 1] -> (N,) int8: -1 left (a < -1/3), +1 right (a > 1/3), 0 stay."""
    return (a[:, 0] > THRESHOLD).astype(np.int8) - (a[:, 0] < -THRESHOLD).astype(np.int8)


def m_input(actions):
    """Recorded actions (T,) or (T, 1), continuous (collect) or already -1 / 0 / +1 (an agent's)
    -> what M is fed: the discrete -1 / 0 / +1 the game acted on, (T, 1) float32."""
    a = np.asarray(actions, np.float32).reshape(len(actions), 1)
    return env_action(a).reshape(len(a), 1).astype(np.float32)


def held_actions(rng, T):
    """The exploration policy of collect: (T,) float32, a uniform random value in [-1, 1] held for
    1 to 10 frames (original code)."""
    a = np.empty(T, np.float32)
    t = 0
    while t < T:
        hold = rng.integers(1, 11)
        a[t:t + hold] = rng.uniform(-1.0, 1.0)
        t += hold
    return a


def buttons(a):
    """The controller's continuous output a (scalar, e.g. tanh in [-1, 1], or the discrete
    -1 / 0 / +1 of controller.env_action) -> ViZDoom buttons [MOVE_LEFT, MOVE_RIGHT]."""
    a = float(np.asarray(a).reshape(()))
    return LEFT if a < -THRESHOLD else RIGHT if a > THRESHOLD else STAY


@contextlib.contextmanager
def _working_directory(path):
    with _chdir_lock:
        old = os.getcwd()
        os.chdir(path)
        try:
            yield
        finally:
            os.chdir(old)


_busy = 0              # engines being started or closed right now in this process
_deferred_sigterm = 0  # a SIGTERM that arrived meanwhile: acted on once they are done


def _exit_on_sigterm(signum, frame):
    """SIGTERM in a worker -> SystemExit, so that its finally blocks and finalizers run.
    Pool.terminate also sends the workers their exit sentinel, so the SIGTERM often lands in a
    worker that is already running its finalizers: a SystemExit there would skip or cut short
    _close, and the orphaned engine writes _vizdoom.ini into a directory already removed. One
    that lands in game.init() (a pool closed while its workers start) would leave an engine
    that no finalizer knows yet."""
    global _deferred_sigterm
    if multiprocessing.util._exiting:  # leaving anyway: let the finalizers finish
        return
    if _busy:                          # starting or closing an engine: finish, then exit
        _deferred_sigterm = signum
        return
    sys.exit(128 + signum)


@contextlib.contextmanager
def _engine_work():
    """Starting or closing an engine: a SIGTERM waits until it is done (see _exit_on_sigterm)."""
    global _busy, _deferred_sigterm
    _busy += 1
    try:
        yield
    finally:
        _busy -= 1
    if _deferred_sigterm and not _busy:
        signum, _deferred_sigterm = _deferred_sigterm, 0  # once: the finalizers run no second exit
        sys.exit(128 + signum)


def _close(game, directory):
    """End the engine process and remove its files (also run by the finalizer)."""
    with _engine_work():
        try:
            game.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


class TakeCover:
    """VizDoom Take Cover with V's 64x64 frames.

    reset(seed) -> frame (64, 64, 3) uint8; the same seed and actions give the same episode.
    step(a) -> frame (64, 64, 3) uint8, reward float (+1 per tic), done bool.
    done when the player dies or after max_steps steps. After death there is no new screen:
    step returns the last frame again.
    """

    def __init__(self, max_steps=MAX_STEPS, resolution=RESOLUTION, skill=SKILL):
        import vizdoom as vzd  # here, not at the top: the spec alone needs no game engine
        self.max_steps, self.t, self.frame = max_steps, 0, None
        worker = multiprocessing.parent_process() is not None  # see the module docstring
        if (worker and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        with _engine_work():  # a SIGTERM waits until the engine has its finalizer
            self.directory = tempfile.mkdtemp(prefix="minwm-vizdoom-")
            game = vzd.DoomGame()
            game.load_config(os.path.join(vzd.scenarios_path, "take_cover.cfg"))
            game.set_doom_skill(skill)
            game.set_screen_resolution(getattr(vzd.ScreenResolution, "RES_" + resolution.upper()))
            game.set_screen_format(vzd.ScreenFormat.RGB24)
            game.set_render_hud(True)
            game.set_episode_start_time(START_TIME)
            game.set_episode_timeout(0)  # no engine timeout: max_steps counts steps here
            game.set_window_visible(False)
            game.set_sound_enabled(False)
            game.set_mode(vzd.Mode.PLAYER)
            game.set_doom_config_path(os.path.join(self.directory, "_vizdoom.ini"))
            # Remove the directory even if init fails; afterwards the finalizer owns the cleanup.
            try:
                with _working_directory(self.directory):  # the engine process inherits this cwd
                    game.init()
            except BaseException:
                shutil.rmtree(self.directory, ignore_errors=True)
                raise
            self.game = game
            self._finalizer = weakref.finalize(self, _close, game, self.directory)  # runs once
            if worker:
                multiprocessing.util.Finalize(self, self._finalizer, exitpriority=0)

    def reset(self, seed):
        self.game.set_seed(int(seed))
        self.game.new_episode()
        self.t = 0
        self.frame = process_frame(self.game.get_state().screen_buffer)
        return self.frame

    def step(self, a):
        reward = self.game.make_action(buttons(a), 1)  # one tic
        self.t += 1
        dead = self.game.is_episode_finished()
        if not dead:
            self.frame = process_frame(self.game.get_state().screen_buffer)
        return self.frame, float(reward), bool(dead or self.t >= self.max_steps)

    def close(self):
        self._finalizer()


SPEC = EnvSpec(
    name="doom", title="Take Cover", score="time steps survived", max_steps=MAX_STEPS,
    # C: a = tanh(w . [z, c, h]), no bias: 64 + 512 + 512 = 1088 parameters (original code)
    controller=ControllerConfig(nz=64, hidden=512, na=1, inputs="zch", bias=False, env="doom"),
    m_restart=True, m_done=True,        # episodes start inside windows; the dream needs its end
    make=lambda max_steps: TakeCover(max_steps=max_steps),
    explore=held_actions, env_action=env_action, m_input=m_input, min_frames=MIN_FRAMES,
    presets={
        # appendix: Nz 64, 512 units; original code: 500-step chunks, lr decay; C in the dream
        "paper": ("vae.nz=64", "rnn.hidden=512", "rnn.seq_len=500", "rnn.lr_decay=0.99999",
                  "evolve.in_dream=true", "evolve.generations=300"),
        # run ~1.5 h + iterate ~1.5 h on 2 cores (results/doom-default)
        "default": ("collect.rollouts=1500", "rnn.epochs=60", "rnn.seq_len=100",
                    "evolve.generations=20", "evolve.rollouts=16", "evolve.eval_rollouts=1024"),
    })
