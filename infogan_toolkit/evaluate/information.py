"""The variational mutual-information lower bound L_I of InfoGAN (Chen et al. 2016, Eq. 5).

``L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)} [log Q(c | x)] + H(c)  <=  I(c; G(z, c))``

Estimated by Monte Carlo: sample codes from the prior, generate, score each sampled code under Q's
output, average, add the prior entropy. For a discrete code the bound reaches ``H(c)`` (``ln K`` for
Cat(K)) when Q recovers the code perfectly, and is 0 when Q is no better than the uniform prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError


def mutual_information_bound(log_likelihoods: Tensor | np.ndarray | Sequence[float], entropy: float) -> float:
    """Monte-Carlo estimate of ``L_I = mean log Q(c|x) + H(c)``, in nats.

    Args:
        log_likelihoods: ``log Q(c_i | x_i)`` for each generated sample, shape ``(N,)``. A shape
            ``(N, k)`` is read as ``k`` independent code dimensions and summed per sample, so
            ``entropy`` must then be their total prior entropy.
        entropy: the prior entropy ``H(c)`` of the same code(s), in nats (``LatentCode.entropy()``).

    Returns:
        The bound as a Python float (no gradient; the training loss computes its own term).
    """
    if isinstance(log_likelihoods, Tensor):
        values = log_likelihoods.detach().to("cpu", torch.float64).numpy()
    else:
        values = np.asarray(log_likelihoods, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] == 0:
        raise DataError("log_likelihoods is empty or a scalar; pass one log Q(c|x) per generated sample.")
    if not np.all(np.isfinite(values)):
        raise DataError("log_likelihoods holds NaN or infinite values; check the Q head's outputs.")
    per_sample = values.reshape(values.shape[0], -1).sum(axis=1)
    return float(per_sample.mean() + float(entropy))
