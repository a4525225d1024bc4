"""The CPU kernels under threads and processes: results that do not depend
on the thread count, and rendering in forked children."""
import multiprocessing
import os
import subprocess
import sys

import numpy
import pytest

import neural_renderer as nr

HERE = os.path.dirname(os.path.abspath(__file__))

# Forward and backward of a textured, lit, anti-aliased teapot (fill_back:
# two faces share each texel cube) with rgb, alpha and depth gradients;
# saves every gradient to the npz file named by argv[1].
GRADIENTS = r'''
import sys
import numpy
import chainer
import chainer.functions as F
import neural_renderer as nr

vertices, faces = nr.load_obj(sys.argv[2])
rng = numpy.random.RandomState(0)
vertices = chainer.Variable(vertices[None])
textures = chainer.Variable(
    rng.uniform(0, 1, (1, faces.shape[0], 3, 3, 3, 3)).astype('f'))
renderer = nr.Renderer()
renderer.image_size = 64
renderer.eye = nr.get_points_from_angles(2.732, 30, 40)
renderer.light_intensity_directional = chainer.Variable(
    numpy.asarray(0.6, 'f'))
rgb, depth, alpha = renderer(vertices, faces[None], textures)
loss = (F.sum(rgb * rng.randn(*rgb.shape).astype('f')) +
        F.sum(alpha * rng.randn(*alpha.shape).astype('f')) +
        F.sum(depth * rng.randn(*depth.shape).astype('f')))
loss.backward()
numpy.savez(sys.argv[1], vertices=vertices.grad, textures=textures.grad,
            light=renderer.light_intensity_directional.grad)
'''


def gradients(tmp_path, threads):
    out = str(tmp_path / 'grad_{}.npz'.format(threads))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, '-c', GRADIENTS, out,
                    os.path.join(HERE, '..', 'data', 'teapot.obj')],
                   check=True, env=env)
    with numpy.load(out) as data:
        return {key: data[key] for key in data.files}


def test_backward_is_bitwise_the_same_for_any_thread_count(tmp_path):
    # Each gradient is summed in one fixed order by the thread that owns
    # it (no floating-point atomics), so 1, 2 or 3 threads (more than this
    # machine's cores: another schedule) give the same bits.
    one = gradients(tmp_path, 1)
    assert all(numpy.abs(g).sum() > 0 for g in one.values())
    for threads in (2, 3):
        other = gradients(tmp_path, threads)
        for key in one:
            numpy.testing.assert_array_equal(other[key], one[key], key)


def render(seed):
    rng = numpy.random.RandomState(seed)
    faces = numpy.concatenate([rng.uniform(-1, 1, (1, 60, 3, 2)),
                               rng.uniform(1, 3, (1, 60, 3, 1))], axis=3)
    return nr.rasterize_silhouettes(faces, 64).array


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='no fork() here')
def test_forked_children_render_after_the_parent_did():
    # The parent's OpenMP thread pool does not survive fork(): children
    # that render with it wait forever. They run the kernels serially.
    expected = [render(seed) for seed in range(4)]  # the parent renders
    pool = multiprocessing.get_context('fork').Pool(2)
    try:
        results = pool.map_async(render, range(4)).get(timeout=60)
    finally:
        pool.terminate()
        pool.join()
    for got, wanted in zip(results, expected):
        numpy.testing.assert_array_equal(got, wanted)
