"""Built-in plugin ``trackers``: callbacks for the experiment trackers MLflow (``mlflow``) and
Weights & Biases (``wandb``).

Each tracker is opt-in: under the default ``train.callbacks = ["*"]`` it runs only when the run
asks for it (names it in ``train.callbacks``, gives it a ``[train.callback_options.NAME]`` table)
or sets the tracker's own environment variable (``MLFLOW_TRACKING_URI`` or
``MLFLOW_EXPERIMENT_NAME`` for MLflow, ``WANDB_PROJECT`` for W&B). A tracker the run asked for that
cannot start (its package is missing, its server does not answer) stops the run before training,
in one line; one wanted through its variable only is turned off with that line and the run goes on.
Both run on the main process only, at the run's start, log intervals, checkpoints and end.
"""

from __future__ import annotations

from infogan_toolkit.api import hookimpl

from .mlflow_tracker import MlflowFactory
from .wandb_tracker import WandbFactory


@hookimpl
def register_callbacks(register):
    """Register ``mlflow`` and ``wandb``."""
    register("mlflow", MlflowFactory())
    register("wandb", WandbFactory())
