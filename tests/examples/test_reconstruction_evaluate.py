"""The evaluation script of the reconstruction example: the protocol's
numbers on a tiny synthetic data set, the baselines, the files."""
import json
import os
import sys

import numpy
import pytest

import chainer

HERE = os.path.dirname(os.path.abspath(__file__))
RECONSTRUCTION = os.path.join(HERE, '..', '..', 'examples', 'reconstruction')
sys.path.insert(0, RECONSTRUCTION)
import dataset  # noqa: E402
import evaluate  # noqa: E402
import make_synthetic  # noqa: E402
import model as reconstruction_model  # noqa: E402
import voxelize  # noqa: E402

CLASSES = 'chair,table'


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic.generate(path, {'train': 3, 'val': 1, 'test': 2},
                            CLASSES, seed=2, progress=False)
    return path


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('model') / 'model_final.npz')
    chainer.serializers.save_npz(path, reconstruction_model.Reconstructor(),
                                 compression=False)
    return path


def test_retrieval_of_the_training_split_finds_every_object_itself(
        data_dir, tmp_path):
    # Each training image is its own nearest neighbour: retrieval then
    # predicts the object's own voxels, IoU exactly 1.
    rows = evaluate.main(['--data-dir', data_dir, '-o', str(tmp_path),
                          '--classes', CLASSES, '--split', 'train',
                          '--methods', 'retrieval'])
    assert rows['retrieval']['mean'] == 1.0


def test_nearest_neighbours_against_brute_force():
    rng = numpy.random.RandomState(0)
    database = rng.randint(0, 256, (50, 12)).astype(numpy.uint8)
    queries = rng.randint(0, 256, (30, 12)).astype(numpy.uint8)
    expected = [numpy.argmin(((database.astype(float) - q) ** 2).sum(1))
                for q in queries.astype(float)]
    numpy.testing.assert_array_equal(
        evaluate.nearest_neighbours(queries, database, chunk=7), expected)


def test_template_sphere_voxels():
    # Against the voxels whose centres lie inside the sphere (the surface
    # voxels the protocol adds make the solid a shell thicker).
    centres = dataset.voxel_centres()
    for radius, least in ((0.25, 0.75), (0.5, 0.85)):
        solid = evaluate.template_voxels(radius)
        inside = numpy.linalg.norm(centres, axis=-1) < radius
        assert voxelize.voxel_iou(solid, inside) >= least
        assert (solid & inside).sum() >= 0.95 * inside.sum()
    # Zero offsets and centroid: the decoder's output is the r 0.25 sphere.
    vertices, _ = reconstruction_model.load_template()
    zero = chainer.Variable(numpy.zeros((1,) + vertices.shape, 'f'))
    out = reconstruction_model.deform(vertices, zero,
                                      chainer.Variable(numpy.zeros((1, 3),
                                                                   'f')))
    numpy.testing.assert_allclose(
        numpy.linalg.norm(out.array[0], axis=1), 0.25, rtol=1e-5)


def test_full_evaluation_writes_table_ious_and_pictures(data_dir, model_path,
                                                        tmp_path):
    rows = evaluate.main(['--data-dir', data_dir, '-o', str(tmp_path),
                          '--classes', CLASSES, '--model', model_path])
    assert set(rows) == {'model', 'template (r 0.25)', 'template (r 0.5)',
                         'retrieval'}
    chair, table = dataset.parse_class_ids(CLASSES)
    for row in rows.values():
        assert set(row) == {chair, table, 'mean'}
        assert 0 <= row['mean'] <= 1
        numpy.testing.assert_allclose(row['mean'],
                                      (row[chair] + row[table]) / 2)
    with numpy.load(os.path.join(str(tmp_path), 'ious.npz')) as npz:
        model_ious = npz['model/' + chair]
        assert model_ious.shape == (2, 24)
        numpy.testing.assert_allclose(model_ious.mean(), rows['model'][chair])
    # The template row by hand: the same sphere for all 24 views.
    _, voxels = dataset.load_class_split(data_dir, chair, 'test')
    expected = voxelize.voxel_iou(
        numpy.broadcast_to(evaluate.template_voxels(0.5), voxels.shape),
        voxels).mean()
    numpy.testing.assert_allclose(rows['template (r 0.5)'][chair], expected)
    text = open(os.path.join(str(tmp_path), 'table.md')).read()
    assert '| retrieval |' in text and 'chair' in text
    assert '(paper)' not in text
    results = json.load(open(os.path.join(str(tmp_path), 'results.json')))
    assert results['rows']['model']['mean'] == rows['model']['mean']
    compared = results['model_minus_retrieval']
    assert compared['difference'] == pytest.approx(
        rows['model']['mean'] - rows['retrieval']['mean'])
    assert compared['standard_error'] >= 0
    import imageio.v2 as imageio
    picture = imageio.imread(os.path.join(str(tmp_path),
                                          'reconstructions.png'))
    assert picture.shape == (2 * 64, 7 * 64, 3)


def test_arguments_are_checked(data_dir, tmp_path):
    with pytest.raises(SystemExit):
        evaluate.main(['--data-dir', data_dir, '--methods', 'model'])
    with pytest.raises(SystemExit):
        evaluate.main(['--data-dir', data_dir, '--methods', 'nonsense'])
    with pytest.raises(SystemExit):
        evaluate.main(['--data-dir', data_dir, '--model',
                       str(tmp_path / 'missing.npz')])


def test_paired_difference_against_the_analytic_standard_error():
    import evaluate_table
    rng = numpy.random.RandomState(3)
    chair, table = dataset.parse_class_ids(CLASSES)
    a = {chair: rng.rand(40, 24), table: rng.rand(25, 24)}
    b = {chair: rng.rand(40, 24), table: rng.rand(25, 24)}
    result = evaluate_table.paired_difference(a, b, draws=20000, seed=1)
    rows_a, rows_b = (evaluate_table.class_mean_iou(x) for x in (a, b))
    assert result['difference'] == pytest.approx(rows_a['mean'] -
                                                 rows_b['mean'], abs=1e-12)
    # The bootstrap's standard error of a mean of n per-object differences
    # is their population standard deviation / sqrt(n); the class mean
    # halves the quadrature sum of the two classes'.
    d = [(a[c].mean(1) - b[c].mean(1)) for c in (chair, table)]
    expected = numpy.sqrt(sum(x.var() / len(x) for x in d)) / 2
    assert result['standard_error'] == pytest.approx(expected, rel=0.03)
    low, high = result['ci95']
    assert low < result['difference'] < high
    assert high - low == pytest.approx(2 * 1.96 * expected, rel=0.06)
    # A constant per-object difference has no sampling noise; pairing
    # cancels what the two methods share.
    same = evaluate_table.paired_difference(
        {chair: a[chair] * 0.5}, {chair: a[chair] * 0.5 - 0.1})
    assert same['difference'] == pytest.approx(0.1)
    assert same['standard_error'] == pytest.approx(0, abs=1e-12)


def test_paired_difference_rejects_mismatched_inputs():
    import evaluate_table
    chair, table = dataset.parse_class_ids(CLASSES)
    x = numpy.zeros((3, 24))
    with pytest.raises(ValueError, match='same non-empty set of classes'):
        evaluate_table.paired_difference({chair: x}, {table: x})
    with pytest.raises(ValueError, match='same non-empty shape'):
        evaluate_table.paired_difference({chair: x}, {chair: x[:2]})
    with pytest.raises(ValueError, match='draws'):
        evaluate_table.paired_difference({chair: x}, {chair: x}, draws=1)


def test_threshold_warning_tells_an_end_from_a_flat_search():
    assert evaluate.threshold_warning({0.1: 0.3, 0.5: 0.4, 0.9: 0.35}) is None
    assert 'at an end' in evaluate.threshold_warning(
        {0.1: 0.42, 0.5: 0.4, 0.9: 0.35})
    assert '0.9 is at an end' in evaluate.threshold_warning(
        {0.1: 0.3, 0.5: 0.4, 0.9: 0.45})
    # An end ahead of its neighbour by less than the tie is no warning.
    assert evaluate.threshold_warning(
        {0.1: 0.4005, 0.5: 0.4, 0.9: 0.3}) is None
    assert 'nearly all 0 or 1' in evaluate.threshold_warning(
        {0.1: 0.3802, 0.5: 0.3800, 0.9: 0.3799})
    assert evaluate.threshold_warning({0.5: 0.4}) is None
