"""The original package's interfaces, used as its users' code uses them.

The original-constructor ``Rasterize`` against ``rasterize_rgbad``, the eps
each ``Renderer`` method passes, and ``use_unsafe_rasterizer``.
"""
import importlib
import os

import numpy
import pytest

import neural_renderer as nr
import chainer
import chainer.functions as F

from backends import to_cpu

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def random_faces(rng, batch, count, dtype=numpy.float64):
    centres = rng.uniform(-0.9, 0.9, (batch, count, 1, 2))
    xy = centres + rng.uniform(-0.5, 0.5, (batch, count, 3, 2))
    z = rng.uniform(1, 4, (batch, count, 3, 1))
    return numpy.concatenate([xy, z], axis=3).astype(dtype)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_original_rasterize_is_rasterize_rgbad_unflipped(xp, dtype):
    # The original's Rasterize returns rows bottom-up (NDC y = -1 first)
    # and rgb channels last; its callers flip and transpose.
    rng = numpy.random.RandomState(0)
    faces = xp.asarray(random_faces(rng, 2, 12, dtype))
    textures = xp.asarray(rng.uniform(0, 1, (2, 12, 2, 2, 2, 3)).astype(
        dtype))
    background = (0.2, 0.4, 0.6)
    rgb, alpha, depth = nr.Rasterize(16, 0.1, 100, 1e-4, background, True,
                                     True, True)(faces, textures)
    ours = nr.rasterize_rgbad(faces, textures, 16, False, 0.1, 100, 1e-4,
                              background)
    assert rgb.shape == (2, 16, 16, 3) and alpha.shape == (2, 16, 16)
    numpy.testing.assert_array_equal(
        to_cpu(rgb.array)[:, ::-1].transpose(0, 3, 1, 2),
        to_cpu(ours['rgb'].array))
    numpy.testing.assert_array_equal(to_cpu(alpha.array)[:, ::-1],
                                     to_cpu(ours['alpha'].array))
    numpy.testing.assert_array_equal(to_cpu(depth.array)[:, ::-1],
                                     to_cpu(ours['depth'].array))
    # Row 0 is the bottom: a face below the x axis shows in the first rows.
    low = xp.asarray([[[[-1, -1, 1], [1, -1, 1], [0, -0.1, 1]]]], dtype)
    _, alpha, _ = nr.Rasterize(8, 0.1, 100, 1e-4, (0, 0, 0),
                               return_alpha=True)(low)
    alpha = to_cpu(alpha.array)
    assert alpha[0, 0].sum() > 0 and alpha[0, 7].sum() == 0


def test_original_rasterize_returns_only_what_is_asked(xp):
    rng = numpy.random.RandomState(1)
    faces = xp.asarray(random_faces(rng, 1, 4))
    rgb, alpha, depth = nr.Rasterize(8, 0.1, 100, 1e-4, (0, 0, 0),
                                     return_alpha=True)(faces)
    assert rgb is None and depth is None and alpha.shape == (1, 8, 8)
    with pytest.raises(ValueError, match='textures'):
        nr.Rasterize(8, 0.1, 100, 1e-4, (0, 0, 0), return_rgb=True)(faces)


def test_reconstruction_code_path_equals_anti_aliased_silhouettes(xp):
    # What the authors' reconstruction code does with Rasterize: scale the
    # faces by (2S - 1) / (2S - 2), rasterize at 2S, flip rows, average
    # 2x2 blocks; gradients included. It equals rasterize_silhouettes with
    # anti-aliasing, up to z (which the original scaled too; it does not
    # change a silhouette).
    rng = numpy.random.RandomState(2)
    size = 12
    faces = xp.asarray(random_faces(rng, 2, 10))
    grad = xp.asarray(rng.randn(2, size, size))

    def original(faces_v):
        scaled = faces_v * ((2. * size - 1) / (2. * size - 2))
        images = nr.Rasterize(size * 2, 0.1, 100, 1e-4, (0, 0, 0),
                              return_alpha=True)(scaled)[1]
        images = images[:, ::-1, :]
        return F.average_pooling_2d(images[:, None], 2, 2)[:, 0]

    results = []
    for render in (original, lambda f: nr.rasterize_silhouettes(f, size)):
        faces_v = chainer.Variable(faces.copy())
        images = render(faces_v)
        F.sum(images * grad).backward()
        results.append((to_cpu(images.array), to_cpu(faces_v.grad)))
    (images_a, grad_a), (images_b, grad_b) = results
    numpy.testing.assert_allclose(images_a, images_b, atol=1e-12)
    assert numpy.abs(grad_b[..., :2]).sum() > 0
    numpy.testing.assert_allclose(grad_a[..., :2], grad_b[..., :2],
                                  rtol=1e-9, atol=1e-12)


def teapot():
    vertices, faces = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
    return vertices[None].astype(numpy.float64), faces[None]


def vertex_gradient(function, vertices, faces, grad):
    """The vertices' gradient, on the CPU."""
    v = chainer.Variable(vertices.copy())
    F.sum(function(v, faces) * grad).backward()
    return to_cpu(v.grad)


@pytest.mark.parametrize('method', ['render_silhouettes', 'render'])
def test_each_renderer_method_uses_the_originals_eps(xp, method):
    # render passes rasterizer_eps (1e-3); render_silhouettes the
    # rasterizer's default 1e-4, whatever rasterizer_eps says.
    vertices, faces = (xp.asarray(a) for a in teapot())
    renderer = nr.Renderer()
    renderer.image_size = 32
    renderer.eye = nr.get_points_from_angles(2.732, 30, 20)
    rng = numpy.random.RandomState(3)
    textures = xp.ones((1, faces.shape[1], 2, 2, 2, 3))
    if method == 'render':
        grad = xp.asarray(rng.randn(1, 3, 32, 32))
    else:
        grad = xp.asarray(rng.randn(1, 32, 32))

    def composed(eps):
        def run(v, f):
            f = xp.concatenate([f, f[:, :, ::-1]], axis=1)
            screen = nr.vertices_to_faces(
                nr.perspective(nr.look_at(v, renderer.eye)), f)
            if method == 'render':
                # Ambient light 1: the texels are the colours as they are.
                t = xp.concatenate(
                    [textures, textures.transpose(0, 1, 4, 3, 2, 5)], 1)
                return nr.rasterize(screen, t, 32, eps=eps)
            return nr.rasterize_silhouettes(screen, 32, eps=eps)
        return run

    renderer.light_intensity_ambient = 1.
    renderer.light_intensity_directional = 0.
    expected_eps = 1e-3 if method == 'render' else 1e-4
    other_eps = 1e-4 if method == 'render' else 1e-3

    def call(v, f):
        if method == 'render':
            return renderer.render(v, f, textures)
        return renderer.render_silhouettes(v, f)
    ours = vertex_gradient(call, vertices, faces, grad)
    expected = vertex_gradient(composed(expected_eps), vertices, faces, grad)
    other = vertex_gradient(composed(other_eps), vertices, faces, grad)
    numpy.testing.assert_allclose(ours, expected, rtol=1e-7, atol=1e-10)
    assert not numpy.allclose(ours, other, rtol=1e-4, atol=0)
    if method == 'render_silhouettes':
        # rasterizer_eps does not reach render_silhouettes.
        renderer.rasterizer_eps = 0.05
        again = vertex_gradient(call, vertices, faces, grad)
        numpy.testing.assert_array_equal(again, ours)


def test_use_unsafe_rasterizer_is_accepted_and_changes_nothing(xp):
    # (nr.rasterize is the function, as in the original: the module is
    # reached through importlib.)
    module = importlib.import_module('neural_renderer.rasterize')
    rng = numpy.random.RandomState(4)
    faces = xp.asarray(random_faces(rng, 1, 6))
    before = to_cpu(nr.rasterize_silhouettes(faces, 16).array)
    nr.use_unsafe_rasterizer(True)
    try:
        assert module.USE_UNSAFE_IMPLEMENTATION is True
        numpy.testing.assert_array_equal(
            to_cpu(nr.rasterize_silhouettes(faces, 16).array), before)
    finally:
        nr.use_unsafe_rasterizer(False)
    assert module.USE_UNSAFE_IMPLEMENTATION is False


def test_original_public_names_exist():
    for name in ['Adam', 'Mesh', 'Rasterize', 'Renderer', 'cross',
                 'get_points_from_angles', 'lighting', 'load_obj', 'look',
                 'look_at', 'perspective', 'rasterize', 'rasterize_depth',
                 'rasterize_rgbad', 'rasterize_silhouettes', 'save_obj',
                 'use_unsafe_rasterizer', 'vertices_to_faces']:
        assert callable(getattr(nr, name)), name


def test_readme_usage_runs():
    # The README's Usage block is code for the original package's users: it
    # must run as written (from the repository root, where data/ is).
    import re
    import subprocess
    import sys
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    with open(os.path.join(root, 'README.md')) as f:
        readme = f.read()
    usage = readme.split('## Usage', 1)[1]
    code = re.search(r'```python\n(.*?)```', usage, re.S).group(1)
    assert 'nr.Rasterize' in code and 'mesh.get_batch' in code
    out = subprocess.run([sys.executable, '-c', code], cwd=root,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
