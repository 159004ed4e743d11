"""Training progress: one complete plain line per log interval when stderr is a log file, a live bar on a terminal."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from infogan_toolkit.engine.progress import LineProgress, LiveProgress, NoProgress, format_eta, make_progress

CLI = Path(sys.executable).with_name("infogan-tk")
LINE = re.compile(r"^step +(\d+)/12 D [-\d.]+ G [-\d.]+ L_I/max (c\d=[-\d.]+(/[-\d.]+)? ?)+ [\d,]+ img/s ETA \d+s$")


def test_a_log_file_gets_one_whole_line_per_interval(tmp_path):
    # The real command, its stderr a file as under nohup or CI; six codes make the line longer
    # than the 80 columns rich would otherwise wrap it at.
    log = tmp_path / "train.log"
    with log.open("w") as stderr:
        done = subprocess.run(
            [
                str(CLI),
                "train",
                "--codes",
                "cat3,unif5",
                "--steps",
                "12",
                "--batch-size",
                "8",
                "--out",
                str(tmp_path / "run"),
                "--set",
                "train.log_every=4",
                "--set",
                "train.checkpoint_every=12",
                "--set",
                "train.figures=false",
                "--no-eval",
            ],
            stderr=stderr,
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    text = log.read_text()
    assert done.returncode == 0, text
    lines = [line for line in text.splitlines() if line.startswith("step")]
    assert [int(LINE.match(line).group(1)) for line in lines] == [4, 8, 12], text
    for line in lines:
        assert len(line) > 80
        assert all(f"c{i}=" in line for i in range(1, 7)), line
    assert "\x1b[" not in text  # no cursor movement or colour in a log file


def test_the_reporter_follows_where_the_console_writes():
    terminal = Console(file=io.StringIO(), force_terminal=True)
    log_file = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(make_progress(terminal, True, 10, 0, 8), LiveProgress)
    assert isinstance(make_progress(log_file, True, 10, 0, 8), LineProgress)
    assert isinstance(make_progress(terminal, False, 10, 0, 8), NoProgress)


def test_the_line_states_the_time_left_at_the_measured_speed():
    out = io.StringIO()
    metrics = {"loss_d": 1.0, "loss_g": 2.0, "li_c1": 0.5, "entropy_c1": 1.1, "reach_c1": 1.1}
    with LineProgress(Console(file=out, force_terminal=False, width=40), total=1000, batch_size=64) as progress:
        progress.log(100, metrics, ["c1"], images_per_second=640.0)  # 900 steps x 64 / 640 = 90 s
    assert out.getvalue() == "step  100/1000 D 1.000 G 2.000 L_I/max c1=0.50/1.10 640 img/s ETA 1m30s\n"


def test_eta_formats():
    assert [format_eta(s) for s in (0, 12.4, 187, 3720)] == ["0s", "12s", "3m07s", "1h02m"]
