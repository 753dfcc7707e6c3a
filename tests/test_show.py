"""show: GIFs with one palette, V's reconstructions beside the game."""
import numpy as np
from PIL import Image

from minwm import infer, show


def test_save_gif_round_trips_frame_count_and_size(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (9, 64, 128, 3), dtype=np.uint8)
    show.save_gif(frames, tmp_path / "a.gif", every=1, steps_per_s=20)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 9 and im.size == (128, 64)
        assert im.info["duration"] == 50 and im.info["loop"] == 0
    show.save_gif(frames, tmp_path / "a2.gif")                   # every second step, in real time
    with Image.open(tmp_path / "a2.gif") as im:
        assert im.n_frames == 5 and im.info["duration"] == 60   # 2 / 35 s, in 1/100 s
    # flat colours come back exactly (a palette of 64 colours holds them all)
    flat = np.zeros((3, 64, 64, 3), np.uint8)
    flat[0], flat[1, :, :, 0], flat[2, :, :, 2] = 255, 200, 90
    show.save_gif(flat, tmp_path / "b.gif", every=1)
    with Image.open(tmp_path / "b.gif") as im:
        assert im.n_frames == 3 and im.size == (64, 64)
        for t in range(3):
            im.seek(t)
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), flat[t])


def test_reconstruct_is_decode_of_mu():
    rng = np.random.default_rng(1)
    vae = infer.vae_from_arrays(infer.random_vae_arrays(8, rng))
    frames = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    out = show.reconstruct(vae, frames, chunk=2)
    assert out.shape == (5, 64, 64, 3) and out.dtype == np.uint8
    want = infer.decode(vae, infer.encode(vae, frames)[0])
    np.testing.assert_array_equal(out, (want * 255.0 + 0.5).astype(np.uint8))
