"""Where the time of a forward + backward with a UV texture goes: the
teapot (the sweep's cylindrical uvs, a random image), rgb, anti-aliasing
on, each kernel timed by wrapping the launcher.

Usage: python benchmarks/profile_uv.py IMAGE_SIZE TEXTURE_SIZE [--calls N]
"""
import argparse
import collections
import os
import sys
import time

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import neural_renderer as nr  # NOQA  (installs the NumPy 2 shim first)
import chainer  # NOQA
import chainer.functions as F  # NOQA
from neural_renderer import _launcher  # NOQA

import sweep  # NOQA


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image_size', type=int)
    parser.add_argument('texture_size', type=int)
    parser.add_argument('--calls', type=int, default=5)
    args = parser.parse_args()
    vertices, faces = nr.load_obj(os.path.join(HERE, '..', 'data',
                                               'teapot.obj'))
    uvs = sweep.cylindrical_uvs(vertices, faces)[None].astype(numpy.float32)
    rng = numpy.random.RandomState(0)
    image = rng.rand(1, args.texture_size, args.texture_size, 3).astype('f')
    renderer = nr.Renderer(image_size=args.image_size)
    renderer.eye = nr.get_points_from_angles(*sweep.EYE)
    grad = rng.randn(1, 3, args.image_size, args.image_size).astype('f')
    kernels = collections.Counter()
    launch = _launcher.launch

    def timed(name, *arguments, **named):
        start = time.perf_counter()
        launch(name, *arguments, **named)
        kernels[name] += time.perf_counter() - start

    modules = [sys.modules['neural_renderer.rasterize'],
               sys.modules['neural_renderer.mipmap']]
    for module in modules:
        module._launcher.launch = timed
    total = forward = 0.
    try:
        for call in range(args.calls + 1):
            if call == 1:  # the first call warms up
                kernels.clear()
                total = forward = 0.
            v, u, i = (chainer.Variable(a) for a in (vertices[None], uvs,
                                                     image))
            start = time.perf_counter()
            rgb = renderer.render(v, faces[None], nr.UVTexture(u, i))
            middle = time.perf_counter()
            F.sum(rgb * grad).backward()
            total += time.perf_counter() - start
            forward += middle - start
    finally:
        for module in modules:
            module._launcher.launch = launch
    calls = args.calls
    print('forward + backward {:.1f} ms (forward {:.1f} ms), {} threads'
          .format(1e3 * total / calls, 1e3 * forward / calls,
                  os.environ.get('OMP_NUM_THREADS', 'all')))
    for name, seconds in kernels.most_common():
        print('  {:<24} {:.1f} ms'.format(name, 1e3 * seconds / calls))


if __name__ == '__main__':
    main()
