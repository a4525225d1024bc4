"""The Mesh link."""
import os

import numpy
import pytest

import neural_renderer  # NOQA  (installs the NumPy 2 shim before chainer)
import chainer
import chainer.functions as F
from chainer import serializers

from neural_renderer.load_obj import load_obj
from neural_renderer.mesh import Mesh

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
SPHERE = os.path.join(DATA, 'sphere_642.obj')
CUBE = os.path.join(DATA, 'textured_cube', 'cube.obj')


def test_from_file():
    mesh = Mesh(SPHERE, texture_size=3)
    vertices, faces = load_obj(SPHERE)
    assert isinstance(mesh.vertices, chainer.Parameter)
    assert isinstance(mesh.textures, chainer.Parameter)
    assert isinstance(mesh.faces, numpy.ndarray)
    numpy.testing.assert_array_equal(mesh.vertices.array, vertices)
    numpy.testing.assert_array_equal(mesh.faces, faces)
    assert mesh.vertices.dtype == numpy.float32
    assert mesh.faces.dtype == numpy.int32
    assert mesh.textures.shape == (1280, 3, 3, 3, 3)
    assert mesh.textures.dtype == numpy.float32
    assert (mesh.textures.array == 1).all()
    assert (mesh.num_vertices, mesh.num_faces, mesh.texture_size) == (
        642, 1280, 3)
    names = sorted(name for name, _ in mesh.namedparams())
    assert names == ['/textures', '/vertices']
    assert 'faces' in mesh._persistent


def test_normalization_flag():
    raw = Mesh(SPHERE, normalization=False).vertices.array
    numpy.testing.assert_array_equal(raw,
                                     load_obj(SPHERE, normalization=False)[0])


def test_load_texture():
    mesh = Mesh(CUBE, texture_size=2, load_texture=True)
    _, _, textures = load_obj(CUBE, texture_size=2, load_texture=True)
    numpy.testing.assert_array_equal(mesh.textures.array, textures)


def test_get_batch_shapes_and_gradients():
    mesh = Mesh(CUBE, texture_size=2)
    vertices, faces, textures = mesh.get_batch(3)
    assert vertices.shape == (3, 8, 3)
    assert faces.shape == (3, 12, 3) and faces.dtype == numpy.int32
    assert faces.flags.c_contiguous
    assert textures.shape == (3, 12, 2, 2, 2, 3)
    for b in range(3):
        numpy.testing.assert_array_equal(faces[b], mesh.faces)
    weights = numpy.arange(3, dtype='f').reshape(3, 1, 1)
    loss = F.sum(vertices * weights) + F.sum(textures * textures)
    loss.backward()
    # d/dv sum_b b * v = 0 + 1 + 2; d/dt sum_b t^2 = 3 * 2t.
    numpy.testing.assert_allclose(mesh.vertices.grad, numpy.full((8, 3), 3))
    numpy.testing.assert_allclose(mesh.textures.grad, 6 * mesh.textures.array)


def test_optimizer_updates_parameters():
    mesh = Mesh(CUBE, texture_size=2)
    before = mesh.vertices.array.copy()
    optimizer = chainer.optimizers.Adam()
    optimizer.setup(mesh)
    vertices, _, textures = mesh.get_batch(2)
    mesh.cleargrads()
    (F.sum(vertices ** 2) + F.sum(textures)).backward()
    optimizer.update()
    assert not numpy.array_equal(mesh.vertices.array, before)
    assert (mesh.textures.array < 1).all()


@pytest.mark.parametrize('size', [0, 2.0, True])
def test_bad_texture_size(size):
    with pytest.raises(ValueError, match='texture_size'):
        Mesh(CUBE, texture_size=size)


def test_bad_batch_size():
    with pytest.raises(ValueError, match='batch_size'):
        Mesh(CUBE).get_batch(0)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        Mesh(os.path.join(DATA, 'no_such_mesh.obj'))


def test_from_arrays():
    vertices = numpy.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                           numpy.float64)
    faces = numpy.array([[0, 1, 2], [0, 2, 3]], numpy.int64)
    mesh = Mesh.from_arrays(vertices, faces, texture_size=2)
    assert isinstance(mesh, Mesh)
    assert mesh.vertices.dtype == numpy.float32
    assert mesh.faces.dtype == numpy.int32
    assert mesh.textures.shape == (2, 2, 2, 2, 3)
    textures = numpy.random.RandomState(0).rand(2, 3, 3, 3, 3)
    mesh = Mesh.from_arrays(chainer.Variable(vertices.astype('f')), faces,
                            textures)
    assert mesh.texture_size == 3
    numpy.testing.assert_allclose(mesh.textures.array, textures, rtol=1e-6)
    v, f, t = mesh.get_batch(1)
    assert v.shape == (1, 4, 3) and f.shape == (1, 2, 3)
    assert t.shape == (1, 2, 3, 3, 3, 3)


@pytest.mark.parametrize('vertices, faces, textures, message', [
    (numpy.zeros((4, 2)), numpy.zeros((1, 3), 'i'), None, 'vertices'),
    (numpy.zeros((4, 3)), numpy.zeros((1, 4), 'i'), None, 'faces must be'),
    (numpy.zeros((4, 3)), numpy.array([[0, 1, 4]]), None, 'faces index'),
    (numpy.zeros((4, 3)), numpy.zeros((1, 3), 'i'),
     numpy.zeros((2, 2, 2, 2, 3)), 'textures'),
])
def test_from_arrays_errors(vertices, faces, textures, message):
    with pytest.raises(ValueError, match=message):
        Mesh.from_arrays(vertices, faces, textures)


def test_device_moves_and_serialization_keep_faces(tmp_path):
    mesh = Mesh(CUBE, texture_size=2)
    mesh.to_device('@numpy')
    assert isinstance(mesh.faces, numpy.ndarray)
    path = str(tmp_path / 'mesh.npz')
    serializers.save_npz(path, mesh)
    other = Mesh.from_arrays(numpy.zeros((8, 3)), numpy.zeros((12, 3), 'i'),
                             texture_size=2)
    serializers.load_npz(path, other)
    numpy.testing.assert_array_equal(other.faces, mesh.faces)
    numpy.testing.assert_array_equal(other.vertices.array,
                                     mesh.vertices.array)


def test_to_gpu_moves_faces():
    cupy = pytest.importorskip('cupy')
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip('no GPU')
    except Exception:
        pytest.skip('no GPU')
    mesh = Mesh(CUBE, texture_size=2)
    mesh.to_gpu()
    assert isinstance(mesh.faces, cupy.ndarray)
    assert isinstance(mesh.vertices.array, cupy.ndarray)
    assert isinstance(mesh.textures.array, cupy.ndarray)
    vertices, faces, textures = mesh.get_batch(2)
    assert isinstance(faces, cupy.ndarray) and faces.shape == (2, 12, 3)
    F.sum(vertices).backward()
    assert isinstance(mesh.vertices.grad, cupy.ndarray)
    mesh.to_cpu()
    assert isinstance(mesh.faces, numpy.ndarray)
