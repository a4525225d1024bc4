"""The reconstruction data: the loader of the authors' file format, the
synthetic generator that writes it, and the conventions they share (view
k's camera, the voxel layout)."""
import os
import sys
import zipfile

import numpy
import pytest

import neural_renderer as nr

RECONSTRUCTION = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              '..', '..', 'examples', 'reconstruction')
sys.path.insert(0, RECONSTRUCTION)

import dataset  # NOQA: E402
import make_synthetic  # NOQA: E402

CHAIR, AIRPLANE = '03001627', '02691156'
SEED = 3
COUNTS = {'train': 2, 'val': 1, 'test': 1}


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    """A tiny synthetic data set: chair and airplane, 2/1/1 objects, not
    stretched (the layout checks below compare voxels and silhouettes at
    thresholds that parts thinner than a pixel would miss)."""
    path = str(tmp_path_factory.mktemp('synthetic'))
    written = make_synthetic.generate(path, COUNTS, 'chair,airplane',
                                      seed=SEED, progress=False, stretch=0)
    return path, written


def write_npz(path, array, name=None):
    if name is None:
        numpy.savez_compressed(path, array)
    else:
        numpy.savez_compressed(path, **{name: array})


def write_class(directory, class_id, split, n, rng):
    images = rng.integers(0, 256, (n, 24, 4, 64, 64), dtype=numpy.uint8)
    voxels = rng.uniform(size=(n, 32, 32, 32)) < 0.3
    write_npz(dataset.image_path(directory, class_id, split), images)
    write_npz(dataset.voxel_path(directory, class_id, split), voxels)
    return images, voxels


def binary_iou(a, b):
    # Anti-aliased alpha takes values k / 4; 0.4 sits between 1/4 and 2/4
    # and clear of 128 / 255 in the stored uint8.
    a, b = a > 0.4, b > 0.4
    return (a & b).sum() / float((a | b).sum())


def dilate(mask):
    """3 x 3 binary dilation."""
    padded = numpy.pad(mask, 1)
    h, w = mask.shape
    return numpy.any([padded[i:i + h, j:j + w] for i in range(3)
                      for j in range(3)], axis=0)


def project(points, eye, size=64):
    """Pixel (row, column) of world points [N, 3] seen from ``eye`` with the
    data's camera (the README's pixel-centre convention)."""
    v = nr.perspective(nr.look_at(points[None].astype(numpy.float32), eye),
                       angle=15).array[0]
    column = numpy.round((v[:, 0] * size + size - 1) / 2).astype(int)
    row = numpy.round((size - 1 - v[:, 1] * size) / 2).astype(int)
    return row, column


# -- constants and conventions ---------------------------------------------

def test_the_13_classes_in_the_papers_order():
    assert dataset.CLASSES == (
        ('02691156', 'airplane'), ('02828884', 'bench'),
        ('02933112', 'dresser'), ('02958343', 'car'), ('03001627', 'chair'),
        ('03211117', 'display'), ('03636649', 'lamp'),
        ('03691459', 'speaker'), ('04090263', 'rifle'),
        ('04256520', 'sofa'), ('04379243', 'table'), ('04401088', 'phone'),
        ('04530566', 'vessel'))
    assert dataset.parse_class_ids('chair, 02691156') == (CHAIR, AIRPLANE)
    assert dataset.parse_class_ids(None) == dataset.CLASS_IDS
    with pytest.raises(ValueError, match='class_ids: unknown class'):
        dataset.parse_class_ids(['chair', 'bicycle'])
    with pytest.raises(ValueError, match='given twice'):
        dataset.parse_class_ids('chair,03001627')
    with pytest.raises(ValueError, match='at least one'):
        dataset.parse_class_ids('')


def test_view_k_is_rendered_from_azimuth_minus_15k():
    assert dataset.VIEW_AZIMUTHS == tuple(15. * k for k in range(24))
    eyes = dataset.view_eyes(numpy.arange(24))
    assert eyes.dtype == numpy.float32 and eyes.shape == (24, 3)
    for k in range(24):
        expected = nr.get_points_from_angles(2.732, 30, -15 * k)
        numpy.testing.assert_allclose(dataset.view_eyes(k), expected,
                                      atol=1e-12)
        numpy.testing.assert_allclose(eyes[k], expected, atol=1e-6)
    # In world terms: view 0 from -z, view 6 from -x, view 18 from +x.
    flat = 2.732 * numpy.cos(numpy.radians(30))
    numpy.testing.assert_allclose(eyes[[0, 6, 18], 0], [0, -flat, flat],
                                  atol=1e-5)
    numpy.testing.assert_allclose(eyes[[0, 6, 18], 2], [-flat, 0, 0],
                                  atol=1e-5)
    with pytest.raises(ValueError, match='view_ids'):
        dataset.view_eyes(24)
    with pytest.raises(ValueError, match='view_ids'):
        dataset.view_eyes(numpy.array([0, -1]))


def test_voxel_layout_is_the_reference_one():
    # The reference: vertex v maps to grid coordinate 32 (v 31/32 + 0.5) on
    # each axis, and the stored grid is [y, x, -z] of the mesh axes.
    rng = numpy.random.default_rng(0)
    points = rng.uniform(-0.5, 0.5, (200, 3))
    g = numpy.floor(32 * (points * 31 / 32 + 0.5)).astype(int)
    expected = numpy.stack((g[:, 1], g[:, 0], 31 - g[:, 2]), axis=1)
    numpy.testing.assert_array_equal(
        dataset.points_to_voxel_indices(points), expected)
    # Each voxel centre lies in its own voxel, 1/31 from its neighbours.
    centres = dataset.voxel_centres()
    a, b, c = numpy.meshgrid(*[numpy.arange(32)] * 3, indexing='ij')
    numpy.testing.assert_array_equal(
        dataset.points_to_voxel_indices(centres),
        numpy.stack((a, b, c), axis=-1))
    numpy.testing.assert_allclose(centres[0, 0, 0], [-0.5, -0.5, 0.5])
    numpy.testing.assert_allclose(centres[31, 31, 31], [0.5, 0.5, -0.5])
    # An [x, y, z] grid becomes what the authors' transpose(0, 2, 1, 3)
    # [:, :, :, ::-1] makes of a batch of such grids.
    grids = rng.uniform(size=(2, 32, 32, 32)) < 0.5
    numpy.testing.assert_array_equal(
        dataset.xyz_grid_to_voxels(grids),
        grids.transpose((0, 2, 1, 3))[:, :, :, ::-1])


# -- the loader, on files written here -------------------------------------

def test_load_split_concatenates_classes_and_scales_images(tmp_path):
    rng = numpy.random.default_rng(1)
    chairs = write_class(str(tmp_path), CHAIR, 'val', 3, rng)
    planes = write_class(str(tmp_path), AIRPLANE, 'val', 2, rng)
    images, voxels, labels = dataset.load_split(
        str(tmp_path), ['chair', 'airplane'], 'val')
    assert images.dtype == numpy.float32
    assert images.shape == (5, 24, 4, 64, 64)
    raw = numpy.concatenate((chairs[0], planes[0]))
    numpy.testing.assert_array_equal(images, raw.astype(numpy.float32) / 255)
    assert images.min() == 0 and images.max() == 1
    assert voxels.dtype == numpy.bool_ and voxels.shape == (5, 32, 32, 32)
    numpy.testing.assert_array_equal(
        voxels, numpy.concatenate((chairs[1], planes[1])))
    assert labels.dtype == numpy.int32
    assert labels.tolist() == [0, 0, 0, 1, 1]
    # The order of class_ids decides the order of objects and labels.
    images, _, labels = dataset.load_split(
        str(tmp_path), [AIRPLANE, CHAIR], 'val', as_float=False)
    assert images.dtype == numpy.uint8
    numpy.testing.assert_array_equal(images[:2], planes[0])
    assert labels.tolist() == [0, 0, 1, 1, 1]


def test_load_split_errors_name_the_file_and_what_was_expected(tmp_path):
    d = str(tmp_path)
    rng = numpy.random.default_rng(2)
    with pytest.raises(FileNotFoundError, match='data_dir'):
        dataset.load_split(os.path.join(d, 'nowhere'), 'chair', 'train')
    with pytest.raises(FileNotFoundError, match='03001627_train_images.npz'):
        dataset.load_split(d, 'chair', 'train')
    with pytest.raises(ValueError, match='split'):
        dataset.load_split(d, 'chair', 'training')
    with pytest.raises(ValueError, match='class_ids'):
        dataset.load_split(d, 'bicycle', 'train')

    images_path = dataset.image_path(d, CHAIR, 'train')
    voxels_path = dataset.voxel_path(d, CHAIR, 'train')
    write_npz(images_path, numpy.zeros((2, 24, 4, 64, 64), numpy.uint8))
    with pytest.raises(FileNotFoundError, match='03001627_train_voxels'):
        dataset.load_split(d, 'chair', 'train')

    bad = [
        (images_path, numpy.zeros((2, 24, 4, 64, 64), numpy.float32), None,
         r'images\.npz: expected uint8 \[N, 24, 4, 64, 64\], got float32'),
        (images_path, numpy.zeros((2, 24, 3, 64, 64), numpy.uint8), None,
         r'images\.npz: expected uint8 \[N, 24, 4, 64, 64\]'),
        (images_path, numpy.zeros((2, 24, 4, 64, 64), numpy.uint8), 'images',
         r'images\.npz: expected one unnamed array \(arr_0\)'),
        (voxels_path, numpy.zeros((2, 32, 32, 32), numpy.uint8), None,
         r'voxels\.npz: expected bool \[N, 32, 32, 32\], got uint8'),
        (voxels_path, numpy.zeros((3, 32, 32, 32), bool), None,
         'same number of objects, got 2 images and 3 voxel grids'),
    ]
    for path, array, name, message in bad:
        write_class(d, CHAIR, 'train', 2, rng)
        write_npz(path, array, name)
        with pytest.raises(ValueError, match=message):
            dataset.load_split(d, 'chair', 'train')

    write_class(d, CHAIR, 'train', 2, rng)
    with open(voxels_path, 'w') as f:
        f.write('not a zip file')
    with pytest.raises(ValueError, match=r'voxels\.npz: cannot read'):
        dataset.load_split(d, 'chair', 'train')


def test_view_pair_sampler_is_deterministic_for_a_seed():
    rng = numpy.random.default_rng(3)
    images = rng.integers(0, 256, (5, 24, 4, 8, 8), dtype=numpy.uint8)
    first = dataset.ViewPairSampler(images, seed=7)
    a, b, views_a, views_b, objects = first.sample(16)
    assert a.shape == b.shape == (16, 4, 8, 8) and a.dtype == numpy.float32
    assert views_a.dtype == views_b.dtype == numpy.int32
    assert views_a.min() >= 0 and views_a.max() < 24
    numpy.testing.assert_array_equal(
        a, images[objects, views_a].astype(numpy.float32) / 255)
    numpy.testing.assert_array_equal(
        b, images[objects, views_b].astype(numpy.float32) / 255)
    assert (views_a != views_b).any()  # two independent views
    second = dataset.ViewPairSampler(images, seed=7).sample(16)
    for x, y in zip((a, b, views_a, views_b, objects), second):
        numpy.testing.assert_array_equal(x, y)
    other = dataset.ViewPairSampler(images, seed=8).sample(16)
    assert not numpy.array_equal(other[2], views_a)
    with pytest.raises(ValueError, match='batch_size'):
        first.sample(0)
    with pytest.raises(ValueError, match='images'):
        dataset.ViewPairSampler(images[:, :12])


def test_iterate_views_covers_every_object_and_view_in_order():
    images = numpy.arange(3 * 24 * 4 * 2 * 2, dtype=numpy.uint8).reshape(
        3, 24, 4, 2, 2)
    batches = list(dataset.iterate_views(images, 50))
    assert [len(b[0]) for b in batches] == [50, 22]
    objects = numpy.concatenate([b[1] for b in batches])
    views = numpy.concatenate([b[2] for b in batches])
    numpy.testing.assert_array_equal(objects, numpy.repeat(numpy.arange(3),
                                                           24))
    numpy.testing.assert_array_equal(views, numpy.tile(numpy.arange(24), 3))
    numpy.testing.assert_array_equal(
        batches[1][0][-1], images[2, 23].astype(numpy.float32) / 255)


# -- the generator ---------------------------------------------------------

def test_generator_writes_the_authors_format(generated):
    path, written = generated
    names = sorted('%s_%s_%s.npz' % (c, s, kind) for c in (CHAIR, AIRPLANE)
                   for s in COUNTS for kind in ('images', 'voxels'))
    assert sorted(os.listdir(path)) == names
    assert sorted(os.path.basename(w) for w in written) == names
    for class_id in (CHAIR, AIRPLANE):
        for split, n in COUNTS.items():
            for p, dtype, shape in (
                    (dataset.image_path(path, class_id, split), numpy.uint8,
                     (n, 24, 4, 64, 64)),
                    (dataset.voxel_path(path, class_id, split), numpy.bool_,
                     (n, 32, 32, 32))):
                with zipfile.ZipFile(p) as z:
                    assert [i.filename for i in z.infolist()] == \
                        ['arr_0.npy']
                    assert z.infolist()[0].compress_type == \
                        zipfile.ZIP_DEFLATED
                with numpy.load(p) as npz:
                    array = npz['arr_0']
                assert array.dtype == dtype and array.shape == shape
    images, voxels, labels = dataset.load_split(path, 'chair,airplane',
                                                'train')
    assert images.shape == (4, 24, 4, 64, 64) and labels.tolist() == \
        [0, 0, 1, 1]
    alpha = images[:, :, 3]
    # Soft alpha (anti-aliased edges), RGB only where the object is.
    assert ((alpha > 0) & (alpha < 1)).any()
    assert (images[:, :, :3].max(axis=2) <= alpha + 1 / 255.).all()
    assert (alpha > 0.5).mean() > 0.02 and voxels.mean() > 0.005


def test_generator_is_deterministic_for_a_seed(generated, tmp_path):
    path, _ = generated
    # The same seed gives the same objects, whatever other classes and
    # split sizes are asked for.
    make_synthetic.generate(str(tmp_path), {'train': 1}, [CHAIR],
                            seed=SEED, progress=False, stretch=0)
    for kind in ('images', 'voxels'):
        with numpy.load(os.path.join(path, '%s_train_%s.npz' % (
                CHAIR, kind))) as a, numpy.load(os.path.join(
                    str(tmp_path), '%s_train_%s.npz' % (CHAIR, kind))) as b:
            numpy.testing.assert_array_equal(a['arr_0'][:1], b['arr_0'])
    images, voxels, _ = make_synthetic.generate_object(CHAIR, 'train', 0,
                                                       seed=SEED + 1)
    stored = dataset.load_split(path, 'chair', 'train', as_float=False)
    assert not numpy.array_equal(images, stored[0][0])
    assert not numpy.array_equal(voxels, stored[1][0])


def test_stored_image_k_is_the_mesh_seen_from_view_k(generated):
    # Renders each stored object's mesh again, with a renderer set up here
    # from the reference's numbers, at azimuth -15 k; the opposite sign
    # must not match (these objects are not symmetric front to back).
    path, _ = generated
    renderer = nr.Renderer()
    renderer.image_size = 64
    renderer.viewing_angle = 15
    n = 24
    worst_wrong_sign = []
    for label, class_id in enumerate((CHAIR, AIRPLANE)):
        images, _, _ = dataset.load_split(path, [class_id], 'test')
        shape = make_synthetic.make_shape(class_id, make_synthetic.object_rng(
            SEED, class_id, 'test', 0), stretch=0)
        vertices, faces, _ = shape.mesh()
        vertices = numpy.ascontiguousarray(
            numpy.broadcast_to(vertices, (n,) + vertices.shape))
        faces = numpy.ascontiguousarray(
            numpy.broadcast_to(faces, (n,) + faces.shape))
        for sign in (-1, 1):
            renderer.eye = nr.get_points_from_angles(
                numpy.full(n, 2.732), numpy.full(n, 30.),
                sign * 15. * numpy.arange(n))
            silhouettes = renderer.render_silhouettes(vertices, faces).array
            ious = [binary_iou(silhouettes[k], images[0, k, 3])
                    for k in range(n)]
            if sign == -1:
                assert min(ious) > 0.9, (class_id, ious)
            else:
                worst_wrong_sign.append(min(ious))
    assert max(worst_wrong_sign) < 0.7, worst_wrong_sign


def voxel_scores(voxels, alpha, k):
    """(precision, recall) of the occupied voxel centres projected into view
    k against alpha > 0.4, each side dilated by a pixel (a voxel is 1.4
    pixels wide). Voxels projecting outside the image (an object reaching
    a corner of its cube can leave the frame, as in the authors' views)
    are not counted."""
    row, column = project(dataset.voxel_centres()[voxels],
                          dataset.view_eyes(k))
    seen = (row >= 0) & (row < 64) & (column >= 0) & (column < 64)
    assert seen.mean() > 0.9
    row, column = row[seen], column[seen]
    mask = alpha > 0.4
    precision = dilate(mask)[row, column].mean()
    hit = numpy.zeros_like(mask)
    hit[row, column] = True
    return precision, dilate(hit)[mask].mean()


def test_voxels_match_the_silhouettes_of_all_views(generated):
    path, _ = generated
    images, voxels, labels = dataset.load_split(path, 'chair,airplane',
                                                'train')
    for i in range(len(images)):
        for k in range(24):
            precision, recall = voxel_scores(voxels[i], images[i, k, 3], k)
            assert precision > 0.9 and recall > 0.9, (i, k, precision,
                                                      recall)
    # Another layout does not fit: the z flip or the x-y transpose missing.
    chair = voxels[0]
    for wrong in (chair[:, :, ::-1], chair.transpose(1, 0, 2)):
        scores = [voxel_scores(wrong, images[0, k, 3], k) for k in range(24)]
        assert min(min(s) for s in scores) < 0.8


def test_stretch_scales_each_axis_by_its_factor():
    # The default objects are the classes' procedures stretched along x, y
    # and z by exp(U(-1, 1)) drawn after the procedure's own numbers.
    for class_id in (CHAIR, AIRPLANE, '04401088'):
        def extents(stretch):
            rng = make_synthetic.object_rng(SEED, class_id, 'train', 4)
            vertices = make_synthetic.make_shape(class_id, rng,
                                                 stretch).mesh()[0]
            return vertices.max(axis=0) - vertices.min(axis=0), rng
        plain, _ = extents(0)
        stretched, _ = extents(make_synthetic.DEFAULT_STRETCH)
        rng = make_synthetic.object_rng(SEED, class_id, 'train', 4)
        make_synthetic.MAKERS[class_id](rng)
        factors = numpy.exp(rng.uniform(-1, 1, 3))
        ratio = stretched / plain
        numpy.testing.assert_allclose(ratio / ratio.max(),
                                      factors / factors.max(), rtol=1e-4)
        assert stretched.max() == pytest.approx(1, rel=1e-5)
    # The voxels follow the stretched surface in every view.
    images, voxels, _ = make_synthetic.generate_object(CHAIR, 'train', 4,
                                                       seed=SEED)
    scores = numpy.array([voxel_scores(voxels, images[k, 3] / 255., k)
                          for k in range(24)])
    assert scores.min() > 0.9, scores.min(axis=0)


def test_voxels_of_a_box_fill_exactly_its_voxels():
    # A 1 x 0.5 x 0.25 box (already normalised) covers x centres -0.5..0.5
    # (32), y within 0.25 (indices 8..23) and z within 0.125 (12..19).
    box = make_synthetic.Shape([make_synthetic.box((0, 0, 0), (1, .5, .25),
                                                   (1, 1, 1))]).normalised()
    voxels = box.voxels()
    expected = numpy.zeros((32, 32, 32), bool)
    expected[8:24, :, 31 - 19:31 - 12 + 1] = True
    numpy.testing.assert_array_equal(voxels, expected)
    # A plate thinner than a voxel still has its surface voxels.
    plate = make_synthetic.Shape([
        make_synthetic.box((0, 0, 0), (1, 0.01, 1), (1, 1, 1))]).normalised()
    assert plate.voxels().sum() >= 32 * 32


def test_primitives_are_closed_and_outward_in_the_renderers_winding():
    primitives = [('box', ()), ('frustum', (1., 12)), ('frustum', (0., 8)),
                  ('frustum', (0.5, 4)), ('sphere', ()), ('torus', (0.3,))]
    for kind, params in primitives:
        vertices, faces = make_synthetic.unit_mesh(kind, params)
        faces = faces[:, ::-1]  # as Shape.mesh() hands them to the renderer
        # Closed and consistently wound: each directed edge once, and its
        # reverse once.
        edges = numpy.concatenate([faces[:, [i, (i + 1) % 3]]
                                   for i in range(3)])
        assert len({tuple(e) for e in edges.tolist()}) == len(edges)
        assert {tuple(e) for e in edges.tolist()} == \
            {tuple(e) for e in edges[:, ::-1].tolist()}
        # The renderer's normal (v0 - v1) x (v2 - v1) points out: the
        # volume from the divergence theorem with it is positive.
        v = vertices[faces]
        normals = numpy.cross(v[:, 0] - v[:, 1], v[:, 2] - v[:, 1])
        volume = numpy.einsum('ij,ij->', normals, v[:, 1]) / 6
        assert volume > 0.1, (kind, params, volume)


def test_rendered_surfaces_are_the_front_faces():
    # With fill_back off only faces counter-clockwise on screen are drawn;
    # the depth must still be that of the nearest surface, and reversed
    # faces would show the far side instead.
    shape = make_synthetic.make_shape(CHAIR, make_synthetic.object_rng(
        0, CHAIR, 'train', 0))
    vertices, faces, _ = shape.mesh()
    renderer = dataset.make_renderer()
    renderer.eye = dataset.view_eyes(numpy.arange(0, 24, 4))
    n = 6
    batch = numpy.ascontiguousarray(numpy.broadcast_to(
        vertices, (n,) + vertices.shape))

    def depth(f, fill_back):
        renderer.fill_back = fill_back
        return renderer.render_depth(batch, numpy.ascontiguousarray(
            numpy.broadcast_to(f, (n,) + f.shape))).array

    both = depth(faces, True)
    covered = both < renderer.far
    assert covered.mean() > 0.05
    numpy.testing.assert_allclose(depth(faces, False), both, atol=1e-5)
    reversed_depth = depth(faces[:, ::-1].copy(), False)
    assert (reversed_depth[covered] > both[covered] + 0.05).mean() > 0.3


def test_every_class_makes_a_small_normalised_visible_object():
    renderer = dataset.make_renderer()
    for class_id in dataset.CLASS_IDS:
        images, voxels, shape = make_synthetic.generate_object(
            class_id, 'val', 5, seed=0, renderer=renderer)
        vertices, faces, colours = shape.mesh()
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        numpy.testing.assert_allclose((high - low).max(), 1, rtol=1e-5)
        numpy.testing.assert_allclose(low + high, 0, atol=1e-5)
        assert len(faces) <= 800 and colours.shape == (len(faces), 3)
        assert (images[:, 3] > 127).mean(axis=(1, 2)).min() > 0.002
        assert voxels.sum() > 20, class_id


def test_command_line(tmp_path):
    out = str(tmp_path / 'data')
    written = make_synthetic.main(['-o', out, '--train', '1', '--val', '0',
                                   '--test', '0', '--classes', 'table',
                                   '--quiet', '--image-size', '32'])
    assert len(written) == 6
    images, voxels, _ = dataset.load_split(out, 'table', 'train',
                                           image_size=32)
    assert images.shape == (1, 24, 4, 32, 32) and voxels.shape[0] == 1
    assert dataset.load_split(out, 'table', 'val', image_size=32)[0].shape \
        == (0, 24, 4, 32, 32)
    for bad in (['--classes', 'bicycle'], ['--train', '-1']):
        with pytest.raises(SystemExit) as e:
            make_synthetic.main(['-o', out] + bad)
        assert e.value.code == 2
