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
    # 86 bytes a float32 silhouette sample (README), 4 samples a pixel.
    assert nr.rasterize.memory_estimate(
        1, 64, anti_aliasing=True, dtype=numpy.float32, return_rgb=False,
        return_alpha=True, return_depth=False, differentiable=True) == \
        pytest.approx(86 * 4 * 64 * 64, rel=0.05)
