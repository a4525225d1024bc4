"""End to end: fit the 642-vertex sphere to another shape's silhouettes."""
import os

import numpy

import chainer
import chainer.functions as F

import neural_renderer as nr

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def iou(a, b):
    return (a * b).sum() / (a + b - a * b).sum()


def test_sphere_fits_cube_silhouettes():
    vertices, faces = nr.load_obj(os.path.join(DATA, 'sphere_642.obj'))
    # Target: a box with the sphere's topology (each vertex pushed out to
    # the box surface along its ray), so it is a different shape.
    half_extent = numpy.array([0.7, 0.45, 0.55], numpy.float32)
    scale = numpy.abs(vertices / half_extent).max(axis=1, keepdims=True)
    target_vertices = vertices / scale
    start = vertices * 0.5

    views = [(30, 0), (30, 90), (-20, 45), (60, 200)]
    renderer = nr.Renderer()
    renderer.image_size = 48
    renderer.eye = numpy.array(
        [nr.get_points_from_angles(2.732, el, az) for el, az in views],
        numpy.float32)
    batch = len(views)
    faces_b = numpy.broadcast_to(faces, (batch,) + faces.shape).copy()
    target = renderer.render_silhouettes(
        numpy.broadcast_to(target_vertices, (batch,) + vertices.shape).copy(),
        faces_b).array

    model = chainer.Link()
    with model.init_scope():
        model.vertices = chainer.Parameter(start.copy())
    optimizer = nr.Adam(alpha=0.01, beta1=0.9)
    optimizer.setup(model)

    def silhouettes():
        v = F.broadcast_to(model.vertices[None], (batch,) + vertices.shape)
        return renderer.render_silhouettes(v, faces_b)

    first = iou(silhouettes().array, target)
    for _ in range(150):
        s = silhouettes()
        loss = 1 - F.sum(s * target) / F.sum(s + target - s * target)
        model.cleargrads()
        loss.backward()
        optimizer.update()
    final = iou(silhouettes().array, target)
    assert first < 0.6
    assert final >= 0.9, final
    assert numpy.isfinite(model.vertices.array).all()
