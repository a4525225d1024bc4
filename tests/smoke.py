"""Import, render and back-propagate once: the smoke test CI runs on 3.12."""
import os
import sys

import numpy

# The original package's import order: chainer first (the installed
# neural_renderer_compat.pth makes that work on NumPy 2).
import chainer
import chainer.functions as F
import neural_renderer as nr

here = os.path.dirname(os.path.abspath(__file__))
vertices, faces = nr.load_obj(os.path.join(here, '..', 'data', 'teapot.obj'))
vertices = chainer.Variable(vertices[None])
faces = faces[None]
textures = numpy.ones((1, faces.shape[1], 2, 2, 2, 3), numpy.float32)
renderer = nr.Renderer()
renderer.image_size = 64
renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
images = renderer.render(vertices, faces, textures)
silhouettes = renderer.render_silhouettes(vertices, faces)
F.sum(images).backward()
F.sum(silhouettes).backward()
assert images.shape == (1, 3, 64, 64)
assert 0 < float(silhouettes.array.mean()) < 1
assert numpy.isfinite(vertices.grad).all()
assert numpy.abs(vertices.grad).sum() > 0
print('smoke ok: python {}.{}, numpy {}, chainer {}'.format(
    sys.version_info[0], sys.version_info[1], numpy.__version__,
    chainer.__version__))
