"""The `minwm` command: one subcommand per stage of the paper's procedure, and `run` for all.

    minwm run doom                            collect -> train-vae -> encode -> train-rnn -> evolve -> evaluate
    minwm train-rnn doom rnn.epochs=5         any config field can be overridden as section.field=value
    minwm evolve carracing --preset tiny      presets: tiny (seconds), default (hours), paper
                                              (config keys: any section.field, e.g. evolve.tau=1.25)
    minwm demo                                evolve briefly in the shipped dream, then play the shipped agent

A stage run again on the same run directory picks up that run's config.json (overrides apply on
top) and resumes from its checkpoint. Thin on purpose: every stage is a main(cfg) in its module.
"""
import argparse
import importlib
import signal
import sys
from dataclasses import replace
from pathlib import Path

from minwm import config, formats, runs

STAGES = ("collect", "train-vae", "encode", "train-rnn", "evolve", "evaluate")


# stage -> (module, its main(cfg), the output that shows the stage is done)
STAGE_MAINS = {
    "collect": ("minwm.collect", "main", "rollouts"),
    "train-vae": ("minwm.train_vae", "main", "vae.npz"),
    "encode": ("minwm.encode", "main", "series.npz"),
    "train-rnn": ("minwm.train_rnn", "main", "mdnrnn.npz"),
    "evolve": ("minwm.evolve", "main", "controller.npz"),
    "evaluate": ("minwm.evaluate", "main", "evaluate.json"),
    "play": ("minwm.show", "play", None),
    "dream": ("minwm.show", "dream_gif", None),
    "iterate": ("minwm.iterate", "main", None),
    "measure": ("minwm.measure", "main", None),
}


def stage_main(name):
    """The main(cfg) of a stage and its output file, imported lazily: `minwm evolve` in the dream
    never loads gymnasium."""
    module, fn, output = STAGE_MAINS[name]
    return getattr(importlib.import_module(module), fn), output


def make_config(args):
    """Preset (or the run directory's saved config.json) + overrides."""
    run_dir = args.run_dir or f"runs/{args.env}-{args.preset or 'default'}"
    saved = Path(run_dir) / "config.json"
    if args.preset is None and saved.exists():  # a copied run directory writes to itself
        cfg = replace(config.from_json(saved.read_text(), str(saved)), run_dir=run_dir)
    else:
        cfg = config.preset(args.env, args.preset or "default", run_dir=run_dir)
    return config.override(cfg, args.overrides)


def run_all(cfg):
    """All stages in order, skipping those whose outputs exist (each also resumes on its own)."""
    for name in STAGES:
        fn, output = stage_main(name)
        if (cfg.path / output).exists() and name not in ("collect",):
            print(f"[{name}] {cfg.path / output} exists, skipped")
            continue
        print(f"[{name}]")
        fn(cfg)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # `kill` (SIGTERM) ends a stage like Ctrl-C: checkpoint first


def main(argv=None):
    ap = argparse.ArgumentParser(prog="minwm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in STAGES + ("play", "dream", "iterate", "measure", "run"):
        p = sub.add_parser(name)
        p.add_argument("env", choices=config.ENVS)
        p.add_argument("--preset", choices=config.PRESETS, default=None,
                       help="tiny | default | paper (default: the run's saved config, else default)")
        p.add_argument("--run-dir", default=None, help="default: runs/ENV-PRESET")
        if name in ("play", "dream"):
            p.add_argument("--out", default=None, help="GIF path (default: in the run directory)")
    d = sub.add_parser("demo", help="evolve a few generations in the shipped Doom dream, then play")
    d.add_argument("--generations", type=int, default=3)
    d.add_argument("--out", default="demo")
    # overrides (section.field=value) may stand anywhere after the subcommand
    args, rest = ap.parse_known_args(argv)
    args.overrides = rest
    if args.command == "demo" and rest or any("=" not in r or r.startswith("-") for r in rest):
        ap.error(f"unrecognized arguments: {' '.join(rest)} (overrides look like rnn.epochs=5)")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "demo":
            from minwm.show import demo
            demo(args.generations, Path(args.out))
            return None
        cfg = make_config(args)
        if args.command == "run":
            run_all(cfg)
            return None
        fn, _ = stage_main(args.command)
        fn(cfg, args.out) if args.command in ("play", "dream") else fn(cfg)
    except KeyboardInterrupt:
        print(f"minwm {args.command}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130
    except (formats.MissingInput, formats.FormatError, runs.RunBusy, ValueError,
            FloatingPointError) as e:
        print(f"minwm {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
