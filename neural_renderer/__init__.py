"""neural_renderer: the Neural 3D Mesh Renderer (Kato et al., CVPR 2018).

``import neural_renderer`` before ``import chainer``: it first installs the
compatibility shim that lets Chainer 7.8.1 run on NumPy 2 and Python 3.12.
"""
# Must run before Chainer is imported: see neural_renderer_compat.
import neural_renderer_compat
neural_renderer_compat.install()

from neural_renderer.clip_faces import clip_faces  # NOQA
from neural_renderer.cross import cross  # NOQA
from neural_renderer.get_points_from_angles import get_points_from_angles  # NOQA
from neural_renderer._host_pool import get_host_memory_pool  # NOQA
from neural_renderer.lighting import lighting  # NOQA
from neural_renderer.load_obj import load_obj  # NOQA
from neural_renderer.look import look  # NOQA
from neural_renderer.look_at import look_at  # NOQA
from neural_renderer.mesh import Mesh  # NOQA
from neural_renderer.optimizers import Adam  # NOQA
from neural_renderer.perspective import perspective  # NOQA
from neural_renderer.projection import projection  # NOQA
from neural_renderer.rasterize import memory_estimate  # NOQA
from neural_renderer.rasterize import Rasterize  # NOQA
from neural_renderer.rasterize import rasterize  # NOQA
from neural_renderer.rasterize import rasterize_depth  # NOQA
from neural_renderer.rasterize import rasterize_rgbad  # NOQA
from neural_renderer.rasterize import rasterize_silhouettes  # NOQA
from neural_renderer.rasterize import use_unsafe_rasterizer  # NOQA
from neural_renderer.renderer import Renderer  # NOQA
from neural_renderer.save_obj import save_obj  # NOQA
from neural_renderer.uv_texture import UVTexture  # NOQA
from neural_renderer.vertices_to_faces import vertices_to_faces  # NOQA

# The original's public name ``neural_renderer.rasterize`` is the function,
# which hides the module of the same name from attribute access: the
# documented ``neural_renderer.rasterize.memory_estimate`` resolves through
# the function.
rasterize.memory_estimate = memory_estimate

__version__ = '2.0.0'
