"""The minwm command: clear errors for bad config and missing inputs, config carried between stages."""
import re
import subprocess
import sys

import numpy as np

from minwm import cli, config, infer, runs


def test_unknown_key_lists_valid_ones(tmp_path, capsys):
    assert cli.main(["train-rnn", "doom", "--run-dir", str(tmp_path), "rnn.epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'rnn.epoch'" in err and "rnn.epochs" in err and "evolve.tau" in err


def test_missing_input_says_which_command_first(tmp_path, capsys):
    assert cli.main(["train-rnn", "doom", "--run-dir", str(tmp_path)]) == 2
    assert "run `minwm encode doom` first" in capsys.readouterr().err
    assert cli.main(["evolve", "doom", "--run-dir", str(tmp_path)]) == 2
    assert "run `minwm train-rnn doom` first" in capsys.readouterr().err
    car = tmp_path / "car"                              # C in the real game also needs V
    car.mkdir()
    np.savez(car / "mdnrnn.npz", **infer.random_mdnrnn_arrays(32, 3, 32, np.random.default_rng(0)))
    assert cli.main(["evolve", "carracing", "--run-dir", str(car)]) == 2
    assert "run `minwm train-vae carracing` first" in capsys.readouterr().err
    assert cli.main(["train-vae", "doom", "--run-dir", str(tmp_path)]) == 2
    assert "run `minwm collect doom` first" in capsys.readouterr().err


def test_later_stages_pick_up_the_runs_config(tmp_path):
    cfg = config.override(config.preset("doom", "tiny", run_dir=str(tmp_path)), ["rnn.hidden=48"])
    (tmp_path / "config.json").write_text(config.to_json(cfg))
    args = cli.argparse.Namespace(env="doom", preset=None, run_dir=str(tmp_path), overrides=["seed=3"])
    got = cli.make_config(args)
    assert got.rnn.hidden == 48 and got.preset == "tiny" and got.seed == 3
    # a copy of the run directory: its stages write to the copy, not to the original
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_text(config.to_json(cfg))
    args.run_dir = str(copy)
    assert cli.make_config(args).path == copy and cli.make_config(args).rnn.hidden == 48


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "minwm.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train-rnn" in out.stdout and "demo" in out.stdout


def test_bad_file_and_busy_run_are_clear_errors(tmp_path, capsys):
    (tmp_path / "mdnrnn.npz").write_bytes(b"not an npz")
    assert cli.main(["evolve", "doom", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"mdnrnn.npz: not an? .*\.npz", err) and "rebuild it with `minwm train-rnn doom`" in err
    assert "pickle" not in err                          # neither the diagnosis nor the advice
    with runs.writer(tmp_path):                         # another process writing this run
        assert cli.main(["train-rnn", "doom", "--run-dir", str(tmp_path)]) == 2
        assert f"{tmp_path} is being written by pid " in capsys.readouterr().err
    with runs.writer(tmp_path):                         # the lock is released on leaving
        pass
