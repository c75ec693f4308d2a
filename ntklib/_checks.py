"""Input validation shared by the public functions: clear ValueErrors naming argument, value, and
what is accepted.

One layer for the whole core: every check runs before any work, names the argument, repeats the
value and states what is accepted.  Python numbers, numpy scalars and 0-d numpy/torch arrays are the
same number here (depth=torch.tensor(3), beta=np.float32(0.1)); bools are never numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from .devices import resolve_device

# Largest accepted Sigma^(1)(x, x) = ||x||^2/n_0 of a kernel input: the recursions multiply two
# variances (sqrt(q_x q_y) normalises every layer), so q^2 must stay far below float64's 1.8e308;
# 1e100 leaves 1e100 of headroom for the growth of q over the layers of a scaled activation.
MAX_INPUT_SCALE = 1e100

_FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def scalar(value):
    """value as a Python number when it is a numpy/torch scalar or a 0-d array; bools and
    everything else are returned unchanged (the callers' checks refuse them)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.ndim == 0:
        value = value.item()
    elif isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    return value


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, numbers.Integral)


def _is_real(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, numbers.Real)


def check_beta(beta) -> float:
    b = scalar(beta)
    if not _is_real(b) or not 0.0 <= float(b) <= 1.0:
        raise ValueError(
            f"beta: got {beta!r}; accepted: a real number in [0, 1] "
            "(the weight/bias balance of the NTK parametrisation)"
        )
    return float(b)


def check_depth(depth, name="depth") -> int:
    d = scalar(depth)
    if not _is_int(d) or d < 1:
        raise ValueError(
            f"{name}: got {depth!r}; accepted: an integer >= 1 "
            "(the number of weight layers; 1 is the linear model)"
        )
    return int(d)


def check_positive_int(value, name) -> int:
    v = scalar(value)
    if not _is_int(v) or v < 1:
        raise ValueError(f"{name}: got {value!r}; accepted: an integer >= 1")
    return int(v)


def check_nonnegative_int(value, name) -> int:
    v = scalar(value)
    if not _is_int(v) or v < 0:
        raise ValueError(f"{name}: got {value!r}; accepted: an integer >= 0")
    return int(v)


def check_real(value, name, *, positive=False, nonnegative=False, accepted=None) -> float:
    """A finite real number (> 0 with positive=True, >= 0 with nonnegative=True) as a float."""
    v = scalar(value)
    ok = _is_real(v) and math.isfinite(float(v))
    if ok and positive:
        ok = float(v) > 0.0
    if ok and nonnegative:
        ok = float(v) >= 0.0
    if not ok:
        what = accepted or (
            "a finite number > 0"
            if positive
            else "a finite number >= 0"
            if nonnegative
            else "a finite real number"
        )
        raise ValueError(f"{name}: got {value!r}; accepted: {what}")
    return float(v)


def check_dtype(dtype, name="dtype") -> torch.dtype:
    """A torch floating dtype (the kernels are real; an integer dtype would truncate them)."""
    if dtype not in _FLOAT_DTYPES:
        raise ValueError(
            f"{name}: got {dtype!r}; accepted: a torch floating dtype "
            "(torch.float64, the default, torch.float32, torch.float16, "
            "torch.bfloat16)"
        )
    return dtype


def check_indices(idx, n, name) -> np.ndarray:
    """Integer indices into 0..n-1 as an int64 numpy array (negative indices do not wrap)."""
    try:
        a = np.asarray(idx.detach().cpu() if isinstance(idx, torch.Tensor) else idx)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name}: could not read {type(idx).__name__} as integer indices: {err}"
        ) from err
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise ValueError(
            f"{name}: got {idx!r} (dtype {a.dtype}); accepted: integer indices in 0..{n - 1}"
        )
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ValueError(
            f"{name}: got {idx!r}; accepted: integer indices in 0..{n - 1} "
            "(negative indices do not wrap)"
        )
    return a


def check_input_scale(X, name="X", limit=MAX_INPUT_SCALE):
    """Refuse inputs whose largest ||x||^2/n_0 exceeds `limit` (computed without overflow: rows are
    divided by their largest entry before squaring), naming the row and the value."""
    if X.device.type != "cpu":  # not yet on accelerators (a sync per call; fake tensors)
        return
    m = X.abs().amax()
    if float(m) == 0.0 or float(m) * float(m) <= limit:  # ||x||^2/n_0 <= max|x|^2: nothing to do
        return
    big = X.abs().amax(1)
    safe = torch.where(big > 0, big, torch.ones_like(big))
    rel = ((X / safe[:, None]) ** 2).mean(1)  # in [1/n_0, 1], no overflow
    logq = 2.0 * torch.log10(safe) + torch.log10(rel)  # log10 ||x||^2/n_0
    i = int(torch.argmax(logq))
    if float(logq[i]) > math.log10(limit):
        raise ValueError(
            f"{name}: row {i} has ||x||^2/n_0 = 10^{float(logq[i]):.1f}, beyond what "
            "the float64 kernel recursion can represent; accepted: ||x||^2/n_0 <= "
            f"{limit:.0e} (rescale the inputs)"
        )


def as_inputs(X, name="X", *, dtype=torch.float64, device=None) -> torch.Tensor:
    """A finite 2-D tensor of shape (N, n_0) in `dtype` on `device` (the input's own device if None;
    "auto" and the other forms of `nk.resolve_device` are accepted)."""
    check_dtype(dtype)
    device = resolve_device(device)
    if isinstance(X, torch.Tensor):
        t = X.detach() if X.requires_grad else X
    else:
        try:
            a = np.asarray(X)
            if np.iscomplexobj(a):
                raise ValueError("complex values; accepted: a real array")
            t = torch.as_tensor(np.asarray(a, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{name}: could not read {type(X).__name__} as a numeric array of shape "
                f"(N, n_0): {err}"
            ) from err
    if t.ndim != 2:
        raise ValueError(
            f"{name}: got an array of shape {tuple(t.shape)}; accepted: a 2-D array of shape "
            "(N, n_0), one input per row (use X[None, :] for a single input)"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(
            f"{name}: got an empty array of shape {tuple(t.shape)}; accepted: shape (N, n_0) "
            "with N >= 1 and n_0 >= 1"
        )
    if not (
        t.is_floating_point()
        or t.dtype in (torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8)
    ):
        raise ValueError(f"{name}: got dtype {t.dtype}; accepted: real numbers")
    t = t.to(dtype=dtype)  # an overflow to inf in the cast is caught below
    finite = _finite_mask(t)  # checked where the input is, before any transfer
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name}: contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
            "accepted: finite values only"
        )
    return t if device is None else t.to(device)


def _finite_mask(t) -> np.ndarray:
    """Elementwise isfinite as a numpy bool array (numpy for a CPU tensor, torch on an
    accelerator)."""
    if t.device.type == "cpu":
        return np.isfinite(t.numpy() if t.dtype != torch.bfloat16 else t.to(torch.float32).numpy())
    return torch.isfinite(t).cpu().numpy()


def model_dtype_device(model):
    """(dtype, device) of a module's first parameter: where functions that receive a model
    compute."""
    try:
        p = next(model.parameters())
    except StopIteration:
        raise ValueError(
            "model: has no parameters; accepted: a torch.nn.Module with trainable parameters"
        ) from None
    return p.dtype, p.device


def model_inputs(model, X, name="X"):
    """X in the model's dtype and on its device: a validated finite (N, n_0) array, or a tensor of
    another layout (sequences (N, T, d)) converted as it is."""
    dtype, device = model_dtype_device(model)
    if isinstance(X, torch.Tensor) and X.ndim != 2:
        return X.to(dtype=dtype, device=device)
    return as_inputs(X, name, dtype=dtype, device=device)


def as_input_pair(X, Y, *, dtype=torch.float64, device=None):
    """(X, Y) validated; Y None stays None.  Y must have as many columns as X and sit on X's device.

    Y equal to X (the same object, or the same values after the cast) comes back as None, so that
    k(X, X) takes the symmetric path and equals k(X) exactly (the API promises it).
    """
    X_in = X
    X = as_inputs(X, "X", dtype=dtype, device=device)
    if Y is None or Y is X_in:
        return X, None
    Y = as_inputs(Y, "Y", dtype=dtype, device=X.device)
    if Y.shape[1] != X.shape[1]:
        raise ValueError(
            f"Y: has {Y.shape[1]} columns but X has {X.shape[1]}; accepted: the same input "
            "dimension n_0 for X and Y"
        )
    if Y.shape == X.shape and torch.equal(X, Y):
        return X, None
    return X, Y


def check_hidden(value, depth, name, noun="sizes") -> list:
    """The depth - 1 hidden sizes from an int (repeated) or a list of depth - 1 ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        hidden = [check_positive_int(v, name) for v in value]
        if len(hidden) != depth - 1:
            raise ValueError(
                f"{name}: got {len(hidden)} hidden {noun} for depth={depth}; accepted: an int, "
                f"or a list of depth - 1 = {depth - 1} ints"
            )
        return hidden
    return [check_positive_int(value, name)] * (depth - 1)


def check_network_inputs(X, n_in, like, *, couples_batch=False, accepted=None):
    """Inputs of a network's forward pass: (N, n_in), converted to the dtype/device of the tensor
    `like` when not already a tensor (a tensor is only moved to `like`'s device, so torch.func
    transforms can trace the call); at least 2 rows when the network normalises over the batch."""
    if not isinstance(X, torch.Tensor):
        X = as_inputs(X, "X", dtype=like.dtype, device=like.device)
    else:
        if X.is_complex() or X.dtype == torch.bool:
            raise ValueError(
                f"X: got dtype {X.dtype}; accepted: a real tensor (converted to the "
                f"network's {like.dtype})"
            )
        if X.device != like.device or X.dtype != like.dtype:  # traceable: torch.func sees a cast
            X = X.to(device=like.device, dtype=like.dtype)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(
            f"X: got shape {tuple(X.shape)}; accepted: "
            f"{accepted or f'shape (N, n_in) = (N, {n_in})'}"
        )
    if couples_batch and X.shape[0] < 2:
        raise ValueError(
            f"X: got {X.shape[0]} input; norm='batch' standardises over the batch, accepted: "
            "at least 2 inputs"
        )
    return X


def _as_real_tensor(A, name, dtype, device):
    if isinstance(A, torch.Tensor):
        t = A.detach()
    else:
        try:
            a = np.asarray(A)
            if np.iscomplexobj(a):
                raise ValueError("complex values; accepted: real numbers")
            t = torch.as_tensor(np.asarray(a, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{name}: could not read {type(A).__name__} as a numeric array: {err}"
            ) from err
    if t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name}: got dtype {t.dtype}; accepted: real numbers")
    t = t.to(dtype=dtype)
    if t.numel() and not _finite_mask(t).all():  # checked where it is, before any transfer
        raise ValueError(f"{name}: contains NaN or inf; accepted: finite values only")
    return t.to(device=device)


def as_vector(v, name, n=None, *, dtype=torch.float64, device=None, allow_empty=False):
    """A finite 1-D float tensor (an (n, 1) column is flattened), of length n when n is given."""
    t = _as_real_tensor(v, name, dtype, device)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    elif t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1:
        raise ValueError(
            f"{name}: got shape {tuple(t.shape)}; accepted: a 1-D array"
            + (f" of length {n}" if n is not None else "")
        )
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name}: has {t.shape[0]} entries; accepted: {n} (one per input)")
    if not allow_empty and t.shape[0] == 0:
        raise ValueError(f"{name}: is empty; accepted: at least one entry")
    return t


def as_kernel_matrix(
    K,
    name="theta",
    *,
    square=True,
    symmetric=False,
    dtype=torch.float64,
    device=None,
    rows=None,
    cols=None,
):
    """A finite 2-D float tensor; square (N, N) and, with symmetric=True, symmetric to 1e-10 of
    its largest entry (a kernel Gram matrix; not silently symmetrised)."""
    t = _as_real_tensor(K, name, dtype, device)
    if t.ndim != 2 or t.shape[0] == 0 or (square and t.shape[0] != t.shape[1]):
        raise ValueError(
            f"{name}: got shape {tuple(t.shape)}; accepted: a "
            + (
                "square (N, N) kernel matrix with N >= 1"
                if square
                else "2-D (M, N) matrix with M >= 1"
            )
        )
    if rows is not None and t.shape[0] != rows or cols is not None and t.shape[1] != cols:
        raise ValueError(
            f"{name}: got shape {tuple(t.shape)}; accepted: shape "
            f"({rows if rows is not None else 'M'}, {cols})"
        )
    if symmetric:
        scale = float(t.abs().max())
        asym = float((t - t.T).abs().max())
        if asym > 1e-10 * max(scale, 1e-300):
            raise ValueError(
                f"{name}: is not symmetric (max |K - K^T| = {asym:.3g}, max |K| = "
                f"{scale:.3g}); accepted: a symmetric kernel matrix (to 1e-10 "
                "relative)"
            )
    return t
