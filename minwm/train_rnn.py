"""Stage train-rnn: M learns P(z_{t+1} | z_t, a_t, h_t) with teacher forcing (paper section 3.1).

    for each epoch:
        cut the recorded stream of episodes into windows of seq_len + 1 frames, shuffle them
        for each batch of windows:
            z = mu + exp(logvar / 2) * eps      re-sampled every batch (appendix A.2)
            rnn.dropout > 0: a new dropout mask per window on z and h (Dropout's Dream Land)
            loss = mixture NLL of z_{t+1} (+ Doom's weighted done loss); Adam; clip by value

The stream concatenates all episodes; restart flags zero the LSTM state where an episode starts
inside a window (Doom also sees the flag as an input), and the z loss skips the one target per
boundary that belongs to the next episode. Each window starts from a zero state, so M never sees
more than seq_len steps of an episode, while the dream runs it for up to 2,100. rnn.carry_state
trains statefully instead (truncated backpropagation through time): the episodes, shuffled each
epoch, are laid end to end in `batch` lanes, each lane is read in consecutive windows, and the
LSTM state at the end of one window is where the next begins, so every step sees its episode's
whole past and the gradient reaches back seq_len steps. rnn.val_share > 0 holds a share of the
windows out and logs their losses after every epoch (the done head, with few deaths to learn
from, can over-fit while the z loss looks fine). Checkpoints hold parameters, Adam's moments, the
RNG, the epoch's shuffle and the carried state, so an interrupted run resumes exactly where it
stopped.
"""
import time

import numpy as np
from tqdm import tqdm

from minwm import formats, mdnrnn, runs
from minwm.config import Config, spec
from minwm.kernels import dropout_keep
from minwm.optim import Adam, clip_grad_value


def model_config(cfg: Config, series):
    s = spec(cfg.env)
    return mdnrnn.MDNRNNConfig(nz=series["mu"].shape[1], na=series["action"].shape[1],
                               hidden=cfg.rnn.hidden, k=cfg.rnn.k, restart=s.m_restart, done=s.m_done)


def windows(n_frames, seq_len):
    """Start indices of non-overlapping windows of seq_len + 1 frames (inputs and targets)."""
    return np.arange(0, n_frames - seq_len, seq_len + 1)


def split_windows(starts, share, seed):
    """(train, held out) start indices: a random `share` of the windows is held out (at least one
    if share > 0), drawn from its own seeded generator so training's RNG stream is untouched."""
    if not 0 <= share < 1:
        raise ValueError(f"rnn.val_share={share}: give a share of windows in [0, 1), e.g. 0.05")
    if share == 0:
        return starts, starts[:0]
    perm = np.random.default_rng(seed).permutation(starts)
    n_val = max(1, int(len(starts) * share))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def validate(p, mcfg, series, starts, seq_len, batch=100):
    """Mean (z loss, done loss) over the windows at `starts`, without training on them. z is
    re-sampled with a fixed seed, so values are comparable from epoch to epoch and across Ms."""
    rng, z_sum, done_sum = np.random.default_rng(0), 0.0, 0.0
    for i in range(0, len(starts), batch):
        b = starts[i:i + batch]
        _, z_loss, done_loss = mdnrnn.loss(
            p, mcfg, *batch_arrays(series, b[:, None] + np.arange(seq_len + 1), rng))
        z_sum, done_sum = z_sum + z_loss * len(b), done_sum + done_loss * len(b)
    return z_sum / len(starts), done_sum / len(starts)


def episode_bounds(series):
    """Frame index where each episode starts, and one past the last frame: (E + 1,)."""
    return np.append(np.flatnonzero(series["restart"]), len(series["restart"]))


def lanes(bounds, order, batch, seq_len):
    """Stateful windows (rnn.carry_state) of one epoch -> frame indices (steps, batch, T+1).

    The episodes in `order` are laid end to end, the stream cut into `batch` lanes of L frames
    (the last few frames left out), and lane n read in windows j = 0, 1, ..: frames jT .. jT + T.
    Window j + 1 starts at the frame whose target ended window j, so the state after window j is
    exactly the state window j + 1 starts from."""
    stream = np.concatenate([np.arange(bounds[e], bounds[e + 1]) for e in order])
    L = len(stream) // batch
    lane = stream[:L * batch].reshape(batch, L)
    steps = (L - 1) // seq_len
    return np.stack([lane[:, j * seq_len:j * seq_len + seq_len + 1] for j in range(steps)])


def epoch_windows(order, bounds, batch, seq_len, carry):
    """One epoch's batches as frame indices (steps, batch, T+1). order: the shuffled window
    starts, or with carry the shuffled episodes."""
    if carry:
        return lanes(bounds, order, batch, seq_len)
    n = len(order) // batch
    return order[:n * batch].reshape(n, batch)[..., None] + np.arange(seq_len + 1)


def batch_arrays(series, idx, rng):
    """Gather windows at the frame indices idx (N, T+1) -> z (N, T+1, Z) re-sampled, a, restart,
    done, mask (N, T, .)."""
    mu, logvar = series["mu"][idx], series["logvar"][idx]
    z = mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape, dtype=np.float32)
    restart = series["restart"][idx].astype(np.float32)              # (N, T+1)
    return (z.astype(np.float32), series["action"][idx[:, :-1]], restart[:, :-1],
            series["done"][idx[:, :-1]].astype(np.float32), 1 - restart[:, 1:])


def main(cfg: Config):
    """train-rnn: M on the encoded series; writes mdnrnn.npz (the inference layout)."""
    with runs.writer(cfg.path):
        return _train(cfg)


def _train(cfg: Config):
    out = cfg.path / "mdnrnn.npz"
    ckpt_path = cfg.path / "mdnrnn.ckpt.npz"
    series, _ = formats.read_series(cfg.path / "series.npz", f"minwm encode {cfg.env}")
    mcfg = model_config(cfg, series)
    T, carry = cfg.rnn.seq_len, cfg.rnn.carry_state
    if carry and cfg.rnn.val_share:
        raise ValueError("rnn.carry_state reads every window in lanes and holds none out: "
                         "set rnn.val_share=0 (or rnn.carry_state=false)")
    bounds = episode_bounds(series)
    starts_all, held_out = split_windows(windows(len(series["mu"]), T), cfg.rnn.val_share, cfg.seed + 3)
    if len(starts_all) == 0:
        raise ValueError(f"only {len(series['mu'])} recorded frames: fewer than rnn.seq_len + 1 = "
                         f"{T + 1}; collect more rollouts or lower rnn.seq_len")
    batch = min(cfg.rnn.batch, len(starts_all))
    if carry and len(series["mu"]) // batch < T + 1:
        raise ValueError(f"rnn.carry_state: {len(series['mu'])} frames in {batch} lanes are "
                         f"shorter than rnn.seq_len + 1 = {T + 1}; lower rnn.batch or rnn.seq_len")
    shuffle = lambda rng: rng.permutation(len(bounds) - 1 if carry else starts_all)

    rng = np.random.default_rng(cfg.seed + 2)
    p = mdnrnn.init_params(mcfg, rng)
    schedule = lambda t: max(cfg.rnn.lr * cfg.rnn.lr_decay ** t, cfg.rnn.lr_min)
    opt = Adam(p.values(), lr=cfg.rnn.lr, lr_schedule=schedule)
    log = runs.Log(cfg.path / "mdnrnn.jsonl")
    runs.save_config(cfg)
    step, order = 0, shuffle(rng)
    state = [np.zeros((batch, cfg.rnn.hidden), np.float32) for _ in range(2)]   # carry_state's (h, c)
    resumed = ckpt_path.exists() and runs.load_training(ckpt_path, p, opt, rng,
                                                           f"minwm train-rnn {cfg.env}")
    if cfg.rnn.init and not resumed:                                 # continue earlier weights
        mdnrnn.load_exported(p, mcfg, cfg.rnn.init)
    if resumed:                                                      # resume
        step, arrays = resumed
        order = arrays["order"]
        if carry:
            state = [arrays["h"], arrays["c"]]
    idx = epoch_windows(order, bounds, batch, T, carry)              # (steps, batch, T+1)
    steps_per_epoch = len(idx)
    total = steps_per_epoch * cfg.rnn.epochs
    log.truncate_after("step", step)                                 # a fresh start: an empty log
    if step >= total and out.exists():
        return out

    def checkpoint():  # with the epoch's shuffle (and carried state), so a resumed epoch replays it
        runs.save_training(ckpt_path, p, opt, step, rng, order=order, h=state[0], c=state[1])

    bar = tqdm(total=total, initial=step, desc=f"train-rnn {cfg.env}", unit="step", smoothing=0.1)
    t0 = time.time()
    try:
        while step < total:
            before = step, runs.rng_state(rng), list(state)   # what a Ctrl-C inside this step undoes
            i = step % steps_per_epoch
            z, a, restart, done, mask = batch_arrays(series, idx[i], rng)
            keep = (dropout_keep(rng, (len(z), mcfg.nz + mcfg.hidden), cfg.rnn.dropout)
                    if cfg.rnn.dropout else None)                    # one mask per window
            loss, z_loss, done_loss = mdnrnn.loss_and_grad(p, mcfg, z, a, restart, done, mask,
                                                           carry=state if carry else None, keep=keep)
            runs.check_finite(loss, "the M loss", ckpt_path)
            clip_grad_value(p.values(), cfg.rnn.grad_clip)
            opt.step()
            step += 1
            rate = batch * T * (step - bar.initial) / (time.time() - t0)
            val = {}                      # held-out windows after each epoch: is M over-fitting?
            if len(held_out) and step % steps_per_epoch == 0:
                val = dict(zip(("val_z_loss", "val_done_loss"),
                               validate(p, mcfg, series, held_out, T, batch)))
                bar.write(f"epoch {step // steps_per_epoch}: held-out z loss {val['val_z_loss']:.4f}, "
                          f"done loss {val['val_done_loss']:.4f}")
            log(step=step, epoch=step / steps_per_epoch, loss=loss, z_loss=z_loss,
                done_loss=done_loss, lr=opt.lr, **val)
            bar.set_postfix(loss=f"{loss:.3f}", z=f"{z_loss:.3f}", ts_per_s=f"{rate:.0f}")
            bar.update()
            if step % cfg.rnn.checkpoint_every == 0 or step % steps_per_epoch == 0:
                if step % steps_per_epoch == 0:
                    order = shuffle(rng)                                 # next epoch's shuffle
                    idx = epoch_windows(order, bounds, batch, T, carry)
                    state = [np.zeros_like(x) for x in state]            # and fresh lanes
                checkpoint()
    except KeyboardInterrupt:                                        # Ctrl-C: keep every finished step
        if step == before[0]:                                        # and undo the unfinished one
            runs.set_rng_state(rng, before[1])
            state[:] = before[2]
        checkpoint()
        raise
    bar.close()
    mdnrnn.export(p, mcfg, out)
    return out
