"""Example 3: paint the teapot's textures from a picture of stripes.

The per-face texture cubes are optimised (Adam, alpha 0.1, beta1 0.5) so
that the teapot, seen orthographically from a random azimuth at elevation 0
each step, with ambient light only, shows the coloured stripes of
``data/example3_ref.png`` wherever it covers the image. Writes a turntable
GIF of the result, the textured mesh (.obj + .mtl + .png) and the loss
curve; prints the loss over eight fixed views before and after, and the
share of teapot pixels whose colour is nearest to their row's stripe colour.
Runs on the CPU by default; ``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import os
import time

import chainer
import chainer.functions as F
import numpy

import neural_renderer as nr

import common

EVALUATION_AZIMUTHS = numpy.arange(0, 360, 45)


class Model(chainer.Link):
    """The teapot with texture logits as the parameter (colours are their
    tanh, as in the original); ``__call__(azimuths)`` returns the squared
    error against the stripes where the teapot covers the image."""

    def __init__(self, vertices, faces, reference, image_size,
                 texture_size=4):
        super(Model, self).__init__()
        xp = chainer.backend.get_array_module(vertices)
        with self.init_scope():
            self.textures = chainer.Parameter(xp.zeros(
                (1, faces.shape[1]) + (texture_size,) * 3 + (3,),
                xp.float32))
        self.vertices = vertices
        self.faces = faces
        self.reference = reference
        self.renderer = nr.Renderer()
        self.renderer.image_size = image_size
        self.renderer.perspective = False
        self.renderer.light_intensity_ambient = 1.
        self.renderer.light_intensity_directional = 0.

    def render(self, azimuths):
        """rgb [B, 3, S, S] and alpha [B, S, S] from azimuths [B]."""
        batch = len(azimuths)
        self.renderer.eye = numpy.array(
            [nr.get_points_from_angles(2.732, 0, a) for a in azimuths],
            numpy.float32)
        vertices = self.xp.broadcast_to(
            self.vertices, (batch,) + self.vertices.shape[1:])
        faces = self.xp.broadcast_to(self.faces,
                                     (batch,) + self.faces.shape[1:])
        textures = F.broadcast_to(F.tanh(self.textures),
                                  (batch,) + self.textures.shape[1:])
        out = self.renderer.render_rgbad(vertices, faces, textures)
        return out['rgb'], out['alpha'].array

    def __call__(self, azimuths):
        rgb, alpha = self.render(azimuths)
        # The background stays black; only what the teapot covers is
        # compared, with the stripes faded like the teapot's anti-aliased
        # edges.
        target = self.reference[None] * alpha[:, None]
        return F.sum(F.square(rgb - target)) / len(azimuths)


def stripe_accuracy(rgb, alpha, reference, colours):
    """Share of covered pixels (alpha > 0.99) whose colour is nearest, among
    ``colours`` [K, 3], to the colour of the reference at that pixel."""
    rgb, reference = common.to_cpu(rgb), common.to_cpu(reference)
    mask = common.to_cpu(alpha) > 0.99

    def nearest(image):  # [..., 3, S, S] -> [..., S, S]
        d = ((image[..., None, :, :, :] -
              colours[:, :, None, None]) ** 2).sum(axis=-3)
        return d.argmin(axis=-3)
    hits = nearest(rgb) == nearest(reference)[None]
    return float(hits[mask].mean()) if mask.any() else 0.


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_optimisation_arguments(parser, 'example3_ref.png', 0.1,
                                      'target image')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random azimuths')
    common.add_common_arguments(parser, image_size=256, iterations=300)
    args = parser.parse_args(argv)
    start = time.time()

    xp = common.select_device(args.gpu)
    vertices, faces = common.load_teapot(xp)
    reference = xp.asarray(common.load_reference(
        args.filename_ref, args.image_size, colour=True))
    model = Model(vertices, faces, reference, args.image_size)
    optimizer = nr.Adam(alpha=args.learning_rate, beta1=0.5)
    optimizer.setup(model)

    def evaluation_loss():
        with chainer.no_backprop_mode():
            return float(model(EVALUATION_AZIMUTHS).array)

    first = evaluation_loss()
    random = numpy.random.RandomState(args.seed)
    losses = []
    for _ in common.progress(args.iterations, 'example 3'):
        loss = model(random.uniform(0, 360, 1))
        model.cleargrads()
        loss.backward()
        optimizer.update()
        losses.append(float(loss.array))
    final = evaluation_loss()

    with chainer.no_backprop_mode():
        rgb, alpha = model.render(EVALUATION_AZIMUTHS)
    colours = numpy.unique(common.to_cpu(reference).reshape(3, -1).T,
                           axis=0)
    accuracy = stripe_accuracy(rgb.array, alpha, reference, colours)

    out = args.output_dir
    textures = F.tanh(model.textures).array
    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    renderer.light_intensity_ambient = 1.
    renderer.light_intensity_directional = 0.
    result = {
        'gif': common.save_gif(
            os.path.join(out, 'example3.gif'),
            common.turntable(renderer, vertices, faces, textures)),
        'mesh': os.path.join(out, 'example3_result.obj'),
        'loss_plot': common.plot_loss(
            os.path.join(out, 'example3_loss.png'), losses,
            'example 3: squared error against the stripes', log_scale=True),
        'first_loss': first,
        'final_loss': final,
        'stripe_accuracy': accuracy,
        'losses': losses,
    }
    nr.save_obj(result['mesh'], common.to_cpu(vertices)[0],
                common.to_cpu(faces)[0],
                numpy.clip(common.to_cpu(textures)[0], 0, 1))
    for key in ('gif', 'mesh', 'loss_plot'):
        print('wrote', result[key])
    print('loss over {} fixed views: {:.1f} -> {:.1f} ({:.0f}x lower); '
          'stripe colour right at {:.1%} of teapot pixels ({:.0f} s)'.format(
              len(EVALUATION_AZIMUTHS), first, final, first / final,
              accuracy, time.time() - start))
    return result


if __name__ == '__main__':
    main()
