"""The library stays small enough to read in an afternoon (a line gate, like tinygrad's CI)."""
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "minwm"
# 4000 until the package gained formats.py (every saved format), pool.py (worker processes),
# measure.py (does the dream predict the game?) and the pygame-free CarRacing frame
# (carracing_draw.py, carracing_render.py: ~480 lines); the per-file cap stays.
# 4900 -> 5000: toy.py (103 lines), the third environment (issue 31): 4,980 lines.
# 5000 -> 5200: train_kernels.py (214 lines), M's fused training kernels (issue 26): 5,171 lines.
# 5200 -> 5230: Dropout's Dream Land's dropout in M's training and in the dream (issue 30).
# 5230 -> 5440: parallel.py (71 lines), both cores on one batch without BLAS's spinning threads,
# used by V's and M's training steps (parallel.backward_in_parts, vae/mdnrnn.loss_and_grad) and
# the batched encode; ops in cache-sized chunks with bias and ReLU fused (issue 26): 5,429 lines.
# 5440 -> 5540: the batched agent (issue 27): K envs in lockstep, refilled from a chunk of tasks,
# V and M batch-invariant (per-frame BLAS calls): agent.py 103 -> 175 lines, 5,530 in all.
# 5540 -> 5720: the faster CarRacing frame (issue 27): the per-frame geometry in Numba kernels
# (carracing_render.py) and SDL_gfx's polygons row by row (carracing_gfx.py, split from
# carracing_draw.py): 5,711 lines. 5720 -> 5740: measure keeps each real episode as it ends
# (resumes; a dream-only variant reuses the game's side): 5,738 lines. 5740 -> 5755: a Doom
# worker defers SIGTERM while its engine starts, not only while it closes (doom.py): 5,753 lines.
# 5755 -> 5775: measure's wall trap (C's that hold left / right, dream against game; issue 30).
MAX_FILE, MAX_TOTAL = 320, 5775


def test_line_budget():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    too_long = {name: n for name, n in sizes.items() if n > MAX_FILE}
    assert not too_long, f"split these by concept (over {MAX_FILE} lines): {too_long}"
    assert sum(sizes.values()) <= MAX_TOTAL, f"minwm is {sum(sizes.values())} lines (budget {MAX_TOTAL})"
