"""The renderer seen by a real classifier: the teapot rendered at 224 px from
8 azimuths (elevation 30 degrees, white, lit by the renderer's default
ambient and directional light 0.5, on a white background) and classified
by EfficientNet-Lite0 with its ImageNet weights. Prints, per view, the rank
of "teapot" (ImageNet class 849) and the top-1 class, as a Markdown table.

    python examples/classify_teapot.py [--gpu 0]
"""
import argparse

import numpy

import neural_renderer as nr

import common
import efficientnet_lite

AZIMUTHS = tuple(range(0, 360, 45))
ELEVATION = 30.
DISTANCE = 2.732
IMAGE_SIZE = 224


def render_views(xp=numpy):
    """The 8 views: [8, 3, 224, 224] float32 RGB in [0, 1] (on ``xp``)."""
    vertices, faces = nr.load_obj(common.DATA + '/teapot.obj')
    count = len(AZIMUTHS)
    renderer = nr.Renderer()
    renderer.image_size = IMAGE_SIZE
    renderer.background_color = (1., 1., 1.)
    renderer.eye = xp.asarray(nr.get_points_from_angles(
        numpy.full(count, DISTANCE, numpy.float32),
        numpy.full(count, ELEVATION, numpy.float32),
        numpy.asarray(AZIMUTHS, numpy.float32)))
    vertices = xp.asarray(numpy.repeat(vertices[None], count, axis=0))
    faces = xp.asarray(numpy.repeat(faces[None], count, axis=0))
    textures = xp.ones((count, faces.shape[1], 2, 2, 2, 3), numpy.float32)
    return renderer.render(vertices, faces, textures).array


def classify_views(network, xp=numpy):
    """Per view: (azimuth, rank of teapot, top-1 class, its probability,
    teapot's probability)."""
    logits = common.to_cpu(efficientnet_lite.classify(network,
                                                      render_views(xp)))
    logits = logits.astype(numpy.float64)
    probabilities = numpy.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    ranks = efficientnet_lite.ranks(logits, efficientnet_lite.TEAPOT)
    rows = []
    for azimuth, rank, p in zip(AZIMUTHS, ranks, probabilities):
        top = int(p.argmax())
        rows.append((azimuth, int(rank), top, float(p[top]),
                     float(p[efficientnet_lite.TEAPOT])))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-g', '--gpu', type=int, default=-1,
                        help='GPU id; -1 runs on the CPU (default)')
    args = parser.parse_args(argv)
    xp = common.select_device(args.gpu)
    network = efficientnet_lite.load_pretrained()
    if args.gpu >= 0:
        network.to_gpu(args.gpu)
    rows = classify_views(network, xp)
    print('| azimuth | rank of teapot (849) | P(teapot) | top-1 class | '
          'P(top-1) |')
    print('|---|---|---|---|---|')
    for azimuth, rank, top, p_top, p_teapot in rows:
        print('| {} | {} | {:.2f} | {} | {:.2f} |'.format(
            azimuth, rank, p_teapot, top, p_top))
    in_top5 = sum(row[1] <= 5 for row in rows)
    print('teapot in the top 5 in {} of {} views, top 1 in {}'.format(
        in_top5, len(rows), sum(row[1] == 1 for row in rows)))
    return rows


if __name__ == '__main__':
    main()
