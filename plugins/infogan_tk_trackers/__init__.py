"""Built-in plugin ``trackers``: metric sinks for the experiment trackers MLflow (``mlflow``) and
Weights & Biases (``wandb``).

Each tracker is opt-in: under the default ``train.sinks = ["*"]`` it starts only when the run
configures it (a ``[train.sink_options.NAME]`` table, or the tracker's own environment variable:
``MLFLOW_TRACKING_URI`` or ``MLFLOW_EXPERIMENT_NAME`` for MLflow, ``WANDB_PROJECT`` for W&B);
naming it in ``train.sinks`` always starts it. A tracker asked for whose package is missing says
so in one line on stderr and the run goes on without it (``pip install 'infogan-toolkit[mlflow]'``
or ``[wandb]``). Both are called at log intervals, checkpoints and the run's end only.
"""

from __future__ import annotations

from infogan_toolkit.api import hookimpl

from .mlflow_sink import MlflowSinkFactory
from .wandb_sink import WandbSinkFactory


@hookimpl
def register_metric_sinks(register):
    register("mlflow", MlflowSinkFactory())
    register("wandb", WandbSinkFactory())
