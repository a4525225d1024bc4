"""Time the renderer on the teapot: forward, and forward + backward.

Usage: python benchmarks/teapot.py [--image-size 256] [--repeat 20] [--gpu N]

Prints the median over --repeat runs after 3 warm-up runs. The full sweep
(image sizes, meshes, batches, the original's per-pixel algorithm and DEODR
for comparison) is benchmarks/sweep.py.
"""
import argparse
import os
import time

import numpy

import neural_renderer as nr
import chainer
import chainer.functions as F

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--no-anti-aliasing', action='store_true')
    parser.add_argument('--gpu', type=int, default=-1)
    args = parser.parse_args()

    vertices, faces = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
    textures = numpy.random.RandomState(0).rand(
        1, len(faces), 4, 4, 4, 3).astype(numpy.float32)
    vertices, faces = vertices[None], faces[None]
    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    renderer.anti_aliasing = not args.no_anti_aliasing
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    xp = numpy
    if args.gpu >= 0:
        import cupy
        cupy.cuda.Device(args.gpu).use()
        xp = cupy
        vertices, faces, textures = map(cupy.asarray,
                                        (vertices, faces, textures))

    def sync():
        if xp is not numpy:
            xp.cuda.Stream.null.synchronize()

    def forward():
        with chainer.no_backprop_mode():
            renderer.render_rgbad(vertices, faces, textures)
        sync()

    def forward_backward():
        v = chainer.Variable(vertices)
        t = chainer.Variable(textures)
        out = renderer.render_rgbad(v, faces, t)
        loss = F.sum(out['rgb'] * out['rgb'].array) + F.sum(out['alpha'])
        loss.backward()
        sync()

    for name, run in (('forward (rgb+alpha+depth)', forward),
                      ('forward + backward', forward_backward)):
        for _ in range(3):
            run()
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        print('{:28s} {:8.2f} ms (median of {}; {} faces, {}x{}, AA {})'
              .format(name, 1e3 * numpy.median(times), args.repeat,
                      faces.shape[1], args.image_size, args.image_size,
                      renderer.anti_aliasing))


if __name__ == '__main__':
    main()
