"""The ``mlflow`` callback: a run in an MLflow tracking store.

Logged: the resolved config as parameters (flat ``section.key`` names, values as text), each log
interval's metrics at their step, and at the run's end the ``figures/`` folder, ``config.toml`` and
the last checkpoint's weights file (``checkpoints/step-*.safetensors``) as artifacts. MLflow stores
no nan or inf faithfully (some stores refuse them, others turn inf into the largest float), so a
non-finite value is left out of that step and counted in the run's tag ``infogan-tk.nonfinite``
(``name: count``); the run's ``metrics.jsonl`` keeps every value. A run that stopped early ends
``KILLED``, else ``FINISHED``.

Where: the option ``tracking_uri``, else MLflow's own choice: ``MLFLOW_TRACKING_URI``, else its
default, ``sqlite:///mlflow.db`` in the working directory (new experiments keep their artifacts in
``./mlruns``, as MLflow does). The experiment: the option ``experiment``, else
``MLFLOW_EXPERIMENT_NAME``, else ``MLFLOW_EXPERIMENT_ID``, else MLflow's ``Default``. The client is
MLflow's own ``MlflowClient``. The extra installs ``mlflow-skinny`` (the client, without MLflow's
server and UI) with SQLAlchemy and Alembic, which its SQLite store needs: the lightest set that
keeps a local store, since MLflow 3's file store (``./mlruns`` as the tracking URI) refuses to
start unless ``MLFLOW_ALLOW_FILE_STORE=true``.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from infogan_toolkit.api import (
    Callback,
    LogEvent,
    RunEndEvent,
    RunInfo,
    TrainStartEvent,
    config_path,
    figures_dir,
)

from .common import (
    DEFAULT_TIMEOUT,
    TrackerFactory,
    check_reachable,
    flatten,
    timeout_seconds,
)

ENV_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")
#: MLflow's limits: 100 params or tags and 1000 metrics per batch, 6000 characters a param value.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_PARAM_CHARS = 6000
_KEY_UNSAFE = re.compile(r"[^\w\-. /]")


@attrs.frozen
class MlflowOptions:
    """``[train.callback_options.mlflow]``: every key optional."""

    #: Tracking URI (``sqlite:///PATH``, ``http(s)://...``); else ``MLFLOW_TRACKING_URI``, else MLflow's default.
    tracking_uri: str = ""
    #: Experiment name (created when missing); else ``MLFLOW_EXPERIMENT_NAME`` / ``_ID``, else ``Default``.
    experiment: str = ""
    #: The MLflow run's name; else the run directory's name.
    run_name: str = ""
    #: Extra tags on the MLflow run.
    tags: dict[str, str] = attrs.field(factory=dict)
    #: Upload figures, config.toml and the last checkpoint's weights at the end of the run.
    artifacts: bool = True
    #: Seconds to connect to, and to wait on, an ``http(s)://`` tracking server, in (0, 600]; a
    #: server that does not answer stops the run before training.
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=timeout_seconds)


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _PARAM_CHARS else text[: _PARAM_CHARS - 3] + "..."


class MlflowTracker(Callback):
    """One MLflow run, fed through ``MlflowClient`` (no global active run, so nothing of MLflow's
    process-wide state is touched). It starts with the training run (:meth:`on_train_start`)."""

    def __init__(self, info: RunInfo, options: MlflowOptions, client_class: Any) -> None:
        self.info = info
        self.options = options
        self.client_class = client_class  # MlflowClient, imported by the factory
        self.client: Any = None
        self.run_id = ""
        self.nonfinite: Counter[str] = Counter()
        self.ended = False

    def on_train_start(self, event: TrainStartEvent) -> None:
        """Reach the store, find or create the experiment, create the run and log the config as its parameters."""
        from mlflow.entities import Param

        options = self.options
        uri = options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        check_reachable(uri, options.timeout, "MLflow tracking server")
        # MLflow's client reads its HTTP timeout and retries from the environment only; its
        # defaults (120 s, 7 retries with backoff) would block a run for many minutes. A value the
        # user set is kept.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(options.timeout))))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        self.client = self.client_class(tracking_uri=options.tracking_uri or None)
        run_dir = Path(self.info.run_dir)
        experiment_id = _experiment_id(self.client, options.experiment)
        tags = {"infogan-tk.run_dir": str(run_dir.resolve()), **options.tags}
        run = self.client.create_run(experiment_id, run_name=options.run_name or run_dir.name, tags=tags)
        self.run_id = run.info.run_id
        params = [Param(key, _param_value(value)) for key, value in sorted(flatten(self.info.config()).items())]
        for i in range(0, len(params), _PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + _PARAMS_PER_BATCH])

    def on_log(self, event: LogEvent) -> None:
        """One point per finite metric at the interval's step; non-finite ones are counted, not sent."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        points = []
        for name, value in event.metrics.items():
            value = float(value)
            if math.isfinite(value):
                points.append(Metric(_KEY_UNSAFE.sub("_", name), value, now, int(event.step)))
            else:
                self.nonfinite[name] += 1
        for i in range(0, len(points), _METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=points[i : i + _METRICS_PER_BATCH])

    def on_run_end(self, event: RunEndEvent) -> None:
        """Upload the figures, the config and the last checkpoint's weights; end the MLflow run
        (``KILLED`` when the training run stopped early)."""
        if self.ended or not self.run_id:
            return
        try:
            if self.options.artifacts:
                run_dir = Path(self.info.run_dir)
                figures = figures_dir(run_dir)
                if figures.is_dir() and any(figures.iterdir()):
                    self.client.log_artifacts(self.run_id, str(figures), "figures")
                if config_path(run_dir).is_file():
                    self.client.log_artifact(self.run_id, str(config_path(run_dir)))
                if event.checkpoint is not None and Path(event.checkpoint).is_file():
                    self.client.log_artifact(self.run_id, str(event.checkpoint), "checkpoints")
        finally:
            self.ended = True
            if self.nonfinite:
                counts = ", ".join(f"{name}: {n}" for name, n in sorted(self.nonfinite.items()))
                self.client.set_tag(self.run_id, "infogan-tk.nonfinite", counts)
            self.client.set_terminated(self.run_id, "KILLED" if event.interrupted else "FINISHED")


def _experiment_id(client: Any, name: str) -> str:
    """The id of the experiment named by the option or MLflow's variables, created when missing."""
    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME", "")
    if not name and os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = name or "Default"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another run created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class MlflowFactory(TrackerFactory):
    """MLflow tracking, when asked for (train.callbacks, an options table, MLFLOW_TRACKING_URI...).

    ``factory(info)`` for the ``mlflow`` callback; ``options`` is its options table's class."""

    name = package = "mlflow"
    env_vars = ENV_VARS
    options = MlflowOptions
    client = "mlflow.tracking:MlflowClient"
    tracker = MlflowTracker
