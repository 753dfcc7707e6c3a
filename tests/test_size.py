"""The library stays small enough to read in an afternoon (a line gate, like tinygrad's CI)."""
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "minwm"
MAX_FILE, MAX_TOTAL = 320, 4200  # 4000 until the pygame-free CarRacing frame (issue 27): +~480


def test_line_budget():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    too_long = {name: n for name, n in sizes.items() if n > MAX_FILE}
    assert not too_long, f"split these by concept (over {MAX_FILE} lines): {too_long}"
    assert sum(sizes.values()) <= MAX_TOTAL, f"minwm is {sum(sizes.values())} lines (budget {MAX_TOTAL})"
