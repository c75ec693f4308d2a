"""Where ntklib computes: the `device=` argument shared by every function that builds networks or
kernel matrices.

Convention (the same everywhere in ntklib):

- functions that *build* networks or kernels (nk.ntk, nk.FCNet, nk.sample_outputs, the width sweeps
  nk.fc_ntk_deviation, nk.ntk_training_snapshots, nk.ode_gap_sweep, nk.empirical_deviation, ...,
  nk.architecture(..., device=)) take `device=`: None (the default: the inputs' device, CPU for new
  networks), "cpu", "cuda", "cuda:1", a torch.device, or "auto" (CUDA when
  torch.cuda.is_available(), else CPU);
- functions that receive a model (nk.empirical_ntk, nk.train_gd, nk.layerwise_ntk, ...) compute on
  the model's device and move their inputs there;
- random parameters are drawn by a seeded CPU generator and then moved, so a seed gives the same
  network on every device (figures made on a GPU match those made on a CPU up to rounding).

Sweeps return numpy arrays (on the CPU); tensor-valued functions return tensors on the device used.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device) -> torch.device | None:
    """The torch.device meant by a `device=` argument (None stays None: "the inputs' own device").

    Args:
        device: None, "auto" (CUDA when torch.cuda.is_available(), else CPU), "cpu", "cuda",
            "cuda:K", "mps", or a torch.device.
    Returns:
        torch.device, or None.
    Raises:
        ValueError: an unknown device string, or a CUDA/MPS device this machine does not have (the
            message says which devices are available).
    Example:
        >>> nk.resolve_device("cpu"), nk.resolve_device(None)
        (device(type='cpu'), None)
        >>> nk.resolve_device("auto").type in ("cpu", "cuda")
        True
    """
    if device is None:
        return None
    if isinstance(device, str):  # "CPU", " cuda:0 " mean what they say
        device = device.strip().lower()
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise ValueError(
            f"device: got {device!r} ({type(device).__name__}); accepted: None, 'auto', 'cpu', "
            "'cuda', 'cuda:K' or a torch.device"
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"device: got {device!r}; accepted: None, 'auto', 'cpu', 'cuda', 'cuda:K' or a "
            f"torch.device ({err})"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device: got {device!r} but torch.cuda.is_available() is False (torch "
                f"{torch.__version__}); accepted here: 'cpu' or 'auto' (which falls back to "
                "the CPU)"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: got {device!r} but this machine has {torch.cuda.device_count()} CUDA "
                f"device(s); accepted: 'cuda:0' ... 'cuda:{torch.cuda.device_count() - 1}'"
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(
                f"device: got {device!r} but MPS is not available here; accepted: 'cpu' or 'auto'"
            )
    elif dev.type != "cpu":
        raise ValueError(
            f"device: got {device!r}; accepted: None, 'auto', 'cpu', 'cuda', 'cuda:K' or 'mps'"
        )
    return dev
