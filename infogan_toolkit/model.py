"""A trained InfoGAN ready to use: generator, D/Q, codes and config, loaded from a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import attrs
import torch
from torch import Tensor

from .assembly import Assembly, build_networks, resolve
from .backbones import InfoDiscriminator
from .callbacks import RAW_GENERATOR
from .checkpoint import (
    load_model_tensors,
    load_module_tensors,
    offered_generators,
    read_metadata,
    read_model_metadata,
    resolve_checkpoint,
)
from .checkpoint_schema import check_layout_detail
from .config import Config, apply_dict
from .errors import ConfigError, PluginError, ToolkitError
from .images import from_uint8, to_unit
from .noise import sample_noise
from .plugins import PluginHost
from .suggest import did_you_mean


@attrs.define
class TrainedModel:
    """Networks in eval mode on one device, with the code set they were trained with."""

    assembly: Assembly
    generator: torch.nn.Module
    discriminator: InfoDiscriminator
    metadata: dict[str, str]
    device: torch.device
    #: Which of the checkpoint's generators ``generator`` holds (``raw``: the trained weights; e.g. ``ema``).
    generator_name: str = RAW_GENERATOR
    #: Every generator the checkpoint offers, the default first.
    generator_names: tuple[str, ...] = (RAW_GENERATOR,)

    @property
    def codes(self):
        """The run's :class:`~infogan_toolkit.codes.CodeSet`."""
        return self.assembly.codes

    @property
    def config(self) -> Config:
        """The resolved run configuration."""
        return self.assembly.config

    @property
    def noise_dim(self) -> int:
        """Width of the incompressible noise z."""
        return cast(int, self.assembly.config.model.noise_dim)  # resolve() fills it in

    @property
    def step(self) -> int:
        """Training step the weights come from."""
        return int(self.metadata.get("step", 0))

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        host: PluginHost | None = None,
        generator: str | None = None,
    ) -> "TrainedModel":
        """Read a checkpoint file (or a run directory's latest) onto ``device``, with ``generator``
        the one of its generators to use (``raw``, or one an extension kept, e.g. ``ema``); None
        takes the checkpoint's default: an averaged one where it has it, else ``raw``.

        The file passes :mod:`~infogan_toolkit.checkpoint_schema` first (metadata keys and types,
        the codes in the recorded order, every tensor's name, shape and dtype, finite weights);
        a file that does not is a one-line :class:`CheckpointError` and nothing is loaded.
        """
        path = resolve_checkpoint(path)
        saved = read_model_metadata(path)
        meta = read_metadata(path)
        offered = offered_generators(meta, path)
        chosen = generator or next(iter(offered))
        if chosen not in offered:
            raise ConfigError(
                f"checkpoint '{path}' holds no generator '{chosen}'.{did_you_mean(chosen, offered)} "
                f"It holds: {', '.join(offered)}; pass --generator with one of them"
            )
        host = host or PluginHost()
        # Name the distribution to install for any piece generating needs whose plugin is missing,
        # before resolving; the regularisers' and callbacks' plugins only matter to training.
        registry_of = {"backbone": "backbones", "code": "codes", "head": "heads"}
        for key, prov in saved.plugins.items():
            attr = registry_of.get(key.split(":")[0])
            if attr is not None:
                try:
                    # check_plugins (via read_model_metadata) makes every record's name a non-empty str.
                    host.require_plugin_for(attr, cast(str, prov["name"]), prov["distribution"] or prov["plugin"])
                except PluginError as exc:
                    raise PluginError(f"checkpoint '{path}' needs {exc}") from None
        config = apply_dict(Config(), saved.config, f"the metadata of {path}")
        assembly = resolve(config, host, terms=False)
        check_layout_detail(path, saved, assembly.codes, assembly.backbone)
        nets = build_networks(assembly)
        # The regularisers' and callbacks' networks are not built for sampling: their tensors may be present, unread.
        unread = tuple(
            f"{key.split(':', 1)[1]}." for key in saved.plugins if key.startswith(("callback:", "regulariser:"))
        )
        load_model_tensors(path, nets.generator, nets.discriminator, passthrough=unread)
        if chosen != RAW_GENERATOR:
            load_module_tensors(path, nets.generator, offered[chosen])
        device = torch.device(device)
        gen = nets.generator.to(device).eval()
        disc = nets.discriminator.to(device).eval()
        return cls(assembly, gen, disc, meta, device, chosen, tuple(offered))

    def save_pretrained(
        self,
        folder: str | Path,
        evaluation: dict | None = None,
        force: bool = False,
        samples: int = 64,
        seed: int = 0,
        source: str | None = None,
        host: PluginHost | None = None,
    ) -> dict:
        """Write this model into ``folder`` to share it: ``model.safetensors`` (the checkpoint's
        weights file, G and D/Q), ``metadata.json``, a sample grid, a traversal sheet per code and a
        model card ``README.md``; :func:`~infogan_toolkit.from_pretrained` loads it back. ``evaluation``
        (the run's ``eval.json`` of this step) adds its numbers to the card. A non-empty folder is
        refused unless ``force``; ``source`` (the run, say) is named on the card. Returns what
        ``metadata.json`` holds."""
        from .pretrained import save_pretrained

        return save_pretrained(
            self, folder, evaluation=evaluation, source=source, force=force, samples=samples, seed=seed, host=host
        )

    def push_to_hub(
        self,
        repo_id: str,
        evaluation: dict | None = None,
        private: bool = False,
        token: str | None = None,
        host: PluginHost | None = None,
    ) -> str:
        """Export this model and upload it to the Hugging Face Hub repository ``repo_id`` (needs
        ``huggingface_hub``: ``pip install 'infogan-toolkit[hub]'``); returns the commit's address."""
        from .pretrained import push_to_hub

        return push_to_hub(self, repo_id, evaluation=evaluation, private=private, token=token, host=host)

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw incompressible noise z as the model was trained with (``model.noise``)."""
        return sample_noise(self.assembly.config.model.noise, n, self.noise_dim, generator, self.device)

    @torch.no_grad()
    def generate(self, z: Tensor, values: Sequence[Tensor]) -> Tensor:
        """G(z, c) as [0, 1] images, ``values`` holding one tensor per code."""
        x = self.generator(torch.cat([z, self.codes.encode([v.to(self.device) for v in values])], dim=1))
        return to_unit(x, self.assembly.backbone.output_range)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> tuple[Tensor, list[Tensor]]:
        """Random images from the prior and the code values that made them."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed if seed is not None else torch.seed())
        z = self.noise(n, gen)
        values = self.codes.sample(n, gen, self.device)
        return self.generate(z, values), values

    @torch.no_grad()
    def infer(self, images_uint8: Tensor, batch_size: int = 512) -> Tensor:
        """Q's raw outputs for real uint8 images, batched."""
        out = []
        for start in range(0, images_uint8.shape[0], batch_size):
            x = from_uint8(
                images_uint8[start : start + batch_size].to(self.device), self.assembly.backbone.output_range
            )
            out.append(self.discriminator(x)[1].float())
        return torch.cat(out)


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", host: PluginHost | None = None, generator: str | None = None
) -> TrainedModel:
    """Load a checkpoint (file or run directory) into a :class:`TrainedModel`.

    The networks are rebuilt from the config in the metadata through the installed plugins; a
    missing plugin is named, with the distribution to install. ``generator`` picks which of the
    checkpoint's generators to use: ``"raw"`` (the trained weights) or one an extension kept
    (``"ema"`` with ``train.ema``); None, the default, takes the averaged one where it exists.
    """
    return TrainedModel.load(path, device=device, host=host, generator=generator)


def from_pretrained(
    ref: str | Path,
    device: str | torch.device = "cpu",
    host: PluginHost | None = None,
    revision: str | None = None,
    generator: str | None = None,
) -> TrainedModel:
    """Load an exported folder (``infogan-tk export``), a run directory, a checkpoint file, or a
    Hub id ``owner/name`` (through ``huggingface_hub``; ``revision`` a branch, tag or commit);
    ``generator`` as for :meth:`TrainedModel.load` (an export holds the one it was made from).

    Whatever the source, the weights load as :func:`~infogan_toolkit.load_checkpoint` loads them:
    pickle-free, with the networks rebuilt through the installed plugins and a missing one named.
    """
    from .pretrained import download, is_hub_id  # the Hub side loads only for a Hub id

    text = str(ref)
    path = Path(text).expanduser()
    if not path.exists() and is_hub_id(text):
        path = download(text, revision)
    elif revision is not None:
        raise ToolkitError(f"revision applies to a Hub id; '{text}' is a local path")
    return TrainedModel.load(path, device=device, host=host, generator=generator)
