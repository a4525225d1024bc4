"""Bad input to the rasterizer: clear exceptions naming the argument."""
import numpy
import pytest

import neural_renderer as nr

GOOD = numpy.array([[[[-0.5, -0.5, 1], [0.5, -0.5, 1], [0, 0.5, 1]]]], 'f')


@pytest.mark.parametrize('faces, error, words', [
    (GOOD[0], ValueError, 'faces must have shape [B, F, 3, 3]'),
    (GOOD[..., :2], ValueError, 'faces must have shape [B, F, 3, 3]'),
    (GOOD.astype(numpy.int32), TypeError, 'faces must be float32 or float64'),
    (GOOD[:, :0], ValueError, 'faces: the mesh has no faces'),
    (GOOD[:0], ValueError, 'faces: the batch is empty'),
    ([[1, 2, 3]], TypeError, 'faces must be an array'),
])
def test_bad_faces(faces, error, words):
    with pytest.raises(error) as info:
        nr.rasterize_silhouettes(faces, 8)
    assert words in str(info.value)


@pytest.mark.parametrize('value', [numpy.nan, numpy.inf, -numpy.inf])
def test_non_finite_faces(value):
    faces = GOOD.copy()
    faces[0, 0, 1, 0] = value
    with pytest.raises(ValueError, match='faces contain NaN or inf'):
        nr.rasterize_depth(faces, 8)


@pytest.mark.parametrize('textures, error, words', [
    (numpy.ones((1, 1, 2, 2, 3, 3), 'f'), ValueError, 'textures must have'),
    (numpy.ones((1, 2, 2, 2, 2, 3), 'f'), ValueError, 'textures must have'),
    (numpy.ones((1, 1, 2, 2, 2), 'f'), ValueError, 'textures must have'),
    (numpy.ones((1, 1, 0, 0, 0, 3), 'f'), ValueError, 'T >= 1'),
    (numpy.ones((1, 1, 2, 2, 2, 3)), TypeError, 'dtype of faces'),
    (numpy.full((1, 1, 2, 2, 2, 3), numpy.nan, 'f'), ValueError, 'NaN'),
])
def test_bad_textures(textures, error, words):
    with pytest.raises(error) as info:
        nr.rasterize(GOOD, textures, 8)
    assert words in str(info.value)


def test_rgb_needs_textures():
    with pytest.raises(ValueError, match='textures are needed'):
        nr.rasterize_rgbad(GOOD, None, 8)


@pytest.mark.parametrize('size, error', [
    (0, ValueError), (-3, ValueError), (2.5, TypeError), ('64', TypeError),
    ((8,), ValueError), ((8, 0), ValueError), (True, TypeError),
])
def test_bad_image_size(size, error):
    with pytest.raises(error, match='image_size'):
        nr.rasterize_silhouettes(GOOD, size)


def test_image_size_too_large_for_memory():
    with pytest.raises(ValueError, match='image_size .* needs about'):
        nr.rasterize_silhouettes(GOOD, 1 << 20)


@pytest.mark.parametrize('near, far', [(1, 1), (2, 1), (numpy.nan, 1),
                                       (0.1, numpy.inf)])
def test_bad_near_far(near, far):
    with pytest.raises(ValueError, match='near and far'):
        nr.rasterize_silhouettes(GOOD, 8, near=near, far=far)


def test_bad_background():
    textures = numpy.ones((1, 1, 2, 2, 2, 3), 'f')
    with pytest.raises(ValueError, match='background_color'):
        nr.rasterize(GOOD, textures, 8, background_color=(1, 0))
    with pytest.raises(ValueError, match='background_color'):
        nr.rasterize(GOOD, textures, 8, background_color=numpy.zeros((2, 3)))


@pytest.mark.parametrize('light, error, words', [
    (numpy.ones((1, 2, 3), 'f'), ValueError, 'light must have shape'),
    (numpy.ones((1, 1, 4), 'f'), ValueError, 'light must have shape'),
    (numpy.ones((1, 1, 3), 'd'), TypeError, 'dtype'),
    (numpy.full((1, 1, 3), numpy.inf, 'f'), ValueError, 'NaN or inf'),
])
def test_bad_light(light, error, words):
    faces = numpy.zeros((1, 1, 3, 3), 'f')
    textures = numpy.ones((1, 1, 2, 2, 2, 3), 'f')
    with pytest.raises(error, match=words):
        nr.rasterize_rgbad(faces, textures, 8, light=light)


def test_fill_back_needs_an_even_number_of_faces_and_half_the_cubes():
    faces = numpy.zeros((1, 3, 3, 3), 'f')
    with pytest.raises(ValueError, match='even number'):
        nr.rasterize_rgbad(faces, numpy.ones((1, 1, 2, 2, 2, 3), 'f'), 8,
                           fill_back=True)
    faces = numpy.zeros((1, 2, 3, 3), 'f')
    with pytest.raises(ValueError, match='F / 2'):
        nr.rasterize_rgbad(faces, numpy.ones((1, 2, 2, 2, 2, 3), 'f'), 8,
                           fill_back=True)
