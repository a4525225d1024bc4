"""Example 3: paint the teapot's textures from a picture of stripes.

The per-face texture cubes are optimised (Adam, alpha 0.1, beta1 0.5) so
that the teapot, seen orthographically from a random azimuth at elevation 0
each step, with ambient light only, shows the coloured stripes of
``data/example3_ref.png`` wherever it covers the image. Writes a turntable
GIF of the result, the textured mesh (.obj + .mtl + .png) and the loss
curve; prints the loss over eight fixed views before and after, and the
share of teapot pixels whose colour is nearest to their row's stripe colour.

``--uv`` optimises a texture image instead (``--uv-size`` texels square,
sampled at render time through a cylindrical UV map of the teapot: u the
angle around the vertical axis, v the height) and exports it with the mesh
as an OBJ with ``vt`` coordinates, an .mtl and the image as .png.

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
                 texture_size=4, uvs=None, uv_size=256):
        super(Model, self).__init__()
        xp = chainer.backend.get_array_module(vertices)
        # With uvs [1, F, 3, 2], the parameter is the logits of a texture
        # image [1, uv_size, uv_size, 3]; else of texel cubes.
        self.uvs = uvs
        shape = (1, uv_size, uv_size, 3) if uvs is not None else \
            (1, faces.shape[1]) + (texture_size,) * 3 + (3,)
        with self.init_scope():
            self.textures = chainer.Parameter(xp.zeros(shape, xp.float32))
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
        out = self.renderer.render_rgbad(vertices, faces,
                                         self.colours(batch))
        return out['rgb'], out['alpha'].array

    def colours(self, batch=1):
        """The textures for a batch: the cubes' colours [B, F, T, T, T, 3],
        or a UVTexture (one image serves the batch)."""
        colours = F.tanh(self.textures)
        if self.uvs is None:
            return F.broadcast_to(colours, (batch,) + colours.shape[1:])
        uvs = self.xp.broadcast_to(self.uvs, (batch,) + self.uvs.shape[1:])
        return nr.UVTexture(uvs, colours)

    def __call__(self, azimuths):
        rgb, alpha = self.render(azimuths)
        # The background stays black; only what the teapot covers is
        # compared, with the stripes faded like the teapot's anti-aliased
        # edges.
        target = self.reference[None] * alpha[:, None]
        return F.sum(F.square(rgb - target)) / len(azimuths)


def cylindrical_uvs(vertices, faces):
    """Per-corner (u, v) [1, F, 3, 2] float32 of a cylindrical map of a mesh
    vertices [1, V, 3], faces [1, F, 3]: u the angle around the y axis
    (0 to 1), v the height (0 at the lowest vertex, 1 at the highest).
    Faces across the seam get their corners' u on one side of it (u may
    exceed 1: the texture wraps)."""
    vertices = common.to_cpu(vertices)[0].astype(numpy.float64)
    corners = vertices[common.to_cpu(faces)[0]]
    u = numpy.arctan2(corners[..., 2], corners[..., 0]) / (2 * numpy.pi) + .5
    across = u.max(axis=1) - u.min(axis=1) > 0.5
    u[across] = numpy.where(u[across] < 0.5, u[across] + 1, u[across])
    low, high = vertices[:, 1].min(), vertices[:, 1].max()
    v = (corners[..., 1] - low) / (high - low)
    return numpy.stack([u, v], axis=-1)[None].astype(numpy.float32)


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
    parser.add_argument('--uv', action='store_true',
                        help='optimise a texture image (UV-mapped) instead '
                             'of texel cubes')
    parser.add_argument('--uv-size', type=common.positive_int, default=256,
                        help='side of the texture image with --uv, in '
                             'texels (default: %(default)s)')
    common.add_common_arguments(parser, image_size=256, iterations=300)
    args = parser.parse_args(argv)
    start = time.time()

    xp = common.select_device(args.gpu)
    vertices, faces = common.load_teapot(xp)
    reference = xp.asarray(common.load_reference(
        args.filename_ref, args.image_size, colour=True))
    uvs = xp.asarray(cylindrical_uvs(vertices, faces)) if args.uv else None
    model = Model(vertices, faces, reference, args.image_size, uvs=uvs,
                  uv_size=args.uv_size)
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
    stem = 'example3_uv' if args.uv else 'example3'
    with chainer.no_backprop_mode():
        textures = model.colours()
    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    renderer.light_intensity_ambient = 1.
    renderer.light_intensity_directional = 0.
    result = {
        'gif': common.save_gif(
            os.path.join(out, stem + '.gif'),
            common.turntable(renderer, vertices, faces, textures)),
        'mesh': os.path.join(out, stem + '_result.obj'),
        'loss_plot': common.plot_loss(
            os.path.join(out, stem + '_loss.png'), losses,
            'example 3{}: squared error against the stripes'.format(
                ' (UV texture)' if args.uv else ''), log_scale=True),
        'first_loss': first,
        'final_loss': final,
        'stripe_accuracy': accuracy,
        'losses': losses,
    }
    if args.uv:
        nr.save_obj(result['mesh'], common.to_cpu(vertices)[0],
                    common.to_cpu(faces)[0], uvs=common.to_cpu(uvs)[0],
                    texture_image=numpy.clip(
                        common.to_cpu(textures.image.array)[0], 0, 1))
    else:
        nr.save_obj(result['mesh'], common.to_cpu(vertices)[0],
                    common.to_cpu(faces)[0],
                    numpy.clip(common.to_cpu(textures.array)[0], 0, 1))
    for key in ('gif', 'mesh', 'loss_plot'):
        print('wrote', result[key])
    print('loss over {} fixed views: {:.1f} -> {:.1f} ({:.0f}x lower); '
          'stripe colour right at {:.1%} of teapot pixels ({:.0f} s)'.format(
              len(EVALUATION_AZIMUTHS), first, final, first / final,
              accuracy, time.time() - start))
    return result


if __name__ == '__main__':
    main()
