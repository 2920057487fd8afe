"""The command line: every command has help; run, recipes and recipe show work end to end."""

from __future__ import annotations

import json

import click
import typer

from avanon.cli import _register_all, app, main
from synth import write_wav


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def test_every_command_has_help_text():
    _register_all()
    root = typer.main.get_command(app)
    missing = [" ".join(path) for path, cmd in _commands(root) if not (cmd.help or cmd.short_help)]
    assert not missing, f"commands without help: {missing}"


def test_recipes_and_show(capsys):
    assert main(["recipes"]) == 0
    assert "default" in capsys.readouterr().out
    assert main(["recipe", "show", "default"]) == 0
    assert "obfuscation" in capsys.readouterr().out
    assert main(["recipe", "show", "nope"]) == 2
    assert "Unknown recipe 'nope'" in capsys.readouterr().err


def test_run_exit_codes_and_summary(tmp_path, capsys):
    study = tmp_path / "study"
    write_wav(study / "sub-01" / "a.wav", seconds=0.3)
    (study / "sub-01" / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    code = main(["run", str(study), "-o", str(tmp_path / "out"), "--workers", "1", "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "failed sub-01/broken.wav" in err
    manifest = json.loads((tmp_path / "out" / "avanon_manifest.json").read_text())
    assert manifest["summary"] == {"ok": 1, "failed": 1}
    (study / "sub-01" / "broken.wav").unlink()
    assert main(["run", str(study), "-o", str(tmp_path / "out2"), "--workers", "1"]) == 0
    assert "anonymized" in capsys.readouterr().out


def test_bad_options_are_clear(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "-o", str(tmp_path / "o"), "--recipe", "nope"]) == 2


def test_command_owners_match_what_modules_register():
    """The lazy loader's table names the module of every command (and no command twice)."""
    import importlib

    from avanon.cli import COMMAND_MODULES, COMMAND_OWNERS

    registered: dict[str, str] = {}
    for module in COMMAND_MODULES:
        sub = typer.Typer()
        importlib.import_module(module).register(sub)
        names = [c.name or c.callback.__name__ for c in sub.registered_commands] + [g.name for g in sub.registered_groups]
        for name in names:
            assert name not in registered, f"{name} registered by {registered.get(name)} and {module}"
            registered[name] = module
    assert registered == COMMAND_OWNERS


def test_commands_of_the_run_module_do_not_import_the_access_database():
    """``avanon recipes`` imports only its own command module, not the vault, access database or portal."""
    import subprocess
    import sys

    code = (
        "import sys; from avanon.cli import main; main(['recipes']); "
        "print(sorted(m for m in ('sqlalchemy', 'avanon.cli.vault', 'avanon.cli.access') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_run_imports_neither_pyplot_nor_scipy_signal(tmp_path):
    """Start-up of every run and worker: matplotlib.pyplot (0.4 s, via MediaPipe) and scipy.signal
    (0.5-0.8 s, for resampling) stay out of a run that masks faces and converts a 44.1 kHz voice."""
    import subprocess
    import sys

    from synth import write_video

    study = tmp_path / "study"
    study.mkdir()
    write_video(study / "clip.mp4", frames=10, size=(160, 120), audio_rate=44100)
    code = (
        "import sys; from avanon.cli import main\n"
        f"code = main(['run', {str(study)!r}, '-o', {str(tmp_path / 'out')!r}, '--quiet', '--workers', '1', '--seed', '1'])\n"
        "print(code, sorted(m for m in ('matplotlib.pyplot', 'scipy.signal') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"


def test_internal_error_exits_3_not_1(tmp_path, capsys, monkeypatch):
    """A crash (a bug) is told apart from "some files failed" (1) and a usage error (2) (issue 17)."""
    import avanon.cli.run as run_cli

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(run_cli, "run_study", crash)
    write_wav(tmp_path / "study" / "a.wav", seconds=0.2)
    assert main(["run", str(tmp_path / "study"), "-o", str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "Traceback" in err
    assert main(["run", "--no-such-option"]) == 2


def test_every_option_has_help_text():
    _register_all()
    root = typer.main.get_command(app)
    missing = [
        f"{' '.join(path)} {p.name}" for path, cmd in _commands(root) for p in cmd.params if isinstance(p, click.Option) and p.name != "help" and not p.help
    ]
    missing += [
        f"{' '.join(path)} {p.name}" for path, cmd in _commands(root) for p in cmd.params if isinstance(p, click.Argument) and not getattr(p, "help", None)
    ]
    assert not missing, f"options and arguments without help: {missing}"


def test_no_command_function_takes_more_than_8_parameters():
    import inspect

    _register_all()
    root = typer.main.get_command(app)
    wide = {
        " ".join(path): n
        for path, cmd in _commands(root)
        if cmd.callback is not None and (n := len(inspect.signature(inspect.unwrap(cmd.callback)).parameters)) > 8
    }
    assert wide == {}


def test_run_reads_the_roster_with_load_roster(tmp_path, monkeypatch):
    """A CSV roster (name and speaker columns) and '#' comments in a plain list both reach the run."""
    import avanon.cli.run as run_cli

    seen = {}

    def fake_run_study(study, out, **kwargs):
        seen.update(kwargs)
        raise typer.Exit(0)

    monkeypatch.setattr(run_cli, "run_study", fake_run_study)
    write_wav(tmp_path / "study" / "a.wav", seconds=0.2)
    table = tmp_path / "roster.csv"
    table.write_text("name,speaker\nAnna Smith,sub-01\nBo,\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "study"), "-o", str(tmp_path / "o1"), "--quiet", "--roster", str(table), "-w", "1"]) == 0
    assert seen["people"].roster == ["Anna Smith", "Bo"] and seen["execution"].workers == 1 and seen["execution"].executor == "local"
    plain = tmp_path / "roster.txt"
    plain.write_text("# participants\nAnna Smith\n\nBo\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "study"), "-o", str(tmp_path / "o2"), "--quiet", "--roster", str(plain)]) == 0
    assert seen["people"].roster == ["Anna Smith", "Bo"]


def test_pilot_thresholds_are_name_value_pairs(tmp_path, capsys):
    from avanon.pilot import DEFAULT_THRESHOLDS_BOUND, parse_thresholds

    assert parse_thresholds([]) == DEFAULT_THRESHOLDS_BOUND
    got = parse_thresholds(["min_eer=0.4", "max-leak-rate=none", "max_wer=0.5"])
    assert got == {"eer_lazy_informed": ("min", 0.4), "metadata_residue": ("max", 0.0), "wer": ("max", 0.5)}
    write_wav(tmp_path / "study" / "sub-01" / "a.wav", seconds=0.2)
    assert main(["pilot", str(tmp_path / "study"), "-o", str(tmp_path / "p"), "-t", "max_faces=1"]) == 2
    assert "The 'threshold' option must be NAME=VALUE with NAME one of min_eer" in capsys.readouterr().err


def test_names_with_markup_or_escapes_are_printed_safely(tmp_path, capsys):
    """A file named like rich markup ('[/x]') or holding a terminal escape fails alone; the summary prints (issue 17)."""
    study = tmp_path / "study"
    write_wav(study / "[b]good.wav", seconds=0.2)
    (study / "[").mkdir()
    (study / "[" / "x].wav").write_bytes(b"not audio" * 10)
    (study / "esc\x1b[2J.wav").write_bytes(b"not audio" * 10)
    assert main(["run", str(study), "-o", str(tmp_path / "out"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "failed [/x].wav" in err and "failed esc%1B[2J.wav" in err and "\x1b" not in err
    assert (tmp_path / "out" / "[b]good.wav").is_file()
