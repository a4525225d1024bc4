"""2D-to-3D style transfer: paint and reshape a mesh in the style of an image.

Paper sec. 4.2.1 and 5.2. Starting from the content mesh (``--mesh``,
default the teapot), its vertices and texture cubes (size 4, kept as logits
through a sigmoid) are optimised with Adam (beta1 0.9, beta2 0.999; alpha
2.5e-4 for the vertices, 5e-2 for the textures; 5000 steps) to minimise

    lambda_c L_c + lambda_s L_s + lambda_t L_t

over batches of 4 random views (distance 2.732 + 0.1 N(0, 1), elevation
U(20, 40), azimuth U(0, 360) degrees), each rendered at twice ``--image-size``
and averaged down (448 -> 224 by default) with ambient and directional
light 0.5 from a random direction 30 degrees off vertical, on the style
image's mean colour:

- L_c, content: sum of squared vertex displacements from the content mesh;
- L_s, style: squared Frobenius distances between the Gram matrices of
  VGG-16 conv1_2, conv2_2, conv3_3 and conv4_3 (after ReLU) of the
  rendered views, masked by their silhouettes and normalised by
  C * sum(mask), and those of the style image (``--style``);
- L_t, total variation of the rendered colours inside the silhouette.

See ``editing_losses.py`` for the exact definitions. VGG-16 weights come
from ``--pretrained`` or Chainer's dataset root, never from the network;
``--random-features`` runs without them (the result is then not the
paper's, and the outputs say so). Writes the stylised mesh (.obj, .mtl and
texture .png), a turntable GIF, the loss plot, a summary JSON and a
resumable state (``--resume``). Runs on the CPU by default; ``--gpu N``
uses GPU N (needs CuPy).
"""
import argparse
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
STYLE_LAYERS = ('conv1_2', 'conv2_2', 'conv3_3', 'conv4_3')
LIGHT_TILT = 30.  # degrees between the light direction and the vertical
# Fixed views of the before/after evaluation: (distance, elevation,
# azimuth) and a light tilted toward the camera.
EVALUATION_AZIMUTHS = (0., 90., 180., 270.)
EVALUATION_DISTANCE = 2.732
EVALUATION_ELEVATION = 30.


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
    before weighting).

    Args:
        mesh (nr.Mesh): the mesh being optimised (texture logits).
        network: ``L.VGG16Layers`` on the mesh's device.
        style_image: [3, h, w] float32 RGB in [0, 1], on the device.
        image_size (int): output size (rendered at twice, averaged down).
        lambdas: (lambda_c, lambda_s, lambda_t).
    """

    def __init__(self, mesh, network, style_image, image_size, lambdas):
        self.mesh = mesh
        self.network = network
        self.content_vertices = mesh.vertices.array.copy()
        self.lambdas = lambdas
        xp = mesh.xp
        with chainer.no_backprop_mode():
            style_features = features.extract(
                network, features.VGG16, style_image[None], STYLE_LAYERS)
            self.style_grams = [editing_losses.gram_matrix(f).array[0]
                                for f in style_features]
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
        layers = features.extract(self.network, features.VGG16, rgb,
                                  STYLE_LAYERS)
        terms = {
            'content': editing_losses.content_loss(self.mesh.vertices,
                                                   self.content_vertices),
            'style': editing_losses.style_loss(layers, alpha,
                                               self.style_grams),
            'tv': editing_losses.total_variation(rgb, alpha),
        }
        lambda_c, lambda_s, lambda_t = self.lambdas
        terms['total'] = (lambda_c * terms['content'] +
                          lambda_s * terms['style'] + lambda_t * terms['tv'])
        return terms

    def evaluate(self):
        """The loss terms (floats) over the fixed evaluation views."""
        return editing.evaluation_terms(
            self, EVALUATION_AZIMUTHS, EVALUATION_DISTANCE,
            EVALUATION_ELEVATION, light_directions)


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
        epilog='Example: python examples/style_transfer.py --style '
               'painting.jpg --pretrained VGG_ILSVRC_16_layers.npz')
    parser.add_argument('-s', '--style', metavar='IMAGE', required=True,
                        help='the style image (any format Pillow reads); '
                             'none is shipped')
    editing.add_editing_arguments(
        parser, features.VGG16, image_size=224, iterations=5000,
        lr_vertices=2.5e-4, lr_textures=5e-2, name=NAME)
    parser.add_argument('--lambda-content', type=editing.non_negative_float,
                        default=2e9, help='weight of L_c (default: '
                                          '%(default)s)')
    parser.add_argument('--lambda-style', type=editing.non_negative_float,
                        default=1., help='weight of L_s (default: '
                                         '%(default)s)')
    parser.add_argument('--lambda-tv', type=editing.non_negative_float,
                        default=1e5, help='weight of L_t (default: '
                                          '%(default)s)')
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.image_size % 8:
        parser.error('--image-size: style transfer needs a multiple of 8 '
                     '(VGG halves the size three times before conv4_3), got '
                     '{}'.format(args.image_size))
    editing.check_mesh_argument(parser, args.mesh)
    if not os.path.isfile(args.style):
        parser.error('--style: no such file: {}'.format(args.style))
    try:
        style_image = load_style(args.style, args.image_size)
    except OSError as error:
        parser.error('--style: cannot read {}: {}'.format(args.style, error))
    start = time.time()

    xp, network, weights, mesh, optimizer = editing.setup(
        parser, args, features.VGG16)
    config = editing.run_config(args, (
        'mesh', 'style', 'image_size', 'batch_size', 'lr_vertices',
        'lr_textures', 'texture_size', 'seed', 'lambda_content',
        'lambda_style', 'lambda_tv', 'pretrained', 'random_features'))
    # Built before the state is loaded: the content mesh is the initial
    # mesh, also when resuming.
    objective = StyleTransferLoss(
        mesh, network, xp.asarray(style_image), args.image_size,
        (args.lambda_content, args.lambda_style, args.lambda_tv))
    turntable = nr.Renderer()
    turntable.image_size = args.image_size
    turntable.background_color = objective.background
    return editing.run(
        parser, args, NAME, features.VGG16, mesh, network, optimizer,
        objective, config, weights, sample_step, turntable,
        'style transfer: total loss (random views)',
        {'distance': EVALUATION_DISTANCE, 'elevation': EVALUATION_ELEVATION,
         'azimuths': list(EVALUATION_AZIMUTHS)}, start)


if __name__ == '__main__':
    main()
