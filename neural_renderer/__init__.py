"""neural_renderer: the Neural 3D Mesh Renderer (Kato et al., CVPR 2018)."""
# Must run before Chainer is imported anywhere: see _compat's docstring.
from neural_renderer import _compat  # NOQA

from neural_renderer.rasterize import rasterize  # NOQA
from neural_renderer.rasterize import rasterize_depth  # NOQA
from neural_renderer.rasterize import rasterize_rgbad  # NOQA
from neural_renderer.rasterize import rasterize_silhouettes  # NOQA
from neural_renderer.rasterize import Rasterize  # NOQA
