"""`infogan-tk report`: what the explore page shows, without live controls, as one HTML file that
opens with no network: pictures inlined as data URIs, the style inline, no script.

It holds the model and its codes, a sample grid, a traversal strip per code (the same strips the
page draws), one generated picture with Q's reading of it, a data-set image with Q's codes and the
picture regenerated from them (where the data set loads), and the run's evaluation.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..errors import ToolkitError
from .evaluation import evaluation_html
from .imaging import grid, image_uri
from .page import asset
from .session import Explorer

if TYPE_CHECKING:
    from ..model import TrainedModel
    from ..plugins import PluginHost


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _read_text(explorer: Explorer, readback: list[dict[str, Any]]) -> str:
    rows = []
    for code, control, read in zip(explorer.model.codes, explorer.controls, readback):
        outputs = read.get("outputs") or {}
        if control.kind == "choice":
            shown = (
                control.labels[read["estimate"]] if 0 <= read["estimate"] < len(control.labels) else read["estimate"]
            )
            extra = f" ({outputs['probabilities'][read['estimate']]:.0%})" if "probabilities" in outputs else ""
        else:
            shown = f"{read['estimate']:.3f}"
            extra = f" &plusmn; {outputs['std'][0]:.3f}" if "std" in outputs else ""
        rows.append(f"<tr><td>{_e(code.name)}</td><td>{_e(shown)}{extra}</td></tr>")
    return "<table><tr><th>code</th><th>Q reads</th></tr>" + "".join(rows) + "</table>"


def render_report(
    model: TrainedModel,
    source: str,
    evaluation: dict[str, Any] | None = None,
    note: str | None = None,
    seed: int = 0,
    samples: int = 16,
    with_dataset: bool = True,
    host: PluginHost | None = None,
    data_root: str | None = None,
) -> str:
    """The report's HTML for ``model`` (with ``evaluation`` where there is one, else ``note`` saying
    why not); ``seed`` fixes its noise; ``with_dataset`` adds a data-set image when the data set loads."""
    explorer = Explorer(model, source, evaluation, note, host=host, data_root=data_root)
    info = explorer.describe()
    numbers = explorer.start_values()
    images, _ = model.sample(samples, seed=seed)
    columns = max(1, int(samples**0.5))
    point = explorer.render(seed, numbers)
    strips = explorer.traversals(seed, numbers)

    codes = []
    for code, control, strip_ in zip(info["codes"], explorer.controls, strips):
        values = strip_["values"]
        ends = "every category" if control.kind == "choice" else f"{values[0]:.2f} to {values[-1]:.2f}"
        codes.append(
            f"<tr><td>{_e(code['name'])}</td><td>{_e(code['prior'])}</td><td>{_e(code['kind'])}</td><td>{_e(code['head'])}</td>"
            f"<td>{ends}</td><td><img class='stripimg' alt='traversal of {_e(code['name'])}' "
            f"src='{strip_['image']}'></td></tr>"
        )
    set_values = ", ".join(
        f"{c.name} = {v if isinstance(v, int) else f'{v:.2f}'}" for c, v in zip(model.codes, numbers)
    )

    data_part = ""
    if with_dataset:
        try:
            found = explorer.dataset_image(0, seed)
            data_part = (
                f"<section><h2>A data-set image</h2><div class='pictures'>"
                "<figure><img class='small' alt='data-set image' "
                f"src='{found['input']}'><figcaption>{_e(found['dataset'])} test image 0"
                + (f", label {found['label']}" if found["label"] is not None else "")
                + "</figcaption></figure>"
                f"<figure><img class='small' alt='regenerated' src='{found['regenerated']}'><figcaption>G from Q's "
                "codes</figcaption></figure>"
                f"<div>{_read_text(explorer, found['readback'])}</div></div></section>"
            )
        except ToolkitError as exc:
            data_part = f"<section><h2>A data-set image</h2><p class='note'>None: {_e(exc)}</p></section>"

    reaches = {c["name"]: c["reach"] for c in info["codes"]}
    title = f"{info['backbone']} on {info['dataset'] or 'no data set'}, codes {info['spec']}, step {info['step']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>infogan-tk report: {_e(title)}</title>
<style>{asset("page.css")}
main {{ display: block; max-width: 1000px; }}
img.stripimg {{ height: 48px; image-rendering: pixelated; max-width: 100%; }}
img.grid {{ width: 336px; image-rendering: pixelated; }}</style>
</head><body>
<header><h1>{_e(title)}</h1><p>{_e(source)} &middot; {_e(info["generator"])} generator &middot; noise of width {info["noise_dim"]} &middot; written by infogan-tk report</p></header>
<main>
<section><h2>Codes and their traversals</h2>
<p class="note">Each strip varies one code from the point below ({_e(set_values)}), noise of seed {seed}.
<code>infogan-tk explore</code> gives the same with live controls.</p>
<table><tr><th>code</th><th>prior</th><th>kind</th><th>Q head</th><th>range</th><th>traversal</th></tr>{"".join(codes)}</table></section>
<section><h2>One generated image and Q's reading</h2><div class="pictures">
<figure><img class="small" alt="generated image" src="{point["image"]}"><figcaption>G(z, c) at that point</figcaption></figure>
<div>{_read_text(explorer, point["readback"])}</div></div></section>
<section><h2>Samples</h2><img class="grid" alt="{samples} samples, seed {seed}" src="{image_uri(grid(images.cpu(), columns))}"></section>
{data_part}
<section><h2>Evaluation</h2>{evaluation_html(evaluation, note, reaches)}</section>
</main></body></html>
"""


__all__ = ["render_report"]
