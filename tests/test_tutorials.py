"""Every tutorial chapter and every solution runs in fast mode (MINWM_FAST=1) as a plain script,
exits 0 and writes its pictures into a temporary output folder (MINWM_OUT)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None

# pictures each script writes: always (Pillow), and with matplotlib installed
PICTURES = {
    "01_autograd.py": ([], ["01_fd_error.png", "01_fit.png"]),
    "02_convolution.py": (["02_conv.png"], []),
    "03_vae.py": (["03_reconstructions.png", "03_traversals.png", "vae.npz"], ["03_vae_loss.png"]),
    "04_lstm.py": ([], ["04_lstm_cell.png", "04_bptt_gradients.png"]),
    "05_mdn.py": ([], ["05_mdn_tau.png", "05_mdn_two_futures.png"]),
    "06_cma_es.py": (["06_controller.npz"], ["06_cma_quadratic.png", "06_cma_ellipses.png",
                                            "06_dream_evolution.png"]),
    "07_carracing.py": (["07_frames.png", "07_toy_frames.png", "07_agent.png"],
                        ["07_agent_diagram.png", "07_scores.png"]),
    "08_doom_dream.py": (["08_dream.gif", "08_dream_strip.png"],
                         ["08_dream_diagram.png", "08_tau.png", "08_transfer.png"]),
    "09_iterative.py": ([], ["09_rounds.png"]),
    "solutions/03_vae.py": (["03_solution_interpolation.png"], []),
}
SCRIPTS = sorted(str(p.relative_to(TUTORIALS)) for p in
                 list(TUTORIALS.glob("[0-9][0-9]_*.py")) + list(TUTORIALS.glob("solutions/[0-9][0-9]_*.py")))


def test_every_chapter_has_a_solution_and_is_listed():
    chapters = [s for s in SCRIPTS if "/" not in s]
    assert chapters, "no chapters found"
    for c in chapters:
        assert f"solutions/{c}" in SCRIPTS, f"{c} has no solutions file"
        assert c in PICTURES, f"{c}: list the pictures it writes in PICTURES"


@pytest.mark.parametrize("script", SCRIPTS)
def test_runs_in_fast_mode(script, tmp_path):
    env = {**os.environ, "MINWM_FAST": "1", "MINWM_OUT": str(tmp_path), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(TUTORIALS / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)   # a hang guard
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    always, with_mpl = PICTURES.get(script, ([], []))
    for name in always + (with_mpl if HAVE_MPL else []):
        out = tmp_path / name
        assert out.is_file() and out.stat().st_size > 0, f"{script} did not write {name}"
