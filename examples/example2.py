"""Example 2: bend the teapot so that its side silhouette becomes a square.

The teapot's vertices are optimised (Adam) so that its silhouette seen from
azimuth 90 (distance 2.732, elevation 0) matches ``data/example2_ref.png``,
a centred square. Writes the optimisation as a GIF, a turntable of the
result, the optimised mesh (.obj) and the loss curve, and prints the
silhouette IoU with the square.
Runs on the CPU by default; ``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import os
import time

import chainer
import chainer.functions as F

import neural_renderer as nr

import common


class Model(chainer.Link):
    """The teapot with its vertices as the parameter; ``__call__`` returns
    the squared silhouette error against the reference."""

    def __init__(self, vertices, faces, reference, image_size):
        super(Model, self).__init__()
        with self.init_scope():
            self.vertices = chainer.Parameter(vertices)
        self.faces = faces
        self.reference = reference
        self.renderer = nr.Renderer()
        self.renderer.image_size = image_size
        self.renderer.eye = nr.get_points_from_angles(2.732, 0, 90)

    def silhouettes(self):
        return self.renderer.render_silhouettes(self.vertices, self.faces)

    def __call__(self):
        return F.sum(F.square(self.silhouettes() - self.reference[None]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-r', '--filename-ref',
                        default=os.path.join(common.DATA, 'example2_ref.png'),
                        help='target silhouette (default: %(default)s)')
    parser.add_argument('--learning-rate', type=float, default=0.001,
                        help='Adam step size (default: %(default)s)')
    common.add_common_arguments(parser, image_size=256, iterations=300)
    args = parser.parse_args(argv)
    start = time.time()

    xp = common.select_device(args.gpu)
    vertices, faces = common.load_teapot(xp)
    reference = xp.asarray(common.load_reference(args.filename_ref,
                                                 args.image_size))
    model = Model(vertices, faces, reference, args.image_size)
    optimizer = nr.Adam(alpha=args.learning_rate)
    optimizer.setup(model)

    losses, frames = [], []
    frame_every = max(1, args.iterations // 60)
    for i in common.progress(args.iterations, 'example 2'):
        loss = model()
        model.cleargrads()
        loss.backward()
        optimizer.update()
        losses.append(float(loss.array))
        if i % frame_every == 0:
            with chainer.no_backprop_mode():
                frames.append(common.to_uint8(model.silhouettes().array[0]))

    with chainer.no_backprop_mode():
        final = model.silhouettes().array[0]
    iou = common.silhouette_iou(final, reference)
    frames.append(common.to_uint8(final))

    out = args.output_dir
    textures = xp.ones((1, faces.shape[1], 2, 2, 2, 3), xp.float32)
    result = {
        'optimisation_gif': common.save_gif(
            os.path.join(out, 'example2_optimisation.gif'), frames),
        'result_gif': common.save_gif(
            os.path.join(out, 'example2_result.gif'),
            common.turntable(model.renderer, model.vertices.array, faces,
                             textures)),
        'mesh': os.path.join(out, 'example2_result.obj'),
        'loss_plot': common.plot_loss(
            os.path.join(out, 'example2_loss.png'), losses,
            'example 2: silhouette squared error'),
        'iou': iou,
        'losses': losses,
    }
    nr.save_obj(result['mesh'], common.to_cpu(model.vertices.array)[0],
                common.to_cpu(faces)[0])
    for key in ('optimisation_gif', 'result_gif', 'mesh', 'loss_plot'):
        print('wrote', result[key])
    print('silhouette IoU with the square: {:.3f} (loss {:.1f} -> {:.1f}, '
          '{:.0f} s)'.format(iou, losses[0], losses[-1], time.time() - start))
    return result


if __name__ == '__main__':
    main()
