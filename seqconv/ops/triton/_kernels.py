"""Triton kernels of the fused Monarch FFT convolution (FlashButterfly). Imported lazily by ``conv.py``.

Do not import this module directly: ``seqconv.ops.triton.conv._kernels()`` (re)imports it so that the
``@triton.jit`` decorators see the current ``TRITON_INTERPRET`` value (triton decides interpreter vs compiler at
decoration time), and wraps the kernels in ``@triton.autotune`` only when not interpreting.

Layout and math (see ``seqconv.ops.monarch`` for the reference): every complex quantity is a pair of fp32 tiles
(real, imag). Two batch rows sharing one kernel are packed as ``z = u[2j] + i*u[2j+1]`` (the kernel is real, so one
complex convolution gives both real ones). Single pass (N = M1*M2 <= 4096): a program owns one packed row and keeps
it as an (M1, M2) tile, time index ``n = M2*a + b``; forward = ``F_M1 @ x``, twiddle, ``@ F_M2`` (its result is the
spectrum in Monarch-permuted order, flat ``k1*M2 + k2``), pointwise multiply by the kernel spectrum stored in that
order, inverse = ``@ conj(F_M2)``, conjugate twiddle, ``conj(F_M1) @``, scale ``1/N``. Multi pass (N = P*M, M <= 4096):
``_col_fwd`` does the P-point DFTs down the columns of the (P, M) view plus the twiddle ``w_N^(kp*m)`` and writes
a complex fp32 scratch; ``_mid`` runs the order-2 fused conv core on each length-M row; ``_col_inv`` undoes the
columns, adds the D skip, gates and writes y.

Precision: u/g may be fp16/bf16/fp32; they are cast to fp32 on load and every ``tl.dot`` is fp32 x fp32 with
fp32 accumulation (``input_precision`` "ieee" by default: on GPUs fp32 dots otherwise default to TF32). Because no
dot ever sees bf16 operands, the interpreter's wrong bf16 ``tl.dot`` (REFERENCE §1) cannot bite; bf16 is still only
loaded/stored. The GPU rejects dot dims below 16: all tiles are >= 16 (N >= 256, P >= 16, column block 64).
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _maybe_autotune(key):
    """``@triton.autotune`` over num_warps on a GPU; identity under TRITON_INTERPRET (autotune would rerun there)."""

    def wrap(fn):
        if INTERPRET:
            return fn
        configs = [triton.Config({}, num_warps=w) for w in (4, 8)]
        return triton.autotune(configs=configs, key=key)(fn)

    return wrap


@triton.jit
def _cmm(ar, ai, br, bi, PREC: tl.constexpr):
    """Complex matrix product (ar + i ai) @ (br + i bi), four real fp32 dots."""
    rr = tl.dot(ar, br, input_precision=PREC) - tl.dot(ai, bi, input_precision=PREC)
    ri = tl.dot(ar, bi, input_precision=PREC) + tl.dot(ai, br, input_precision=PREC)
    return rr, ri


@triton.jit
def _load_c(re_ptr, im_ptr, R: tl.constexpr, C: tl.constexpr):
    """Load a contiguous complex (R, C) fp32 matrix."""
    offs = tl.arange(0, R)[:, None] * C + tl.arange(0, C)[None, :]
    return tl.load(re_ptr + offs), tl.load(im_ptr + offs)


@triton.jit
def _fft2(xr, xi, f1r, f1i, twr, twi, f2r, f2i, PREC: tl.constexpr):
    """Order-2 Monarch DFT of an (M1, M2) tile (time n = M2*a + b) -> permuted spectrum (k1, k2)."""
    ar, ai = _cmm(f1r, f1i, xr, xi, PREC)
    ar, ai = ar * twr - ai * twi, ar * twi + ai * twr
    return _cmm(ar, ai, f2r, f2i, PREC)


@triton.jit
def _ifft2(br, bi, f1r, f1i, twr, twi, f2r, f2i, PREC: tl.constexpr):
    """Inverse of :func:`_fft2` without the 1/N scale: permuted spectrum -> natural-order (M1, M2) tile."""
    cr, ci = _cmm(br, bi, f2r, -f2i, PREC)
    cr, ci = cr * twr + ci * twi, ci * twr - cr * twi
    return _cmm(f1r, -f1i, cr, ci, PREC)


@triton.jit
def _spec_mul(xr, xi, kr, ki, CONJ_K: tl.constexpr):
    if CONJ_K:
        return xr * kr + xi * ki, xi * kr - xr * ki
    return xr * kr - xi * ki, xr * ki + xi * kr


@triton.jit
def _epilogue(yr, yi, xr, xi, offs, mask0, mask1, row0, row1, r, R, L, d_ptr, gate_ptr, pre_ptr, y_ptr,
              HAS_D: tl.constexpr, HAS_GATE: tl.constexpr, STORE_PRE: tl.constexpr):
    """D skip (on the conv input x), optional pre-gate store, gate multiply, store of both packed rows."""
    if HAS_D:
        d = tl.load(d_ptr + r).to(tl.float32)
        yr = yr + d * xr
        yi = yi + d * xi
    base0 = (row0 * R + r) * L
    base1 = (row1 * R + r) * L
    if STORE_PRE:
        tl.store(pre_ptr + base0 + offs, yr.to(pre_ptr.dtype.element_ty), mask=mask0)
        tl.store(pre_ptr + base1 + offs, yi.to(pre_ptr.dtype.element_ty), mask=mask1)
    if HAS_GATE:
        yr = yr * tl.load(gate_ptr + base0 + offs, mask=mask0, other=0.0).to(tl.float32)
        yi = yi * tl.load(gate_ptr + base1 + offs, mask=mask1, other=0.0).to(tl.float32)
    tl.store(y_ptr + base0 + offs, yr.to(y_ptr.dtype.element_ty), mask=mask0)
    tl.store(y_ptr + base1 + offs, yi.to(y_ptr.dtype.element_ty), mask=mask1)


@triton.jit
def _load_pair(x_ptr, offs, row0, row1, h, Hin, L, B):
    """Load the two packed real rows x[row0, h], x[row1, h] at time offsets ``offs`` (zero beyond L / batch)."""
    mask0 = offs < L
    mask1 = mask0 & ((offs * 0 + row1) < B)  # tensor-shaped: the interpreter rejects scalar-bool masks here
    xr = tl.load(x_ptr + (row0 * Hin + h) * L + offs, mask=mask0, other=0.0).to(tl.float32)
    xi = tl.load(x_ptr + (row1 * Hin + h) * L + offs, mask=mask1, other=0.0).to(tl.float32)
    return xr, xi, mask0, mask1


@_maybe_autotune(key=["M1", "M2", "R", "L"])
@triton.jit
def _fused_conv_kernel(x_ptr, kr_ptr, ki_ptr, d_ptr, gate_ptr, pre_ptr, y_ptr,
                       f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr,
                       B, Hin, R, L, inv_n,
                       M1: tl.constexpr, M2: tl.constexpr, CONJ_K: tl.constexpr, HAS_D: tl.constexpr,
                       HAS_GATE: tl.constexpr, STORE_PRE: tl.constexpr, PREC: tl.constexpr):
    """Single-pass fused conv. Grid (ceil(B/2), R). x: (B, Hin, L); y, gate, pre: (B, R, L); spectrum: (R, M1*M2)."""
    pair = tl.program_id(0)
    r = tl.program_id(1)
    h = r % Hin
    row0 = 2 * pair
    row1 = row0 + 1
    offs = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    xr, xi, mask0, mask1 = _load_pair(x_ptr, offs, row0, row1, h, Hin, L, B)
    f1r, f1i = _load_c(f1r_ptr, f1i_ptr, M1, M1)
    f2r, f2i = _load_c(f2r_ptr, f2i_ptr, M2, M2)
    twr, twi = _load_c(twr_ptr, twi_ptr, M1, M2)
    sr, si = _fft2(xr, xi, f1r, f1i, twr, twi, f2r, f2i, PREC)
    kr = tl.load(kr_ptr + r * (M1 * M2) + offs)
    ki = tl.load(ki_ptr + r * (M1 * M2) + offs)
    sr, si = _spec_mul(sr, si, kr, ki, CONJ_K)
    yr, yi = _ifft2(sr, si, f1r, f1i, twr, twi, f2r, f2i, PREC)
    _epilogue(yr * inv_n, yi * inv_n, xr, xi, offs, mask0, mask1, row0, row1, r, R, L, d_ptr, gate_ptr, pre_ptr,
              y_ptr, HAS_D, HAS_GATE, STORE_PRE)


@_maybe_autotune(key=["M1", "M2", "R", "L"])
@triton.jit
def _spectrum_corr_kernel(u_ptr, g_ptr, accr_ptr, acci_ptr,
                          f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr,
                          B, H, R, L,
                          M1: tl.constexpr, M2: tl.constexpr, PREC: tl.constexpr):
    """Kernel-gradient spectrum, single pass. Grid (R,). acc[r] = sum over packed pairs of conj(U) * G (permuted
    order); ``Re(ifft(acc))`` is dL/dkf[r] (the real part removes the pair-packing cross terms)."""
    r = tl.program_id(0)
    h = r % H
    offs = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    f1r, f1i = _load_c(f1r_ptr, f1i_ptr, M1, M1)
    f2r, f2i = _load_c(f2r_ptr, f2i_ptr, M2, M2)
    twr, twi = _load_c(twr_ptr, twi_ptr, M1, M2)
    accr = tl.zeros((M1, M2), dtype=tl.float32)
    acci = tl.zeros((M1, M2), dtype=tl.float32)
    for pair in range(0, tl.cdiv(B, 2)):
        row0 = 2 * pair
        row1 = row0 + 1
        ur, ui, _m0, _m1 = _load_pair(u_ptr, offs, row0, row1, h, H, L, B)
        gr, gi, _m0, _m1 = _load_pair(g_ptr, offs, row0, row1, r, R, L, B)
        usr, usi = _fft2(ur, ui, f1r, f1i, twr, twi, f2r, f2i, PREC)
        gsr, gsi = _fft2(gr, gi, f1r, f1i, twr, twi, f2r, f2i, PREC)
        accr += usr * gsr + usi * gsi
        acci += usr * gsi - usi * gsr
    tl.store(accr_ptr + r * (M1 * M2) + offs, accr)
    tl.store(acci_ptr + r * (M1 * M2) + offs, acci)


@triton.jit
def _col_tile(Hin, P: tl.constexpr, M: tl.constexpr, BM: tl.constexpr):
    """Multi pass, steps 1 and 3 (grid (ceil(B/2), R, M/BM)): this program's row pair, output row r, input feature
    h = r % Hin, rows row0 = 2*pair and row1 = row0 + 1, and the (P, BM) offsets p*M + m of its column block m in
    the (P, M) view of a packed row."""
    pair = tl.program_id(0)
    r = tl.program_id(1)
    mb = tl.program_id(2)
    h = r % Hin
    row0 = 2 * pair
    row1 = row0 + 1
    cols = mb * BM + tl.arange(0, BM)
    rows = tl.arange(0, P)
    offs = rows[:, None] * M + cols[None, :]
    return pair, r, h, row0, row1, offs


@_maybe_autotune(key=["P", "M", "R", "L"])
@triton.jit
def _col_fwd_kernel(x_ptr, sr_ptr, si_ptr, fpr_ptr, fpi_ptr, twr_ptr, twi_ptr,
                    B, Hin, R, L,
                    P: tl.constexpr, M: tl.constexpr, BM: tl.constexpr, PREC: tl.constexpr):
    """Multi pass, step 1. Grid (ceil(B/2), R, M/BM). Columns m of the (P, M) view of a packed row: P-point DFT,
    twiddle w_N^(kp*m); writes scratch s[pair, r, kp, m] (complex fp32)."""
    pair, r, h, row0, row1, offs = _col_tile(Hin, P, M, BM)
    xr, xi, _m0, _m1 = _load_pair(x_ptr, offs, row0, row1, h, Hin, L, B)
    fpr, fpi = _load_c(fpr_ptr, fpi_ptr, P, P)
    ar, ai = _cmm(fpr, fpi, xr, xi, PREC)
    twr = tl.load(twr_ptr + offs)
    twi = tl.load(twi_ptr + offs)
    ar, ai = ar * twr - ai * twi, ar * twi + ai * twr
    base = (pair * R + r) * (P * M)
    tl.store(sr_ptr + base + offs, ar)
    tl.store(si_ptr + base + offs, ai)


@_maybe_autotune(key=["P", "M1", "M2", "R"])
@triton.jit
def _mid_kernel(sr_ptr, si_ptr, or_ptr, oi_ptr, kr_ptr, ki_ptr,
                f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr,
                R,
                P: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr, CONJ_K: tl.constexpr, PREC: tl.constexpr):
    """Multi pass, step 2. Grid (ceil(B/2), R, P). Row kp of the scratch: M-point DFT (order 2), multiply by the
    kernel spectrum slice [kp*M, (kp+1)*M) (Monarch order of factors (P, M1, M2)), inverse M-point DFT (unscaled)."""
    pair = tl.program_id(0)
    r = tl.program_id(1)
    kp = tl.program_id(2)
    M: tl.constexpr = M1 * M2
    offs = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    base = ((pair * R + r) * P + kp) * M
    xr = tl.load(sr_ptr + base + offs)
    xi = tl.load(si_ptr + base + offs)
    f1r, f1i = _load_c(f1r_ptr, f1i_ptr, M1, M1)
    f2r, f2i = _load_c(f2r_ptr, f2i_ptr, M2, M2)
    twr, twi = _load_c(twr_ptr, twi_ptr, M1, M2)
    yr, yi = _fft2(xr, xi, f1r, f1i, twr, twi, f2r, f2i, PREC)
    kbase = (r * P + kp) * M
    kr = tl.load(kr_ptr + kbase + offs)
    ki = tl.load(ki_ptr + kbase + offs)
    yr, yi = _spec_mul(yr, yi, kr, ki, CONJ_K)
    yr, yi = _ifft2(yr, yi, f1r, f1i, twr, twi, f2r, f2i, PREC)
    tl.store(or_ptr + base + offs, yr)
    tl.store(oi_ptr + base + offs, yi)


@_maybe_autotune(key=["P", "M", "R", "L"])
@triton.jit
def _col_inv_kernel(sr_ptr, si_ptr, x_ptr, d_ptr, gate_ptr, pre_ptr, y_ptr, fpr_ptr, fpi_ptr, twr_ptr, twi_ptr,
                    B, Hin, R, L, inv_n,
                    P: tl.constexpr, M: tl.constexpr, BM: tl.constexpr, HAS_D: tl.constexpr,
                    HAS_GATE: tl.constexpr, STORE_PRE: tl.constexpr, PREC: tl.constexpr):
    """Multi pass, step 3. Grid (ceil(B/2), R, M/BM). Conjugate twiddle, inverse P-point DFT down the columns,
    1/N, then the epilogue (D skip on x, gate, store of outputs n = M*p + m < L)."""
    pair, r, h, row0, row1, offs = _col_tile(Hin, P, M, BM)
    base = (pair * R + r) * (P * M)
    ar = tl.load(sr_ptr + base + offs)
    ai = tl.load(si_ptr + base + offs)
    twr = tl.load(twr_ptr + offs)
    twi = tl.load(twi_ptr + offs)
    ar, ai = ar * twr + ai * twi, ai * twr - ar * twi
    fpr, fpi = _load_c(fpr_ptr, fpi_ptr, P, P)
    yr, yi = _cmm(fpr, -fpi, ar, ai, PREC)
    xr, xi, mask0, mask1 = _load_pair(x_ptr, offs, row0, row1, h, Hin, L, B)
    _epilogue(yr * inv_n, yi * inv_n, xr, xi, offs, mask0, mask1, row0, row1, r, R, L, d_ptr, gate_ptr, pre_ptr,
              y_ptr, HAS_D, HAS_GATE, STORE_PRE)
