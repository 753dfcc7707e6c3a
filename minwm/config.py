"""Configuration of the pipeline: one frozen dataclass per stage, presets, command-line overrides,
the seeds of every stage, and the environment spec that each environment module fills in.

    cfg = preset("doom", "default")                  # tiny | default | paper
    cfg = override(cfg, ["rnn.epochs=5", "evolve.tau=1.25"])
    spec(cfg.env).max_steps                          # 2100: an environment's facts, from minwm/doom.py

Every field holds the paper's value (or the original code's, where the paper is silent) unless
the preset says otherwise; the comment on a field says where its value comes from. Values that
differ between environments (Nz, M's size, ...) come from the environment's spec.
"""
import dataclasses
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

ENVS = ("carracing", "doom", "toy")   # each is a module minwm/<name>.py that defines SPEC
PRESETS = ("tiny", "default", "paper")

# Seeds: every stage draws episodes from its own range, so no episode is seen twice by accident.
# Collection: run seed * 100,000,000 + 0, 1, ...; evaluate starts at Evaluate.seed (1,000,000),
# and 2,000,000+ is a second, held-out evaluation set (evaluate.seed=2000000); evolution in the
# real env scores a generation on TRAIN_SEED + generation * rollouts + j (all candidates meet the
# same tracks) and the kept C on EVAL_SEED + j; round k of section 5's procedure records
# ITER_SEED + 100,000 k + j. (Evolution used 2,000,000+ before 2026-12: the held-out set.)
COLLECT_SEED_STRIDE = 100_000_000
EVAL_SEED, ITER_SEED, TRAIN_SEED = 3_000_000, 4_000_000, 50_000_000
MEASURE_SEED = 6_000_000           # measure: each controller's real episodes; C's recorded ones +500,000


@dataclass(frozen=True)
class EnvSpec:
    """All of one environment's facts; minwm/carracing.py and minwm/doom.py each define one (SPEC).
    The rest of the code asks the spec and never branches on the environment's name."""
    name: str                     # the CLI's name: "carracing", "doom"
    title: str                    # for plots: "CarRacing", "Take Cover"
    score: str                    # what a score counts, for plots: "score", "time steps survived"
    max_steps: int                # the episode cap (CarRacing-v3 1000, DoomTakeCover-v0 2100)
    controller: object            # C's default controller.ControllerConfig (inputs, bias, A)
    m_restart: bool               # M has the restart input (episode starts inside a window)
    m_done: bool                  # M has the done head (needed to dream the episode's end)
    make: Callable                # make(max_steps) -> env with reset(seed) / step(a) / close()
    explore: Callable             # explore(rng, T) -> (T, A) random-policy actions for collect
    env_action: Callable          # C's output a (N, A) in [-1, 1] -> the env's action
    m_input: Callable             # recorded actions (T, A) -> what M is fed (T, A) float32
    min_frames: int = 0           # collect drops episodes that end sooner (Doom: 101, original)
    presets: dict = field(default_factory=dict)   # preset name -> overrides on the paper preset

    def steps(self, max_steps=0):
        """A config's step cap: 0 means the environment's own."""
        return max_steps or self.max_steps


@cache
def spec(env) -> EnvSpec:
    """The EnvSpec of environment `env` (imported on first use: Doom never loads gymnasium)."""
    if env not in ENVS:
        raise ValueError(f"unknown environment {env!r}: choose one of {', '.join(ENVS)}")
    return importlib.import_module(f"minwm.{env}").SPEC


@dataclass(frozen=True)
class Collect:
    rollouts: int = 10000          # random-policy rollouts (paper: 10,000)
    workers: int = 0               # 0: all cores
    max_frames: int = 0            # 0: the environment's own cap (EnvSpec.max_steps)


@dataclass(frozen=True)
class TrainV:
    nz: int = 32                   # 32 CarRacing, 64 Doom (appendix A.1)
    kl_tolerance: float = 0.5      # KL floor kl_tolerance * nz (original code)
    batch: int = 100               # original code
    lr: float = 1e-4               # Adam (original code)
    epochs: int = 1                # paper: 1 epoch (the original code ran 10)
    max_frames: int = 0            # 0: every collected frame; else a cap per epoch
    checkpoint_every: int = 500    # steps between checkpoints


@dataclass(frozen=True)
class TrainM:
    hidden: int = 256              # 256 CarRacing, 512 Doom (appendix A.2)
    k: int = 5                     # mixture components (appendix A.2)
    seq_len: int = 999             # CarRacing: whole 999-step episodes; Doom: 500-step chunks
    batch: int = 100               # original code
    lr: float = 1e-3               # Adam (original code)
    lr_decay: float = 1.0          # per step; Doom's original: 0.99999 ...
    lr_min: float = 1e-5           # ... down to this floor
    grad_clip: float = 1.0         # by value (original code)
    epochs: int = 20               # paper: 20 epochs
    checkpoint_every: int = 200    # steps between checkpoints
    init: str = ""                 # start from these exported weights (the iterative procedure)
    val_share: float = 0.0         # share of windows held out; their losses logged each epoch
    carry_state: bool = False      # stateful windows: the LSTM state carries from one window to
                                   # the next of the same lane (truncated BPTT over whole episodes)
    dropout: float = 0.0           # Dropout's Dream Land trained M with 0.05 on z and h_{t-1}


@dataclass(frozen=True)
class Evolve:
    population: int = 64           # CMA-ES population (appendix A.4)
    rollouts: int = 16             # rollouts per candidate; fitness = their mean reward
    sigma0: float = 0.1            # initial step size, start at 0 (original code)
    generations: int = 1800        # paper: ~1800 for CarRacing
    eval_every: int = 25           # evaluate the CMA mean every N generations ...
    eval_rollouts: int = 1024      # ... over this many rollouts, keep the best (original code)
    keep: str = "mean"             # what is scored and kept: "mean", the CMA mean (original code),
                                   # or "best", the generation's best candidate (the paper)
    in_dream: bool = False         # Doom: C is trained entirely inside M's dream
    tau: float = 1.15              # dream temperature (paper); the original code used 1.25
    max_steps: int = 0             # 0: the environment's own cap (EnvSpec.max_steps)
    workers: int = 0               # real-env rollouts: 0 = all cores
    backend: str = "local"         # "local" (multiprocessing) or "ray" (ray.util.multiprocessing)
    batch: int = 8                 # real-env episodes each worker steps in lockstep, V, M and C run
                                   # once for all (minwm.agent; same results as 1, one at a time)
    controller: str = "full"       # "full" (paper), "z" or "z_hidden" (the paper's ablations)
    early_stop: int = 0            # real-env training only: end an episode after N consecutive
                                   # steps of negative reward (0: off, as the paper; evaluate never)
    init: str = ""                 # start CMA-ES at this controller.npz's theta (iterative procedure)
    dream_dropout: float = 0.0     # Dropout's Dream Land: M's dropout in the dream, a mask per
                                   # rollout (their best Doom C: 0.1, with M trained at 0.05)


@dataclass(frozen=True)
class Iterate:
    iterations: int = 3            # rounds of section 5's procedure after the random-policy round
    rollouts: int = 200            # real-environment rollouts of the current agent per round
    rnn_epochs: int = 10           # M's further training per round, from its current weights
    generations: int = 50          # C's further evolution in the dream per round


@dataclass(frozen=True)
class Evaluate:
    trials: int = 100              # consecutive episodes in the real environment (paper: 100)
    seed: int = 1_000_000          # first episode seed (disjoint from collection and evolution)
    max_steps: int = 0             # 0: the environment's own cap (EnvSpec.max_steps)


@dataclass(frozen=True)
class Measure:
    controllers: int = 8           # the run's C and 7 CMA-like samples around it
    sigma: float = 0.1             # the samples' spread (CMA-ES's first step size)
    episodes: int = 100            # real episodes per controller
    dream_rollouts: int = 1024     # dream rollouts per controller (evolve scores C over 1,024)
    record: int = 200              # real episodes of C on which M's losses are measured
    seed: int = 0                  # the samples' and the dreams' seed
    controller: str = ""           # C's file to measure around: "" the run's own; a fixed one
                                   # (e.g. the shipped C) compares variants of M before evolving C


@dataclass(frozen=True)
class Config:
    env: str = "carracing"
    preset: str = "default"
    run_dir: str = "runs/carracing"
    seed: int = 0
    collect: Collect = field(default_factory=Collect)
    vae: TrainV = field(default_factory=TrainV)
    rnn: TrainM = field(default_factory=TrainM)
    evolve: Evolve = field(default_factory=Evolve)
    evaluate: Evaluate = field(default_factory=Evaluate)
    iterate: Iterate = field(default_factory=Iterate)
    measure: Measure = field(default_factory=Measure)

    @property
    def path(self):
        return Path(self.run_dir)


# Preset values shared by every environment; each spec adds its own (EnvSpec.presets).
COMMON = {
    "default": ("vae.epochs=1", "vae.max_frames=300000", "evolve.eval_every=10",
                "iterate.rollouts=300", "iterate.generations=20"),
    "tiny": ("collect.rollouts=4", "vae.batch=16", "vae.epochs=1", "vae.checkpoint_every=5",
             "rnn.hidden=32", "rnn.seq_len=20", "rnn.batch=4", "rnn.epochs=2",
             "rnn.checkpoint_every=5", "evolve.population=4", "evolve.rollouts=2",
             "evolve.generations=2", "evolve.eval_every=1", "evolve.eval_rollouts=4",
             "evolve.workers=2", "evaluate.trials=2", "iterate.iterations=1", "iterate.rollouts=2",
             "iterate.rnn_epochs=1", "iterate.generations=1", "measure.controllers=3",
             "measure.episodes=2", "measure.dream_rollouts=8", "measure.record=2"),
}


def preset(env, name="default", run_dir=None):
    """The configuration of `env` ("carracing" or "doom") at preset `name` ("tiny", "default",
    "paper"). paper is the paper's full protocol; default gives a real result on a 2-core laptop
    in a few hours; tiny runs in seconds (tests). The environment's spec holds its own values."""
    s = spec(env)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    cfg = Config(env=env, preset=name, run_dir=run_dir or f"runs/{env}-{name}")
    cfg = override(cfg, s.presets.get("paper", ()))
    if name != "paper":
        cfg = override(cfg, COMMON[name] + tuple(s.presets.get(name, ())))
    return cfg


def _convert(text, typ, key):
    if typ in (bool, "bool"):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"{key}: expected true or false, got {text!r}")
    try:
        return {"int": int, "float": float, "str": str}.get(typ, typ)(text)
    except ValueError:
        raise ValueError(f"{key}: expected {getattr(typ, '__name__', typ)}, got {text!r}") from None


def override(cfg, items):
    """Apply "section.field=value" (or "field=value" for top-level fields) overrides.
    An unknown key is an error that lists the valid ones."""
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value (e.g. rnn.epochs=5)")
        section, _, name = key.rpartition(".")
        if section and section not in _sections(cfg):
            raise ValueError(f"unknown section {section!r}: valid keys are {', '.join(valid_keys(cfg))}")
        target = getattr(cfg, section) if section else cfg
        fields = {f.name: f for f in dataclasses.fields(target) if not dataclasses.is_dataclass(
            getattr(target, f.name))}
        if name not in fields:
            raise ValueError(f"unknown key {key!r}: valid keys are {', '.join(valid_keys(cfg))}")
        value = _convert(text, fields[name].type, key)
        target = replace(target, **{name: value})
        cfg = replace(cfg, **{section: target}) if section else target
    return cfg


def _sections(cfg):
    return [f.name for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))]


def valid_keys(cfg):
    keys = [f.name for f in dataclasses.fields(cfg) if f.name not in _sections(cfg)]
    for s in _sections(cfg):
        keys += [f"{s}.{f.name}" for f in dataclasses.fields(getattr(cfg, s))]
    return keys


def to_json(cfg):
    return json.dumps(dataclasses.asdict(cfg), indent=1)


SECTIONS = {"collect": Collect, "vae": TrainV, "rnn": TrainM, "evolve": Evolve,
            "evaluate": Evaluate, "iterate": Iterate, "measure": Measure}


def from_json(text, source="config.json"):
    """A Config from to_json's text; ValueError naming `source` and the bad entry otherwise."""
    def fail(problem):
        return ValueError(f"{source}: {problem}; fix it, or delete it to start from a preset "
                          f"(--preset default)")

    def build(cls, d, where):
        if not isinstance(d, dict):
            raise fail(f"{where or 'the file'} is not a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise fail(f"unknown key {where}{unknown[0]}")
        values = {}
        for k, v in d.items():
            if k in SECTIONS and cls is Config:
                values[k] = build(SECTIONS[k], v, f"{k}.")
                continue
            t = fields[k].type
            ok = isinstance(v, t) and (t is bool or not isinstance(v, bool)) or (
                t is float and isinstance(v, int) and not isinstance(v, bool))
            if not ok:
                raise fail(f"{where}{k} = {v!r}, expected {t.__name__}")
            values[k] = t(v)
        return cls(**values)

    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise fail(f"not valid JSON ({e})") from None
    cfg = build(Config, d, "")
    if cfg.env not in ENVS:
        raise fail(f"unknown environment {cfg.env!r}")
    return cfg
