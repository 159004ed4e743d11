"""The experiment-tracker callbacks of the built-in `trackers` plugin: real tiny runs through the
CLI into a real local MLflow store (read back with MlflowClient) and an offline W&B run (read back
from the run files W&B writes), their opt-in rule, the asked-for rule (start or stop the run), a
missing package, and the option check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.rundir import list_steps
from infogan_toolkit.testing import check_callback

CLI = Path(sys.executable).with_name("infogan-tk")  # the installed entry point, as a user runs it
TRACKER_VARS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "WANDB_PROJECT",
    "WANDB_MODE",
    "WANDB_DIR",
)


@pytest.fixture(autouse=True)
def _no_tracker_env(monkeypatch, tmp_path):
    """No developer's tracker settings leak in; W&B never reaches the network nor the home folder."""
    for var in TRACKER_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))


def train_args(out: Path, *sets: str) -> list[str]:
    """The arguments of a 3-step default (MNIST) run logging every step, with ``sets``."""
    args = [
        "train",
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--quiet",
        "--no-eval",
        "--set",
        "train.log_every=1",
    ]
    for item in sets:
        args += ["--set", item]
    return args


def train(out: Path, *sets: str) -> object:
    """That run through the CLI in this process; its result."""
    return CliRunner().invoke(app, train_args(out, *sets))


def sqlite_store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_mlflow_run_lands_in_a_local_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # a new experiment's artifacts go to ./mlruns
    store = sqlite_store(tmp_path)
    out = tmp_path / "run"
    result = train(
        out,
        'train.callbacks=["figures", "mlflow"]',
        f'train.callback_options.mlflow={{tracking_uri="{store}", experiment="tiny"}}',
    )
    assert result.exit_code == 0, result.stderr
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    params = run.data.params
    assert params["train.steps"] == "3" and params["train.batch_size"] == "8" and params["model.backbone"] == "mnist"
    assert params["train.callbacks"] == "['figures', 'mlflow']"
    logged = [line for line in (out / "metrics.jsonl").read_text().splitlines()]
    name = next(k for k in json.loads(logged[0]) if k != "step")
    history = client.get_metric_history(run.info.run_id, name)
    assert [m.step for m in history] == [1, 2, 3]
    assert history[-1].value == pytest.approx(json.loads(logged[-1])[name])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figures", "checkpoints", "config.toml"} <= artifacts
    figures = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {p.name for p in (out / "figures").iterdir()} and figures
    (weights,) = client.list_artifacts(run.info.run_id, "checkpoints")
    step = list_steps(out)[-1]
    assert Path(weights.path).name == f"step-{step:07d}.safetensors"
    local = client.download_artifacts(run.info.run_id, weights.path, str(tmp_path / "down"))
    assert Path(local).read_bytes() == (out / "checkpoints" / Path(weights.path).name).read_bytes()


def test_mlflow_env_var_turns_it_on_under_star(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    store = sqlite_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    result = train(tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    experiment = MlflowClient(tracking_uri=store).get_experiment_by_name("from-env")
    assert experiment is not None and len(MlflowClient(tracking_uri=store).search_runs([experiment.experiment_id])) == 1


def test_trackers_stay_off_under_star_unless_configured(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = train(tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "run" / "wandb").exists()
    assert "mlflow" not in result.stderr and "wandb" not in result.stderr


def wandb_records(path: Path) -> list[bytes]:
    """The records of a ``.wandb`` file: a 7-byte header (``:W&B``, magic, version), then the
    LevelDB log format W&B writes (32 KiB blocks; each chunk crc32, little-endian length, type
    1 full / 2 first / 3 middle / 4 last). W&B's Python package no longer ships a reader."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    records, pending, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:  # the block's tail is padding
            pos += room
            continue
        length = int.from_bytes(data[pos + 4 : pos + 6], "little")
        kind = data[pos + 6]
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        if kind in (1, 2):
            pending = chunk
        else:
            pending += chunk
        if kind in (1, 4):
            records.append(pending)
    return records


def read_offline_run(folder: Path) -> tuple[dict, list[dict]]:
    """An offline W&B run's config and history rows, decoded with W&B's own protobuf classes."""
    from wandb.proto import wandb_internal_pb2

    (path,) = folder.glob("*.wandb")
    config: dict = {}
    rows: list[dict] = []
    for data in wandb_records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run" and record.run.HasField("config"):
            config.update(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.run.config.update
                }
            )
        elif kind == "config":
            config.update(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.config.update}
            )
        elif kind == "history":
            rows.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
    return config, rows


def test_wandb_offline_run_holds_config_metrics_and_images(tmp_path):
    out = tmp_path / "run"
    result = train(
        out, 'train.callbacks=["figures", "wandb"]', 'train.callback_options.wandb={mode="offline", project="tiny"}'
    )
    assert result.exit_code == 0, result.stderr
    (folder,) = (out / "wandb").glob("offline-run-*")
    # W&B's service is a process of its own that writes the file; once in a CI run the config was
    # not in it when finish() had returned, so the file is read again for a while before failing.
    for _ in range(20):
        config, rows = read_offline_run(folder)
        if "train" in config:
            break
        time.sleep(0.5)
    assert "train" in config, f"no config in the offline run; keys found: {sorted(config)}, {len(rows)} history rows"
    assert config["train"]["steps"] == 3 and config["model"]["backbone"] == "mnist"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    name = next(k for k in logged[0] if k != "step")
    by_step = {row["_step"]: row for row in rows}
    assert [s for s in sorted(by_step) if name in by_step[s]] == [1, 2, 3]
    assert by_step[3][name] == pytest.approx(logged[-1][name])
    # An image is a nested history item (samples/_type, samples/path...); its PNG sits in the run's files.
    (pictures,) = [row for row in rows if row.get("samples/_type") == "image-file"]
    assert pictures["_step"] == 3 and pictures["traversal/_type"] == "image-file"
    assert (folder / "files" / pictures["samples/path"]).is_file()


MISSING_SHIM = 'raise ImportError("No module named {name!r}")\n'


@pytest.mark.parametrize("name", ["mlflow", "wandb"])
def test_a_named_tracker_whose_package_is_missing_stops_the_run_before_training(tmp_path, name):
    shim = tmp_path / "shim" / name
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(MISSING_SHIM.format(name=name))
    env = {k: v for k, v in os.environ.items() if k not in TRACKER_VARS}
    env["PYTHONPATH"] = str(tmp_path / "shim")
    out = tmp_path / "run"
    proc = subprocess.run(
        [str(CLI), *train_args(out, f'train.callbacks=["{name}"]')],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    # Asked for by name, it cannot start: the run stops before training (issue 50), leaving nothing.
    assert proc.returncode == 2, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if name in line]
    assert line.startswith(f"error: callback '{name}' was asked for but failed to start (the {name} package is not")
    assert f"(pip install 'infogan-toolkit[{name}]')" in line
    assert "Traceback" not in proc.stderr and not out.exists()


def test_unknown_option_is_one_line_exit_2(tmp_path):
    result = train(tmp_path / "run", 'train.callback_options.mlflow={tracking_url="file:/x"}')
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "unknown option 'train.callback_options.mlflow.tracking_url'. Did you mean 'tracking_uri'?" in message
    assert "Known: train.callback_options.mlflow.tracking_uri, train.callback_options.mlflow.experiment," in message
    assert not (tmp_path / "run").exists()


def test_options_for_an_unknown_callback_are_refused(tmp_path):
    result = train(tmp_path / "run", 'train.callback_options.mlfow={experiment="x"}')
    assert (
        result.exit_code == 2
        and "unknown callback 'mlfow' in train.callback_options. Did you mean 'mlflow'" in result.stderr
    )


def test_trackers_run_on_the_main_process_only(tmp_path):
    import torch

    from infogan_toolkit.callbacks import RunInfo

    callbacks = PluginHost().registries.callbacks
    for name in ("mlflow", "wandb"):
        other = RunInfo(tmp_path, None, torch.device("cpu"), resumed=False, requested=True, is_main=False)
        assert callbacks.get(name)(other) is None


def test_conformance_kit_on_both_factories(tmp_path, monkeypatch):
    callbacks = PluginHost().registries.callbacks
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_store(tmp_path))
    monkeypatch.setenv("WANDB_PROJECT", "kit")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    for name in ("mlflow", "wandb"):
        check_callback(callbacks.get(name))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_store(tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("Default").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss_d")] == [1, 2]
    # The kit's second interval has a nan: left out of MLflow and counted.
    assert client.get_metric_history(run.info.run_id, "kit_nan") == []
    assert run.data.tags["infogan-tk.nonfinite"] == "kit_nan: 1" and run.info.status == "FINISHED"
    # W&B wrote where WANDB_DIR says, even after earlier runs in this process.
    assert list((tmp_path / "wandb" / "wandb").glob("offline-run-*"))


def test_an_mlflow_server_where_nothing_listens_stops_the_run_in_seconds(tmp_path):
    """A real port on 127.0.0.1 with nothing listening (bound, then closed): one line, within the
    timeout, before training; nothing left behind."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    result = train(
        tmp_path / "run", f'train.callback_options.mlflow={{tracking_uri="http://127.0.0.1:{port}", timeout=3}}'
    )
    assert time.monotonic() - start < 30
    assert result.exit_code == 2, result.stderr
    assert f"MLflow tracking server 'http://127.0.0.1:{port}' cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_a_tracking_server_that_accepts_but_never_answers_times_out(tmp_path):
    """A real listening socket on 127.0.0.1 that never replies: the W&B-style probe connects, and
    MLflow's own client gives up after the timeout and its one retry, in one line."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        start = time.monotonic()
        result = train(
            tmp_path / "run", f'train.callback_options.mlflow={{tracking_uri="http://127.0.0.1:{port}", timeout=2}}'
        )
        took = time.monotonic() - start
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    assert result.exit_code == 2, result.stderr
    assert took < 60, f"took {took:.0f} s"
    assert (
        "error: callback 'mlflow' was asked for but failed to start" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert not (tmp_path / "run").exists()


def _closed_port() -> int:
    """A real port on 127.0.0.1 with nothing listening (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tracker_wanted_only_through_its_variable_that_cannot_start_is_off_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    result = train(tmp_path / "run", 'train.callbacks=["*"]')
    assert result.exit_code == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "mlflow" in line]
    assert line.startswith("infogan-tk: callback 'mlflow' failed to start and is off: MLflow tracking server")
    assert list_steps(tmp_path / "run") == [3]


def test_an_asked_for_callback_that_cannot_start_ends_the_trackers_already_started(tmp_path, monkeypatch):
    """mlflow starts (a local store), then wandb (online, its server unreachable) cannot: the run
    stops before training, and the MLflow run it had opened ends KILLED, not left running."""
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    store = sqlite_store(tmp_path)
    result = train(
        tmp_path / "run",
        'train.callbacks=["mlflow", "wandb"]',
        f'train.callback_options.mlflow={{tracking_uri="{store}", experiment="both"}}',
        'train.callback_options.wandb={mode="online", timeout=2}',
    )
    assert result.exit_code == 2, result.stderr
    assert "error: callback 'wandb' was asked for but failed to start (W&B server" in result.stderr
    assert not (tmp_path / "run").exists()
    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([client.get_experiment_by_name("both").experiment_id])
    assert run.info.status == "KILLED" and not client.get_metric_history(run.info.run_id, "loss_d")
