"""Workloads of the losses people train with (the sweep's 'losses' group).

A random incoming gradient (the other groups) makes every pixel of every
scan line count; the losses the examples train with do not:

* ``example2-sqerr``: example 2 as it trains: the teapot seen from azimuth
  90 (distance 2.732, elevation 0), sum((silhouette - reference)^2) against
  data/example2_ref.png, forward + backward to the vertices.
* ``example2-iou``: the same scene with the IoU loss (paper eq. 5; the
  reconstruction's loss), 1 - sum(s t) / sum(s + t - s t).
* ``recon-step``: one training step of examples/reconstruction/train.py at
  its defaults (batch 16, two views, 64 x 64, the 642-vertex template):
  encoder, decoder, 4 x 16 silhouettes, IoU + smoothness loss, backward,
  Adam update. The images are synthetic (discs), so no dataset is needed.
* ``recon-renderer``: the renderer's part of that step alone: the same 64
  silhouettes (meshes the untrained network predicts) and the IoU loss,
  forward + backward to the vertices. Its time over ``recon-step``'s is the
  renderer's share of a training step.
"""
import os
import sys

import numpy

import chainer
import chainer.functions as F

import neural_renderer as nr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..')
EXAMPLES = os.path.join(ROOT, 'examples')
RECONSTRUCTION = os.path.join(EXAMPLES, 'reconstruction')

MODES = ('example2-sqerr', 'example2-iou', 'recon-step', 'recon-renderer')
EXAMPLE2_EYE = (2.732, 0, 90)  # distance, elevation, azimuth


def _reconstruction_module(name):
    """A module of examples/reconstruction (``model``, ``dataset``)."""
    if RECONSTRUCTION not in sys.path:
        sys.path.insert(0, RECONSTRUCTION)
    return __import__(name)


def _example2(mode, size, anti_aliasing, xp, sync):
    from PIL import Image
    vertices, faces = nr.load_obj(os.path.join(ROOT, 'data', 'teapot.obj'))
    image = Image.open(os.path.join(ROOT, 'data', 'example2_ref.png'))
    image = image.convert('L').resize((size, size), Image.BOX)
    reference = xp.asarray(numpy.asarray(image, numpy.float32)[None] / 255)
    vertices = xp.asarray(vertices[None])
    faces = xp.asarray(faces[None])
    renderer = nr.Renderer()
    renderer.image_size = size
    renderer.anti_aliasing = anti_aliasing
    renderer.eye = nr.get_points_from_angles(*EXAMPLE2_EYE)

    def run():
        v = chainer.Variable(vertices)
        silhouettes = renderer.render_silhouettes(v, faces)
        if mode == 'example2-sqerr':
            loss = F.sum(F.square(silhouettes - reference))
        else:
            loss = _reconstruction_module('model').iou_loss(silhouettes,
                                                            reference)
        loss.backward()
        sync()
    return run


def _reconstruction_inputs(batch, rng):
    """Two views of ``batch`` synthetic objects: images [B, 4, 64, 64]
    (rgb noise, alpha a disc) and the views' eyes [B, 3]."""
    dataset = _reconstruction_module('dataset')
    yy, xx = numpy.mgrid[:64, :64] - 31.5
    views = []
    for _ in range(2):
        images = rng.uniform(0, 1, (batch, 4, 64, 64)).astype(numpy.float32)
        radius = rng.uniform(12, 28, (batch, 1, 1))
        images[:, 3] = (xx ** 2 + yy ** 2 < radius ** 2)
        eyes = numpy.asarray(dataset.view_eyes(
            rng.randint(0, dataset.NUM_VIEWS, batch)), numpy.float32)
        views.append((images, eyes))
    return views


def _reconstruction(mode, size, batch, xp, sync):
    reconstruction_model = _reconstruction_module('model')
    rng = numpy.random.RandomState(0)
    model = reconstruction_model.Reconstructor(image_size=size)
    if xp is not numpy:
        model.to_device(chainer.get_device('@cupy:0'))
    optimizer = reconstruction_model.setup_optimizer(model)
    (images_a, eyes_a), (images_b, eyes_b) = [
        (xp.asarray(images), xp.asarray(eyes))
        for images, eyes in _reconstruction_inputs(batch, rng)]
    if mode == 'recon-step':
        def run():
            loss = model(images_a, images_b, eyes_a, eyes_b)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            sync()
        return run

    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        vertices = model.predict(F.concat((images_a, images_b), axis=0))
    masks = [reconstruction_model.masks_at_size(view[:, 3], size)
             for view in (images_a, images_b)]
    pair_vertices, pair_eyes, pair_masks = \
        reconstruction_model.all_view_pairs(vertices, (eyes_a, eyes_b),
                                            masks)
    pair_vertices = pair_vertices.array
    pair_masks = getattr(pair_masks, 'array', pair_masks)

    def run():
        v = chainer.Variable(pair_vertices)
        silhouettes = model.render_silhouettes(v, pair_eyes)
        reconstruction_model.iou_loss(silhouettes, pair_masks).backward()
        sync()
    return run


def workload(mode, size, batch, anti_aliasing, xp, sync):
    """The callable timed for a 'losses' row."""
    if mode in ('example2-sqerr', 'example2-iou'):
        return _example2(mode, size, anti_aliasing, xp, sync)
    if mode in ('recon-step', 'recon-renderer'):
        return _reconstruction(mode, size, batch, xp, sync)
    raise ValueError('unknown loss workload {!r}'.format(mode))
