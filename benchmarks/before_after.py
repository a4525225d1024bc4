"""Before/after timings of two checkouts of the package, interleaved.

Usage: python benchmarks/before_after.py BEFORE_DIR AFTER_DIR [--rounds 3]
       [--smoke]

Each directory is a checkout whose CPU kernels are built in place
(``python setup.py build_ext --inplace``), e.g. a ``git worktree`` of an
earlier commit. Each round runs every case once per checkout, alternating,
each in a fresh process with that checkout first on ``PYTHONPATH``: load on
a shared machine then hits both alike. Per case and round the time is the
lowest of three medians of 10 calls (3 for forward + backward); the table
shows the lowest over the rounds. ``--smoke`` runs the teapot cases at
32 x 32, once (for the tests).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (mesh, image size, anti-aliasing, what, texel cube size)
CASES = [
    ('teapot 256, AA off, render forward', 'teapot', 256, False, 'rgb', 4),
    ('teapot 256, AA off, render_silhouettes forward', 'teapot', 256, False,
     'silhouettes', 4),
    ('teapot 256, AA on, render_rgbad forward', 'teapot', 256, True, 'rgbad',
     4),
    ('teapot 256, AA on, render forward + backward', 'teapot', 256, True,
     'backward', 4),
    ('teapot 256, AA off, render forward + backward', 'teapot', 256, False,
     'backward', 4),
    ('sphere8 256, AA on, render_rgbad forward', 'sphere8', 256, True,
     'rgbad', 4),
    ('sphere80 256, AA on, render_rgbad forward', 'sphere80', 256, True,
     'rgbad', 2),
]


def run_cases(smoke=False):
    """Times every case with the neural_renderer on sys.path; JSON out."""
    import numpy
    import chainer
    import neural_renderer as nr
    sys.path.insert(0, HERE)
    import meshes

    results = {}
    for name, mesh, size, anti_aliasing, what, texture_size in CASES:
        if smoke:
            if mesh != 'teapot':
                continue
            size = 32
        vertices, faces = meshes.mesh(mesh)
        vertices = vertices[None].astype(numpy.float32)
        faces = faces[None]
        textures = numpy.random.RandomState(0).rand(
            1, faces.shape[1], texture_size, texture_size, texture_size,
            3).astype(numpy.float32)
        renderer = nr.Renderer()
        renderer.image_size = size
        renderer.anti_aliasing = anti_aliasing
        renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
        grad = numpy.random.RandomState(1).randn(1, 3, size, size).astype(
            numpy.float32)

        def call():
            if what == 'backward':
                v = chainer.Variable(vertices)
                t = chainer.Variable(textures)
                images = renderer.render(v, faces, t)
                chainer.functions.sum(images * grad).backward()
                return
            with chainer.no_backprop_mode():
                if what == 'rgb':
                    renderer.render(vertices, faces, textures)
                elif what == 'rgbad':
                    renderer.render_rgbad(vertices, faces, textures)
                else:
                    renderer.render_silhouettes(vertices, faces)

        calls = 1 if smoke else 3 if what == 'backward' else 10
        for _ in range(1 if smoke else 2):
            call()
        best = float('inf')
        for _ in range(1 if smoke else 3):
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            best = min(best, 1000 * float(numpy.median(times)))
        results[name] = best
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('before')
    parser.add_argument('after')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--smoke', action='store_true')
    args = parser.parse_args()
    best = {'before': {}, 'after': {}}
    for _ in range(args.rounds):
        for label in ('before', 'after'):
            checkout = os.path.abspath(getattr(args, label))
            env = dict(os.environ, PYTHONPATH=checkout)
            output = subprocess.check_output(
                [sys.executable, os.path.abspath(__file__), '--run-cases'] +
                (['--smoke'] if args.smoke else []),
                env=env, cwd=checkout)
            for name, ms in json.loads(output.decode().splitlines()[-1])\
                    .items():
                best[label][name] = min(best[label].get(name, ms), ms)
    print('| case | before, ms | after, ms | speed-up |')
    print('|---|---|---|---|')
    for name, _, _, _, _, _ in CASES:
        if name not in best['after']:
            continue
        before, after = best['before'][name], best['after'][name]
        print('| {} | {:.3g} | {:.3g} | {:.2f}x |'.format(
            name, before, after, before / after))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--run-cases']:
        run_cases(smoke='--smoke' in sys.argv[2:])
    else:
        main()
