"""Text from files is printed as plain text: no Rich markup, control characters escaped; install
advice only from a valid distribution name; Ctrl-C in a command is one line and status 130."""

from __future__ import annotations

import io

import pytest
import typer
from typer.testing import CliRunner

from infogan_toolkit.cli.common import one_line_errors
from infogan_toolkit.errors import PluginError
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.registry import install_advice, is_distribution_name
from infogan_toolkit.text import PlainConsole, one_line, printable

HOSTILE = "[/oops] [link=http://evil.example]click[/link] \x1b[31mred\x1b[0m \u202egnp.exe :smile:"


def test_printable_escapes_controls_and_bidi_overrides():
    assert printable("a\x1b[2Jb\u202ec\x07") == "a\\x1b[2Jb\\u202ec\\x07"
    assert printable("two\nlines\ttab") == "two\\x0alines\\x09tab"
    assert printable("two\nlines", newlines=True) == "two\nlines"
    assert one_line("a\n  b\x1b") == "a b\\x1b"


def test_plain_console_prints_markup_and_escapes_literally():
    buffer = io.StringIO()
    console = PlainConsole(file=buffer, width=300, force_terminal=True, color_system=None)
    console.print(HOSTILE)  # with markup on, "[/oops]" alone is a MarkupError traceback
    out = buffer.getvalue()
    assert "[/oops]" in out and "[link=http://evil.example]click[/link]" in out and ":smile:" in out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[31mred" in out and "\\u202e" in out


@pytest.mark.parametrize(
    "name",
    [
        "evil --index-url http://evil.example/simple",
        "https://evil.example/x.whl",
        "-e .",
        "a b",
        "",
        "x" * 101,
        "pkg;rm",
    ],
)
def test_install_advice_builds_no_command_from_an_invalid_name(name):
    assert not is_distribution_name(name)
    assert "pip install" not in install_advice(name)


def test_install_advice_for_a_valid_name_is_the_fixed_template():
    assert is_distribution_name("infogan-tk_bern.2")
    assert install_advice("infogan-tk-bern") == "pip install infogan-tk-bern"


def test_a_missing_plugin_with_a_hostile_distribution_gives_no_install_command():
    with pytest.raises(PluginError) as info:
        PluginHost().require_plugin_for("codes", "nosuchkind", "evil --index-url http://evil.example")
    message = str(info.value)
    assert "pip install" not in message and "not a valid distribution name" in message
    with pytest.raises(PluginError, match=r"install it \(pip install infogan-tk-bern\)"):
        PluginHost().require_plugin_for("codes", "nosuchkind", "infogan-tk-bern")


def test_ctrl_c_inside_a_command_is_one_line_and_status_130():
    app = typer.Typer()

    @app.command()
    @one_line_errors
    def slow() -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 130
    assert result.stderr.startswith("error: interrupted (Ctrl-C)") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
