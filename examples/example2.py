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

import neural_renderer as nr

import common


class Model(common.SilhouetteFit):
    """The teapot with its vertices as the parameter, seen from azimuth 90;
    calling it gives the squared silhouette error against the reference."""

    def __init__(self, vertices, faces, reference, image_size):
        super(Model, self).__init__(faces, reference, image_size)
        with self.init_scope():
            self.vertices = chainer.Parameter(vertices)
        self.renderer.eye = nr.get_points_from_angles(2.732, 0, 90)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_optimisation_arguments(parser, 'example2_ref.png', 0.001,
                                      'target silhouette')
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

    losses, frames = common.optimise(
        model, optimizer, args.iterations, 'example 2',
        max(1, args.iterations // 60),
        lambda: common.to_uint8(model.silhouettes().array[0]))

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
