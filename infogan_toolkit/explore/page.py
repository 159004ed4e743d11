"""The explore page: one HTML document made from the model's description, and its script and style,
which ship with the package and are served from memory (the server reads no file on request)."""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any


def asset(name: str) -> str:
    """The text of ``page.js`` or ``page.css``."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    """JSON safe inside a ``<script type="application/json">``: no ``</script>`` can close it early."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def index_html(info: dict[str, Any], evaluation: str) -> str:
    """The page: the model's description for the script, the evaluation fragment, and the layout."""
    title = f"{info['backbone']} on {info['dataset'] or 'no data set'}, codes {info['spec']}, step {info['step']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>infogan-tk explore: {html.escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/page.css">
<script type="application/json" id="model">{_json_for_script(info)}</script>
<script src="/page.js" defer></script>
</head><body>
<header><h1>{html.escape(title)}</h1>
<p>{html.escape(str(info["source"]))} &middot; {html.escape(str(info["generator"]))} generator &middot; noise of width {info["noise_dim"]}</p></header>
<main>
<div>
<section><h2>Codes</h2><div id="controls"></div></section>
<section><h2>Noise</h2>
<div class="row"><label>seed <input type="number" id="seed" min="0" step="1" value="0"></label>
<button id="reroll" type="button">reroll</button>
<label><input type="checkbox" id="lock"> lock</label>
<button id="random-point" type="button">random codes</button></div>
<p class="note">Reroll draws new noise unless it is locked; random codes draws every code from its prior.</p></section>
<section><h2>Your image</h2>
<div class="row"><input type="file" id="upload" accept="image/png,image/jpeg,image/bmp,image/gif,image/webp">
<button id="from-data" type="button">a data-set image</button></div>
<div id="upload-result" class="pictures"></div>
<p class="note">Q reads its codes; the controls move there, and G draws the image again from them.</p></section>
</div>
<div>
<div id="message" role="status"></div>
<section><h2>Generated image and Q's reading</h2>
<div class="pictures"><figure><img id="image" class="big" alt="generated image"><figcaption>G(z, c)</figcaption></figure>
<div><table id="readback"></table></div></div></section>
<section><h2>Traversals from here</h2><div id="strips"></div>
<p class="note">Each strip varies one code from the current point; click a picture to go there.</p></section>
<section><h2>Evaluation</h2><div id="evaluation">{evaluation}</div></section>
</div>
</main></body></html>
"""


__all__ = ["asset", "index_html"]
