"""Checks that what was captured is an attention map, and the one the model used.

    shape        (batch, heads, query, key) for the fed batch (a 3-D map must split)
    rows         every row sums to 1 within ``ROW_SUM_TOLERANCE``
    padding      real queries put at most ``PADDING_TOLERANCE`` weight on padded keys
    recompute    softmax(Q K^T * scale + padding) from the captured queries and transposed
                 keys equals the map within ``RECOMPUTE_TOLERANCE``, for scale 1/sqrt(d_k)
                 or 1 (an export that scales Q and K before the MatMul)

Pure numpy over arrays; nothing here runs a model.
"""

from __future__ import annotations

import numpy as np

from harness.core.attention import PADDING_TOLERANCE, ROW_SUM_TOLERANCE, LayerVerification

__all__ = [
    "RECOMPUTE_TOLERANCE",
    "max_padding_weight",
    "max_row_sum_error",
    "recompute",
    "verify_layer",
]

RECOMPUTE_TOLERANCE = 1e-5
_LARGEST = 1e30  # a non-finite error is recorded as this (JSON has no inf or NaN)


def max_row_sum_error(maps: np.ndarray) -> float:
    """max over rows of |sum over the last axis - 1|; non-finite rows count as ``_LARGEST``."""
    if maps.size == 0:
        return 0.0
    error = np.abs(maps.astype(np.float64).sum(axis=-1) - 1.0)
    error = np.where(np.isfinite(error), error, _LARGEST)
    return float(min(error.max(), _LARGEST))


def max_padding_weight(
    maps: np.ndarray, key_real: np.ndarray, query_real: np.ndarray | None
) -> float | None:
    """Most weight any real query row of (batch, heads, q, k) ``maps`` puts on padded keys
    (``key_real`` (batch, k) False); None when no key is padded."""
    padded = ~key_real.astype(bool)
    if not padded.any():
        return None
    weight = (maps.astype(np.float64) * padded[:, None, None, :]).sum(axis=-1)  # (b, h, q)
    if query_real is not None:
        weight = np.where(query_real[:, None, :], weight, 0.0)
    weight = np.where(np.isfinite(weight), weight, _LARGEST)
    return float(weight.max())


def recompute(
    query: np.ndarray, key_t: np.ndarray, maps: np.ndarray, key_real: np.ndarray | None
) -> tuple[str, str | None, float | None]:
    """(verdict, the scale that matched, max |difference|) of softmax(Q K^T * scale + mask)
    against ``maps``. ``query``, ``key_t`` and ``maps`` share their leading axes (4-D, or
    3-D with batch*heads first); ``key_real`` is (batch, k) or None."""
    if query.shape[:-1] != maps.shape[:-1] or key_t.shape[:-2] != maps.shape[:-2]:
        return "not checked", None, None
    scores = np.matmul(query.astype(np.float64), key_t.astype(np.float64))
    if scores.shape != maps.shape:
        return "not checked", None, None
    mask = _broadcast_mask(key_real, maps)
    best: tuple[float, str | None] = (np.inf, None)
    for label, scale in (("1/sqrt(d_k)", query.shape[-1] ** -0.5), ("1 (pre-scaled)", 1.0)):
        diff = float(np.abs(_softmax(scores * scale, mask) - maps).max())
        if diff <= RECOMPUTE_TOLERANCE:
            return "match", label, diff
        best = min(best, (diff, None), key=lambda pair: pair[0])
    diff = best[0] if np.isfinite(best[0]) else _LARGEST
    return "mismatch", None, float(min(diff, _LARGEST))


def verify_layer(
    raw: np.ndarray,
    maps: np.ndarray | None,
    key_real: np.ndarray | None,
    query_real: np.ndarray | None,
    qk: tuple[np.ndarray, np.ndarray] | None,
) -> LayerVerification:
    """Every check on one layer: ``raw`` as captured, ``maps`` split to 4-D (None if it
    would not split); ``key_real``/``query_real`` (batch, k)/(batch, q) or None."""
    row_error = max_row_sum_error(raw)
    padding = None
    if maps is not None and key_real is not None:
        padding = max_padding_weight(maps, key_real, query_real)
    verdict, scale, diff = "not checked", None, None
    if qk is not None:
        rows = qk[0].shape[0]  # Q and K^T of the first batch only
        verdict, scale, diff = recompute(qk[0], qk[1], raw[:rows], _rows_mask(key_real, raw, rows))
    return LayerVerification(
        shape_ok=maps is not None,
        max_row_sum_error=row_error,
        rows_sum_to_one=row_error <= ROW_SUM_TOLERANCE,
        max_padding_weight=padding,
        padding_attended=padding is not None and padding > PADDING_TOLERANCE,
        recompute=verdict,  # type: ignore[arg-type]  # one of the Recompute literals
        recompute_scale=scale,
        recompute_max_abs_diff=diff,
    )


def _rows_mask(key_real: np.ndarray | None, raw: np.ndarray, rows: int) -> np.ndarray | None:
    """The padding mask of the first ``rows`` rows of ``raw``: (b, k), or (b*heads, k) when
    ``raw`` is 3-D with batch*heads first."""
    if key_real is None or raw.shape[0] % key_real.shape[0]:
        return None
    per_sample = raw.shape[0] // key_real.shape[0]  # 1 for 4-D maps, heads for 3-D ones
    return np.repeat(key_real[: rows // per_sample], per_sample, axis=0)


def _broadcast_mask(key_real: np.ndarray | None, maps: np.ndarray) -> np.ndarray | None:
    """``key_real`` as a boolean array broadcastable against ``maps``, or None."""
    if key_real is None or key_real.shape[-1] != maps.shape[-1]:
        return None
    if maps.ndim == 4 and key_real.shape[0] == maps.shape[0]:
        return key_real.astype(bool)[:, None, None, :]
    if maps.ndim == 3 and key_real.shape[0] == maps.shape[0]:
        return key_real.astype(bool)[:, None, :]
    return None


def _softmax(scores: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True))
