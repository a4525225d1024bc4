"""The voxel baseline of the reconstruction example (PTN, ptn.py): the
projection of voxel grids against ray casts and the renderer, its gradient,
training with train.py --model ptn, its evaluation (threshold chosen on the
validation split, pairwise differences) and the test-only data option."""
import json
import os
import sys

import numpy
import pytest

import chainer
from chainer import gradient_check

import neural_renderer as nr

HERE = os.path.dirname(os.path.abspath(__file__))
RECONSTRUCTION = os.path.join(HERE, '..', '..', 'examples', 'reconstruction')
sys.path.insert(0, RECONSTRUCTION)
import dataset  # noqa: E402
import evaluate  # noqa: E402
import evaluate_table  # noqa: E402
import make_synthetic  # noqa: E402
import ptn  # noqa: E402
import train  # noqa: E402
import voxelize  # noqa: E402

CLASSES = 'chair,table'
PITCH = 1. / 31


def box_grid(lo, hi):
    """A grid (data layout) whose voxels with centres in the mesh-space box
    [lo, hi] (x, y, z) are full; returns (grid float32 [32, 32, 32], the box
    of the full voxels' centres (lo, hi))."""
    centres = dataset.voxel_centres()
    inside = ((centres >= numpy.asarray(lo) - 1e-6) &
              (centres <= numpy.asarray(hi) + 1e-6)).all(axis=-1)
    full = centres[inside]
    return inside.astype(numpy.float32), (full.min(axis=0), full.max(axis=0))


def ray_cast(eye, lo, hi, image_size):
    """bool [S, S]: whether the ray through each pixel centre meets the box
    [lo, hi], computed with the renderer's own camera transforms: the
    silhouette of a convex box is the convex hull of its 8 projected
    corners."""
    from scipy.spatial import Delaunay
    corners = numpy.array([[x, y, z] for x in (lo[0], hi[0])
                           for y in (lo[1], hi[1]) for z in (lo[2], hi[2])],
                          numpy.float64)[None]
    camera = nr.look_at(corners, numpy.asarray(eye, numpy.float64))
    screen = nr.perspective(camera, angle=dataset.VIEWING_ANGLE).array[0]
    s = image_size
    centres = (2 * numpy.arange(s) + 1. - s) / s
    # Row 0 is the top (NDC y = +1 side).
    x, y = numpy.meshgrid(centres, -centres)
    hull = Delaunay(screen[:, :2])
    return (hull.find_simplex(numpy.stack((x.ravel(), y.ravel()), 1)) >= 0
            ).reshape(s, s)


# An off-centre, non-cubic box (a flip or a swapped axis would show).
BOX = ((-0.3, -0.2, -0.1), (0.15, 0.35, 0.4))
# Two data cameras and one that is not a view of the data (elevation -20).
EYES = (dataset.view_eyes(0), dataset.view_eyes(7),
        nr.get_points_from_angles(2.732, -20, 100))


@pytest.mark.parametrize('combine', ptn.COMBINES)
@pytest.mark.parametrize('eye', EYES)
def test_projection_of_a_box_of_voxels_matches_a_ray_cast(eye, combine):
    # The trilinear field of a box of full voxels is 1 on the box of their
    # centres, falls linearly to 0 one pitch beyond it, and is >= 0.5
    # exactly inside the box of their cells (the centres' box grown by half
    # a pitch). So, for each pixel's ray:
    # - misses the centres' box grown by a pitch: exactly 0 (both combines);
    # - max: >= 0.5 only if the ray meets the cells' box (no tolerance);
    # - crosses the centres' box shrunk by one pitch: a chord of at least
    #   2 pitches in the box of 1s, longer than the sample spacing (at most
    #   the cube's diagonal 1.84 / 48 = 1.2 pitches), so some sample is 1:
    #   max 1, prod at least 1 - 1e-6 ^ 2 (both up to float32 rounding).
    # The pixels left (rays passing within 1.5 pitches of the cells' box's
    # surface) are the boundary band, where the projection may be anything
    # in [0, 1]; it is checked to be a thin band.
    size = 32
    grid, (lo, hi) = box_grid(*BOX)
    projector = ptn.Projector(size, 48)
    out = ptn.project(grid[None], numpy.asarray(eye, numpy.float32)[None],
                      projector, combine).array[0]
    support = ray_cast(eye, lo - PITCH, hi + PITCH, size)
    cells = ray_cast(eye, lo - PITCH / 2, hi + PITCH / 2, size)
    core = ray_cast(eye, lo + PITCH, hi - PITCH, size)
    assert core.sum() > 0.3 * cells.sum() > 0
    assert (out[~support] == 0).all()
    assert out[core].min() >= 1 - 1e-5
    if combine == 'max':
        assert not (out[~cells] >= 0.5).any()
        # 1 up to the rounding of the float32 weights' sum.
        assert numpy.abs(out[core] - 1).max() <= 1e-6
    band = support & ~core
    assert band.sum() < 0.5 * cells.sum()


def test_projection_matches_the_renderers_silhouette_of_the_voxels():
    # The same box's cells as a mesh through nr.Renderer (no anti-aliasing):
    # the max projection at 0.5 differs only on pixels of the boundary band
    # (see above).
    size = 32
    grid, (lo, hi) = box_grid(*BOX)
    lo_cell, hi_cell = lo - PITCH / 2, hi + PITCH / 2
    vertices, faces = make_synthetic.unit_mesh('box', ())
    vertices = (lo_cell + hi_cell) / 2 + vertices * (hi_cell - lo_cell) / 2
    renderer = nr.Renderer()
    renderer.image_size = size
    renderer.anti_aliasing = False
    renderer.viewing_angle = dataset.VIEWING_ANGLE
    renderer.fill_back = True
    projector = ptn.Projector(size, 48)
    for eye in EYES:
        renderer.eye = eye
        silhouette = renderer.render_silhouettes(
            vertices[None].astype(numpy.float32),
            faces[None].astype(numpy.int32)).array[0] > 0.5
        out = ptn.project(grid[None], numpy.asarray(eye, 'f')[None],
                          projector).array[0] >= 0.5
        band = ray_cast(eye, lo - PITCH, hi + PITCH, size) & ~ray_cast(
            eye, lo + PITCH, hi - PITCH, size)
        assert silhouette.sum() > 50
        assert not (silhouette != out)[~band].any()


def test_projection_of_the_datas_voxels_lines_up_with_its_masks():
    # A synthetic object's stored voxels, projected from view k, against
    # its stored image k: the same place and orientation (the mirror image
    # scores far lower; views 0 and 12 are left out: the chair is
    # mirror-symmetric seen from there).
    chair = dataset.parse_class_ids('chair')[0]
    images, voxels, _ = make_synthetic.generate_object(chair, 'test', 0,
                                                       seed=3)
    projector = ptn.Projector(64, 48)
    for view in (3, 9, 20):
        out = ptn.project(voxels[None].astype(numpy.float32),
                          dataset.view_eyes(numpy.array([view])),
                          projector).array[0] >= 0.5
        mask = images[view, 3] >= 128

        def iou(a, b):
            return (a & b).sum() / (a | b).sum()
        # The voxels' silhouette covers the mask; it is wider (IoU about
        # 0.8) by the surface voxels.
        assert (out & mask).sum() >= 0.98 * mask.sum()
        assert iou(out, mask) > 0.7
        assert iou(out[:, ::-1], mask) < iou(out, mask) - 0.2


@pytest.mark.parametrize('combine', ptn.COMBINES)
def test_projection_gradient(combine):
    rng = numpy.random.RandomState(0)
    projector = ptn.Projector(6, 5)
    eyes = numpy.asarray([dataset.view_eyes(2), dataset.view_eyes(9)],
                         numpy.float32)
    # Occupancies away from 0 and 1 (prod clips them) and, for max, a
    # distinct maximum on every ray (random values almost surely).
    grid = rng.uniform(0.1, 0.9, (2, 32, 32, 32))
    gy = rng.randn(2, 6, 6)

    def f(g):
        return ptn.project(g, eyes, projector, combine)
    gradient_check.check_backward(f, grid, gy, eps=1e-4, atol=1e-4,
                                  rtol=1e-3, dtype=numpy.float64)


def test_decoder_shape_and_range():
    decoder = ptn.VoxelDecoder(channels=(8, 4, 2))
    h = numpy.random.RandomState(0).randn(3, 512).astype(numpy.float32)
    out = decoder(h).array
    assert out.shape == (3, 32, 32, 32)
    assert ((out > 0) & (out < 1)).all()
    with pytest.raises(ValueError, match='decoder_channels'):
        ptn.VoxelDecoder(channels=(8, 4))


def test_encoder_input_size_is_read_back_by_load(tmp_path):
    model = ptn.PTN(encoder_channels=(4, 4, 8), decoder_channels=(8, 4, 2),
                    encoder_input_size=32)
    path = str(tmp_path / 'ptn.npz')
    chainer.serializers.save_npz(path, model)
    loaded = ptn.load(path)
    assert loaded.encoder.input_size == 32
    x = numpy.random.RandomState(2).rand(1, 4, 64, 64).astype(numpy.float32)
    numpy.testing.assert_array_equal(loaded.predict(x).array,
                                     model.predict(x).array)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic.generate(path, {'train': 2, 'val': 1, 'test': 2},
                            CLASSES, seed=1, progress=False, stretch=0)
    return path


def run_ptn(data_dir, out, *extra):
    return train.main(['--data-dir', data_dir, '-o', str(out), '--model',
                       'ptn', '--classes', CLASSES, '--batch-size', '2',
                       '--image-size', '32', '--val-interval', '4',
                       '--encoder-channels', '8,8,8',
                       '--ptn-decoder-channels', '16,8,4',
                       '--ptn-samples', '24', '--max-val-objects', '1',
                       '--no-progress'] + list(extra))


@pytest.fixture(scope='module')
def ptn_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp('ptn_run')
    trainer = run_ptn(data_dir, out, '--iterations', '12',
                      '--snapshot-interval', '6', '--learning-rate', '1e-3')
    return out, trainer


def test_training_steps_lower_the_loss(ptn_run):
    out, trainer = ptn_run
    log = trainer.get_extension('LogReport').log
    losses = [entry['main/loss'] for entry in log]
    assert numpy.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    assert 'validation/main/iou' in log[-1]
    for name in ('snapshot_iter_6', 'snapshot_iter_12', 'model_final.npz'):
        assert os.path.isfile(str(out / name)), name
    model = ptn.load(str(out / 'model_final.npz'))
    assert model.encoder.channels == (8, 8, 8)
    assert model.decoder.channels == (16, 8, 4)


def test_resume_of_a_ptn_run_is_exact(data_dir, ptn_run, tmp_path):
    out, _ = ptn_run
    # The snapshot at 6, resumed to 12: the same weights as straight to 12.
    os.makedirs(str(tmp_path / 'resumed'))
    run_ptn(data_dir, tmp_path / 'resumed', '--iterations', '12',
            '--snapshot-interval', '6', '--learning-rate', '1e-3',
            '--resume', str(out / 'snapshot_iter_6'))
    with numpy.load(str(out / 'model_final.npz')) as a, \
            numpy.load(str(tmp_path / 'resumed' / 'model_final.npz')) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # A mesh model's snapshot is not one of this model.
    with pytest.raises(SystemExit, match='not a snapshot of this model'):
        train.main(['--data-dir', data_dir, '-o', str(tmp_path / 'mesh'),
                    '--classes', CLASSES, '--batch-size', '2',
                    '--image-size', '32', '--iterations', '1',
                    '--encoder-channels', '8,8,8', '--no-progress',
                    '--resume', str(out / 'snapshot_iter_6')])


def test_evaluation_scores_ptn_with_the_validation_threshold(
        data_dir, ptn_run, tmp_path):
    out, _ = ptn_run
    path = str(out / 'model_final.npz')
    rows = evaluate.main(['--data-dir', data_dir, '-o', str(tmp_path),
                          '--classes', CLASSES, '--ptn-model', path,
                          '--methods', 'ptn,retrieval,template',
                          '--thresholds', '0.2,0.4,0.5,0.6',
                          '--paper-rows'])
    assert set(rows) == {'ptn', 'retrieval', 'template (r 0.25)',
                         'template (r 0.5)'}
    results = json.load(open(str(tmp_path / 'results.json')))
    search = {float(k): v for k, v in
              results['ptn_threshold_search'].items()}
    assert sorted(search) == [0.2, 0.4, 0.5, 0.6]
    threshold = results['ptn_threshold']
    assert search[threshold] == max(search.values())
    # The chosen threshold's validation score, by hand.
    model = ptn.load(path)
    total = 0
    for class_id in dataset.parse_class_ids(CLASSES):
        images, voxels = dataset.load_class_split(data_dir, class_id, 'val')
        x = images.reshape((-1,) + images.shape[2:])
        with chainer.no_backprop_mode():
            grids = model.predict(x.astype(numpy.float32) / 255).array
        total += voxelize.voxel_iou(
            grids >= threshold, numpy.repeat(voxels, 24, axis=0)).mean()
    assert search[threshold] == pytest.approx(total / 2)
    # The test split's PTN row at that threshold.
    chair = dataset.parse_class_ids('chair')[0]
    images, voxels = dataset.load_class_split(data_dir, chair, 'test')
    with chainer.no_backprop_mode():
        grids = model.predict(images.reshape((-1, 4, 64, 64)).astype(
            numpy.float32) / 255).array
    assert rows['ptn'][chair] == pytest.approx(voxelize.voxel_iou(
        grids >= threshold, numpy.repeat(voxels, 24, axis=0)).mean())
    assert results['differences'].keys() == {'ptn - retrieval'}
    text = open(str(tmp_path / 'table.md')).read()
    assert '| ptn |' in text and 'Voxel-based (PTN) (paper)' in text
    # A fixed threshold skips the search.
    rows = evaluate.main(['--data-dir', data_dir, '-o', str(tmp_path / 'f'),
                          '--classes', CLASSES, '--ptn-model', path,
                          '--methods', 'ptn', '--ptn-threshold', '0.5'])
    assert json.load(open(str(tmp_path / 'f' / 'results.json')))[
        'ptn_threshold'] == 0.5


def test_evaluation_with_both_models_reports_every_pair(data_dir, ptn_run,
                                                        tmp_path):
    out, _ = ptn_run
    mesh = str(tmp_path / 'mesh.npz')
    import model as reconstruction_model
    chainer.serializers.save_npz(mesh, reconstruction_model.Reconstructor(
        encoder_channels=(8, 8, 8)), compression=False)
    split_dir = str(tmp_path / 'split')
    make_synthetic.generate(split_dir, {'test': 1}, CLASSES, seed=1,
                            progress=False, stretch=0, starts={'test': 1})
    evaluate.main(['--data-dir', data_dir, '--split-dir', split_dir,
                   '-o', str(tmp_path / 'eval'), '--classes', CLASSES,
                   '--model', mesh, '--ptn-model',
                   str(out / 'model_final.npz'), '--ptn-threshold', '0.5'])
    results = json.load(open(str(tmp_path / 'eval' / 'results.json')))
    assert list(results['differences']) == [
        'model - ptn', 'model - retrieval', 'ptn - retrieval']
    rows = results['rows']
    for pair, d in results['differences'].items():
        a, b = pair.split(' - ')
        assert d['difference'] == pytest.approx(rows[a]['mean'] -
                                                rows[b]['mean'])
    assert results['model_minus_retrieval'] == \
        results['differences']['model - retrieval']
    with numpy.load(str(tmp_path / 'eval' / 'ious.npz')) as npz:
        # One object per class: the split dir's, not data_dir's two.
        assert npz['ptn/' + dataset.parse_class_ids('chair')[0]].shape == \
            (1, 24)
    # evaluate_table.py rebuilds the table and the differences from it.
    evaluate_table.main([str(tmp_path / 'eval' / 'ious.npz'),
                         '--paper-rows'])
    with pytest.raises(SystemExit):
        evaluate.main(['--data-dir', data_dir, '--model',
                       str(out / 'model_final.npz'), '--methods', 'model'])
    with pytest.raises(SystemExit):
        evaluate.main(['--data-dir', data_dir, '--methods', 'ptn'])


def test_pairwise_differences_match_paired_difference():
    rng = numpy.random.RandomState(1)
    chair, table = dataset.parse_class_ids(CLASSES)
    ious = {m: {c: rng.uniform(0, 1, (5, 24)) for c in (chair, table)}
            for m in ('model', 'ptn', 'retrieval')}
    pairs = evaluate_table.pairwise_differences(ious, draws=200)
    assert list(pairs) == ['model - ptn', 'model - retrieval',
                           'ptn - retrieval']
    assert pairs['ptn - retrieval'] == evaluate_table.paired_difference(
        ious['ptn'], ious['retrieval'], draws=200)
    assert evaluate_table.pairwise_differences(
        {'model': ious['model']}) == {}
    text = evaluate_table.format_differences(pairs)
    assert text.count('\n') == 3 and text.startswith('model - ptn: ')


def test_only_test_writes_the_test_split_alone_deterministically(tmp_path):
    argv = ['--classes', 'phone', '--only-test', '--test', '2',
            '--test-start', '3', '--seed', '4', '--quiet']
    make_synthetic.main(['-o', str(tmp_path / 'a')] + argv)
    make_synthetic.main(['-o', str(tmp_path / 'b')] + argv)
    phone = dataset.parse_class_ids('phone')[0]
    assert sorted(os.listdir(str(tmp_path / 'a'))) == sorted(
        ['{}_test_images.npz'.format(phone),
         '{}_test_voxels.npz'.format(phone)])
    a = dataset.load_class_split(str(tmp_path / 'a'), phone, 'test')
    b = dataset.load_class_split(str(tmp_path / 'b'), phone, 'test')
    for x, y in zip(a, b):
        numpy.testing.assert_array_equal(x, y)
    # Test object i is object 3 + i of the same seed's test split, made the
    # usual way (here the 4th and 5th of a 5-object split).
    images, voxels, _ = make_synthetic.generate_object(phone, 'test', 4,
                                                       seed=4)
    numpy.testing.assert_array_equal(a[0][1], images)
    numpy.testing.assert_array_equal(a[1][1], voxels)
    with pytest.raises(ValueError, match='starts'):
        make_synthetic.generate(str(tmp_path / 'c'), {'test': 1}, 'phone',
                                progress=False, starts={'test': -1})
