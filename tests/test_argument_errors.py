"""Errors that named the wrong thing or none (audit issue 25, item 9): each
case now raises one exception whose message names the argument at fault."""
import os

import numpy
import pytest

import neural_renderer as nr

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
VERTICES, FACES = nr.load_obj(os.path.join(DATA, 'teapot.obj'))


def renderer():
    r = nr.Renderer()
    r.image_size = 8
    return r


def screen_faces():
    r = renderer()
    return nr.vertices_to_faces(nr.perspective(nr.look_at(
        VERTICES[None], r.eye)), FACES[None])


def test_float16_names_vertices():
    # It blamed "Renderer light attributes" (the normal's norm underflows).
    textures = numpy.ones((1, len(FACES), 2, 2, 2, 3), numpy.float16)
    with pytest.raises(TypeError, match='vertices: expected float32 or '
                                        'float64, got float16'):
        renderer().render(VERTICES[None].astype(numpy.float16), FACES[None],
                          textures)


@pytest.mark.parametrize('near, far, eps, name', [
    (None, 100, 1e-4, 'near'), (0.1, '100', 1e-4, 'far'),
    (0.1, 100, None, 'eps')])
def test_rasterize_numbers_are_named(near, far, eps, name):
    # NumPy's "ufunc 'isfinite' not supported" before.
    with pytest.raises(TypeError, match='^{}: expected a number'.format(
            name)):
        nr.Rasterize(8, near, far, eps, (0, 0, 0))(screen_faces())


def test_background_color_is_named():
    r = renderer()
    r.background_color = 'red'
    for call in (lambda: r.render_silhouettes(VERTICES[None], FACES[None]),
                 lambda: r.render(VERTICES[None], FACES[None], numpy.ones(
                     (1, len(FACES), 2, 2, 2, 3), numpy.float32))):
        with pytest.raises(ValueError, match='^background_color: expected 3 '
                                             'numbers'):
            call()


def test_cross_of_lists_names_the_argument():
    with pytest.raises(TypeError, match='^x0: expected a float array'):
        nr.cross([[1., 0., 0.]], [[0., 1., 0.]])


def test_mesh_refuses_nan_and_bad_learning_rates():
    bad = VERTICES.copy()
    bad[3, 1] = numpy.nan
    with pytest.raises(ValueError, match='^vertices: expected finite'):
        nr.Mesh.from_arrays(bad, FACES)
    mesh = nr.Mesh.from_arrays(VERTICES, FACES)
    for value in (float('nan'), -1., float('inf'), '1', True):
        with pytest.raises(ValueError, match='^lr_vertices: expected a '
                                             'finite number'):
            mesh.set_lr(value, 1.)
    mesh.set_lr(0.5, 2)
    assert (mesh.vertices.lr, mesh.textures.lr) == (0.5, 2.)


def test_coincident_vertices_name_the_file(tmp_path):
    path = tmp_path / 'point.obj'
    path.write_text('v 1 2 3\nv 1 2 3\nv 1 2 3\nf 1 2 3\n')
    with pytest.raises(ValueError) as info:
        nr.load_obj(str(path))
    message = str(info.value)
    assert message.startswith(str(path)) and 'coincide' in message
    assert '[1.0, 2.0, 3.0]' in message and 'normalization=False' in message
    vertices, faces = nr.load_obj(str(path), normalization=False)
    assert vertices.shape == (3, 3)


def test_the_documented_memory_estimate_paths_resolve():
    # Audit issue 25, item 10: the README's
    # neural_renderer.rasterize.memory_estimate did not resolve
    # (nr.rasterize is the original's function, not the module).
    import importlib
    module = importlib.import_module('neural_renderer.rasterize')
    for estimate in (nr.rasterize.memory_estimate, nr.memory_estimate):
        assert estimate is module.memory_estimate
    # 39 bytes a float32 silhouette sample (README), 4 samples a pixel.
    assert nr.rasterize.memory_estimate(
        1, 64, anti_aliasing=True, dtype=numpy.float32, return_rgb=False,
        return_alpha=True, return_depth=False, differentiable=True) == \
        pytest.approx(39 * 4 * 64 * 64, rel=0.05)


# -- memory (audit issue 25, item 6) ----------------------------------------

def test_mesh_texture_size_is_refused_before_allocating():
    # texture_size 64 allocated 6.6 GiB; 2**20 gave NumPy's "array is too
    # big". Both are refused, naming texture_size.
    path = os.path.join(DATA, 'teapot.obj')
    for size in (64, 2 ** 20):
        with pytest.raises(ValueError, match='^texture_size: 2256 faces '
                                             'with texture_size {}'.format(
                                                 size)):
            nr.Mesh(path, texture_size=size)
        with pytest.raises(ValueError, match='^texture_size'):
            nr.Mesh.from_arrays(VERTICES, FACES, texture_size=size)
    assert nr.Mesh(path, texture_size=8).textures.shape == \
        (2256, 8, 8, 8, 3)
    with pytest.raises(ValueError, match='max_texture_bytes = 0.000977 GiB'):
        nr.Mesh(path, texture_size=8, max_texture_bytes=1 << 20)


@pytest.mark.parametrize('near', [0.1, 2.5])
def test_call_memory_estimate_covers_the_peak(near):
    # Forward and backward of a batch of teapots (near 2.5 cuts through
    # them: the clipping path); tracemalloc sees NumPy's buffers.
    import tracemalloc
    import chainer
    import chainer.functions as F
    batch = 40
    vertices = chainer.Variable(numpy.repeat(VERTICES[None], batch, 0))
    faces = numpy.repeat(FACES[None], batch, 0)
    textures = chainer.Variable(numpy.ones((batch, len(FACES), 4, 4, 4, 3),
                                           numpy.float32))
    r = renderer()
    r.near = near
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rgb = r.render(vertices, faces, textures)
        F.sum(rgb * numpy.random.RandomState(0).randn(
            *rgb.shape).astype(numpy.float32)).backward()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    estimate = nr.Renderer.call_memory_estimate(
        {'image_size': 8, 'anti_aliasing': True}, batch, len(FACES),
        numpy.float32, 4, clipping=near > 1)
    assert peak <= estimate <= 2 * peak


def test_a_call_that_cannot_fit_is_refused_naming_the_batch(monkeypatch):
    import sys
    rasterize_module = sys.modules['neural_renderer.rasterize']
    renderer_module = sys.modules['neural_renderer.renderer']
    monkeypatch.setattr(renderer_module, '_available_memory',
                        lambda xp: 64 << 20)
    monkeypatch.setattr(rasterize_module, '_available_host_memory',
                        lambda: 64 << 20)
    batch = 200  # about 240 MiB of per-face buffers
    with pytest.raises(ValueError, match='^vertices, faces: a batch of 200 '
                                         'meshes of 2256 faces'):
        renderer().render(numpy.repeat(VERTICES[None], batch, 0),
                          numpy.repeat(FACES[None], batch, 0),
                          numpy.ones((batch, len(FACES), 2, 2, 2, 3),
                                     numpy.float32))
