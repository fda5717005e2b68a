"""Building blocks shared by the encoder, the decoders and the heads."""

from __future__ import annotations

from torch import nn

NORMALIZATIONS = ("batch", "instance", "group", None)


def make_norm(norm: str | None, channels: int) -> nn.Module:
    """Return the normalisation layer named ``norm`` for ``channels`` feature maps.

    Parameters
    ----------
    norm : {"batch", "instance", "group"} or None
        ``None`` gives an identity, i.e. the paper's plain convolution + ReLU.
    channels : int
        Number of feature maps.

    Returns
    -------
    torch.nn.Module
    """
    if norm is None:
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm3d(channels)
    if norm == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    if norm == "group":
        return nn.GroupNorm(min(8, channels), channels)
    raise ValueError(f"norm must be one of {NORMALIZATIONS}, got {norm!r}")


class ConvPair(nn.Sequential):
    """Two 3x3x3 convolutions, each followed by an optional norm and a ReLU.

    This is the unit the paper stacks in the encoder and both decoders
    (section 3.1.1).

    Parameters
    ----------
    in_channels, out_channels : int
        Input and output feature maps.
    norm : {"batch", "instance", "group"} or None
        Normalisation after each convolution; ``None`` is the paper's setting.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str | None = None):
        bias = norm is None
        super().__init__(
            nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=bias),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(out_channels, out_channels, 3, padding=1, bias=bias),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )
