"""Where the renderer's time goes: each pipeline stage and each kernel.

Usage: python benchmarks/profile_stages.py [--image-size 256] [--repeat 15]
       [--no-anti-aliasing]

Times the stages of ``Renderer.render_rgbad`` on the teapot (fill_back,
per-face lighting, camera + projection, rasterization) under
no_backprop_mode, then forward + backward of ``render`` with vertices and
textures as Variables, and the median time of every kernel launch in
each. CPU only.
"""
import argparse
import os
import sys
import time

import numpy

import neural_renderer as nr
import chainer
import chainer.functions as F

from neural_renderer import _launcher
from neural_renderer.lighting import face_light
from neural_renderer.vertices_to_faces import vertices_to_faces

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
_rasterize_module = sys.modules['neural_renderer.rasterize']


class KernelTimer(object):
    """Wraps the launcher so that every kernel launch is timed."""

    def __init__(self):
        self.times = {}
        self._launch = _launcher.launch

    def __enter__(self):
        def timed(name, *args, **named):
            start = time.perf_counter()
            self._launch(name, *args, **named)
            self.times.setdefault(name, []).append(time.perf_counter() - start)
        _rasterize_module._launcher.launch = timed
        return self

    def __exit__(self, *exc):
        _rasterize_module._launcher.launch = self._launch


def median_ms(function, repeat, warmup=3):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * numpy.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--repeat', type=int, default=15)
    parser.add_argument('--no-anti-aliasing', action='store_true')
    args = parser.parse_args()

    vertices, faces = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
    vertices, faces = vertices[None], faces[None]
    textures = numpy.random.RandomState(0).rand(
        1, faces.shape[1], 4, 4, 4, 3).astype(numpy.float32)
    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    renderer.anti_aliasing = not args.no_anti_aliasing
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)

    rows = []
    with chainer.no_backprop_mode():
        doubled_faces = renderer._fill_back(faces)
        rows.append(('fill_back (faces only)', median_ms(
            lambda: renderer._fill_back(faces), args.repeat)))
        rows.append(('face_light (per-face lighting)', median_ms(
            lambda: face_light(vertices_to_faces(vertices, faces),
                               fill_back=True), args.repeat)))
        rows.append(('look_at + perspective + vertices_to_faces', median_ms(
            lambda: vertices_to_faces(renderer._to_screen(vertices),
                                      doubled_faces), args.repeat)))
        screen_faces, _, light, weights = renderer._screen_faces(
            vertices, faces, textures)
        with KernelTimer() as timer:
            rows.append(('rasterize_rgbad (kernels + 2x2 averages)',
                         median_ms(lambda: renderer._rasterize(
                             screen_faces, textures, light, True, True, True,
                             renderer.rasterizer_eps, weights),
                             args.repeat)))
        forward_kernels = timer.times
        rows.append(('render_rgbad, whole forward', median_ms(
            lambda: renderer.render_rgbad(vertices, faces, textures),
            args.repeat)))

    vertices_v = chainer.Variable(vertices)
    textures_v = chainer.Variable(textures)
    grad = numpy.random.RandomState(1).rand(
        1, 3, args.image_size, args.image_size).astype(numpy.float32)

    def forward_backward():
        vertices_v.cleargrad()
        textures_v.cleargrad()
        images = renderer.render(vertices_v, faces, textures_v)
        F.sum(images * grad).backward()

    with KernelTimer() as timer:
        rows.append(('render forward + backward (rgb)',
                     median_ms(forward_backward, args.repeat)))
    backward_kernels = timer.times

    print('teapot, {0} x {0}, anti-aliasing {2}, median ms of {1} calls'
          .format(args.image_size, args.repeat,
                  'off' if args.no_anti_aliasing else 'on'))
    for name, ms in rows:
        print('  {:<46s} {:8.2f}'.format(name, ms))
    for title, times in (('kernels, forward', forward_kernels),
                         ('kernels, forward + backward', backward_kernels)):
        print(title)
        for name, values in times.items():
            print('  {:<46s} {:8.2f}'.format(
                name, 1000 * numpy.median(values)))


if __name__ == '__main__':
    main()
