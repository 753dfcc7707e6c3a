"""Configuration of the pipeline: one frozen dataclass per stage, presets, command-line overrides.

    cfg = preset("doom", "default")                  # tiny | default | paper
    cfg = override(cfg, ["rnn.epochs=5", "evolve.tau=1.25"])

Every field holds the paper's value (or the original code's, where the paper is silent) unless
the preset says otherwise; the comment on a field says where its value comes from.
"""
import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

ENVS = ("carracing", "doom")
PRESETS = ("tiny", "default", "paper")


@dataclass(frozen=True)
class Collect:
    rollouts: int = 10000          # random-policy rollouts (paper: 10,000)
    workers: int = 0               # 0: all cores
    max_frames: int = 0            # 0: the environment's own limit (CarRacing 1000, Doom 2100)


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


@dataclass(frozen=True)
class Evolve:
    population: int = 64           # CMA-ES population (appendix A.3)
    rollouts: int = 16             # rollouts per candidate; fitness = their mean reward
    sigma0: float = 0.1            # initial step size, start at 0 (original code)
    generations: int = 1800        # paper: ~1800 for CarRacing
    eval_every: int = 25           # evaluate the CMA mean every N generations ...
    eval_rollouts: int = 1024      # ... over this many rollouts, keep the best (original code)
    in_dream: bool = False         # Doom: C is trained entirely inside M's dream
    tau: float = 1.15              # dream temperature (paper); the original code used 1.25
    max_steps: int = 0             # 0: the environment's limit (CarRacing 1000, Doom 2100)
    workers: int = 0               # real-env rollouts: 0 = all cores
    backend: str = "local"         # "local" (multiprocessing) or "ray" (ray.util.multiprocessing)
    controller: str = "full"       # "full" (paper), "z" or "z_hidden" (the paper's ablations)
    init: str = ""                 # start CMA-ES at this controller.npz's theta (iterative procedure)


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
    max_steps: int = 0             # 0: the environment's limit (CarRacing 1000, Doom 2100)


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

    @property
    def path(self):
        return Path(self.run_dir)


def preset(env, name="default", run_dir=None):
    """The configuration of `env` ("carracing" or "doom") at preset `name` ("tiny", "default",
    "paper"). tiny runs in seconds (tests); default gives a real result on a 2-core laptop in
    a few hours; paper is the paper's full protocol."""
    if env not in ENVS:
        raise ValueError(f"unknown environment {env!r}: choose one of {', '.join(ENVS)}")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    doom = env == "doom"
    cfg = Config(env=env, preset=name, run_dir=run_dir or f"runs/{env}-{name}")
    if doom:  # appendix: Nz 64, 512 units, dream at tau 1.15; original: 500-step chunks, lr decay
        cfg = replace(cfg, vae=replace(cfg.vae, nz=64),
                      rnn=replace(cfg.rnn, hidden=512, seq_len=500, lr_decay=0.99999),
                      evolve=replace(cfg.evolve, in_dream=True, generations=300))
    if name == "paper":
        return cfg
    if name == "default":  # Doom: run ~1.5 h + iterate ~1.5 h on 2 cores; timings in README
        return replace(
            cfg,
            collect=replace(cfg.collect, rollouts=1500 if doom else 200),
            vae=replace(cfg.vae, epochs=1, max_frames=300_000),
            rnn=replace(cfg.rnn, epochs=60 if doom else 20, seq_len=100 if doom else 999),
            evolve=replace(cfg.evolve, generations=20 if doom else 30,
                           rollouts=16 if doom else 2, eval_every=10,
                           eval_rollouts=1024 if doom else 16),
            iterate=replace(cfg.iterate, rollouts=300, generations=20))
    return replace(  # tiny: every stage in seconds, on the real environments
        cfg,
        collect=replace(cfg.collect, rollouts=4, max_frames=0 if doom else 60),
        vae=replace(cfg.vae, batch=16, epochs=1, checkpoint_every=5),
        rnn=replace(cfg.rnn, hidden=32, seq_len=20, batch=4, epochs=2, checkpoint_every=5),
        evolve=replace(cfg.evolve, population=4, rollouts=2, generations=2, eval_every=1,
                       eval_rollouts=4, max_steps=50 if not doom else 0, workers=2),
        evaluate=replace(cfg.evaluate, trials=2, max_steps=50 if not doom else 0),
        iterate=replace(cfg.iterate, iterations=1, rollouts=2, rnn_epochs=1, generations=1))


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


def from_json(text):
    d = json.loads(text)
    sections = {"collect": Collect, "vae": TrainV, "rnn": TrainM, "evolve": Evolve,
                "evaluate": Evaluate, "iterate": Iterate}
    return Config(**{k: sections[k](**v) if k in sections else v for k, v in d.items()})
