"""Every tutorial chapter's fast mode (MINWM_FAST=1), timed as CI runs it: Numba's cache cold.

    python bench/tutorials.py               chapters 01-09, one after the other
    python bench/tutorials.py 07 08 09      only these chapters

minwm's Numba kernels are compiled with cache=True: Numba keeps the compiled code in
`__pycache__` beside the sources, or in NUMBA_CACHE_DIR when that is set. A fresh CI checkout has
no cache, so its first use of each kernel compiles it. Here every chapter gets an empty
NUMBA_CACHE_DIR of its own (its worker processes inherit it), so each is timed as if it ran
first, and an empty output folder and working directory. The budget is 60 s per chapter on two
quiet cores (issue 31); CPU seconds (this chapter's processes, workers included) are printed
beside the wall time, since on a shared machine the wall time says more about the neighbours.

Prints one line per chapter and writes the table, with the machine's load, to
bench/results/tutorials.txt.
"""
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 60.0                                       # seconds per chapter, on 2 quiet cores


def run(chapter):
    """Run one chapter in fast mode with a cold Numba cache -> (wall s, CPU s, exit code, output tail)."""
    with tempfile.TemporaryDirectory(prefix="minwm-bench-tutorial-") as tmp:
        cache, out = Path(tmp) / "numba", Path(tmp) / "out"
        cache.mkdir(), out.mkdir()
        env = {**os.environ, "MINWM_FAST": "1", "MINWM_OUT": str(out), "MPLBACKEND": "Agg",
               "NUMBA_CACHE_DIR": str(cache)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(chapter)], cwd=tmp, env=env, capture_output=True,
                              text=True, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = (proc.stdout + proc.stderr).replace("\r", "\n").strip().splitlines()[-15:]
    return wall, cpu, proc.returncode, tail


def main(argv):
    chapters = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
    if argv:
        chapters = [c for c in chapters if c.name[:2] in argv]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"# {time.strftime('%Y-%m-%d %H:%M')} UTC: python bench/tutorials.py {' '.join(argv)}".rstrip(),
             (f"# {os.cpu_count()} cores, load average at the start {load}; MINWM_FAST=1, a cold Numba "
              f"cache per chapter; budget {BUDGET:.0f} s"),
             f"{'chapter':22s} {'wall s':>7s} {'CPU s':>7s}  result"]
    print("\n".join(lines), flush=True)
    failures = []
    for chapter in chapters:
        wall, cpu, code, tail = run(chapter)
        verdict = "FAILED" if code else ("ok" if wall <= BUDGET else f"over {BUDGET:.0f} s")
        lines.append(f"{chapter.name:22s} {wall:7.1f} {cpu:7.1f}  {verdict}")
        print(lines[-1], flush=True)
        if code:
            failures.append([f"## {chapter.name} (exit {code}), its last lines:"] + tail)
    lines.append(f"# load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(lines[-1])
    for f in failures:
        print("\n".join(f))
        lines += f
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "tutorials.txt").write_text("\n".join(lines) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
