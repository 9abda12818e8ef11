"""Inference cache for seqconv models: exact incremental decoding at O(L) per token and channel.

:class:`SeqConvCache` is a ``transformers.Cache`` whose ``layers`` are per-block *mixer states*. A mixer state
processes ``T`` new tokens given everything the layer has seen so far (``forward(x, mask)``) and keeps what later
tokens need:

* Global convolutions (``GlobalConv``: sgconv / longconv / s4d) and Hyena: the long-conv inputs so far, in a
  preallocated buffer that doubles up to ``max_length``, plus the kernel computed once for ``max_length`` (time
  reversed, so each step is one contiguous dot product). The first call (prefill) is the layer's ordinary FFT
  convolution; each later token costs ``y_t = sum_{s<=t} k[s] u[t-s] + D u_t`` (``O(t)`` per channel); a
  multi-token continuation re-runs the FFT conv over the buffer and keeps the new outputs. This is exact because
  every kernel parameterization here is prefix consistent: ``kernel(L)[..., :l] == kernel(l)`` (tested); the
  exception, ``HyenaOperator(normalized=True)`` (L1 norm over the whole length), is refused with a clear error.
* Hyena's short depthwise conv and TCN layers: the last ``(K - 1) * dilation`` inputs of each conv.
* TCNCA: its TCN state plus the keys/values of the current attention chunk.
* Attention: a key/value cache (plus the key padding mask).

Only causal mixers can be cached (a bidirectional layer's past outputs depend on the future).

New mixer classes register a state with :func:`register_mixer_state`. Positions count every token the cache has
seen, padding included, exactly like the uncached forward (left-padded batches decode identically).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from transformers.cache_utils import Cache

from seqconv.ops import long_conv

__all__ = [
    "AttentionState",
    "GlobalConvState",
    "HyenaState",
    "MixerState",
    "SeqConvCache",
    "TCNCAState",
    "TCNState",
    "build_mixer_state",
    "register_mixer_state",
]


# ------------------------------------------------------------------------------------------------------- helpers
def _grow(t: Tensor, need: int, max_length: int, dim: int = -1) -> Tensor:
    """Return ``t`` with at least ``need`` slots along ``dim`` (doubling, capped at ``max_length``; zeros appended)."""
    cap = t.shape[dim]
    if need <= cap:
        return t
    new_cap = min(max_length, max(need, 2 * cap))
    shape = list(t.shape)
    shape[dim] = new_cap - cap
    return torch.cat([t, t.new_zeros(shape)], dim=dim)


def _initial_capacity(need: int, max_length: int) -> int:
    return min(max_length, max(64, 1 << max(0, math.ceil(math.log2(max(need, 1))))))


def causal_dot(buf: Tensor, kflip: Tensor, t: int) -> Tensor:
    """Causal convolution output at position ``t`` from cached inputs.

    ``buf``: (batch, H, >= t+1) inputs u[0..t] (time last); ``kflip``: (C, H, Lmax) the kernel reversed in time
    (``kflip[..., Lmax-1-s] = k[..., s]``). Returns ``y[b, c, h] = sum_{s=0}^{t} k[c, h, s] * u[b, h, t-s]``:
    (batch, C, H), fp32 (inputs are fp32).
    """
    lmax = kflip.shape[-1]
    u = buf[:, :, : t + 1]  # (B, H, t+1)
    k = kflip[:, :, lmax - 1 - t :]  # (C, H, t+1): k[t], ..., k[0]
    # per feature h: (B, t+1) @ (t+1, C) -> batched matmul over h
    return torch.matmul(u.transpose(0, 1), k.permute(1, 2, 0)).permute(1, 2, 0)  # (B, C, H)


def _mask_bt(mask: Optional[Tensor], x: Tensor) -> Optional[Tensor]:
    if mask is None or bool(mask.all()):
        return None
    return mask


class MixerState:
    """Cached state of one mixer; subclasses implement :meth:`forward` and list their batched tensors.

    ``forward(x: (batch, T, d_model), mask: (batch, T) bool or None) -> (batch, T, d_model)`` processes the next
    ``T`` tokens (positions ``seen .. seen + T - 1``) and advances ``seen``.
    """

    # attributes transformers' Cache reads from its layers
    is_compileable = False
    is_croppable = False
    supports_early_init = False
    is_sliding = False

    def __init__(self, mixer: nn.Module, batch_size: int, max_length: int) -> None:
        self.mixer = mixer
        self.batch_size = batch_size
        self.max_length = max_length
        self.seen = 0
        self.is_initialized = True

    # names of tensor attributes with a leading batch dim (reordered for beam search)
    _batched: tuple[str, ...] = ()

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_seq_length(self) -> int:
        return self.seen

    def get_max_length(self) -> int:
        return self.max_length

    def _apply_batch(self, fn: Callable[[Tensor], Tensor]) -> None:
        for name in self._batched:
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, fn(t))
        for sub in self._children():
            sub._apply_batch(fn)
        probe = next((getattr(self, n) for n in self._batched if getattr(self, n) is not None), None)
        if probe is not None:
            self.batch_size = probe.shape[0]

    def _children(self) -> list[MixerState]:
        return []

    def reorder_cache(self, beam_idx: Tensor) -> None:
        self._apply_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_select_indices(self, indices: Tensor) -> None:
        self._apply_batch(lambda t: t[indices.to(t.device)])

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._apply_batch(lambda t: t.repeat_interleave(repeats, dim=0))

    def reset(self) -> None:
        self._apply_batch(lambda t: torch.zeros_like(t))
        self.seen = 0
        if hasattr(self, "padded"):
            self.padded = False
        for sub in self._children():
            sub.seen = 0

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove != 0:
            raise NotImplementedError(
                f"{type(self).__name__}: a seqconv cache cannot be cropped (asked to remove {tokens_to_remove} tokens); "
                "it keeps running states, re-run the prompt instead"
            )

    def offload(self) -> None:  # transformers Cache API (no-op: states stay on their device)
        return None

    def prefetch(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seen={self.seen}, batch_size={self.batch_size}, max_length={self.max_length})"


_STATES: dict[type, type[MixerState]] = {}


def register_mixer_state(mixer_cls: type, state_cls: type[MixerState]) -> None:
    """Use ``state_cls(mixer, batch_size, max_length)`` to decode mixers of class ``mixer_cls`` (and subclasses)."""
    if not (isinstance(state_cls, type) and issubclass(state_cls, MixerState)):
        raise TypeError(f"state_cls must be a MixerState subclass, got {state_cls!r}")
    _STATES[mixer_cls] = state_cls


def build_mixer_state(mixer: nn.Module, batch_size: int, max_length: int) -> MixerState:
    """The registered state for ``mixer`` (looked up along its class MRO); TypeError if none is registered."""
    _register_builtins()
    for cls in type(mixer).__mro__:
        if cls in _STATES:
            return _STATES[cls](mixer, batch_size, max_length)
    raise TypeError(
        f"no incremental-decoding state is registered for mixer class {type(mixer).__name__}; register one with "
        "seqconv.models.cache.register_mixer_state, or generate with use_cache=False"
    )


# ------------------------------------------------------------------------------------------------ global conv
class GlobalConvState(MixerState):
    """State of :class:`seqconv.modules.global_conv.GlobalConv` (causal): cached inputs + reversed kernel."""

    _batched = ("buf",)

    def __init__(self, mixer: nn.Module, batch_size: int, max_length: int) -> None:
        super().__init__(mixer, batch_size, max_length)
        if mixer.bidirectional:
            raise ValueError("GlobalConv(bidirectional=True) is not causal; it cannot decode incrementally")
        p = mixer.D
        with torch.no_grad():
            k = mixer.kernel(max_length).detach().float()  # (C, H, Lmax)
        self.k = k
        self.kflip = k.flip(-1).contiguous()
        self.buf = torch.zeros(batch_size, mixer.d_model, _initial_capacity(1, max_length), device=p.device)

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        m = self.mixer
        B, T, H = x.shape
        t0 = self.seen
        mask = _mask_bt(mask, x)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        self.buf = _grow(self.buf, t0 + T, self.max_length)
        self.buf[:, :, t0 : t0 + T] = x.detach().transpose(1, 2).float()
        if t0 == 0:  # prefill: the layer's own FFT convolution (bit-identical to the uncached forward)
            y = long_conv(x, m.kernel(T), m.D, bidirectional=False, backend=m.backend, layout="BLH")
        elif T == 1:
            conv = causal_dot(self.buf, self.kflip, t0)  # (B, C, H)
            y = conv + m.D.float().unsqueeze(0) * x[:, 0].float().unsqueeze(1)
            y = y.reshape(B, 1, -1).to(x.dtype)
        else:  # multi-token continuation: FFT conv over the whole history, keep the new outputs
            n = t0 + T
            u = self.buf[:, :, :n].to(x.dtype)
            y = long_conv(u, self.k[..., :n], m.D, bidirectional=False, backend=m.backend, layout="BHL")
            y = y[..., t0:].transpose(1, 2)
        self.seen = t0 + T
        return m.post_conv(y, mask)


# ------------------------------------------------------------------------------------------------------ hyena
class HyenaState(MixerState):
    """State of :class:`seqconv.modules.hyena.HyenaOperator` (causal).

    Keeps the last ``short_filter_order - 1`` in-projections (short conv) and, per long convolution ``i``, all of
    its inputs ``w_i`` so far, with the filters computed once for ``max_length``.
    """

    _batched = ("short", "bufs")

    def __init__(self, mixer: nn.Module, batch_size: int, max_length: int) -> None:
        super().__init__(mixer, batch_size, max_length)
        if mixer.bidirectional:
            raise ValueError("HyenaOperator(bidirectional=True) is not causal; it cannot decode incrementally")
        if getattr(mixer.filter_fn, "normalized", False):
            raise ValueError(
                "HyenaOperator(normalized=True) divides the filter by its L1 norm over the whole length, so earlier "
                "outputs change as the sequence grows; incremental decoding would not match. Generate with "
                "use_cache=False or train with normalized=False"
            )
        p = mixer.in_proj.weight
        inner = (mixer.order + 1) * mixer.d_model
        with torch.no_grad():
            k = mixer.filter_fn(max_length).detach().float()  # (N-1, d, Lmax)
        self.k = k
        self.kflip = k.flip(-1).contiguous()
        w = mixer.short_filter_order
        self.short = torch.zeros(batch_size, inner, w - 1, device=p.device, dtype=p.dtype)
        cap = _initial_capacity(1, max_length)
        self.bufs = torch.zeros(batch_size, mixer.order - 1, mixer.d_model, cap, device=p.device)

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        m = self.mixer
        B, T, _ = x.shape
        t0 = self.seen
        d = m.d_model
        mask = _mask_bt(mask, x)
        keep = None if mask is None else mask.unsqueeze(1)
        u = m.in_proj(x).transpose(1, 2)  # (B, inner, T)
        if keep is not None:
            u = u.masked_fill(~keep, 0.0)
        w = m.short_filter_order
        if self.short.dtype != u.dtype:
            self.short = self.short.to(u.dtype)
        full = torch.cat([self.short, u], dim=-1) if w > 1 else u
        u = m.short_filter(full)  # (B, inner, T)
        if w > 1:
            self.short = full[:, :, -(w - 1) :].detach()
        if keep is not None:
            u = u.masked_fill(~keep, 0.0)
        *xs, v = u.split(d, dim=1)
        gates = list(reversed(xs[1:]))
        cur = m.dropout(v * gates[0])
        n = t0 + T
        self.bufs = _grow(self.bufs, n, self.max_length)
        kT = m.filter_fn(T) if t0 == 0 else None
        for i in range(m.order - 1):
            nxt = gates[i + 1] if i + 1 < len(gates) else xs[0]
            self.bufs[:, i, :, t0:n] = cur.detach().float()
            if t0 == 0:
                cur = long_conv(cur, kT[i], m.bias[i], bidirectional=False, gate=nxt, backend=m.backend, layout="BHL")
            elif T == 1:
                conv = causal_dot(self.bufs[:, i], self.kflip[i : i + 1], t0)[:, 0]  # (B, d)
                y = conv + m.bias[i].float() * cur[:, :, 0].float()
                cur = (nxt[:, :, 0].float() * y).to(x.dtype).unsqueeze(-1)
            else:
                hist = self.bufs[:, i, :, :n].to(x.dtype)
                y = long_conv(hist, self.k[i, :, :n], m.bias[i], bidirectional=False, backend=m.backend, layout="BHL")
                cur = nxt * y[..., t0:]
            if i + 1 < len(gates):
                cur = m.dropout(cur)
        self.seen = n
        y = m.out_proj(cur.transpose(1, 2))
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y


# -------------------------------------------------------------------------------------------------------- TCN
class TCNState(MixerState):
    """State of :class:`seqconv.modules.tcn.TCN` (causal): the normalized inputs of every dilated conv."""

    _batched = ("bufs",)

    def __init__(self, mixer: nn.Module, batch_size: int, max_length: int) -> None:
        super().__init__(mixer, batch_size, max_length)
        if not mixer.causal:
            raise ValueError("TCN(causal=False) is not causal; it cannot decode incrementally")
        p = mixer.convs[0].weight
        cap = _initial_capacity(1, max_length)
        self.bufs = torch.zeros(batch_size, mixer.n_layers, mixer.d_model, cap, device=p.device, dtype=p.dtype)

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        m = self.mixer
        B, T, _ = x.shape
        t0, n = self.seen, self.seen + T
        mask = _mask_bt(mask, x)
        mk = None if mask is None else mask.to(x.dtype).unsqueeze(-1)
        if mk is not None:
            x = x * mk
        if self.bufs.dtype != x.dtype:
            self.bufs = self.bufs.to(x.dtype)
        self.bufs = _grow(self.bufs, n, self.max_length)
        for i, (norm, conv, pw, dil) in enumerate(zip(m.norms, m.convs, m.pointwise, m.dilations)):
            y = norm(x, mask)
            if mk is not None:
                y = y * mk
            self.bufs[:, i, :, t0:n] = y.detach().transpose(1, 2)
            pad = (m.kernel_size - 1) * dil
            start = max(0, t0 - pad)
            seg = self.bufs[:, i, :, start:n]
            seg = F.pad(seg, (pad - (t0 - start), 0))  # zero history before position 0
            y = m.act(conv(seg)).transpose(1, 2)
            y = pw(y)
            x = x + m.drop(y)
            if mk is not None:
                x = x * mk
        self.seen = n
        return x


# ------------------------------------------------------------------------------------------------------ TCNCA
class TCNCAState(MixerState):
    """State of :class:`seqconv.modules.tcnca.TCNCA` (causal): TCN state + keys/values of the current chunk."""

    _batched = ("ck", "cv", "cvalid")

    def __init__(self, mixer: nn.Module, batch_size: int, max_length: int) -> None:
        super().__init__(mixer, batch_size, max_length)
        if not mixer.causal:
            raise ValueError("TCNCA(causal=False) is not causal; it cannot decode incrementally")
        self.tcn = TCNState(mixer.tcn, batch_size, max_length)
        p = mixer.v_proj.weight
        C = mixer.chunk_size
        self.ck = torch.zeros(batch_size, C, mixer.d_attn, device=p.device, dtype=p.dtype)
        self.cv = torch.zeros(batch_size, C, mixer.d_hidden, device=p.device, dtype=p.dtype)
        self.cvalid = torch.zeros(batch_size, C, dtype=torch.bool, device=p.device)

    def _children(self) -> list[MixerState]:
        return [self.tcn]

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        m = self.mixer
        B, T, _ = x.shape
        t0 = self.seen
        C = m.chunk_size
        mask = _mask_bt(mask, x)
        if mask is not None:
            x = x * mask.to(x.dtype).unsqueeze(-1)
            valid = mask
        else:
            valid = torch.ones(B, T, dtype=torch.bool, device=x.device)
        v = F.silu(m.v_proj(x)) * valid.unsqueeze(-1).to(x.dtype)
        mx = F.silu(self.tcn.forward(x, mask))
        u, z, r, hx = torch.split(m.mx_proj(mx), [m.d_model, m.d_attn, m.d_hidden, m.d_model], dim=-1)
        u = torch.sigmoid(u)
        z, r = F.silu(z), F.silu(r)
        q = z * m.gamma[0] + m.beta[0]
        k = z * m.gamma[1] + m.beta[1]
        if self.ck.dtype != k.dtype or self.cv.dtype != v.dtype:
            self.ck, self.cv = self.ck.to(k.dtype), self.cv.to(v.dtype)
        if t0 == 0:  # prefill: the layer's own chunked attention
            a = m._attention(q, k, v, valid)
            cs = ((T - 1) // C) * C
            ln = T - cs
            self.ck[:, :ln], self.cv[:, :ln], self.cvalid[:, :ln] = k[:, cs:].detach(), v[:, cs:].detach(), valid[:, cs:]
        else:
            outs = []
            for j in range(T):
                p = t0 + j
                pos = p % C
                self.ck[:, pos], self.cv[:, pos], self.cvalid[:, pos] = k[:, j].detach(), v[:, j].detach(), valid[:, j]
                allowed = self.cvalid[:, : pos + 1].clone()
                allowed[:, pos] = True
                o = F.scaled_dot_product_attention(
                    q[:, None, j : j + 1], self.ck[:, None, : pos + 1], self.cv[:, None, : pos + 1],
                    attn_mask=allowed[:, None, None, :],
                )
                outs.append(o[:, 0])
            a = torch.cat(outs, dim=1)
        self.seen = t0 + T
        h = m.drop(F.silu(hx + m.h_proj(a * r)))
        out = x + u * (h - x)
        if mask is not None:
            out = out * mask.to(out.dtype).unsqueeze(-1)
        return out


# -------------------------------------------------------------------------------------------------- attention
class AttentionState(MixerState):
    """State of :class:`seqconv.modules.attention.MultiHeadAttention` (causal): key/value cache + key mask."""

    _batched = ("keys", "values", "key_ok")

    def __init__(self, mixer: nn.Module, batch_size: int, max_length: int) -> None:
        super().__init__(mixer, batch_size, max_length)
        if not mixer.causal:
            raise ValueError("MultiHeadAttention(causal=False) is not causal; it cannot decode incrementally")
        p = mixer.qkv.weight
        cap = _initial_capacity(1, max_length)
        shape = (batch_size, mixer.n_heads, cap, mixer.head_dim)
        self.keys = torch.zeros(shape, device=p.device, dtype=p.dtype)
        self.values = torch.zeros(shape, device=p.device, dtype=p.dtype)
        self.key_ok = torch.zeros(batch_size, cap, dtype=torch.bool, device=p.device)
        self.padded = False  # any padding seen so far (then attention needs an explicit key mask)

    def _rotary(self, t0: int, T: int, device) -> tuple[Tensor, Tensor]:
        """cos/sin rows for positions t0..t0+T-1, computed like ``rotary_cos_sin(t0 + T)[t0:]``."""
        m = self.mixer
        dim = m.head_dim
        inv_freq = 1.0 / (m.rotary_base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
        t = torch.arange(t0, t0 + T, device=device, dtype=torch.float32)
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos(), emb.sin()

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        from seqconv.modules.attention import apply_rotary

        m = self.mixer
        B, T, _ = x.shape
        t0, n = self.seen, self.seen + T
        mask = _mask_bt(mask, x)
        if m.positional == "learned":
            if n > m.l_max:
                raise ValueError(f"sequence length {n} exceeds l_max={m.l_max} of the learned positions")
            x = x + m.pos_emb[t0:n].to(x.dtype)
        q, k, v = rearrange(m.qkv(x), "b l (three h d) -> three b h l d", three=3, h=m.n_heads)
        if m.positional == "rotary":
            cos, sin = self._rotary(t0, T, x.device)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if self.keys.dtype != k.dtype:
            self.keys, self.values = self.keys.to(k.dtype), self.values.to(k.dtype)
        self.keys = _grow(self.keys, n, self.max_length, dim=2)
        self.values = _grow(self.values, n, self.max_length, dim=2)
        self.key_ok = _grow(self.key_ok, n, self.max_length, dim=1)
        self.keys[:, :, t0:n], self.values[:, :, t0:n] = k.detach(), v.detach()
        self.key_ok[:, t0:n] = True if mask is None else mask
        if mask is not None:
            self.padded = True
        p = m.dropout if m.training else 0.0
        keys, values = self.keys[:, :, :n], self.values[:, :, :n]
        if not self.padded and t0 == 0:  # unpadded prefill: plain causal attention, no (T, n) mask
            out = F.scaled_dot_product_attention(q, keys, values, dropout_p=p, is_causal=True)
        elif not self.padded and T == 1:  # unpadded step: the query sees every cached key
            out = F.scaled_dot_product_attention(q, keys, values, dropout_p=p)
        else:
            qpos = torch.arange(t0, n, device=x.device)[:, None]
            kpos = torch.arange(n, device=x.device)[None, :]
            allowed = (self.key_ok[:, None, :n] | (kpos == qpos)) & (kpos <= qpos)  # (B, T, n)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed[:, None], dropout_p=p)
        self.seen = n
        out = m.out_drop(m.out_proj(rearrange(out, "b h l d -> b l (h d)")))
        if mask is not None:
            out = out * mask.to(out.dtype).unsqueeze(-1)
        return out


_BUILTINS_DONE = False


def _register_builtins() -> None:
    global _BUILTINS_DONE
    if _BUILTINS_DONE:
        return
    import importlib

    for mod, cls, state in (
        ("seqconv.modules.global_conv", "GlobalConv", GlobalConvState),
        ("seqconv.modules.hyena", "HyenaOperator", HyenaState),
        ("seqconv.modules.tcn", "TCN", TCNState),
        ("seqconv.modules.tcnca", "TCNCA", TCNCAState),
        ("seqconv.modules.attention", "MultiHeadAttention", AttentionState),
    ):
        try:
            mixer_cls = getattr(importlib.import_module(mod), cls)
        except (ImportError, AttributeError):  # an optional mixer module that is not present
            continue
        _STATES.setdefault(mixer_cls, state)
    _BUILTINS_DONE = True


# ------------------------------------------------------------------------------------------------------ cache
class SeqConvCache(Cache):
    """A ``transformers.Cache`` of per-block :class:`MixerState` objects for a seqconv model.

    Build with :meth:`from_model` (``SeqConvModel`` does this when ``use_cache=True`` and no cache is given).
    ``get_seq_length()`` = tokens seen (padding included). Supports ``reorder_cache`` (beam search),
    ``batch_repeat_interleave`` / ``batch_select_indices``; it cannot be cropped.
    """

    def __init__(self, states: list[MixerState], max_length: int) -> None:
        super().__init__(layers=list(states))
        self.max_length = max_length

    @classmethod
    def from_model(cls, model: nn.Module, batch_size: int, max_length: Optional[int] = None) -> SeqConvCache:
        """Cache for ``model`` (a SeqConvModel / ForCausalLM / Backbone): one state per block, buffers for
        ``batch_size`` sequences of up to ``max_length`` (default: ``config.max_position_embeddings``) tokens."""
        backbone = _find_backbone(model)
        if max_length is None:
            max_length = backbone.config.l_max
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
        states = [build_mixer_state(block.mixer, batch_size, max_length) for block in backbone.layers]
        return cls(states, max_length)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        if layer_idx >= len(self.layers):
            return 0
        return self.layers[layer_idx].seen

    def get_max_length(self, layer_idx: Optional[int] = None) -> int:
        return self.max_length

    def get_mask_sizes(self, query_length: int, layer_idx: int = 0) -> tuple[int, int]:
        return self.get_seq_length(layer_idx) + query_length, 0

    def crop(self, tokens_to_remove: int) -> None:
        for layer in self.layers:
            layer.crop(tokens_to_remove)

    @property
    def batch_size(self) -> int:
        return self.layers[0].batch_size if self.layers else -1


def _find_backbone(model: nn.Module):
    from seqconv.modules.backbone import Backbone

    if isinstance(model, Backbone):
        return model
    for mod in model.modules():
        if isinstance(mod, Backbone):
            return mod
    raise TypeError(f"{type(model).__name__} contains no seqconv Backbone")
