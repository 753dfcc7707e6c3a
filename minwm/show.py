"""Pictures of an agent: play (the real game), dream (M's hallucination), and demo, which runs on
the weights shipped with minwm. Commands that only read a run: they take no writer lock.

    play    one episode in the real environment -> GIF: the frame V sees | V's reconstruction
    dream   one rollout inside M's dream at temperature tau, decoded by V -> GIF
    demo    a few generations of CMA-ES inside the shipped Doom dream (from scratch), then the
            shipped agent played and dreamed: only the two GIFs are left in the output folder

GIFs are 64 pixels high (V's own resolution), every second step (the game runs 35 steps a second:
the GIF plays in real time), one shared 64-colour palette, no dither: the demo's 1,050-step
episode is ~1.8 MB, its 2,100-step dream (32 colours: V's decoded frames are smooth) ~1.9 MB.
"""
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from minwm import formats, infer
from minwm.config import Config, override, preset
from minwm.dream import dream, dream_config, dream_frames
from minwm.evaluate import agent_files

SHIPPED = Path(__file__).parent / "weights"


def save_gif(frames, path, every=2, colors=64, steps_per_s=35):
    """frames (T, H, W, 3) uint8 -> an animated GIF of every `every`-th frame, in real time, with
    one palette made from a sample of the frames (a shared palette keeps colours steady and lets
    the encoder store only what changed between frames)."""
    frames = np.asarray(frames)[::every]
    sample = frames[np.linspace(0, len(frames) - 1, min(len(frames), 32)).astype(int)]
    palette = Image.fromarray(np.concatenate(list(sample), axis=0)).quantize(
        colors, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0, optimize=True,
                   duration=10 * round(100 * every / steps_per_s))    # GIFs count 1/100 s


def reconstruct(vae, frames, chunk=256):
    """frames (T, 64, 64, 3) uint8 -> what V makes of them: decode(mu), (T, 64, 64, 3) uint8."""
    out = [infer.decode(vae, infer.encode(vae, frames[s:s + chunk])[0])
           for s in range(0, len(frames), chunk)]
    return (np.concatenate(out) * 255.0 + 0.5).astype(np.uint8)


def play(cfg: Config, out=None, seed=None):
    """play: one episode of the agent in the real game -> GIF of what V saw beside what V made of it."""
    from minwm.agent import episode
    from minwm.config import spec
    _, _, vae, m, ccfg, theta, _ = agent_files(cfg)
    s = spec(cfg.env)
    env = s.make(s.steps(cfg.evaluate.max_steps))
    try:
        seed = cfg.evaluate.seed if seed is None else seed
        r = episode(env, vae, m, ccfg, theta, seed, record=True)
        score, frames = float(r["rewards"].sum()), r["frames"]
    finally:
        env.close()
    out = Path(out or cfg.path / "play.gif")
    save_gif(np.concatenate([frames, reconstruct(vae, frames)], axis=2), out)   # (T, 64, 128, 3)
    print(f"played {cfg.env} seed {seed}: score {score:.1f}, {len(frames)} frames "
          f"(left: the game, right: V's reconstruction) -> {out}")
    return out


def dream_gif(cfg: Config, out=None, seed=0):
    """dream: one rollout of the agent inside M's dream at temperature tau, decoded by V -> GIF."""
    _, _, vae, m, ccfg, theta, _ = agent_files(cfg)
    mu0, logvar0 = formats.read_starts(cfg.path / "series.npz", f"minwm encode {cfg.env}")
    dcfg = dream_config(cfg)
    rewards, zs = dream(m, ccfg, theta, mu0, logvar0, dcfg,
                        np.random.default_rng(seed), count=1, record=True)
    out = Path(out or cfg.path / "dream.gif")
    save_gif(dream_frames(vae, zs[0]), out, colors=32)   # smooth: 32 will do
    print(f"dreamed {int(rewards[0])} steps at tau {dcfg.tau} -> {out}")
    return out


def demo(generations=3, out=Path("demo"), overrides=()):
    """Evolve C for a few generations inside the shipped Doom dream, then play the shipped agent
    in the real game and dream with it: two GIFs in `out`, in a minute or two."""
    from minwm import evolve
    src = SHIPPED / "doom"
    if not (src / "controller.npz").exists():
        raise formats.MissingInput(f"no shipped weights in {src}: run `minwm run doom` to train them")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="minwm-demo-") as work:   # checkpoints, logs: not kept
        for name in ("vae.npz", "mdnrnn.npz", "series.npz"):
            (Path(work) / name).symlink_to(src / name)
        cfg = override(preset("doom", "default", run_dir=work),
                       [f"evolve.generations={generations}", "evolve.rollouts=4",
                        "evolve.eval_rollouts=64", *overrides])
        print(f"[demo] {generations} generations of CMA-ES (population {cfg.evolve.population} x "
              f"{cfg.evolve.rollouts} rollouts) inside the shipped dream, from scratch:")
        evolve.main(cfg)
    print("[demo] the shipped agent, trained entirely in the dream, in the real game:")
    shipped = preset("doom", "default", run_dir=str(src))
    play(shipped, out / "play.gif")
    dream_gif(shipped, out / "dream.gif")
