"""The hook contract between the core and its plugins.

Every hook hands the plugin a ``register(name, obj)`` callback; the host records which plugin made
each call. A plugin module implements any subset of these with ``@infogan_toolkit.hookimpl``.
Each hook's docstring is its reference documentation; ``docs/hooks.md`` mirrors it and a test keeps
the two in step.
"""

from __future__ import annotations

import pluggy

PROJECT = "infogan_toolkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_code_kinds(register):
    """Register latent-code kinds.

    Call ``register(prefix, factory)`` once per kind. ``prefix`` is what a code spec names (``cat``
    in ``cat10x4``); ``factory(args: str) -> list[LatentCode]`` receives the digits after the
    prefix (``"10"``) and returns the codes one token makes (raise ``ValueError`` with a short
    reason for bad arguments). See :class:`infogan_toolkit.codes.LatentCode`.
    """


@hookspec
def register_heads(register):
    """Register Q heads.

    Call ``register(name, head)`` with a :class:`infogan_toolkit.codes.QHead` instance. A code names
    the head it wants by ``default_head``; the configuration's ``model.heads`` table can map a code
    kind to another head of the same ``family``.
    """


@hookspec
def register_backbones(register):
    """Register network families.

    Call ``register(name, backbone)`` with a :class:`infogan_toolkit.backbones.Backbone` instance,
    which declares its image shape, output range and defaults and builds ``Networks`` on request.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    Call ``register(name, plugin)`` with a :class:`infogan_toolkit.datasets.DatasetPlugin` whose
    ``load(request)`` returns an :class:`infogan_toolkit.datasets.ImageDataset` (uint8 images by
    index, plus labels or ground-truth factors where known): a
    :class:`infogan_toolkit.datasets.TensorImageDataset` for images held in memory, a
    :class:`infogan_toolkit.datasets.FactorGridDataset` for a complete grid of factors.
    """


@hookspec
def register_configs(register):
    """Register named experiment configurations.

    Call ``register(name, path)`` with the :class:`pathlib.Path` of a TOML file, so that
    ``infogan-tk train --config NAME`` finds it in an installed package. The name ``default`` is
    what ``infogan-tk train`` uses when neither a config nor a backbone is given.
    """


@hookspec
def register_regularisers(register):
    """Register regularisers: terms added to the InfoGAN objective.

    Call ``register(name, regulariser)`` with a :class:`infogan_toolkit.regularisers.RegulariserPlugin`.
    A run turns one on with a ``[loss.NAME]`` table of its options (``weight = 0`` turns it off); the
    options are validated against the plugin's ``options`` class, unknown keys refused. The built
    term adds losses to the D side, the G side or the information term, may own networks and
    optimisers (checkpointed and resumed with the run) and reports named statistics.
    """


@hookspec
def register_callbacks(register):
    """Register training callbacks: everything that takes part in a run besides the objective's
    terms (the moving average, the figures, TensorBoard, the experiment trackers).

    Call ``register(name, factory)``; ``factory(info: RunInfo) -> Callback | None``, given the
    run's :class:`infogan_toolkit.api.RunInfo`, is called once per run on every process (return
    None to stay out of this run, e.g. when the option that turns it on is unset). A factory with
    an ``options`` attrs class gets its validated ``[train.callback_options.NAME]`` table as
    ``info.options`` (an unknown key is a one-line error before training). The
    :class:`infogan_toolkit.api.Callback` gets, on every process, ``on_train_start(TrainStartEvent)``
    once the run is sure to train and ``on_step_end()`` after every optimiser step (inside a
    captured CUDA graph, if any); on the main process ``on_log(LogEvent)`` at every log interval,
    ``on_checkpoint(CheckpointEvent)`` after each checkpoint is written, ``on_images(ImageEvent)``
    and ``on_run_end(RunEndEvent)``. Its ``networks()`` are checkpointed under ``NAME.`` and
    restored on ``--resume``; its ``generators()`` are offered by the checkpoint besides the raw
    generator (the first is the default of ``load_checkpoint``, ``sample``, ``traverse`` and
    ``eval``). ``train.callbacks`` chooses which run (``"*"``, the default: all); a callback the
    run names there or gives options and that cannot start stops the run before training.
    """


@hookspec
def register_metrics(register):
    """Register evaluation metrics for ``infogan-tk eval``.

    Call ``register(name, metric)`` with a :class:`infogan_toolkit.evaluate.report.Metric` instance.
    ``eval`` runs every registered metric that applies to the model and dataset (or those named by
    ``--metrics``), in their ``order``, and puts each result under its name in the JSON. A metric
    says why it cannot run with ``not_applicable(ctx)`` and computes with ``run(ctx)`` from an
    ``EvalContext`` (model, dataset, sizes, seed, a shared cache).
    """


@hookspec
def register_feature_extractors(register):
    """Register feature extractors for image-quality metrics (FID, KID).

    Call ``register(name, extractor)`` with a :class:`infogan_toolkit.extractors.FeatureExtractor`
    instance. Its ``build(request)`` returns a module mapping [0, 1] float images to features; an
    extractor that lists a dataset in ``datasets`` is the default for evaluations on that dataset,
    and the ``extractor`` option of the ``fid`` and ``kid`` metrics chooses one by name.
    """


@hookspec
def register_sweep_executors(register):
    """Register sweep executors: what carries out the runs of ``infogan-tk sweep``.

    Call ``register(name, executor)`` with a :class:`infogan_toolkit.sweep.executors.SweepExecutor`
    instance; ``infogan-tk sweep --executor NAME`` picks it (``local`` is the default). Its
    ``execute(jobs, setup, done)`` runs every :class:`infogan_toolkit.sweep.executors.RunJob` (each with
    ``run_job(job)``, one child process, wherever the executor places it) and calls ``done(job,
    outcome)`` in the sweep's process as each ends; the sweep records the outcome in its manifest.
    """
