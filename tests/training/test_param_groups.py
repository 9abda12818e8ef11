import pytest
import torch
from torch import nn

from seqconv.modules.global_conv import GlobalConv
from seqconv.modules.hyena import HyenaOperator
from seqconv.training.param_groups import build_param_groups


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.mix1 = GlobalConv(8, 32, kernel="sgconv", kernel_kwargs={"kernel_dim": 4, "lr": 5e-4})
        self.mix2 = HyenaOperator(8, 32, filter_order=8)
        self.mix3 = GlobalConv(8, 32, kernel="s4d", kernel_kwargs={"d_state": 4}, bidirectional=True)
        self.mix4 = GlobalConv(8, 32, kernel="sgconv", kernel_kwargs={"kernel_dim": 4, "mode": "learnable-fixed"})
        self.norm = nn.LayerNorm(8)
        self.bn = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 3)
        self.tied = nn.Linear(8, 10, bias=False)
        self.tied.weight = self.emb.weight  # shared parameter must appear once


def _ids(params):
    return [id(p) for p in params]


def test_every_trainable_param_exactly_once():
    model = Toy()
    groups = build_param_groups(model, lr=1e-2, weight_decay=0.05)
    listed = [i for g in groups for i in _ids(g["params"])]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(listed) == len(set(listed)) == len(trainable)
    assert set(listed) == set(_ids(trainable))
    assert id(model.mix4.kernel.decay) not in listed  # frozen (learnable-fixed)
    with_frozen = build_param_groups(model, lr=1e-2, weight_decay=0.05, include_frozen=True)
    listed_all = [i for g in with_frozen for i in _ids(g["params"])]
    assert len(listed_all) == len(set(listed_all)) == len(list(model.parameters()))


def test_group_assignment():
    model = Toy()
    groups = build_param_groups(model, lr=1e-2, weight_decay=0.05)
    where = {}
    for g in groups:
        for p in g["params"]:
            where[id(p)] = (g["lr"], g["weight_decay"])
    assert where[id(model.mix1.kernel.kernel_list[0])] == (5e-4, 0.0)
    assert where[id(model.mix4.kernel.kernel_list[0])] == (1e-3, 0.0)
    assert where[id(model.mix3.kernel.log_dt)] == (1e-3, 0.0)
    assert where[id(model.mix3.kernel.C)] == (1e-2, 0.05)
    assert where[id(model.mix2.filter_fn.implicit_filter[0].weight)] == (1e-3, 0.0)
    for p in (model.head.bias, model.norm.weight, model.norm.bias, model.bn.weight, model.emb.weight,
              model.mix1.output_linear.bias, model.mix2.bias):
        assert where[id(p)] == (1e-2, 0.0)
    for p in (model.head.weight, model.mix1.D, model.mix1.output_linear.weight, model.mix2.in_proj.weight):
        assert where[id(p)] == (1e-2, 0.05)
    assert len({g["name"] for g in groups}) == len(groups)


def test_adamw_accepts_groups_and_steps():
    model = Toy()
    opt = torch.optim.AdamW(build_param_groups(model, lr=1e-2, weight_decay=0.05))
    x = torch.randint(0, 10, (2, 16))
    h = model.emb(x)
    y = model.mix1(h) + model.mix2(h) + model.mix3(h) + model.mix4(h)
    model.head(model.norm(y)).sum().backward()
    before = model.mix1.kernel.kernel_list[0].detach().clone()
    opt.step()
    assert not torch.equal(before, model.mix1.kernel.kernel_list[0])


def test_partial_hint_and_errors():
    lin = nn.Linear(3, 3)
    lin.weight._optim = {"lr": 0.1}
    groups = build_param_groups(lin, lr=1.0, weight_decay=0.2)
    hinted = next(g for g in groups if g["params"][0] is lin.weight)
    assert (hinted["lr"], hinted["weight_decay"]) == (0.1, 0.2)
    lin.weight._optim = 0.1
    with pytest.raises(TypeError, match="_optim must be a dict"):
        build_param_groups(lin, lr=1.0, weight_decay=0.2)
    with pytest.raises(ValueError, match="lr"):
        build_param_groups(nn.Linear(2, 2), lr=-1.0, weight_decay=0.0)
    with pytest.raises(TypeError, match="nn.Module"):
        build_param_groups([nn.Parameter(torch.ones(1))], lr=1.0, weight_decay=0.0)
