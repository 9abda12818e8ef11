"""transformers integration: config validation, Auto classes, save/load (safetensors, trust_remote_code), heads,
init, Trainer, gradient checkpointing, bf16, bad inputs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    LlamaConfig,
    Trainer,
    TrainingArguments,
)

from seqconv.models import (
    SeqConvConfig,
    SeqConvForCausalLM,
    SeqConvForSequenceClassification,
    SeqConvModel,
)

V = 31


def cfg(**kw) -> SeqConvConfig:
    base = dict(mixer="hyena", d_model=16, n_layer=2, vocab_size=V, max_position_embeddings=64, eos_token_id=None)
    base.update(kw)
    return SeqConvConfig(**base)


# ----------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"mixer": "mamba"}, "unknown mixer"),
        ({"d_model": 0}, "d_model"),
        ({"n_layer": -1}, "n_layer"),
        ({"max_position_embeddings": 0}, "max_position_embeddings"),
        ({"dropout": 1.0}, "dropout"),
        ({"norm": "groupnorm"}, "norm"),
        ({"pooling": "median"}, "pooling"),
        ({"mlp_ratio": -1}, "mlp_ratio"),
        ({"kernel_kwargs": {"kernel_dim": 4}}, "kernel_kwargs"),
        ({"mixer_kwargs": {"l_max": 5}}, "mixer_kwargs"),
        ({"pad_token_id": V}, "pad_token_id"),
    ],
)
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        cfg(**kw)


def test_config_aliases_and_roundtrip(tmp_path):
    c = cfg(mixer="sgconv", l_max=128, kernel_kwargs={"kernel_dim": 8})
    assert (c.max_position_embeddings, c.hidden_size, c.num_hidden_layers) == (128, 16, 2)
    c.save_pretrained(tmp_path)
    c2 = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(c2, SeqConvConfig) and c2.kernel_kwargs == {"kernel_dim": 8} and c2.l_max == 128


def test_other_model_type_rejected(tmp_path):
    LlamaConfig(hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=16).save_pretrained(
        tmp_path
    )
    with pytest.raises(ValueError, match="model_type='llama'"):
        SeqConvConfig.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_type='llama'"):
        SeqConvForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(TypeError, match="SeqConvConfig"):
        SeqConvForCausalLM(LlamaConfig())


# ----------------------------------------------------------------------------------------------------- models
def test_auto_classes_and_generation_flags():
    c = cfg()
    assert isinstance(AutoModel.from_config(c), SeqConvModel)
    lm = AutoModelForCausalLM.from_config(c)
    assert isinstance(lm, SeqConvForCausalLM) and lm.can_generate()
    assert isinstance(AutoModelForSequenceClassification.from_config(c), SeqConvForSequenceClassification)


def test_base_model_matches_backbone_and_hidden_states():
    m = SeqConvModel(cfg(mixer="tcn")).eval()
    ids = torch.randint(0, V, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, :5] = 0
    out = m(ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
    ref = m.backbone(ids, mask.bool())
    torch.testing.assert_close(out.last_hidden_state, ref, atol=0, rtol=0)
    assert len(out.hidden_states) == 3 and out.cache is None
    emb = m.get_input_embeddings()(ids)
    torch.testing.assert_close(m(inputs_embeds=emb, use_cache=False).last_hidden_state, m(ids).last_hidden_state)


def test_gpt2_init_scaling():
    c = cfg(mixer="transformer", d_model=64, n_layer=8, initializer_range=0.02, mlp_ratio=4.0)
    m = SeqConvForCausalLM(c)
    block = m.model.backbone.layers[0]
    out_std = block.mixer.out_proj.weight.std().item()
    mlp_std = block.mlp[-1].weight.std().item()
    qkv_std = block.mixer.qkv.weight.std().item()
    emb_std = m.model.backbone.encoder.weight.std().item()
    scaled = 0.02 / math.sqrt(2 * 8)
    # 4096+ samples per estimate: relative std error ~1/sqrt(2n) < 2%, so 15% bounds are safe
    assert abs(out_std - scaled) / scaled < 0.15 and abs(mlp_std - scaled) / scaled < 0.15
    assert abs(qkv_std - 0.02) / 0.02 < 0.15 and abs(emb_std - 0.02) / 0.02 < 0.15
    assert float(block.mixer.out_proj.bias.detach().abs().max()) == 0.0


def test_hyena_filter_keeps_own_init():
    m = SeqConvForCausalLM(cfg(mixer="hyena", d_model=32))
    first = m.model.backbone.layers[0].mixer.filter_fn.implicit_filter[0]
    # nn.Linear default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = emb_dim = 3 (std ~0.33), not 0.02
    assert first.weight.std().item() > 0.1


@pytest.mark.parametrize("mixer", ["hyena", "sgconv", "transformer"])
@pytest.mark.parametrize("tie", [True, False])
def test_save_load_roundtrip_safetensors(tmp_path, mixer, tie):
    kw = {"kernel_kwargs": {"kernel_dim": 4}} if mixer == "sgconv" else {}
    m = SeqConvForCausalLM(cfg(mixer=mixer, tie_word_embeddings=tie, **kw)).eval()
    m.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    assert {"modeling.py", "configuration.py", "cache.py"} <= files
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]["AutoModelForCausalLM"]
    m2 = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, V, (2, 10))
    torch.testing.assert_close(m2(ids).logits, m(ids).logits, atol=0, rtol=0)
    assert (m2.lm_head.weight is m2.model.backbone.encoder.weight) == tie


def test_trust_remote_code_in_fresh_process(tmp_path):
    m = SeqConvForCausalLM(cfg(mixer="hyena")).eval()
    m.save_pretrained(tmp_path)
    ids = torch.arange(10).view(1, 10) % V
    from safetensors.torch import save_file

    save_file({"logits": m(ids).logits.contiguous()}, str(tmp_path / "ref.safetensors"))
    code = (
        "import sys, torch\n"
        "from safetensors.torch import load_file\n"
        "from transformers import AutoModelForCausalLM\n"
        f"m = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()\n"
        "assert type(m).__module__.startswith('transformers_modules'), type(m).__module__\n"
        f"ref = load_file({str(tmp_path / 'ref.safetensors')!r})['logits']\n"
        f"assert torch.equal(m(torch.arange(10).view(1, 10) % {V}).logits, ref)\n"
        "print('OK')\n"
    )
    env = dict(os.environ, HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


def test_checkpoint_mismatch_errors(tmp_path):
    m = SeqConvForCausalLM(cfg(mixer="sgconv", kernel_kwargs={"kernel_dim": 4}))
    m.save_pretrained(tmp_path / "a")
    with pytest.raises(Exception, match="(?i)size|shape|mismatch"):
        SeqConvForCausalLM.from_pretrained(tmp_path / "a", d_model=32)
    with pytest.raises(ValueError, match="missing tensors"):
        SeqConvForCausalLM.from_pretrained(tmp_path / "a", n_layer=3)
    with pytest.raises(ValueError, match="unexpected tensors"):
        SeqConvForCausalLM.from_pretrained(tmp_path / "a", n_layer=1)
    with pytest.raises(ValueError, match="safetensors"):
        SeqConvForCausalLM.from_pretrained(tmp_path / "a", use_safetensors=False)
    # a classifier may start from an LM checkpoint: only the score head is new
    clf = SeqConvForSequenceClassification.from_pretrained(tmp_path / "a", num_labels=3)
    assert clf.score.out_features == 3


def test_bad_inputs():
    m = SeqConvForCausalLM(cfg(max_position_embeddings=16)).eval()
    with pytest.raises(ValueError, match="out of range"):
        m(torch.tensor([[0, V]]))
    with pytest.raises(ValueError, match="out of range"):
        m(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
        m(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
        m.generate(torch.zeros(1, 20, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="attention_mask"):
        m(torch.zeros(1, 4, dtype=torch.long), attention_mask=torch.ones(1, 7))


@pytest.mark.parametrize("problem", ["single_label_classification", "multi_label_classification", "regression"])
def test_sequence_classification_losses(problem):
    n = 1 if problem == "regression" else 3
    m = SeqConvForSequenceClassification(cfg(mixer="sgconv", bidirectional=True, pooling="mean", num_labels=n,
                                             problem_type=problem, kernel_kwargs={"kernel_dim": 4}))
    ids = torch.randint(0, V, (4, 9))
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[0, 6:] = 0
    if problem == "single_label_classification":
        labels = torch.tensor([0, 2, 1, 1])
        ref_fn = lambda lg: torch.nn.functional.cross_entropy(lg, labels)
    elif problem == "multi_label_classification":
        labels = torch.randint(0, 2, (4, 3)).float()
        ref_fn = lambda lg: torch.nn.functional.binary_cross_entropy_with_logits(lg, labels)
    else:
        labels = torch.randn(4)
        ref_fn = lambda lg: torch.nn.functional.mse_loss(lg.squeeze(-1), labels)
    out = m(ids, attention_mask=mask, labels=labels)
    assert out.logits.shape == (4, n)
    torch.testing.assert_close(out.loss, ref_fn(out.logits))
    # padding does not change the pooled logits of sequence 0
    ids2 = ids.clone()
    ids2[0, 6:] = (ids[0, 6:] + 1) % V
    torch.testing.assert_close(m.eval()(ids2, attention_mask=mask).logits[0], m(ids, attention_mask=mask).logits[0])


def test_trainer_few_steps(tmp_path):
    from datasets import Dataset

    torch.manual_seed(0)
    m = SeqConvForCausalLM(cfg(mixer="hyena"))
    seq = [list(range(i, i + 16)) for i in range(8)]  # learnable: next = current + 1
    ds = Dataset.from_dict({"input_ids": [[t % V for t in s] for s in seq]})
    ds = ds.map(lambda ex: {"labels": ex["input_ids"]})
    before = {k: v.detach().clone() for k, v in m.named_parameters()}
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=6, learning_rate=3e-3,
                             logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True)
    tr = Trainer(model=m, args=args, train_dataset=ds)
    tr.train()
    losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
    assert len(losses) >= 3 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    assert any(not torch.equal(before[k], v) for k, v in m.named_parameters())


def test_gradient_checkpointing_same_grads():
    torch.manual_seed(0)
    m = SeqConvForCausalLM(cfg(mixer="transformer")).train()
    ids = torch.randint(0, V, (2, 12))
    m(ids, labels=ids).loss.backward()
    g1 = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert m.model.gradient_checkpointing
    m(ids, labels=ids).loss.backward()
    for a, b in zip(g1, (p.grad for p in m.parameters())):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)  # fp32, same ops recomputed


def test_bf16_load_and_generate(tmp_path):
    SeqConvForCausalLM(cfg(mixer="hyena")).save_pretrained(tmp_path)
    m = SeqConvForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert m.dtype == torch.bfloat16
    ids = torch.randint(0, V, (1, 6))
    out = m.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape == (1, 11)
    assert torch.isfinite(m(ids).logits.float()).all()
