"""Forward rasterization against the brute-force reference in the tests."""
import numpy
import pytest

import neural_renderer as nr
import chainer

import reference_rasterizer as ref
from backends import to_cpu


def random_soup(rng, num_faces, dtype=numpy.float32):
    """Triangles over the screen (some off-screen), depths in [1, 5]."""
    centres = rng.uniform(-1.2, 1.2, (num_faces, 1, 2))
    xy = centres + rng.uniform(-0.5, 0.5, (num_faces, 3, 2))
    z = rng.uniform(1, 5, (num_faces, 3, 1))
    return numpy.concatenate([xy, z], axis=2).astype(dtype)


def random_textures(rng, num_faces, size, dtype=numpy.float32):
    return rng.uniform(0, 1, (num_faces, size, size, size, 3)).astype(dtype)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('shape', [(16, 16), (12, 20), (21, 9)])
def test_soup_matches_reference(xp, dtype, shape):
    rng = numpy.random.RandomState(sum(shape))
    faces = random_soup(rng, 60, dtype)
    textures = random_textures(rng, 60, 3, dtype)
    height, width = shape
    out = nr.rasterize_rgbad(xp.asarray(faces[None]),
                             xp.asarray(textures[None]), image_size=shape,
                             anti_aliasing=False,
                             background_color=(0.2, 0.3, 0.4))
    face_index, depth, rgb = ref.rasterize(faces, height, width, textures,
                                           background=(0.2, 0.3, 0.4))
    assert out['rgb'].shape == (1, 3, height, width)
    numpy.testing.assert_array_equal(to_cpu(out['alpha'].array)[0],
                                     (face_index >= 0).astype(dtype))
    numpy.testing.assert_allclose(to_cpu(out['depth'].array)[0], depth,
                                  rtol=1e-5, atol=1e-4)
    numpy.testing.assert_allclose(to_cpu(out['rgb'].array)[0], rgb,
                                  atol=1e-5)


def edge_test_coverage(face, height, width, dtype):
    """Centres [H, W] that pass the kernels' edge test, evaluated exactly as
    they do in dtype (each edge value area2(p, v[k+1], v[k+2]), no fused
    multiply-add), at every pixel centre: what scanning the whole bounding
    box would draw."""
    x, y = face[:, 0].astype(dtype), face[:, 1].astype(dtype)
    px = (numpy.arange(width, dtype=dtype) * 2 + dtype(1 - width)) / dtype(
        width)
    py = (dtype(height - 1) - numpy.arange(height, dtype=dtype) * 2) / dtype(
        height)
    px, py = numpy.meshgrid(px, py)
    inside = numpy.ones((height, width), bool)
    for k in range(3):
        k1, k2 = (k + 1) % 3, (k + 2) % 3
        e = (x[k1] - px) * (y[k2] - py) - (x[k2] - px) * (y[k1] - py)
        inside &= e >= 0
    return inside


def hard_faces(rng, count):
    """Counter-clockwise faces at z = 2 that stress per-row spans: edges
    through pixel centres, nearly horizontal and nearly vertical edges,
    slivers, subpixel faces, and faces reaching far off-screen."""
    faces = []
    while len(faces) < count:
        kind = len(faces) % 6
        if kind == 0:  # vertices on a coarse grid of pixel centres/edges
            xy = rng.randint(-8, 9, (3, 2)) / 8.
        elif kind == 1:  # nearly horizontal edge
            xy = rng.uniform(-1, 1, (3, 2))
            xy[1, 1] = xy[0, 1] + rng.choice([0, 1e-7, -1e-7, 1e-4])
        elif kind == 2:  # nearly vertical edge
            xy = rng.uniform(-1, 1, (3, 2))
            xy[1, 0] = xy[0, 0] + rng.choice([0, 1e-7, -1e-7, 1e-4])
        elif kind == 3:  # sliver
            a, b = rng.uniform(-1.2, 1.2, (2, 2))
            xy = numpy.array([a, b, (a + b) / 2 + rng.normal(0, 1e-3, 2)])
        elif kind == 4:  # subpixel
            xy = rng.uniform(-1, 1, (1, 2)) + rng.uniform(-0.02, 0.02, (3, 2))
        else:  # huge, mostly off-screen (up to overflowing float32 area)
            xy = rng.uniform(-1, 1, (3, 2)) * 10. ** rng.randint(1, 25)
        area = ((xy[1, 0] - xy[0, 0]) * (xy[2, 1] - xy[0, 1]) -
                (xy[2, 0] - xy[0, 0]) * (xy[1, 1] - xy[0, 1]))
        if area < 0:
            xy = xy[::-1]
        faces.append(numpy.concatenate([xy, numpy.full((3, 1), 2.)], 1))
    return numpy.array(faces)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_drawn_pixels_are_the_centres_passing_the_edge_test(xp, dtype):
    # rasterize_faces scans only the span of each row that may be inside;
    # it must draw exactly the centres a test of every centre accepts.
    height, width = 24, 40
    faces = hard_faces(numpy.random.RandomState(7), 300).astype(dtype)
    alpha = to_cpu(nr.rasterize_silhouettes(xp.asarray(faces[:, None]),
                                            image_size=(height, width),
                                            anti_aliasing=False).array)
    drawn = 0
    for face, image in zip(faces, alpha):
        x, y = face[:, 0], face[:, 1]
        with numpy.errstate(over='ignore', invalid='ignore'):
            area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (
                y[1] - y[0])
            expected = edge_test_coverage(face, height, width, dtype) & (
                area > 0)
        numpy.testing.assert_array_equal(image, expected.astype(dtype))
        drawn += expected.any()
    assert drawn > 150


def test_pixel_centre_and_row_order(xp):
    # A triangle in the upper-left quadrant appears at the top-left of the
    # image (row 0 is the top, y up), covering exactly the centres inside it.
    faces = xp.asarray([[[[-1, 0, 2], [0, 1, 2], [-1, 1, 2]]]], 'f')
    # Counter-clockwise? (0 - -1) * (1 - 0) - (-1 - -1) * (1 - 0) = 1 > 0.
    alpha = to_cpu(nr.rasterize_silhouettes(faces, image_size=4,
                                            anti_aliasing=False).array)[0]
    # Centres at +-0.25, +-0.75: inside when x <= y - 1 + ... i.e. the
    # triangle x >= -1, y <= 1, y >= x + 1.
    expected = numpy.array([[1, 1, 0, 0],
                            [1, 0, 0, 0],
                            [0, 0, 0, 0],
                            [0, 0, 0, 0]], 'f')
    numpy.testing.assert_array_equal(alpha, expected)


def test_back_and_degenerate_faces_are_not_drawn(xp):
    front = [[-0.5, -0.5, 1], [0.5, -0.5, 1], [0, 0.5, 1]]
    back = [front[0], front[2], front[1]]
    line = [[-0.5, -0.5, 1], [0, 0, 1], [0.5, 0.5, 1]]
    point = [[0.1, 0.1, 1]] * 3
    faces = xp.asarray([[back, line, point]], 'f')
    out = nr.rasterize_rgbad(faces, image_size=16, anti_aliasing=False,
                             return_rgb=False)
    assert to_cpu(out['alpha'].array).sum() == 0
    assert (to_cpu(out['depth'].array) == 100).all()
    faces = xp.asarray([[front]], 'f')
    assert to_cpu(nr.rasterize_silhouettes(faces, 16, False).array).sum() > 0


def test_near_far_clip_per_pixel(xp):
    # A slanted face from depth 0.05 to 2: pixels nearer than near = 0.5 are
    # not drawn, the others are, with perspective-correct depth.
    faces = numpy.array([[[[-1, -1, 0.05], [1, -1, 0.05], [0, 1, 2.]]]])
    out = nr.rasterize_rgbad(xp.asarray(faces), image_size=32,
                             anti_aliasing=False, near=0.5, far=1.5,
                             return_rgb=False)
    face_index, depth, _ = ref.rasterize(faces[0], 32, 32, near=0.5, far=1.5)
    numpy.testing.assert_array_equal(to_cpu(out['alpha'].array)[0],
                                     face_index >= 0)
    numpy.testing.assert_allclose(to_cpu(out['depth'].array)[0], depth,
                                  rtol=1e-12)
    assert 0 < (face_index >= 0).sum() < 32 * 32 / 2


def test_ties_go_to_lower_face_index(xp):
    face = [[-0.8, -0.8, 1.], [0.8, -0.8, 1.], [0., 0.8, 1.]]
    faces = numpy.array([[face, face]], 'f')
    textures = numpy.zeros((1, 2, 1, 1, 1, 3), 'f')
    textures[0, 0, ..., 0] = 1   # face 0 red
    textures[0, 1, ..., 2] = 1   # face 1 blue
    rgb = to_cpu(nr.rasterize(xp.asarray(faces), xp.asarray(textures), 8,
                              False).array)[0]
    drawn = rgb.sum(axis=0) > 0
    assert drawn.any()
    assert (rgb[0][drawn] == 1).all() and (rgb[2][drawn] == 0).all()


def test_batch_items_are_independent(xp):
    rng = numpy.random.RandomState(3)
    faces = numpy.stack([random_soup(rng, 40), random_soup(rng, 40)])
    textures = numpy.stack([random_textures(rng, 40, 2),
                            random_textures(rng, 40, 2)])
    both = nr.rasterize_rgbad(xp.asarray(faces), xp.asarray(textures), 24,
                              anti_aliasing=True)
    for b in range(2):
        one = nr.rasterize_rgbad(xp.asarray(faces[b:b + 1]),
                                 xp.asarray(textures[b:b + 1]), 24,
                                 anti_aliasing=True)
        for key in ('rgb', 'alpha', 'depth'):
            numpy.testing.assert_array_equal(to_cpu(both[key].array)[b],
                                             to_cpu(one[key].array)[0])
    # ... and batch 1 differs from batch 0 (the original's depth bug made
    # every item use batch 0's depths in texture sampling).
    rgb = to_cpu(both['rgb'].array)
    assert not numpy.array_equal(rgb[0], rgb[1])


def test_background_per_batch_item(xp):
    faces = xp.zeros((2, 1, 3, 3), 'f')  # degenerate: nothing drawn
    textures = xp.zeros((2, 1, 1, 1, 1, 3), 'f')
    background = numpy.array([[1, 0, 0], [0, 0.5, 1]], 'f')
    rgb = nr.rasterize(faces, textures, 4, False,
                       background_color=xp.asarray(background))
    numpy.testing.assert_array_equal(
        to_cpu(rgb.array), numpy.broadcast_to(background[:, :, None, None],
                                              (2, 3, 4, 4)))


def test_anti_aliasing_is_2x_then_2x2_mean(xp):
    # As in the original package, the faces are rendered at 2H x 2W with x
    # scaled by (2W - 1) / (2W - 2) and y by (2H - 1) / (2H - 2) (here 27 /
    # 26 and 19 / 18), then averaged over 2x2 blocks; z is not scaled.
    rng = numpy.random.RandomState(5)
    faces = random_soup(rng, 30)[None]
    textures = random_textures(rng, 30, 2)[None]
    aa = nr.rasterize_rgbad(xp.asarray(faces), xp.asarray(textures),
                            (10, 14), anti_aliasing=True)
    scaled = (faces * numpy.array([27. / 26., 19. / 18., 1.])).astype(
        faces.dtype)
    big = nr.rasterize_rgbad(xp.asarray(scaled), xp.asarray(textures),
                             (20, 28), anti_aliasing=False)
    for key in ('rgb', 'alpha', 'depth'):
        numpy.testing.assert_allclose(to_cpu(aa[key].array),
                                      ref.average_2x2(to_cpu(big[key].array)),
                                      rtol=1e-6)


def test_anti_aliasing_aligns_the_outermost_samples_with_pixel_centres(xp):
    # A 4 x 4 image, 8 x 8 samples. With the original's scale (7 / 6) the
    # outermost sample centres, x = +-7/8 before scaling, see the points
    # x = +-(7/8) (6/7) = +-3/4: the outermost pixel centres of the 4 x 4
    # image. A face whose right edge is the vertical line x = 0.74 leaves
    # column 7's samples (scaled edge at 0.863 < 0.875) out; at 0.76 it
    # covers them (0.887). Without the scale both would cover column 6
    # only (0.625 < 0.74 < 0.76 < 0.875).
    def right_column_coverage(edge_x):
        faces = xp.asarray([[[[-0.9, -0.9, 1.], [edge_x, -0.9, 1.],
                              [edge_x, 0.9, 1.]]]])
        alpha = to_cpu(nr.rasterize_silhouettes(faces, 4).array)[0]
        return alpha[1, 3]
    assert right_column_coverage(0.74) == 0.5   # 2 of 4 samples: col 6
    assert right_column_coverage(0.76) == 1.0   # all 4: cols 6 and 7


def test_texture_sampling_perspective_correct(xp):
    # A face whose vertex depths differ: texel coordinates come from the
    # perspective-corrected weights w_k * depth / z_k.
    faces = numpy.array([[[-0.9, -0.9, 1.], [0.9, -0.9, 4.],
                          [0., 0.9, 2.]]])
    rng = numpy.random.RandomState(0)
    textures = rng.uniform(0, 1, (1, 4, 4, 4, 3))
    rgb = to_cpu(nr.rasterize(xp.asarray(faces[None]),
                              xp.asarray(textures[None]), 16,
                              False).array)[0]
    _, _, expected = ref.rasterize(faces, 16, 16, textures)
    numpy.testing.assert_allclose(rgb, expected, atol=1e-12)


def test_returns_only_what_is_asked(xp):
    faces = xp.asarray([[[[-0.5, -0.5, 1], [0.5, -0.5, 1], [0, 0.5, 1]]]],
                       'f')
    textures = xp.ones((1, 1, 2, 2, 2, 3), 'f')
    out = nr.rasterize_rgbad(faces, textures, 8, return_rgb=False,
                             return_depth=False)
    assert out['rgb'] is None and out['depth'] is None
    assert out['alpha'].shape == (1, 8, 8)
    assert isinstance(out['alpha'], chainer.Variable)
    assert isinstance(out['alpha'].array, xp.ndarray)


def test_faces_behind_or_crossing_the_camera_plane_are_not_drawn(xp):
    behind = [[-0.9, -0.9, -1.], [0.9, -0.9, -2.], [0., 0.9, -1.]]
    crossing = [[-0.9, -0.9, 2.], [0.9, -0.9, 2.], [0., 0.9, -0.5]]
    faces = xp.asarray([[behind, crossing]])
    out = nr.rasterize_rgbad(faces, image_size=16, anti_aliasing=False,
                             return_rgb=False)
    assert to_cpu(out['alpha'].array).sum() == 0
    # With a negative near (orthographic use) the same faces are drawable.
    out = nr.rasterize_rgbad(faces, image_size=16, anti_aliasing=False,
                             near=-10, return_rgb=False)
    assert to_cpu(out['alpha'].array).sum() > 0


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('anti_aliasing', [False, True])
@pytest.mark.parametrize('fill_back', [False, True])
def test_forward_only_path_equals_the_differentiable_one(xp, dtype,
                                                         anti_aliasing,
                                                         fill_back):
    # Without a graph to build, the kernels write the (averaged) maps
    # directly; with one, the 2x maps go through the Rasterize node and
    # average_2x2. Same bits either way, for every subset of maps asked for.
    rng = numpy.random.RandomState(7)
    faces = random_soup(rng, 40, dtype)
    textures = random_textures(rng, 20 if fill_back else 40, 3, dtype)
    if fill_back:
        faces = numpy.concatenate([faces[:20], faces[:20, ::-1]])
    light = rng.uniform(0.2, 1.5, (1, 40, 3)).astype(dtype)
    background = rng.uniform(0, 1, (2, 3))
    faces = xp.asarray(numpy.ascontiguousarray(
        numpy.stack([faces, faces[::-1]])))
    textures = xp.asarray(numpy.stack([textures, textures[::-1]]))
    light = xp.asarray(numpy.concatenate([light, light[:, ::-1]]))
    background = xp.asarray(background)
    for asked in [(True, True, True), (True, False, False),
                  (False, True, False), (False, False, True)]:
        kwargs = dict(image_size=(13, 17), anti_aliasing=anti_aliasing,
                      background_color=background, return_rgb=asked[0],
                      return_alpha=asked[1], return_depth=asked[2],
                      light=light, fill_back=fill_back)
        direct = nr.rasterize_rgbad(faces, textures, **kwargs)
        faces_v = chainer.Variable(faces)
        graph = nr.rasterize_rgbad(faces_v, textures, **kwargs)
        assert any(v is not None and v.creator is not None
                   for v in graph.values())
        for key, wanted in zip(('rgb', 'alpha', 'depth'), asked):
            if not wanted:
                assert direct[key] is None and graph[key] is None
                continue
            assert direct[key].creator is None
            assert direct[key].dtype == dtype
            numpy.testing.assert_array_equal(to_cpu(direct[key].array),
                                             to_cpu(graph[key].array))
        with chainer.no_backprop_mode():
            no_backprop = nr.rasterize_rgbad(faces_v, textures, **kwargs)
        for key, wanted in zip(('rgb', 'alpha', 'depth'), asked):
            if wanted:
                assert no_backprop[key].creator is None
                numpy.testing.assert_array_equal(
                    to_cpu(no_backprop[key].array), to_cpu(graph[key].array))
