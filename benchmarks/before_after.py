"""Before/after timings of two checkouts of the package, interleaved.

Usage: python benchmarks/before_after.py BEFORE_DIR AFTER_DIR [--rounds 3]
       [--smoke] [--only TEXT]

Each directory is a checkout whose CPU kernels are built in place
(``python setup.py build_ext --inplace``), e.g. a ``git worktree`` of an
earlier commit. Each round runs every case once per checkout, alternating,
each in a fresh process with that checkout first on ``PYTHONPATH``: load on
a shared machine then hits both alike. The workloads are those of this
directory's ``sweep.py`` (``sweep.renderer_workload``). Per case and round
the time is the lowest of three medians of 10 calls (3 for forward +
backward); the table shows the lowest over the rounds. ``--smoke`` runs the
teapot cases at 32 x 32, once (for the tests).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (mode, pass, mesh, image size, batch, anti-aliasing[, texture]);
# each timed with the sweep's own workload (sweep.renderer_workload): its
# textures (the sweep's Config.texture: '' the default cubes, 'uvS' a UV
# texture of S x S texels; a checkout without UV textures fails those
# cases), camera and incoming gradient, or for the losses group the loss
# of benchmarks/losses.py.
CASES = [
    ('teapot 256, AA off, render forward',
     'rgb', 'forward', 'teapot', 256, 1, False),
    ('teapot 256, AA off, render_silhouettes forward',
     'silhouettes', 'forward', 'teapot', 256, 1, False),
    ('teapot 256, AA on, render_rgbad forward',
     'rgbad', 'forward', 'teapot', 256, 1, True),
    ('teapot 256, AA on, render forward + backward',
     'rgb', 'forward+backward', 'teapot', 256, 1, True),
    ('teapot 256, AA on, render_silhouettes forward + backward',
     'silhouettes', 'forward+backward', 'teapot', 256, 1, True),
    ('teapot 256, AA off, render forward + backward',
     'rgb', 'forward+backward', 'teapot', 256, 1, False),
    ('teapot 1024, AA on, render forward + backward',
     'rgb', 'forward+backward', 'teapot', 1024, 1, True),
    ('sphere8 256, AA on, render_rgbad forward',
     'rgbad', 'forward', 'sphere8', 256, 1, True),
    ('sphere80 256, AA on, render_rgbad forward',
     'rgbad', 'forward', 'sphere80', 256, 1, True),
    ('example 2 (squared silhouette error), 256, forward + backward',
     'example2-sqerr', 'forward+backward', 'teapot', 256, 1, True),
    ('example 2 scene, IoU loss, 256, forward + backward',
     'example2-iou', 'forward+backward', 'teapot', 256, 1, True),
    ('reconstruction training step (batch 16, 64 px, two views)',
     'recon-step', 'forward+backward', 'template', 64, 16, True),
    ('reconstruction step, its renderer part alone',
     'recon-renderer', 'forward+backward', 'template', 64, 16, True),
    ('teapot 256, AA on, UV 1024^2, render forward + backward',
     'rgb', 'forward+backward', 'teapot', 256, 1, True, 'uv1024'),
    ('teapot 1024, AA on, UV 1024^2, render forward + backward',
     'rgb', 'forward+backward', 'teapot', 1024, 1, True, 'uv1024'),
    ('teapot 256, AA on, UV 4096^2, render forward + backward',
     'rgb', 'forward+backward', 'teapot', 256, 1, True, 'uv4096'),
]


def run_cases(smoke=False, only=''):
    """Times every case (whose name contains ``only``) with the
    neural_renderer on sys.path; JSON out."""
    import numpy
    sys.path.insert(0, HERE)
    import sweep

    device = sweep.Device('cpu', numpy)
    results = {}
    for case in CASES:
        name, mode, pass_, mesh, size, batch, anti_aliasing = case[:7]
        texture = case[7] if len(case) > 7 else ''
        if only not in name:
            continue
        if smoke:
            if mesh != 'teapot' or size > 256 or texture:
                continue
            size = 32
        run = sweep.renderer_workload(sweep.Config(
            'cpu', sweep.OURS, mode, pass_, mesh, size, batch,
            anti_aliasing, texture), device)
        calls = 1 if smoke else 3 if pass_ != sweep.FORWARD else 10
        for _ in range(1 if smoke else 2):
            run()
        best = float('inf')
        for _ in range(1 if smoke else 3):
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                run()
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
    parser.add_argument('--only', default='',
                        help='the cases whose name contains this text')
    args = parser.parse_args()
    best = {'before': {}, 'after': {}}
    for _ in range(args.rounds):
        for label in ('before', 'after'):
            checkout = os.path.abspath(getattr(args, label))
            env = dict(os.environ, PYTHONPATH=checkout)
            output = subprocess.check_output(
                [sys.executable, os.path.abspath(__file__), '--run-cases',
                 '--only=' + args.only] + (['--smoke'] if args.smoke else []),
                env=env, cwd=checkout)
            for name, ms in json.loads(output.decode().splitlines()[-1])\
                    .items():
                best[label][name] = min(best[label].get(name, ms), ms)
    print('| case | before, ms | after, ms | speed-up |')
    print('|---|---|---|---|')
    for name in (case[0] for case in CASES):
        if name not in best['after']:
            continue
        before, after = best['before'][name], best['after'][name]
        print('| {} | {:.3g} | {:.3g} | {:.2f}x |'.format(
            name, before, after, before / after))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--run-cases']:
        only = [a[len('--only='):] for a in sys.argv[2:]
                if a.startswith('--only=')]
        run_cases(smoke='--smoke' in sys.argv[2:],
                  only=only[0] if only else '')
    else:
        main()
