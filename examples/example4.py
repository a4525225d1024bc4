"""Example 4: find the camera from a silhouette.

The camera position ``eye`` is a ``chainer.Parameter`` starting at
[6, 10, -14]; Adam moves it until the teapot's silhouette matches
``data/example4_ref.png``, rendered from distance 2.732, elevation 30,
azimuth -15. Writes the optimisation as a GIF and the loss curve, and prints
the silhouette IoU and how far ``eye`` ends from the target pose.
Runs on the CPU by default; ``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import os
import time

import chainer
import numpy

import neural_renderer as nr

import common

START = (6., 10., -14.)
TARGET = (2.732, 30, -15)  # distance, elevation, azimuth of the reference


class Model(common.SilhouetteFit):
    """The teapot seen by a camera whose position is the parameter;
    calling it gives the squared silhouette error."""

    def __init__(self, vertices, faces, reference, image_size):
        super(Model, self).__init__(faces, reference, image_size)
        with self.init_scope():
            self.camera_position = chainer.Parameter(
                self.xp.asarray(START, self.xp.float32))
        self.vertices = vertices
        self.renderer.eye = self.camera_position


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_optimisation_arguments(parser, 'example4_ref.png', 0.1,
                                      'target silhouette')
    common.add_common_arguments(parser, image_size=256, iterations=1000)
    parser.add_argument('--stop-error', type=float, default=3e-4,
                        help='stop early when the mean squared silhouette '
                             'error per pixel falls below this (default: '
                             '%(default)s; 0 runs every iteration)')
    args = parser.parse_args(argv)
    start = time.time()

    xp = common.select_device(args.gpu)
    vertices, faces = common.load_teapot(xp)
    reference = xp.asarray(common.load_reference(args.filename_ref,
                                                 args.image_size))
    model = Model(vertices, faces, reference, args.image_size)
    if xp is not numpy:
        model.to_device(chainer.get_device(xp.cuda.Device()))
        model.renderer.eye = model.camera_position
    optimizer = nr.Adam(alpha=args.learning_rate)
    optimizer.setup(model)

    textures = xp.ones((1, faces.shape[1], 2, 2, 2, 3), xp.float32)
    losses, frames = common.optimise(
        model, optimizer, args.iterations, 'example 4', 4,
        lambda: common.to_uint8(model.renderer.render(
            vertices, faces, textures).array[0]),
        stop=lambda loss: loss / reference.size < args.stop_error)

    with chainer.no_backprop_mode():
        final = model.silhouettes().array[0]
        frames.append(common.to_uint8(model.renderer.render(
            vertices, faces, textures).array[0]))
    iou = common.silhouette_iou(final, reference)
    eye = common.to_cpu(model.camera_position.array).astype(numpy.float64)
    target_eye = numpy.array(nr.get_points_from_angles(*TARGET))
    distance = float(numpy.linalg.norm(eye))

    out = args.output_dir
    result = {
        'gif': common.save_gif(os.path.join(out, 'example4.gif'), frames),
        'loss_plot': common.plot_loss(
            os.path.join(out, 'example4_loss.png'), losses,
            'example 4: silhouette squared error', log_scale=True),
        'iou': iou,
        'eye': eye,
        'distance_error': abs(distance - TARGET[0]),
        'eye_error': float(numpy.linalg.norm(eye - target_eye)),
        'iterations': len(losses),
        'losses': losses,
    }
    for key in ('gif', 'loss_plot'):
        print('wrote', result[key])
    print('silhouette IoU with the reference: {:.3f} after {} iterations '
          '({:.0f} s)'.format(iou, len(losses), time.time() - start))
    print('eye ends at ({:.3f}, {:.3f}, {:.3f}), {:.3f} from the origin '
          '(target {}); {:.3f} from the target eye ({:.3f}, {:.3f}, {:.3f})'
          .format(*eye, distance, TARGET[0], result['eye_error'],
                  *target_eye))
    return result


if __name__ == '__main__':
    main()
