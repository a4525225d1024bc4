"""The Mesh link."""
import os

import numpy
import pytest

import neural_renderer  # (installs the NumPy 2 shim before chainer)
import chainer
import chainer.functions as F
from chainer import serializers

from neural_renderer.load_obj import load_obj
from neural_renderer.mesh import Mesh

from backends import to_cpu

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
SPHERE = os.path.join(DATA, 'sphere_642.obj')
CUBE = os.path.join(DATA, 'textured_cube', 'cube.obj')


def sigmoid(x):
    return 1 / (1 + numpy.exp(-numpy.asarray(x, numpy.float64)))


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
    assert (mesh.num_vertices, mesh.num_faces, mesh.texture_size) == (
        642, 1280, 3)
    names = sorted(name for name, _ in mesh.namedparams())
    assert names == ['/textures', '/vertices']
    assert 'faces' in mesh._persistent


def test_normalization_flag():
    raw = Mesh(SPHERE, normalization=False).vertices.array
    numpy.testing.assert_array_equal(raw,
                                     load_obj(SPHERE, normalization=False)[0])


def test_textures_start_as_normal_logits():
    # chainer.initializers.Normal(): mean 0, standard deviation 0.05. Over
    # 1280 * 4^3 * 3 = 245760 texels the sample mean is within ~1e-4 and
    # the sample deviation within ~7e-5 of these (one sigma).
    numpy.random.seed(0)
    mesh = Mesh(SPHERE, texture_size=4)
    logits = mesh.textures.array
    assert logits.shape == (1280, 4, 4, 4, 3)
    assert logits.dtype == numpy.float32
    assert abs(logits.mean()) < 1e-3
    assert abs(logits.std() - 0.05) < 1e-3
    assert len(numpy.unique(logits)) > 0.99 * logits.size  # random
    # numpy.random.seed fixes the start.
    numpy.random.seed(0)
    numpy.testing.assert_array_equal(Mesh(SPHERE).textures.array, logits)


def test_load_texture_stores_logits_of_the_colours():
    mesh = Mesh(CUBE, texture_size=2, load_texture=True)
    _, _, colours = load_obj(CUBE, texture_size=2, load_texture=True)
    assert mesh.textures.dtype == numpy.float32
    clipped = numpy.clip(colours.astype(numpy.float64), 1e-3, 1 - 1e-3)
    numpy.testing.assert_allclose(
        mesh.textures.array,
        numpy.log(clipped) - numpy.log1p(-clipped), rtol=1e-6)
    _, _, textures = mesh.get_batch(2)
    for b in range(2):
        numpy.testing.assert_allclose(textures.array[b], clipped, rtol=0,
                                      atol=1e-6)


def test_load_texture_round_trip_and_clip(tmp_path):
    # Colours inside [1e-3, 1 - 1e-3] come back through the sigmoid within
    # 1e-6; 0 and 1 (infinite logits) come back clipped to 1e-3, 1 - 1e-3.
    (tmp_path / 'm.mtl').write_text(
        'newmtl inside\nKd 0.001 0.5 0.999\n'
        'newmtl odd\nKd 0.123457 0.7 0.01\n'
        'newmtl edges\nKd 0 1 0.3\n')
    (tmp_path / 'm.obj').write_text('\n'.join([
        'mtllib m.mtl', 'v 0 0 0', 'v 1 0 0', 'v 0 1 0',
        'usemtl inside', 'f 1 2 3', 'usemtl odd', 'f 1 2 3',
        'usemtl edges', 'f 1 2 3']) + '\n')
    mesh = Mesh(str(tmp_path / 'm.obj'), texture_size=2, load_texture=True)
    assert numpy.isfinite(mesh.textures.array).all()
    _, _, textures = mesh.get_batch(1)
    expected = [(0.001, 0.5, 0.999), (0.123457, 0.7, 0.01),
                (1e-3, 1 - 1e-3, 0.3)]
    for face, colour in enumerate(expected):
        numpy.testing.assert_allclose(
            textures.array[0, face].reshape(-1, 3),
            numpy.tile(colour, (8, 1)), rtol=0, atol=1e-6)


def test_get_batch_shapes_and_gradients(xp, device):
    mesh = Mesh(CUBE, texture_size=2)
    mesh.to_device(device)
    vertices, faces, textures = mesh.get_batch(3)
    assert isinstance(faces, xp.ndarray)
    assert vertices.shape == (3, 8, 3)
    assert faces.shape == (3, 12, 3) and faces.dtype == numpy.int32
    assert faces.flags.c_contiguous
    assert textures.shape == (3, 12, 2, 2, 2, 3)
    assert textures.dtype == numpy.float32
    for b in range(3):
        numpy.testing.assert_array_equal(to_cpu(faces[b]), to_cpu(mesh.faces))
    weights = xp.arange(3, dtype='f').reshape(3, 1, 1)
    loss = F.sum(vertices * weights)
    loss.backward()
    # d/dv sum_b b * v = 0 + 1 + 2.
    numpy.testing.assert_allclose(to_cpu(mesh.vertices.grad),
                                  numpy.full((8, 3), 3))


def test_get_batch_applies_the_sigmoid(device):
    logits = numpy.random.RandomState(1).randn(12, 2, 2, 2, 3) * 3
    mesh = Mesh.from_arrays(numpy.zeros((8, 3)), load_obj(CUBE)[1], logits)
    mesh.to_device(device)
    _, _, textures = mesh.get_batch(3)
    s = sigmoid(to_cpu(mesh.textures.array))
    textures_array = to_cpu(textures.array)
    assert ((textures_array > 0) & (textures_array < 1)).all()
    for b in range(3):
        # float32 sigmoid: absolute errors up to ~3e-8 near 0.
        numpy.testing.assert_allclose(textures_array[b], s, rtol=1e-6,
                                      atol=1e-7)
    # sum over b, texels of sigmoid(x): each logit x appears in the 3
    # batch items, each contributing ds/dx = s (1 - s).
    F.sum(textures).backward()
    # (Chainer forms s (1 - s) from its float32 s: absolute errors ~1e-7.)
    numpy.testing.assert_allclose(to_cpu(mesh.textures.grad),
                                  3 * s * (1 - s), rtol=1e-5, atol=3e-7)
    assert mesh.vertices.grad is None or not to_cpu(mesh.vertices.grad).any()


def test_default_colours_are_near_half(device):
    numpy.random.seed(2)
    mesh = Mesh(CUBE, texture_size=3)
    mesh.to_device(device)
    textures = to_cpu(mesh.get_batch(1)[2].array)
    # |logit| < 5 sigma = 0.25 -> |sigmoid - 0.5| < 0.25 / 4 = 0.0625.
    assert (abs(textures - 0.5) < 0.0625).all()
    numpy.testing.assert_allclose(textures.mean(), 0.5, atol=1e-3)


def test_optimizer_updates_parameters(device):
    mesh = Mesh(CUBE, texture_size=2)
    mesh.to_device(device)
    vertices_before = to_cpu(mesh.vertices.array).copy()
    logits_before = to_cpu(mesh.textures.array).copy()
    optimizer = chainer.optimizers.Adam()
    optimizer.setup(mesh)
    vertices, _, textures = mesh.get_batch(2)
    mesh.cleargrads()
    (F.sum(vertices ** 2) + F.sum(textures)).backward()
    optimizer.update()
    assert not numpy.array_equal(to_cpu(mesh.vertices.array),
                                 vertices_before)
    # d sum(sigmoid) / d logit > 0: every logit goes down.
    assert (to_cpu(mesh.textures.array) < logits_before).all()


def test_set_lr_sets_the_attributes():
    mesh = Mesh(CUBE, texture_size=2)
    assert mesh.set_lr(0.01, 0.5) is None
    assert mesh.vertices.lr == 0.01 and mesh.textures.lr == 0.5


@pytest.mark.parametrize('lr_vertices, lr_textures', [
    (0.1, 1.0), (1.0, 0.1), (0.1, 0.1)])
def test_set_lr_scales_the_adam_steps(xp, device, lr_vertices,
                                      lr_textures):
    # One neural_renderer.Adam step from the same start on the same
    # (nonzero) gradient: with lr 0.1 each element moves 10x less than with
    # lr 1 (Adam's step is linear in the rate).
    rng = numpy.random.RandomState(3)
    vertices = rng.randn(8, 3)
    faces = load_obj(CUBE)[1]
    logits = rng.randn(12, 2, 2, 2, 3)
    grads = [rng.randn(8, 3).astype('f'),
             rng.randn(12, 2, 2, 2, 3).astype('f')]
    steps = []
    for lrs in [(1.0, 1.0), (lr_vertices, lr_textures)]:
        mesh = Mesh.from_arrays(vertices, faces, logits)
        mesh.to_device(device)
        mesh.set_lr(*lrs)
        optimizer = neural_renderer.Adam(alpha=0.1, beta1=0.5)
        optimizer.setup(mesh)
        mesh.vertices.grad = xp.asarray(grads[0].copy())
        mesh.textures.grad = xp.asarray(grads[1].copy())
        before = [to_cpu(mesh.vertices.array).copy(),
                  to_cpu(mesh.textures.array).copy()]
        optimizer.update()
        steps.append([to_cpu(mesh.vertices.array) - before[0],
                      to_cpu(mesh.textures.array) - before[1]])
    for k, lr in enumerate((lr_vertices, lr_textures)):
        assert (abs(steps[0][k]) > 0.05).all()  # ~ alpha = 0.1 at step 1
        numpy.testing.assert_allclose(steps[1][k], lr * steps[0][k],
                                      rtol=1e-4)


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
    assert mesh.textures.dtype == numpy.float32
    # No textures: Normal() logits, small and not all equal.
    assert (abs(mesh.textures.array) < 0.5).all()
    assert mesh.textures.array.std() > 0


def test_from_arrays_with_logits():
    vertices = numpy.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                           numpy.float32)
    faces = numpy.array([[0, 1, 2], [0, 2, 3]], numpy.int64)
    logits = numpy.random.RandomState(0).randn(2, 3, 3, 3, 3) * 4
    mesh = Mesh.from_arrays(chainer.Variable(vertices), faces, logits)
    assert mesh.texture_size == 3
    assert mesh.textures.dtype == numpy.float32
    numpy.testing.assert_array_equal(mesh.textures.array,
                                     logits.astype(numpy.float32))
    v, f, t = mesh.get_batch(1)
    assert v.shape == (1, 4, 3) and f.shape == (1, 2, 3)
    assert t.shape == (1, 2, 3, 3, 3, 3)
    numpy.testing.assert_allclose(t.array[0], sigmoid(logits), rtol=1e-6,
                                  atol=1e-7)
    # Zero logits: every colour is exactly 0.5.
    mesh = Mesh.from_arrays(vertices, faces, numpy.zeros((2, 2, 2, 2, 3)))
    assert (mesh.get_batch(2)[2].array == 0.5).all()


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


def test_device_moves_and_serialization_keep_faces(tmp_path, xp, device):
    mesh = Mesh(CUBE, texture_size=2)
    mesh.to_device(device)
    assert isinstance(mesh.faces, xp.ndarray)
    path = str(tmp_path / 'mesh.npz')
    serializers.save_npz(path, mesh)
    other = Mesh.from_arrays(numpy.zeros((8, 3)), numpy.zeros((12, 3), 'i'),
                             texture_size=2)
    serializers.load_npz(path, other)
    numpy.testing.assert_array_equal(other.faces, to_cpu(mesh.faces))
    numpy.testing.assert_array_equal(other.vertices.array,
                                     to_cpu(mesh.vertices.array))


def test_to_device_moves_faces(xp, device):
    mesh = Mesh(CUBE, texture_size=2)
    mesh.to_device(device)
    assert isinstance(mesh.faces, xp.ndarray)
    assert isinstance(mesh.vertices.array, xp.ndarray)
    assert isinstance(mesh.textures.array, xp.ndarray)
    vertices, faces, textures = mesh.get_batch(2)
    assert isinstance(faces, xp.ndarray) and faces.shape == (2, 12, 3)
    numpy.testing.assert_allclose(
        to_cpu(textures.array[1]),
        sigmoid(to_cpu(mesh.textures.array)), rtol=1e-6, atol=1e-7)
    F.sum(vertices).backward()
    assert isinstance(mesh.vertices.grad, xp.ndarray)
    # from_arrays on device arrays: Normal() logits on the same device.
    other = Mesh.from_arrays(mesh.vertices.array, mesh.faces)
    assert isinstance(other.textures.array, xp.ndarray)
    assert other.textures.dtype == numpy.float32
    mesh.to_device('@numpy')
    assert isinstance(mesh.faces, numpy.ndarray)
