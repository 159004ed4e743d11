"""fp32 linear layers on a CPU through oneDNN's matmul instead of the BLAS torch calls by default.

torch computes an fp32 ``nn.Linear`` on a CPU with its BLAS (MKL in the official x86 wheels),
while its convolutions and bf16 matmuls already run in oneDNN. On some CPUs the two libraries'
fp32 matmuls differ by far (docs/performance.md; ``benchmarks/op_times.py`` shows each linear
layer's rate under either ``train.linear_kernel``). The same fp32 arithmetic, summed in another
order: results differ in the last bits, as between thread counts.

:func:`use_onednn_linear` gives a module's plain ``nn.Linear`` layers, from a given size on, a
forward whose three matmuls (forward, input gradient, weight gradient) run in oneDNN. Parameters,
state-dict keys and checkpoints are unchanged; anything that is not an fp32 CPU tensor outside
autocast falls back to ``nn.Linear``'s own forward.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.graph import get_gradient_edge
from torch.utils import flop_counter


def onednn_linear_available() -> bool:
    """Whether this torch build can run a linear layer in oneDNN on the CPU."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_matmul(a: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``a @ weight.T (+ bias)`` for 2-D fp32 CPU ``a`` in oneDNN (``weight`` may be a transposed view)."""
    return torch.ops.mkldnn._linear_pointwise(a, weight, bias, "none", [], "")


def _will_be_used(node) -> bool:
    """Whether the running backward pass will use the gradient flowing into ``node``. A custom
    autograd function's ``needs_input_grad`` ignores ``backward(inputs=...)``, which the objective
    uses to give each optimiser only its own parameters' gradients; without this check, G's step
    would compute D's weight gradients and throw them away."""
    if node is None:
        return True
    try:
        return torch._C._will_engine_execute_node(node)
    except (AttributeError, RuntimeError):  # an older torch, or autograd.grad() on a leaf: cannot tell
        return True


class _OneDNNLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # noqa: D102
        ctx.save_for_backward(x, weight)
        ctx.input_node, ctx.weight_node, ctx.bias_node = (
            get_gradient_edge(t).node if t is not None and t.requires_grad else None for t in (x, weight, bias)
        )
        flat = x.reshape(-1, x.shape[-1])
        out = onednn_matmul(flat, weight, bias)
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # noqa: D102
        x, weight = ctx.saved_tensors
        grad = grad_out.reshape(-1, grad_out.shape[-1])
        flat_x = x.reshape(-1, x.shape[-1])
        # A backward that builds a graph (a gradient penalty's create_graph) needs ops autograd can
        # differentiate; oneDNN's has no derivative.
        differentiable = torch.is_grad_enabled()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0] and _will_be_used(ctx.input_node):
            flat = grad @ weight if differentiable else onednn_matmul(grad, weight.t())
            grad_x = flat.reshape(x.shape)
        if ctx.needs_input_grad[1] and _will_be_used(ctx.weight_node):
            grad_w = grad.t() @ flat_x if differentiable else onednn_matmul(grad.t(), flat_x.t())
        if ctx.needs_input_grad[2] and _will_be_used(ctx.bias_node):
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


class OneDNNLinear(nn.Linear):
    """An ``nn.Linear`` whose fp32 CPU matmuls (forward, input and weight gradients) run in oneDNN
    (see the module)."""

    def forward(self, x: Tensor) -> Tensor:
        """``nn.Linear``'s result; through oneDNN for fp32 CPU tensors outside autocast."""
        if (
            x.device.type != "cpu"
            or x.dtype != torch.float32
            or self.weight.dtype != torch.float32
            or torch.is_autocast_enabled("cpu")
            or x.dim() == 0
        ):
            return super().forward(x)
        return _OneDNNLinearFunction.apply(x, self.weight, self.bias)


def use_onednn_linear(module: nn.Module, min_weights: int = 0) -> int:
    """Turn every plain ``nn.Linear`` in ``module`` with at least ``min_weights`` weights into a
    :class:`OneDNNLinear` in place (same parameters, same state-dict keys); return how many.
    Subclasses of ``nn.Linear`` and parametrised layers keep their own forward."""
    count = 0
    for layer in module.modules():
        if type(layer) is nn.Linear and layer.weight.numel() >= min_weights:
            layer.__class__ = OneDNNLinear
            count += 1
    return count


def _linear_pointwise_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of oneDNN's linear: those of the matmul it computes."""
    rows = 1
    for size in x_shape[:-1]:
        rows *= size
    return 2 * rows * x_shape[-1] * w_shape[0]


# FlopCounterMode counts only ops it has a formula for; this op's FLOPs are a linear layer's.
if onednn_linear_available() and torch.ops.mkldnn._linear_pointwise.default not in flop_counter.flop_registry:
    flop_counter.register_flop_formula(torch.ops.mkldnn._linear_pointwise)(_linear_pointwise_flops)
