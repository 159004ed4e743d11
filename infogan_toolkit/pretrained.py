"""A trained model as a folder to share: its weights, metadata, model card and pictures; loading one
back from a folder or a Hugging Face Hub id.

The folder's weights file is a checkpoint's weights file (same format, same metadata, G and D/Q
only), so loading it goes through :meth:`TrainedModel.load` like any checkpoint: no pickle, the
networks rebuilt from the metadata's config through the installed plugins, a missing plugin named.
The Hub is reached through ``huggingface_hub`` only, imported when a Hub id is used, so the toolkit
does not depend on it (``pip install 'infogan-toolkit[hub]'``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import atomic_save, model_tensors
from .errors import CheckpointError, ToolkitError
from .evaluate.findings import code_findings, evaluation_numbers, short_number
from .files import make_dirs, write_problem
from .plugins import PluginHost
from .rundir import (
    EXPORT_CARD_FILE,
    EXPORT_METADATA_FILE,
    EXPORT_MODEL_FILE,
    EXPORT_REPORT_FILE,
    EXPORT_SAMPLES_FILE,
    exported_model,
    exported_traversal,
)
from .version import __version__

if TYPE_CHECKING:
    from .model import TrainedModel

#: What ``metadata.json`` says it is.
EXPORT_FORMAT = "infogan-tk-export/1"
#: ``owner/name`` as the Hub spells a repository: one slash, letters, digits, ``-``, ``_``, ``.``.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
HUB_FIX = "pip install 'infogan-toolkit[hub]'"
#: The files a download takes from a Hub repository: what loading reads, and the card.
HUB_FILES = [EXPORT_MODEL_FILE, EXPORT_METADATA_FILE, EXPORT_CARD_FILE]


# -------------------------------------------------------------------------------------- writing
def _write(folder: Path, name: str, writer: Callable[[Path], object]) -> Path:
    """``writer`` fills a new temporary file in ``folder``, which is then renamed onto ``name``: a
    crash leaves no half file, and a symbolic link at ``name`` is replaced, never followed."""
    target = folder / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=Path(name).suffix or ".tmp", dir=folder)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_problem(exc, target) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _prepare_folder(folder: Path, force: bool) -> None:
    """Refuse a link, a file, or a non-empty folder without ``force``; create the folder."""
    if folder.is_symlink():
        raise ToolkitError(
            f"export folder '{folder}' is a symbolic link; give the real folder it points to, or a new one"
        )
    if folder.exists() and not folder.is_dir():
        raise ToolkitError(f"export folder '{folder}' is a file; give a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not force:
            raise ToolkitError(
                f"export folder '{folder}' is not empty; give a new or empty folder, or --force (force=True) "
                "to write the export's files into it (other files are kept)"
            )
        # Sheets of an earlier export's codes would pass for this model's.
        for old in folder.glob(exported_traversal(Path(), "*").name):
            if old.is_symlink() or old.is_file():
                old.unlink()
    make_dirs(folder)


def save_pretrained(
    model: "TrainedModel",
    folder: str | Path,
    evaluation: dict[str, Any] | None = None,
    source: str | None = None,
    force: bool = False,
    samples: int = 64,
    seed: int = 0,
    host: PluginHost | None = None,
) -> dict[str, Any]:
    """Write ``model`` into ``folder``: weights, ``metadata.json``, a sample grid, a traversal sheet
    per code and the model card (``README.md``). ``evaluation`` (an ``eval.json`` of the same step)
    adds its numbers and what each code is known to control to the card; ``source`` names where the
    model came from. A non-empty folder is refused unless ``force``. Returns ``metadata.json``'s content.
    """
    from torchvision.utils import save_image

    from .evaluate.figures import draw_traversal_sheet, traversal_panels

    folder = Path(folder)
    if samples < 1:
        raise ToolkitError(f"samples must be at least 1, got {samples}")
    if evaluation is not None and evaluation.get("step") != model.step:
        raise ToolkitError(
            f"the evaluation is of step {evaluation.get('step')}, the model of step {model.step}; "
            f"evaluate this checkpoint (infogan-tk eval) or leave the evaluation out"
        )
    _prepare_folder(folder, force)
    host = host or PluginHost()

    weights = exported_model(folder)
    try:
        # The export's G is the generator the model was loaded with; it offers no other.
        atomic_save(
            model_tensors(model.generator, model.discriminator), weights, {**model.metadata, "generators": "{}"}
        )
    except OSError as exc:
        raise write_problem(exc, weights) from None

    images, _values = model.sample(samples, seed=seed)
    _write(
        folder,
        EXPORT_SAMPLES_FILE,
        lambda p: save_image(images.cpu(), p, nrow=max(1, int(samples**0.5)), padding=2, pad_value=1.0),
    )
    traversals = {}
    title = f"{source or 'model'}, step {model.step}"
    for i, code in enumerate(model.codes):
        (panel,) = traversal_panels(
            model.generate,
            model.codes,
            model.noise_dim,
            [i],
            5,
            10,
            (-1.0, 1.0),
            seed,
            model.device,
            model.assembly.config.model.noise,
        )
        name = exported_traversal(folder, code.name).name
        _write(folder, name, functools.partial(draw_traversal_sheet, [panel], title))
        traversals[code.name] = name

    from .explore.report import render_report

    page = render_report(
        model,
        source or "model",
        evaluation,
        None if evaluation else "none came with the export",
        seed=seed,
        with_dataset=False,
        host=host,
    )
    _write(folder, EXPORT_REPORT_FILE, lambda p: p.write_text(page, encoding="utf-8"))

    meta = _decoded(model.metadata)
    record = {
        "format": EXPORT_FORMAT,
        "model_file": EXPORT_MODEL_FILE,
        "generator": model.generator_name,
        "card": EXPORT_CARD_FILE,
        "samples": {"file": EXPORT_SAMPLES_FILE, "n": samples, "seed": seed},
        "traversals": traversals,
        "report": EXPORT_REPORT_FILE,
        "source": source,
        "exported_with": __version__,
        "metadata": meta,
        "evaluation": evaluation,
    }
    _write(folder, EXPORT_METADATA_FILE, lambda p: p.write_text(json.dumps(record, indent=2, default=str) + "\n"))
    card = model_card(model, record, dataset_license(model, host))
    _write(folder, EXPORT_CARD_FILE, lambda p: p.write_text(card))
    return record


def _decoded(metadata: dict[str, str]) -> dict[str, Any]:
    """Checkpoint metadata (str -> str) with its JSON values decoded, for reading without safetensors."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        try:
            out[key] = json.loads(value) if key in ("config", "codes_detail", "plugins", "image_shape") else value
        except ValueError:
            out[key] = value
    return out


def dataset_license(model: "TrainedModel", host: PluginHost) -> str | None:
    """The license its dataset plugin states for the model's data set (None when none or not installed)."""
    name = model.config.data.dataset
    registry = host.registries.datasets
    if name is None or name not in registry:
        return None
    return getattr(registry.get(name), "license", None)


# ----------------------------------------------------------------------------------- model card
def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return ("" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def model_card(model: "TrainedModel", record: dict[str, Any], license: str | None) -> str:
    """The README.md of an exported folder, from the model and what the export wrote (``record``)."""
    cfg = model.config
    meta = record["metadata"]
    evaluation = record.get("evaluation")
    plugins: dict[str, dict[str, Any]] = meta.get("plugins") or {}
    dataset = cfg.data.dataset
    findings = code_findings(evaluation)
    lines = [
        "---",
        "library_name: infogan-toolkit",
        "tags:",
        "- infogan",
        "- gan",
        "- disentanglement",
        "- unconditional-image-generation",
        "---",
        "",
        f"# InfoGAN: {cfg.model.backbone} on {dataset or 'no data set'}, codes {model.codes.spec}, step {model.step}",
        "",
        f"An InfoGAN generator with its discriminator and Q network (Chen et al. 2016), trained with "
        f"infogan-toolkit {meta.get('toolkit_version', '?')} for {model.step} steps"
        + (f", exported from `{record['source']}`" if record.get("source") else "")
        + ". "
        f"Images {'x'.join(str(d) for d in meta.get('image_shape', []))}, noise z of width {model.noise_dim}.",
        "",
        "## Use",
        "",
        "```python",
        "import infogan_toolkit",
        "",
        'model = infogan_toolkit.from_pretrained("THIS_FOLDER_OR_OWNER/NAME")',
        "images, code_values = model.sample(16, seed=0)  # [0, 1] images and the codes that made them",
        "```",
        "",
        "Loading reads `model.safetensors` (no pickle) and rebuilds the networks through the plugins "
        "listed under Plugins, which must be installed.",
        "",
        f"[{record.get('report', EXPORT_REPORT_FILE)}]({record.get('report', EXPORT_REPORT_FILE)}) shows the model in "
        "one "
        "self-contained page (traversals, Q's reading of an image, the evaluation); `infogan-tk explore THIS_FOLDER` "
        "gives the same with live controls.",
        "",
        "## Codes",
        "",
    ]
    rows = []
    for code in model.codes:
        known = "; ".join(findings.get(code.name, [])) or (
            "not found by the evaluation" if evaluation else "not evaluated"
        )
        rows.append([code.name, code.code.describe(), code.kind, code.head_name, short_number(code.weight), known])
    lines += [_table(["code", "prior", "kind", "Q head", "lambda", "what it is known to control"], rows), ""]
    if not evaluation:
        lines += ["No evaluation of this checkpoint came with the export (`infogan-tk eval RUN` writes one).", ""]
    lines += [
        "## Samples",
        "",
        f"![{record['samples']['n']} samples, seed {record['samples']['seed']}]({record['samples']['file']})",
        "",
    ]
    lines += ["## Traversals", "", "Each row keeps its noise and other codes; the code varies along the columns.", ""]
    for name, file in record["traversals"].items():
        lines += [f"![traversal of {name}]({file})", ""]
    if evaluation:
        ds = evaluation.get("dataset") or {}
        where = f" on the {ds.get('split')} split of '{ds.get('name')}'" if ds else ""
        lines += [
            "## Evaluation",
            "",
            f"`infogan-tk eval` of step {evaluation.get('step')}{where}, seed {evaluation.get('seed')}.",
            "",
        ]
        lines += [_table(["metric", "quantity", "value"], evaluation_numbers(evaluation)), ""]
        skipped = evaluation.get("skipped") or {}
        lines += [f"- {metric}: not computed, {reason}" for metric, reason in skipped.items()] + (
            [""] if skipped else []
        )
    lines += ["## Data set", ""]
    if dataset:
        prov = plugins.get("dataset") or {}
        lines.append(
            f"- name: {dataset}"
            + (
                f" (from plugin '{prov.get('plugin')}', "
                f"{prov.get('distribution')} {prov.get('version') or ''})".rstrip()
                if prov
                else ""
            )
        )
        lines.append(f"- license: {license or 'not stated by the data set plugin; check the data source terms'}")
    else:
        lines.append("- none configured")
    lines += ["", "## Plugins", "", "What provided each piece; install these distributions to load the model.", ""]
    rows = [
        [
            piece,
            info.get("name"),
            info.get("plugin"),
            info.get("distribution") or "registered in-process",
            info.get("version") or "",
        ]
        for piece, info in sorted(plugins.items())
    ]
    lines += [_table(["piece", "name", "plugin", "distribution", "version"], rows), ""]
    lines += [
        "## Configuration",
        "",
        "The resolved configuration the model was trained with:",
        "",
        "```toml",
        cfg.to_toml().rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ loading
def is_hub_id(ref: str) -> bool:
    """True when ``ref`` is spelled like a Hub repository (``owner/name``) rather than a file path."""
    return bool(HUB_ID.fullmatch(ref)) and not ref.endswith(".safetensors")


def require_hub(what: str):
    """``huggingface_hub``, imported only now; without it a one-line error saying ``what`` needs it."""
    try:
        import huggingface_hub
    except ImportError:
        raise ToolkitError(f"{what} needs huggingface_hub: {HUB_FIX}") from None
    return huggingface_hub


def _hub_failure(ref: str, action: str, exc: BaseException) -> ToolkitError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ToolkitError(
        f"could not {action} '{ref}' on the Hugging Face Hub ({type(exc).__name__}: {first}); check the id, "
        "the network and your login (huggingface-cli login); offline, a model downloaded before loads with "
        "HF_HUB_OFFLINE=1"
    )


def download(ref: str, revision: str | None = None) -> Path:
    """Fetch an exported model from the Hub (its weights, metadata and card only) into the Hub's
    cache and return the folder."""
    hub = require_hub(f"'{ref}' is not a folder or file here, and loading it as a Hugging Face Hub id")
    try:
        folder = Path(hub.snapshot_download(repo_id=ref, revision=revision, allow_patterns=HUB_FILES))
    except Exception as exc:  # the Hub client raises many types (HTTP, offline, not found, auth)
        raise _hub_failure(ref, "download", exc) from None
    if not exported_model(folder).is_file():
        raise CheckpointError(f"Hub repository '{ref}' holds no {EXPORT_MODEL_FILE}; it is not an infogan-tk export")
    return folder


# ------------------------------------------------------------------------------------ pushing
def push_folder(
    folder: str | Path, repo_id: str, private: bool = False, token: str | None = None, message: str | None = None
) -> str:
    """Upload an exported folder to the Hub repository ``repo_id`` (created when missing); returns
    the commit's address."""
    folder = Path(folder)
    if not is_hub_id(repo_id):
        raise ToolkitError(f"'{repo_id}' is not a Hub repository id; give owner/name")
    if not exported_model(folder).is_file():
        raise ToolkitError(
            f"'{folder}' holds no {EXPORT_MODEL_FILE}; export a model into it first (infogan-tk export RUN DIR)"
        )
    hub = require_hub(f"pushing to '{repo_id}'")
    try:
        api = hub.HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=message or "Upload infogan-tk model",
            ignore_patterns=[".*"],
        )
    except Exception as exc:  # the Hub client raises many types (HTTP, offline, auth)
        raise _hub_failure(repo_id, "push to", exc) from None
    return str(getattr(info, "commit_url", info))


def push_to_hub(
    model: "TrainedModel",
    repo_id: str,
    evaluation: dict[str, Any] | None = None,
    private: bool = False,
    token: str | None = None,
    host: PluginHost | None = None,
) -> str:
    """Export ``model`` into a temporary folder and upload it to ``repo_id``; returns the commit's address."""
    require_hub(f"pushing to '{repo_id}'")
    with tempfile.TemporaryDirectory(prefix="infogan-tk-export-") as tmp:
        save_pretrained(model, Path(tmp) / "model", evaluation=evaluation, host=host)
        return push_folder(Path(tmp) / "model", repo_id, private=private, token=token)
