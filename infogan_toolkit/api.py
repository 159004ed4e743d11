"""The plugin contract: everything a plugin implements, receives or may call, in one place.

Plugins (the built-in ones under ``plugins/``, the example distributions, third-party ones) and the
docs' examples import from this module only; ``tests/test_public_contract.py`` walks their imports
to keep it so, and ``docs/interfaces.md`` (``scripts/reference``) documents these names. Anything
not named here is internal and may change between releases.
"""

from __future__ import annotations

from .assembly import load_dataset
from .backbones import Backbone, BuildRequest, InfoDiscriminator, Networks
from .callbacks import (
    Callback,
    CallbackStartError,
    CheckpointEvent,
    ImageEvent,
    LogEvent,
    RunEndEvent,
    RunInfo,
    TrainStartEvent,
)
from .codes import CodeControl, CodeSet, LatentCode, QHead, ResolvedCode, resolve_codes
from .datasets import (
    DatasetPlugin,
    DatasetRequest,
    FactorGridDataset,
    ImageDataset,
    TensorImageDataset,
    grid_decode,
    grid_encode,
)
from .errors import CheckpointError, ConfigError, DataError, PluginError, ToolkitError
from .evaluate.figures import write_training_figures
from .evaluate.report import (
    EvalContext,
    EvalSizes,
    Metric,
    categorical_accuracy,
    factor_represent,
    factor_representation,
    information_bounds,
    point_estimates,
    q_outputs,
)
from .extractors import ExtractorRequest, FeatureExtractor, cache_dir, default_extractor
from .files import open_regular, read_bytes, real_directory
from .hookspecs import hookimpl
from .images import fit_picture, to_unit
from .model import TrainedModel
from .plugins import PluginHost
from .regularisers import Regulariser, RegulariserPlugin, RegulariserSetup, StepView, Terms
from .rundir import config_path, figures_dir
from .suggest import did_you_mean
from .sweep.executors import ExecutorSetup, RunJob, RunOutcome, SweepExecutor, last_error, run_job
from .text import PlainConsole

__all__ = [
    # Registering: the marker every hook implementation carries, and the host that loads plugins.
    "hookimpl",
    "PluginHost",
    # Errors a plugin raises so that the user gets one line, never a traceback.
    "ToolkitError",
    "ConfigError",
    "DataError",
    "PluginError",
    "CheckpointError",
    # Latent codes and Q heads (register_code_kinds, register_heads).
    "LatentCode",
    "CodeControl",
    "QHead",
    "CodeSet",
    "ResolvedCode",
    "resolve_codes",
    # Networks (register_backbones).
    "Backbone",
    "BuildRequest",
    "InfoDiscriminator",
    "Networks",
    # Data sets (register_datasets).
    "DatasetPlugin",
    "DatasetRequest",
    "ImageDataset",
    "TensorImageDataset",
    "FactorGridDataset",
    "grid_encode",
    "grid_decode",
    "load_dataset",
    # Terms of the objective (register_regularisers).
    "Regulariser",
    "RegulariserPlugin",
    "RegulariserSetup",
    "StepView",
    "Terms",
    # In a training run: callbacks (trackers, TensorBoard, figures, ema...), their events, the figures.
    "Callback",
    "RunInfo",
    "CallbackStartError",
    "TrainStartEvent",
    "LogEvent",
    "ImageEvent",
    "CheckpointEvent",
    "RunEndEvent",
    "write_training_figures",
    # Evaluation metrics (register_metrics) and the helpers they share.
    "Metric",
    "EvalContext",
    "TrainedModel",
    "q_outputs",
    "point_estimates",
    "EvalSizes",
    "categorical_accuracy",
    "factor_represent",
    "factor_representation",
    "information_bounds",
    # Feature extractors for sample-quality metrics (register_feature_extractors).
    "FeatureExtractor",
    "ExtractorRequest",
    "cache_dir",
    "default_extractor",
    # Sweep executors (register_sweep_executors).
    "SweepExecutor",
    "ExecutorSetup",
    "RunJob",
    "RunOutcome",
    "run_job",
    "last_error",
    # Helpers: files opened without following planted links, pictures, messages, run-folder paths.
    "open_regular",
    "read_bytes",
    "real_directory",
    "fit_picture",
    "to_unit",
    "did_you_mean",
    "PlainConsole",
    "config_path",
    "figures_dir",
]
