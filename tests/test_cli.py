"""The command line: one entry point listing every command, with clear errors."""

import subprocess
import sys

from comet_core.cli import build_parser, main
from tests.helpers import ROOT


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "comet_core", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for command in ("serve", "check"):
        assert command in out


def test_every_command_has_a_help_line():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, choice in sub.choices.items():
        assert choice.description, f"{name} has no description"


def test_check_of_an_unknown_part_says_which_parts_have_exercises(capsys):
    assert main(["check", "99"]) == 2
    err = capsys.readouterr().err
    assert "part 99 has no exercise" in err
    assert "1" in err


def test_check_of_a_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["check", "1", "--file", str(tmp_path / "nope.py")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_missing_users_file_is_a_clear_error_for_broker_and_serve(capsys, tmp_path):
    missing = str(tmp_path / "users.txt")
    assert main(["broker", "--port", "0", "--users", missing]) == 2
    assert f"no users file at {missing}" in capsys.readouterr().err
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("home")
    assert main(["serve", "--port", "0", "--docs", str(tmp_path), "--users", missing]) == 2
    assert f"no users file at {missing}" in capsys.readouterr().err
