"""A fuzz of the Renderer's clipping path (audit issue 25, item 4): random
faces around the near and far planes, behind and at the camera, with
coordinates up to the float32 range. The rule: finite inputs give a finite
image and finite gradients (vertices and textures), or a ValueError with a
message; never NaN, inf or another exception.

Bounded to a few seconds; ``NR_CLIP_FUZZ_EXAMPLES=20000 pytest
tests/test_clipping_fuzz.py`` runs it longer.
"""
import os
import warnings

import numpy
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st

import chainer
import chainer.functions as F

import neural_renderer as nr

NEAR, FAR = 0.1, 100.
FLOAT32_MAX = float(numpy.finfo(numpy.float32).max)

# Depths that straddle the planes and the camera, and far-out values.
DEPTHS = st.one_of(
    st.sampled_from([0., -0., NEAR, FAR, -1., 1., 2., -NEAR]),
    st.floats(-0.25, 0.25, width=32),
    st.floats(FAR / 2, 2 * FAR, width=32),
    st.floats(-3., 3., width=32),
    st.sampled_from([1e30, -1e30, 3e38, -3e38, 1e36, FLOAT32_MAX]),
)
LATERAL = st.one_of(
    st.floats(-3., 3., width=32),
    st.sampled_from([0., 1e30, -1e30, 3e38, -3e38, 1e36]),
)
POINT = st.tuples(LATERAL, LATERAL, DEPTHS)
TRIANGLES = st.lists(st.tuples(POINT, POINT, POINT), min_size=1,
                     max_size=4)


@settings(max_examples=int(os.environ.get('NR_CLIP_FUZZ_EXAMPLES', 300)),
          deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(triangles=TRIANGLES, fill_back=st.booleans(),
       perspective=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_clipping_gives_finite_images_and_gradients_or_an_error(
        triangles, fill_back, perspective, seed):
    vertices = numpy.asarray(triangles, numpy.float32).reshape(1, -1, 3)
    faces = numpy.arange(vertices.shape[1], dtype=numpy.int32).reshape(
        1, -1, 3)
    renderer = nr.Renderer()
    renderer.camera_mode = None  # the points are camera coordinates
    renderer.image_size = 8
    renderer.near, renderer.far = NEAR, FAR
    renderer.fill_back = fill_back
    renderer.perspective = perspective
    rng = numpy.random.RandomState(seed)
    v = chainer.Variable(vertices)
    t = chainer.Variable(rng.rand(1, faces.shape[1], 2, 2, 2, 3).astype(
        numpy.float32))
    with warnings.catch_warnings():
        # Overflow on the way is allowed (NumPy says so): what matters is
        # what comes out.
        warnings.simplefilter('ignore', RuntimeWarning)
        try:
            rgb, depth, alpha = renderer(v, faces, t)
        except ValueError as error:
            assert str(error)
            return
        images = [rgb.array, alpha.array]
        assert all(numpy.isfinite(i).all() for i in images), triangles
        weights = [rng.randn(*rgb.shape).astype(numpy.float32),
                   rng.randn(*alpha.shape).astype(numpy.float32)]
        loss = F.sum(rgb * weights[0]) + F.sum(alpha * weights[1])
        loss.backward()
    assert numpy.isfinite(v.grad).all(), triangles
    assert numpy.isfinite(t.grad).all(), triangles
