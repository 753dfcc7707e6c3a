"""minwm's training steps beside the PyTorch-CPU peer, measured interleaved in one run (issue 26).

    python bench/peer.py --peer-python PEER_PYTHON --peer-dir PEER_DIR            # about 10 minutes
    python bench/peer.py --peer-python PEER_PYTHON --peer-dir PEER_DIR --quick    # about 4 minutes
    python bench/peer.py ... --only m-doom --rounds 2

PEER_PYTHON is a Python with torch (a separate venv: the package and its tests never import
torch); PEER_DIR holds the peer scripts (mdnrnn_torch.py, vae_torch.py). Nothing of the peer
is stored here.

For each workload the order is: minwm, peer stock, peer tuned, minwm (times --rounds, then one
closing minwm run), every run in its own process with the same thread count. "Tuned" is the
peer with glibc malloc told to keep freed memory (MALLOC_MMAP_MAX_=0,
MALLOC_TRIM_THRESHOLD_=100000000000), the figure to beat; minwm sets the same thing itself
(minwm.autograd). Ratios are the median of minwm's runs over the median of the peer's.

Workloads (batch 100):
  m-carracing  M training step, H=256, Nz 32, 100 x 999                     timesteps/s
  m-doom       M training step, H=512, Nz 64, 100 x 500, done head, restart  timesteps/s
  v-train      V training step, Nz 32                                       frames/s
  v-encode     V's encoder alone (mu, logvar), batch 64, Nz 32               frames/s
Each figure is the median of several steps after a warm-up step (forward, loss, backward, clip
by value, Adam). Every run reports foreign_cpu_frac: the share of the machine's CPU that other
processes used meanwhile; above ~0.1 the figure is not clean (and a 2-thread benchmark collapses
when another process holds a core). Final figures must come from a quiet machine.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TUNED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
WORKLOADS = {  # name: (peer script, its arguments, key in its JSON, unit)
    "m-carracing": ("mdnrnn_torch.py", ["--size", "carracing"], ("carracing",), "timesteps/s"),
    "m-doom": ("mdnrnn_torch.py", ["--size", "doom"], ("doom",), "timesteps/s"),
    "v-train": ("vae_torch.py", ["--nz", "32", "--encode-batches", "64"], ("nz32", "train_b100"),
                "frames/s"),
    "v-encode": ("vae_torch.py", ["--nz", "32", "--encode-batches", "64"], ("nz32", "encode_b64"),
                 "frames/s"),
}


class CpuMonitor:
    """CPU time other processes used between start() and stop(), as a share of the machine."""

    def start(self):
        self.busy, self.own, self.t = self._busy(), self._own(), time.time()
        return self

    @staticmethod
    def _busy():
        with open("/proc/stat") as f:
            v = list(map(int, f.readline().split()[1:]))
        return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system

    def stop(self):
        wall = max(time.time() - self.t, 1e-9)
        foreign = (self._busy() - self.busy) - (self._own() - self.own)
        return {"foreign_cpu_frac": round(max(0.0, foreign) / (wall * (os.cpu_count() or 1)), 3)}


def worker(name, steps):
    """Runs in its own process: minwm's benchmark of one workload (bench/core.py), one JSON line."""
    sys.path.insert(0, HERE)
    import core

    from minwm import mdnrnn
    mon = CpuMonitor().start()
    if name == "v-train":
        rate = core.bench_vae(32, steps)
    elif name == "v-encode":
        rate = core.bench_encode(32, 64, steps)
    elif name == "m-carracing":
        rate = core.bench_mdnrnn(mdnrnn.MDNRNNConfig(nz=32, na=3, hidden=256), 999, steps)
    else:
        rate = core.bench_mdnrnn(mdnrnn.MDNRNNConfig(nz=64, na=1, hidden=512, restart=True,
                                                     done=True), 500, steps)
    print(json.dumps({"rate": rate, "contention": mon.stop(),
                      "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def run(cmd, env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # failure reported below
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def minwm_run(name, steps, threads):
    env = {k: str(threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])
    r = run([sys.executable, os.path.abspath(__file__), "--worker", name, "--steps", str(steps)], env)
    return r["rate"], r["contention"]["foreign_cpu_frac"], r["max_rss_mb"]


def peer_run(name, args, tuned):
    script, extra, key, _ = WORKLOADS[name]
    cmd = [args.peer_python, os.path.join(args.peer_dir, script), "--threads", str(args.threads),
           "--wait-quiet", "0", "--repeats", str(args.peer_repeats), *extra]
    r = run(cmd, TUNED if tuned else {})
    entry = r["results"]
    for k in key:
        entry = entry[k]
    rate = entry.get("timesteps_per_s", entry.get("frames_per_s"))
    return rate, entry["contention"]["foreign_cpu_frac"], r.get("max_rss_mb", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--peer-python", help="a Python with torch installed")
    ap.add_argument("--peer-dir", help="the folder of the peer scripts (mdnrnn_torch.py, vae_torch.py)")
    ap.add_argument("--quick", action="store_true", help="fewer steps and one round")
    ap.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default 2, quick 1)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.steps)
    if not (args.peer_python and args.peer_dir):
        ap.error("--peer-python and --peer-dir are required")
    rounds = args.rounds or (1 if args.quick else 2)
    steps = 3 if args.quick else 5
    args.peer_repeats = 2 if args.quick else 3
    print(f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} cores, "
          f"{args.threads} threads, {rounds} round(s){', quick' if args.quick else ''}")
    print("# each line: one run in its own process; foreign = share of the CPU other processes used")
    summary = []
    for name in args.only.split(","):
        unit = WORKLOADS[name][3]
        runs = {"minwm": [], "stock": [], "tuned": []}
        def show(who, r, runs=runs, name=name, unit=unit):
            runs[who].append(r)
            print(f"{name:12s} {who:6s} {r[0]:10,.0f} {unit:12s} foreign {r[1]:.2f}  "
                  f"peak RSS {r[2]:,.0f} MB", flush=True)
        show("minwm", minwm_run(name, steps, args.threads))
        for _ in range(rounds):
            show("stock", peer_run(name, args, tuned=False))
            show("tuned", peer_run(name, args, tuned=True))
            show("minwm", minwm_run(name, steps, args.threads))
        med = {who: statistics.median(r[0] for r in rs) for who, rs in runs.items()}
        worst = max(r[1] for rs in runs.values() for r in rs)
        summary.append(f"{name:12s} minwm {med['minwm']:9,.0f}  stock {med['stock']:9,.0f}  "
                       f"tuned {med['tuned']:9,.0f} {unit:12s} minwm/stock {med['minwm'] / med['stock']:.2f}x"
                       f"  minwm/tuned {med['minwm'] / med['tuned']:.2f}x  (max foreign {worst:.2f})")
    print("# medians and ratios")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
