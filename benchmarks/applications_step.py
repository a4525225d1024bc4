"""Seconds per optimisation step of style transfer and DeepDream with
EfficientNet-Lite0, and where a step's time goes.

Usage: python benchmarks/applications_step.py [--repeat 5] [--image-size 224]

Three tables (Markdown, on stdout):

1. a whole step (render the batch, network forward, losses, backward, Adam
   update) at the examples' defaults, batch 4, for both examples;
2. one view (batch 1) split into its parts: rendering forward (at twice the
   size, averaged down), network forward to the example's deepest layer,
   network backward to the image, rendering backward to the mesh;
3. the network alone, forward + backward to stage 5 at batch 1 and 4, with
   its depthwise convolutions as grouped convolutions (what
   ``efficientnet_lite`` uses) and as ``depthwise_convolution_2d``.

Each figure is the median of ``--repeat`` runs after one warm-up. CPU;
the thread count is whatever OMP_NUM_THREADS / OpenBLAS use.
"""
import argparse
import os
import sys
import time

import numpy

import neural_renderer  # NOQA  (its compatibility shim, before chainer)
import chainer
import chainer.functions as F
import chainer.links as L

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'examples'))

import deep_dream  # NOQA
import editing  # NOQA
import efficientnet_lite  # NOQA
import features  # NOQA
import style_transfer  # NOQA


def median_time(function, repeat):
    function()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(numpy.median(times))


def make_objective(name, network, image_size):
    mesh = editing.load_mesh(os.path.join(HERE, '..', 'data', 'teapot.obj'),
                             4)
    optimizer = editing.make_optimizer(mesh, 2.5e-4, 5e-2)
    spec = features.EFFICIENTNET
    if name == 'style transfer':
        path = style_transfer.style_path(style_transfer.DEFAULT_STYLE)
        style = style_transfer.load_style(path, image_size)
        defaults = style_transfer.NETWORK_DEFAULTS[spec.key]
        objective = style_transfer.StyleTransferLoss(
            mesh, network, spec, style, image_size,
            (defaults['lambda_content'], defaults['lambda_style'],
             defaults['lambda_tv']))
        sample = style_transfer.sample_step
    else:
        objective = deep_dream.DeepDreamLoss(
            mesh, network, spec, image_size,
            deep_dream.NETWORK_DEFAULTS[spec.key]['lambda_edge'])
        sample = deep_dream.sample_step
    return mesh, optimizer, objective, sample


def whole_step(name, network, image_size, batch, repeat):
    mesh, optimizer, objective, sample = make_objective(name, network,
                                                        image_size)
    counter = [0]

    def step():
        terms = objective(*sample(0, counter[0], batch))
        counter[0] += 1
        mesh.cleargrads()
        terms['total'].backward()
        optimizer.update()

    return median_time(step, repeat)


def split_step(name, network, image_size, repeat):
    """Seconds of: render forward, network forward, network backward,
    render backward (batch 1)."""
    mesh, _, objective, sample = make_objective(name, network, image_size)
    spec = features.EFFICIENTNET
    if name == 'style transfer':
        layers = style_transfer.STYLE_LAYERS[spec.key]
        eyes, lights = sample(0, 0, 1)
        objective.renderer.light_direction = lights
    else:
        layers = (deep_dream.LAYER[spec.key],)
        eyes, _ = sample(0, 0, 1)
    times = {}
    state = {}

    def render():
        state['rgb'] = editing.render_views(objective.renderer, mesh, eyes,
                                            numpy)['rgb']

    def forward():
        state['leaf'] = chainer.Variable(state['rgb'].array)
        out = features.extract(network, spec, state['leaf'], layers)
        state['loss'] = sum(F.sum(F.square(f)) for f in out)

    def network_backward():
        state['leaf'].cleargrad()
        state['loss'].backward(retain_grad=False)

    def render_backward():
        mesh.cleargrads()
        state['rgb'].grad = state['leaf'].grad
        state['rgb'].backward()

    for key, function, needs in (
            ('render forward', render, ()),
            ('network forward', forward, (render,)),
            ('network backward', network_backward, (render, forward)),
            ('render backward', render_backward,
             (render, forward, network_backward))):
        samples = []
        for _ in range(repeat + 1):
            for prerequisite in needs:
                prerequisite()
            start = time.perf_counter()
            function()
            samples.append(time.perf_counter() - start)
        times[key] = float(numpy.median(samples[1:]))
    return times


def as_depthwise(network):
    """A copy of ``network`` whose depthwise convolutions are
    ``L.DepthwiseConvolution2D`` links (the same weights)."""
    import copy
    other = copy.deepcopy(network)
    for block in other.block_links:
        grouped = block.depthwise.conv
        channels, _, kernel, _ = grouped.W.shape
        link = L.DepthwiseConvolution2D(channels, 1, kernel, grouped.stride,
                                        0)
        link.W.array[...] = grouped.W.array.transpose(1, 0, 2, 3)
        link.b.array[...] = grouped.b.array
        del block.depthwise.conv
        with block.depthwise.init_scope():
            block.depthwise.conv = link
    return other


def network_alone(network, image_size, batch, repeat):
    x = chainer.Variable(numpy.random.RandomState(0).rand(
        batch, 3, image_size, image_size).astype(numpy.float32))

    def run():
        with chainer.using_config('train', False):
            out = network.forward(efficientnet_lite.preprocess(x),
                                  ('stage5',))['stage5']
        x.cleargrad()
        F.sum(F.square(out)).backward()

    return median_time(run, repeat)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--image-size', type=int, default=224)
    args = parser.parse_args(argv)
    network = efficientnet_lite.load_pretrained()
    size = args.image_size
    print('OMP_NUM_THREADS={}, image size {} (rendered at {}), median of {}'
          .format(os.environ.get('OMP_NUM_THREADS', 'unset'), size,
                  2 * size, args.repeat))
    print('\n| example | batch | seconds per step |\n|---|---|---|')
    for name in ('style transfer', 'DeepDream'):
        print('| {} | 4 | {:.3f} |'.format(
            name, whole_step(name, network, size, 4, args.repeat)))
    print('\n| example (batch 1) | render forward | network forward | '
          'network backward | render backward |\n|---|---|---|---|---|')
    for name in ('style transfer', 'DeepDream'):
        times = split_step(name, network, size, args.repeat)
        print('| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |'.format(
            name, times['render forward'], times['network forward'],
            times['network backward'], times['render backward']))
    depthwise = as_depthwise(network)
    print('\n| network to stage5, forward + backward | batch 1 | batch 4 |'
          '\n|---|---|---|')
    for label, net in (('grouped convolution (used)', network),
                       ('depthwise_convolution_2d', depthwise)):
        print('| {} | {:.3f} | {:.3f} |'.format(
            label, network_alone(net, size, 1, args.repeat),
            network_alone(net, size, 4, args.repeat)))


if __name__ == '__main__':
    main()
