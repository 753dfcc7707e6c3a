"""The minwm command: clear errors for bad config and missing inputs, config carried between stages."""
import subprocess
import sys

from minwm import cli, config


def test_unknown_key_lists_valid_ones(tmp_path, capsys):
    assert cli.main(["train-rnn", "doom", "--run-dir", str(tmp_path), "rnn.epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'rnn.epoch'" in err and "rnn.epochs" in err and "evolve.tau" in err


def test_missing_input_says_which_command_first(tmp_path, capsys):
    assert cli.main(["train-rnn", "doom", "--run-dir", str(tmp_path)]) == 2
    assert "run `minwm encode doom` first" in capsys.readouterr().err
    assert cli.main(["evolve", "doom", "--run-dir", str(tmp_path)]) == 2
    assert "run `minwm train-vae doom` first" in capsys.readouterr().err
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
