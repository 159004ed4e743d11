"""fp32 linear layers through oneDNN: the same results and gradients as nn.Linear, no wasted work."""

from __future__ import annotations

import collections
import copy

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from infogan_toolkit.engine.linear_kernels import OneDNNLinear, onednn_linear_available, use_onednn_linear

pytestmark = pytest.mark.skipif(not onednn_linear_available(), reason="this torch has no oneDNN")


class OpCounter(TorchDispatchMode):
    """Counts the aten ops that run inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _pair(in_features: int = 40, out_features: int = 24, bias: bool = True) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    plain = nn.Sequential(
        nn.Linear(in_features, 32, bias=bias), nn.LeakyReLU(0.1), nn.Linear(32, out_features, bias=bias)
    )
    fast = copy.deepcopy(plain)
    assert use_onednn_linear(fast) == 2
    return plain, fast


@pytest.mark.parametrize("shape", [(16, 40), (3, 5, 40), (40,)])
@pytest.mark.parametrize("bias", [True, False])
def test_outputs_and_every_gradient_match_nn_linear(shape, bias):
    plain, fast = _pair(bias=bias)
    x = torch.randn(*shape, requires_grad=True)
    x_fast = x.detach().clone().requires_grad_()
    out, out_fast = plain(x), fast(x_fast)
    assert out_fast.shape == out.shape
    torch.testing.assert_close(out_fast, out, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(out)
    out.backward(grad)
    out_fast.backward(grad)
    torch.testing.assert_close(x_fast.grad, x.grad, rtol=1e-5, atol=1e-5)
    for p, q in zip(plain.parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-5)


def test_a_non_contiguous_input_gives_the_same_result():
    plain, fast = _pair()
    x = torch.randn(40, 16).t()  # a transposed view
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)


def test_backward_with_inputs_computes_no_weight_gradient():
    # The objective gives each optimiser only its parameters with backward(inputs=...): the weight
    # gradients of the other network must not be computed and thrown away.
    _, fast = _pair()
    x = torch.randn(16, 40, requires_grad=True)
    loss = fast(x).square().sum()
    with OpCounter() as counter:
        loss.backward(inputs=[x])
    assert x.grad is not None and all(p.grad is None for p in fast.parameters())
    assert counter.calls["_linear_pointwise"] == 2 and counter.calls["sum"] == 0  # the input gradients only
    x.grad = None
    loss = fast(x).square().sum()
    with OpCounter() as counter:
        loss.backward(inputs=list(fast.parameters()))
    # Both weight gradients and the upper layer's input gradient, all in oneDNN (no torch matmul),
    # but not the gradient of x, which is not among the inputs.
    assert counter.calls["_linear_pointwise"] == 3 and counter.calls["mm"] == 0
    assert all(p.grad is not None for p in fast.parameters()) and x.grad is None


def test_a_frozen_weight_still_trains_its_bias():
    plain, fast = _pair()
    for net in (plain, fast):
        net[2].weight.requires_grad_(False)
        net(torch.ones(4, 40)).sum().backward()
    assert fast[2].weight.grad is None
    torch.testing.assert_close(fast[2].bias.grad, plain[2].bias.grad)


def test_double_backward_matches_nn_linear():
    # A gradient penalty differentiates the gradient (create_graph=True).
    plain, fast = _pair()
    results = []
    for net in (plain, fast):
        x = torch.randn(8, 40, generator=torch.Generator().manual_seed(1), requires_grad=True)
        (grad_x,) = torch.autograd.grad(net(x).square().sum(), x, create_graph=True)
        grad_x.square().sum().backward()
        results.append([p.grad for p in net.parameters()])
    for got, want in zip(*reversed(results)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_other_dtypes_and_autocast_fall_back_to_nn_linear():
    plain, fast = _pair()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = torch.randn(4, 40)
        assert fast(x).dtype == plain(x).dtype == torch.bfloat16
        torch.testing.assert_close(fast(x), plain(x))
    plain64, fast64 = plain.double(), fast.double()
    x = torch.randn(4, 40, dtype=torch.float64)
    assert torch.equal(fast64(x), plain64(x))


def test_the_swap_keeps_parameters_state_dict_and_subclasses():
    class MyLinear(nn.Linear):
        pass

    net = nn.Sequential(nn.Linear(4, 4), MyLinear(4, 4), nn.Sequential(nn.Linear(4, 2)))
    keys = list(net.state_dict())
    params = list(net.parameters())
    assert use_onednn_linear(net) == 2
    assert [type(m) for m in (net[0], net[1], net[2][0])] == [OneDNNLinear, MyLinear, OneDNNLinear]
    assert list(net.state_dict()) == keys and all(p is q for p, q in zip(net.parameters(), params))
    assert type(copy.deepcopy(net)[0]) is OneDNNLinear
    assert use_onednn_linear(net) == 0  # idempotent


def test_a_size_floor_leaves_smaller_layers_alone():
    net = nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 16))  # 2,048 and 512 weights
    assert use_onednn_linear(net, min_weights=2048) == 1
    assert [type(m) for m in net] == [OneDNNLinear, nn.Linear]


def test_flop_counter_counts_the_same_flops():
    plain, fast = _pair()
    counts = []
    for net in (plain, fast):
        with FlopCounterMode(display=False) as counter:
            net(torch.randn(16, 40)).sum().backward()
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] > 0


def test_without_the_private_engine_query_the_gradients_are_the_same(monkeypatch):
    # torch._C._will_engine_execute_node is private: where a torch lacks it, every gradient is
    # computed (some then thrown away by autograd) and the results do not change.
    plain, fast = _pair()
    x = torch.randn(16, 40, generator=torch.Generator().manual_seed(3))
    wanted = []
    for net in (plain, fast):
        xi = x.clone().requires_grad_()
        net(xi).square().sum().backward(inputs=[xi])
        wanted.append(xi.grad)
    monkeypatch.delattr(torch._C, "_will_engine_execute_node")
    xi = x.clone().requires_grad_()
    loss = fast(xi).square().sum()
    with OpCounter() as counter:
        loss.backward(inputs=[xi])
    # two input gradients, and this time the two weight gradients too (2 with the query)
    assert counter.calls["_linear_pointwise"] == 4
    torch.testing.assert_close(xi.grad, wanted[1], rtol=0, atol=0)
    torch.testing.assert_close(xi.grad, wanted[0], rtol=1e-5, atol=1e-5)
    assert all(p.grad is None for p in fast.parameters())
