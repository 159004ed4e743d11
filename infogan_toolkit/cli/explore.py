"""`infogan-tk explore` (a local web page to see and steer a model) and `infogan-tk report` (the same
content as one self-contained HTML file)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from ..files import real_directory, write_file
from .common import GENERATOR_OPT, err_console, one_line_errors

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


MODEL_ARG = typer.Argument(
    ..., help="A run directory, a .safetensors checkpoint, an exported folder or a Hub id (owner/name)."
)
DATA_ROOT_OPT = typer.Option(
    None, "--data-root", help="Folder holding the run's data set (default: the checkpoint's data.root)."
)
REPORT_OUT_OPT = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write.")


@commands.command()
@one_line_errors
def explore(
    run: Path = MODEL_ARG,
    port: int = typer.Option(8765, "--port", help="TCP port; 0 takes any free one."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback lets other machines in."
    ),
    generator: str = GENERATOR_OPT,
    data_root: str = DATA_ROOT_OPT,
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Serve a page to steer the model: a control per code, the noise's seed, the image with Q's reading
    of it, traversals, the run's evaluation, and Q's codes for your image. Ctrl-C stops it."""
    from ..explore import require_server

    require_server()  # before loading anything: a missing extra is one line, at once
    from ..engine.devices import pick_device
    from ..explore.evaluation import find_evaluation
    from ..explore.server import bind, is_loopback, serve, url_of
    from ..explore.session import Explorer, check_port
    from ..model import from_pretrained
    from ..plugins import PluginHost

    check_port(port)
    plugin_host = PluginHost()
    model = from_pretrained(run, device=pick_device(device), host=plugin_host, generator=generator)
    evaluation, note = find_evaluation(run, model.step)
    explorer = Explorer(model, str(run), evaluation, note, host=plugin_host, data_root=data_root)
    sock = bind(host, port)
    say = err_console()
    loopback = is_loopback(host)
    if not loopback:
        say.print(
            f"warning: listening on {host}, not on loopback: anyone who can reach this machine can use the page "
            "(there is no login); use --host 127.0.0.1 to keep it to yourself",
            markup=False,
        )
    say.print(f"explore: {url_of(sock)} (Ctrl-C stops it)", markup=False)
    if note:
        say.print(f"explore: {note}", markup=False)
    serve(explorer, sock, loopback_only=loopback)


@commands.command()
@one_line_errors
def report(
    run: Path = MODEL_ARG,
    out: Path = REPORT_OUT_OPT,
    seed: int = typer.Option(0, "--seed", help="Seed of the noise of the pictures."),
    generator: str = GENERATOR_OPT,
    data_root: str = DATA_ROOT_OPT,
    no_dataset: bool = typer.Option(
        False, "--no-dataset", help="Leave out the data-set image (no data set is loaded)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Write what `explore` shows, without live controls, as one HTML file that opens without a network."""
    from ..engine.devices import pick_device
    from ..explore.evaluation import find_evaluation
    from ..explore.report import render_report
    from ..explore.session import MAX_SEED
    from ..model import from_pretrained
    from ..plugins import PluginHost

    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be from 0 to {MAX_SEED}, got {seed}")
    plugin_host = PluginHost()
    model = from_pretrained(run, device=pick_device(device), host=plugin_host, generator=generator)
    evaluation, note = find_evaluation(run, model.step)
    page = render_report(
        model, str(run), evaluation, note, seed=seed, with_dataset=not no_dataset, host=plugin_host, data_root=data_root
    )
    real_directory(out.parent if str(out.parent) else Path("."))
    write_file(out, page)
    err_console().print(
        f"wrote {out} ({len(page) // 1024} kB, step {model.step}"
        + (", with the run's evaluation)" if evaluation else f"; {note})"),
        markup=False,
    )
