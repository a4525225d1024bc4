"""CPU and GPU run the same kernel source: they must agree.

Skipped where CuPy or a GPU is missing. Images to 1e-5, gradients to 1e-4.
"""
import os

import numpy
import pytest

import chainer
import chainer.functions as F

import neural_renderer as nr

try:
    import cupy
    HAVE_GPU = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # no cupy, no driver or no device
    HAVE_GPU = False

pytestmark = pytest.mark.skipif(not HAVE_GPU, reason='needs CuPy and a GPU')


def scene(batch_size=2, num_faces=300, texture_size=3, dtype=numpy.float32):
    rng = numpy.random.RandomState(0)
    centres = rng.uniform(-1, 1, (batch_size, num_faces, 1, 2))
    xy = centres + rng.uniform(-0.3, 0.3, (batch_size, num_faces, 3, 2))
    z = rng.uniform(1, 5, (batch_size, num_faces, 3, 1))
    faces = numpy.concatenate([xy, z], axis=3).astype(dtype)
    textures = rng.uniform(0, 1, (batch_size, num_faces) +
                           (texture_size,) * 3 + (3,)).astype(dtype)
    grads = [rng.randn(batch_size, 3, 48, 40).astype(dtype),
             rng.randn(batch_size, 48, 40).astype(dtype),
             rng.randn(batch_size, 48, 40).astype(dtype)]
    return faces, textures, grads


def run(xp, faces, textures, grads):
    faces = chainer.Variable(xp.asarray(faces))
    textures = chainer.Variable(xp.asarray(textures))
    out = nr.rasterize_rgbad(faces, textures, image_size=(48, 40),
                             background_color=(0.1, 0.2, 0.3))
    loss = sum(F.sum(out[k] * xp.asarray(g))
               for k, g in zip(('rgb', 'alpha', 'depth'), grads))
    loss.backward()
    to_cpu = chainer.backend.CpuDevice().send
    return ([to_cpu(out[k].array) for k in ('rgb', 'alpha', 'depth')],
            to_cpu(faces.grad), to_cpu(textures.grad))


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_cpu_and_gpu_agree(dtype):
    faces, textures, grads = scene(dtype=dtype)
    images_cpu, gf_cpu, gt_cpu = run(numpy, faces, textures, grads)
    images_gpu, gf_gpu, gt_gpu = run(cupy, faces, textures, grads)
    for a, b in zip(images_cpu, images_gpu):
        numpy.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    numpy.testing.assert_allclose(gf_cpu, gf_gpu, atol=1e-4, rtol=1e-4)
    numpy.testing.assert_allclose(gt_cpu, gt_gpu, atol=1e-4, rtol=1e-4)


def test_renderer_link_to_gpu():
    vertices, faces = nr.load_obj(os.path.join(
        os.path.dirname(__file__), '..', 'data', 'teapot.obj'))
    renderer = nr.Renderer()
    renderer.image_size = 64
    renderer.to_gpu()
    vertices = chainer.Variable(cupy.asarray(vertices[None]))
    faces = cupy.asarray(faces[None])
    images = renderer.render_silhouettes(vertices, faces)
    F.sum(images).backward()
    assert isinstance(images.array, cupy.ndarray)
    assert bool(cupy.isfinite(vertices.grad).all())
