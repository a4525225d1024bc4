"""Bad input to the rasterizer: clear exceptions naming the argument."""
import sys

import numpy
import pytest

import neural_renderer as nr
import chainer

GOOD = numpy.array([[[[-0.5, -0.5, 1], [0.5, -0.5, 1], [0, 0.5, 1]]]], 'f')


@pytest.mark.parametrize('faces, error, words', [
    (GOOD[0], ValueError, 'faces must have shape [B, F, 3, 3]'),
    (GOOD[..., :2], ValueError, 'faces must have shape [B, F, 3, 3]'),
    (GOOD.astype(numpy.int32), TypeError, 'faces must be float32 or float64'),
    (GOOD[:, :0], ValueError, 'faces: the mesh has no faces'),
    (GOOD[:0], ValueError, 'faces: the batch is empty'),
    ([[1, 2, 3]], TypeError, 'faces must be an array'),
])
def test_bad_faces(xp, faces, error, words):
    if not isinstance(faces, list):
        faces = xp.asarray(faces)
    with pytest.raises(error) as info:
        nr.rasterize_silhouettes(faces, 8)
    assert words in str(info.value)


@pytest.mark.parametrize('value', [numpy.nan, numpy.inf, -numpy.inf])
def test_non_finite_faces(xp, value):
    faces = GOOD.copy()
    faces[0, 0, 1, 0] = value
    with pytest.raises(ValueError, match='faces contain NaN or inf'):
        nr.rasterize_depth(xp.asarray(faces), 8)


@pytest.mark.parametrize('textures, error, words', [
    (numpy.ones((1, 1, 2, 2, 3, 3), 'f'), ValueError, 'textures must have'),
    (numpy.ones((1, 2, 2, 2, 2, 3), 'f'), ValueError, 'textures must have'),
    (numpy.ones((1, 1, 2, 2, 2), 'f'), ValueError, 'textures must have'),
    (numpy.ones((1, 1, 0, 0, 0, 3), 'f'), ValueError, 'T >= 1'),
    (numpy.ones((1, 1, 2, 2, 2, 3)), TypeError, 'dtype of faces'),
    (numpy.full((1, 1, 2, 2, 2, 3), numpy.nan, 'f'), ValueError, 'NaN'),
])
def test_bad_textures(xp, textures, error, words):
    with pytest.raises(error) as info:
        nr.rasterize(xp.asarray(GOOD), xp.asarray(textures), 8)
    assert words in str(info.value)


def test_rgb_needs_textures(xp):
    with pytest.raises(ValueError, match='textures are needed'):
        nr.rasterize_rgbad(xp.asarray(GOOD), None, 8)


@pytest.mark.parametrize('size, error', [
    (0, ValueError), (-3, ValueError), (2.5, TypeError), ('64', TypeError),
    ((8,), ValueError), ((8, 0), ValueError), (True, TypeError),
])
def test_bad_image_size(xp, size, error):
    with pytest.raises(error, match='image_size'):
        nr.rasterize_silhouettes(xp.asarray(GOOD), size)


def test_image_size_too_large_for_memory(xp):
    with pytest.raises(ValueError, match='image_size .* needs about'):
        nr.rasterize_silhouettes(xp.asarray(GOOD), 1 << 20)


@pytest.mark.parametrize('near, far', [(1, 1), (2, 1), (numpy.nan, 1),
                                       (0.1, numpy.inf)])
def test_bad_near_far(xp, near, far):
    with pytest.raises(ValueError, match='near and far'):
        nr.rasterize_silhouettes(xp.asarray(GOOD), 8, near=near, far=far)


def test_bad_background(xp):
    faces = xp.asarray(GOOD)
    textures = xp.ones((1, 1, 2, 2, 2, 3), 'f')
    with pytest.raises(ValueError, match='background_color'):
        nr.rasterize(faces, textures, 8, background_color=(1, 0))
    with pytest.raises(ValueError, match='background_color'):
        nr.rasterize(faces, textures, 8, background_color=xp.zeros((2, 3)))


@pytest.mark.parametrize('light, error, words', [
    (numpy.ones((1, 2, 3), 'f'), ValueError, 'light must have shape'),
    (numpy.ones((1, 1, 4), 'f'), ValueError, 'light must have shape'),
    (numpy.ones((1, 1, 3), 'd'), TypeError, 'dtype'),
    (numpy.full((1, 1, 3), numpy.inf, 'f'), ValueError, 'NaN or inf'),
])
def test_bad_light(xp, light, error, words):
    faces = xp.zeros((1, 1, 3, 3), 'f')
    textures = xp.ones((1, 1, 2, 2, 2, 3), 'f')
    with pytest.raises(error, match=words):
        nr.rasterize_rgbad(faces, textures, 8, light=xp.asarray(light))


def test_fill_back_needs_an_even_number_of_faces_and_half_the_cubes(xp):
    faces = xp.zeros((1, 3, 3, 3), 'f')
    with pytest.raises(ValueError, match='even number'):
        nr.rasterize_rgbad(faces, xp.ones((1, 1, 2, 2, 2, 3), 'f'), 8,
                           fill_back=True)
    faces = xp.zeros((1, 2, 3, 3), 'f')
    with pytest.raises(ValueError, match='F / 2'):
        nr.rasterize_rgbad(faces, xp.ones((1, 2, 2, 2, 2, 3), 'f'), 8,
                           fill_back=True)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('anti_aliasing', [True, False])
@pytest.mark.parametrize('asked', [(False, True, False), (True, False, False),
                                   (False, False, True), (True, True, True)])
def test_memory_estimate_covers_the_measured_peak(dtype, anti_aliasing,
                                                  asked):
    # The pre-flight check must cover the backward pass (the edge scans'
    # planes are its largest part): the estimate is at least the peak that
    # tracemalloc (which sees NumPy's buffers) measures over forward +
    # backward, and not far above it.
    import tracemalloc
    import chainer.functions as F
    from neural_renderer.rasterize import memory_estimate
    from neural_renderer._host_pool import get_host_memory_pool
    size = 128
    rng = numpy.random.RandomState(0)
    centres = rng.uniform(-0.8, 0.8, (1, 200, 1, 2))
    xy = centres + rng.uniform(-0.3, 0.3, (1, 200, 3, 2))
    faces = numpy.concatenate([xy, rng.uniform(1, 3, (1, 200, 3, 1))], 3)
    faces = chainer.Variable(faces.astype(dtype))
    textures = rng.uniform(0, 1, (1, 200, 2, 2, 2, 3)).astype(dtype) \
        if asked[0] else None
    grads = {'rgb': rng.randn(1, 3, size, size).astype(dtype),
             'alpha': rng.randn(1, size, size).astype(dtype),
             'depth': rng.randn(1, size, size).astype(dtype)}
    # Blocks other tests left in the host pool would serve part of this
    # call: start from an empty pool, as a first call does.
    get_host_memory_pool().free_all_blocks()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = nr.rasterize_rgbad(faces, textures, size, anti_aliasing,
                                 return_rgb=asked[0], return_alpha=asked[1],
                                 return_depth=asked[2])
        loss = sum(F.sum(x * grads[key]) for key, x in out.items()
                   if x is not None)
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    estimate = memory_estimate(1, size, anti_aliasing, dtype, *asked)
    # Per-face buffers (faces, their copies and gradients) are not counted.
    per_face = 20 * faces.array.nbytes
    assert peak <= estimate + per_face and estimate <= 1.25 * peak


def test_memory_check_counts_the_backward_pass(monkeypatch):
    # With 64 MiB left, a silhouette of 1024 x 1024 (2048^2 samples) fits
    # for a forward pass alone (12 bytes a sample, 48 MiB) but not with
    # its backward pass (about 39 bytes a sample): refused before anything
    # is allocated, naming image_size.
    rasterize_module = sys.modules['neural_renderer.rasterize']
    monkeypatch.setattr(rasterize_module, '_available_host_memory',
                        lambda: 64 << 20)
    alpha = nr.rasterize_silhouettes(GOOD, 1024)  # no graph: fits
    assert alpha.shape == (1, 1024, 1024)
    with pytest.raises(ValueError, match='image_size 1024x1024 .* needs '
                                         'about 0.1 GiB'):
        nr.rasterize_silhouettes(chainer.Variable(GOOD), 1024)


def test_non_finite_faces_message_locates_the_face(xp):
    faces = numpy.concatenate([GOOD, GOOD, GOOD], axis=1)
    faces = numpy.concatenate([faces, faces])
    faces[1, 2, 0, 2] = numpy.inf
    with pytest.raises(ValueError, match='face 2 of batch item 1'):
        nr.rasterize_silhouettes(xp.asarray(faces), 8)
