"""The command line, run in-process (and once as ``python -m textclf``)."""

import subprocess
import sys

import pytest

from conftest import write_config
from textclf.cli import main

COMMANDS = ["data", "train", "evaluate", "predict", "sanity", "lr-find", "report", "explain"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: textclf " + command in capsys.readouterr().out


def test_python_dash_m_is_the_same_program():
    out = subprocess.run([sys.executable, "-m", "textclf", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


def test_data_command_prints_split_sizes_and_writes_statistics(mini_config, tmp_path, capsys):
    assert main(["data", "--config", str(mini_config), "--output", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "splits: train 240 / val 80 / test 80" in out
    assert "rec.sport.hockey" in out and "one training batch: ids (16," in out
    assert (tmp_path / "d" / "statistics.json").is_file()
    assert (tmp_path / "d" / "class_distribution.png").stat().st_size > 1000


def test_evaluate_command(trained_run, tmp_path, capsys):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--split", "val", "--output", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert "val: accuracy" in out and "majority class 25.00%" in out and "talk.politics.mideast" in out
    for name in ("metrics.json", "per_class.csv", "confusion_matrix.csv", "confusion_matrix.png", "predictions.csv"):
        assert (tmp_path / "e" / name).is_file()


def assert_clean_error(capsys, code, expected_code, *needles):
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines)
    for needle in needles:
        assert needle in err


def test_bad_inputs_get_one_line_errors_and_exit_codes(tmp_path, capsys):
    missing = write_config(tmp_path / "m.yaml", f"data:\n  root: {tmp_path / 'void'}\n")
    code = main(["data", "--config", str(missing)])
    assert_clean_error(capsys, code, 4, "20 Newsgroups not found", "TEXTCLF_DATA", "data.download")

    unknown = write_config(tmp_path / "u.yaml", "trian:\n  lr: 1\n")
    assert_clean_error(capsys, main(["train", "--config", str(unknown)]), 3, "did you mean 'train'")

    wrong = write_config(tmp_path / "w.yaml", "train:\n  batch_size: big\n")
    assert_clean_error(capsys, main(["train", "--config", str(wrong)]), 3, "train.batch_size", "integer")

    model = write_config(tmp_path / "x.yaml", "model:\n  name: cnn\n")
    assert_clean_error(capsys, main(["train", "--config", str(model)]), 3, "unknown model 'cnn'",
                       "bigru_attention, linear, lstm")

    code = main(["evaluate", "--checkpoint", str(tmp_path / "none.ckpt")])
    assert_clean_error(capsys, code, 5, "checkpoint not found")

    garbage = tmp_path / "bad.ckpt"
    garbage.write_bytes(b"this is not a checkpoint")
    assert_clean_error(capsys, main(["evaluate", "--checkpoint", str(garbage)]), 5, "not a readable checkpoint")


def test_missing_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate"])
    assert info.value.code == 2
    assert "--checkpoint" in capsys.readouterr().err
