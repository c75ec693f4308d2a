"""Input validation shared by the public functions: clear ValueErrors naming argument, value, and what is accepted."""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

from .devices import resolve_device


def check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta: got {beta!r}; accepted: a real number in [0, 1] "
                         "(the weight/bias balance of the NTK parametrisation)")
    return float(beta)


def check_depth(depth, name="depth") -> int:
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise ValueError(f"{name}: got {depth!r}; accepted: an integer >= 1 "
                         "(the number of weight layers; 1 is the linear model)")
    return int(depth)


def check_positive_int(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: got {value!r}; accepted: an integer >= 1")
    return int(value)


def as_inputs(X, name="X", *, dtype=torch.float64, device=None) -> torch.Tensor:
    """A finite 2-D tensor of shape (N, n_0) in `dtype` on `device` (the input's own device if None;
    "auto" and the other forms of `nk.resolve_device` are accepted)."""
    device = resolve_device(device)
    if isinstance(X, torch.Tensor):
        t = X.detach() if X.requires_grad else X
    else:
        try:
            t = torch.as_tensor(np.asarray(X, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: could not read {type(X).__name__} as a numeric array of shape "
                             f"(N, n_0): {err}") from err
    if t.ndim != 2:
        raise ValueError(f"{name}: got an array of shape {tuple(t.shape)}; accepted: a 2-D array of shape "
                         "(N, n_0), one input per row (use X[None, :] for a single input)")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name}: got an empty array of shape {tuple(t.shape)}; accepted: shape (N, n_0) "
                         "with N >= 1 and n_0 >= 1")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8)):
        raise ValueError(f"{name}: got dtype {t.dtype}; accepted: real numbers")
    t = t.to(dtype=dtype)                         # an overflow to inf in the cast is caught below
    finite = _finite_mask(t)                      # checked where the input is, before any transfer
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(f"{name}: contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
                         "accepted: finite values only")
    return t if device is None else t.to(device)


def _finite_mask(t) -> np.ndarray:
    """Elementwise isfinite as a numpy bool array (numpy for a CPU tensor, torch on an accelerator)."""
    if t.device.type == "cpu":
        return np.isfinite(t.numpy() if t.dtype != torch.bfloat16 else t.to(torch.float32).numpy())
    return torch.isfinite(t).cpu().numpy()


def model_dtype_device(model):
    """(dtype, device) of a module's first parameter: where functions that receive a model compute."""
    try:
        p = next(model.parameters())
    except StopIteration:
        raise ValueError("model: has no parameters; accepted: a torch.nn.Module with trainable "
                         "parameters") from None
    return p.dtype, p.device


def model_inputs(model, X, name="X"):
    """X in the model's dtype and on its device: a validated finite (N, n_0) array, or a tensor of another
    layout (sequences (N, T, d)) converted as it is."""
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
        raise ValueError(f"Y: has {Y.shape[1]} columns but X has {X.shape[1]}; accepted: the same input "
                         "dimension n_0 for X and Y")
    if Y.shape == X.shape and torch.equal(X, Y):
        return X, None
    return X, Y


def check_hidden(value, depth, name, noun="sizes") -> list:
    """The depth - 1 hidden sizes from an int (repeated) or a list of depth - 1 ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        hidden = [check_positive_int(v, name) for v in value]
        if len(hidden) != depth - 1:
            raise ValueError(f"{name}: got {len(hidden)} hidden {noun} for depth={depth}; accepted: an int, or a "
                             f"list of depth - 1 = {depth - 1} ints")
        return hidden
    return [check_positive_int(value, name)] * (depth - 1)


def check_network_inputs(X, n_in, like, *, couples_batch=False, accepted=None):
    """Inputs of a network's forward pass: (N, n_in), converted to the dtype/device of the tensor `like`
    when not already a tensor (a tensor is only moved to `like`'s device, so torch.func transforms can
    trace the call); at least 2 rows when the network normalises over the batch."""
    if not isinstance(X, torch.Tensor):
        X = as_inputs(X, "X", dtype=like.dtype, device=like.device)
    elif X.device != like.device:
        X = X.to(like.device)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"X: got shape {tuple(X.shape)}; accepted: {accepted or f'shape (N, n_in) = (N, {n_in})'}")
    if couples_batch and X.shape[0] < 2:
        raise ValueError(f"X: got {X.shape[0]} input; norm='batch' standardises over the batch, accepted: "
                         "at least 2 inputs")
    return X
