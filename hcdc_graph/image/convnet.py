r"""The ConvNet of dataset condensation (Zhao et al., 2021), used by DC for
gradient matching."""
from torch import Tensor, nn


class ConvNet(nn.Module):
    r"""``depth`` blocks of Conv3x3 (``width`` channels) -> instance norm
    (GroupNorm with one group per channel) -> ReLU -> AvgPool 2x2, then a
    linear classifier:

    .. math::
        h_{l+1} = \mathrm{pool}(\mathrm{ReLU}(\mathrm{IN}(W_l * h_l)))

    Instance norm keeps a sample's output independent of the batch, so the
    per-class gradients DC matches do not depend on what else is in the
    batch.

    Args:
        num_classes (int): (default: :obj:`10`)
        width (int): channels per block; the published DC uses 128.
            (default: :obj:`128`)
        depth (int): (default: :obj:`3`)
        image_size (int): input height and width. (default: :obj:`32`)
    """
    def __init__(self, num_classes: int = 10, width: int = 128,
                 depth: int = 3, image_size: int = 32):
        super().__init__()
        if image_size % (2 ** depth):
            raise ValueError(f"image_size {image_size} is not divisible by "
                             f"2^depth = {2 ** depth}")
        self.num_classes, self.width, self.depth = num_classes, width, depth
        layers, channels = [], 3
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, 3, padding=1),
                       nn.GroupNorm(width, width, affine=True),
                       nn.ReLU(inplace=False), nn.AvgPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        side = image_size // 2 ** depth
        self.classifier = nn.Linear(width * side * side, num_classes)

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'width={self.width}, depth={self.depth})')
