"""Makes the reference images of examples 2, 3 and 4 (256 x 256 PNGs).

- ``example2_ref.png``: a white centred square (rows and columns 80..175) on
  black, the silhouette example 2 bends the teapot into. It is about the
  size of the teapot seen from azimuth 90 (rows 89..171, columns 78..177).
- ``example3_ref.png``: horizontal stripes of eight colours, 16 pixels each.
  Example 3 looks at the teapot orthographically from elevation 0, where a
  row's colour depends on height only, so one texture can match the stripes
  from every azimuth.
- ``example4_ref.png``: the teapot's silhouette rendered by this package
  from distance 2.732, elevation 30, azimuth -15 (anti-aliased): the camera
  pose example 4 must recover.

Usage: python data/make_example_references.py [--output-dir data]
"""
import argparse
import os

import imageio.v2 as imageio
import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 256

SQUARE = (80, 176)  # first and one-past-last row (and column)
STRIPE_HEIGHT = 16
STRIPE_COLOURS = numpy.array([
    [230, 25, 75], [245, 130, 48], [255, 225, 25], [60, 180, 75],
    [70, 240, 240], [0, 130, 200], [145, 30, 180], [250, 250, 250]],
    numpy.uint8)
CAMERA4 = (2.732, 30, -15)  # distance, elevation, azimuth (degrees)


def square_reference(size=SIZE):
    image = numpy.zeros((size, size), numpy.uint8)
    image[SQUARE[0]:SQUARE[1], SQUARE[0]:SQUARE[1]] = 255
    return image


def stripes_reference(size=SIZE):
    rows = numpy.arange(size) // STRIPE_HEIGHT % len(STRIPE_COLOURS)
    return numpy.ascontiguousarray(numpy.broadcast_to(
        STRIPE_COLOURS[rows][:, None, :], (size, size, 3)))


def camera_reference(size=SIZE):
    import neural_renderer as nr
    vertices, faces = nr.load_obj(os.path.join(HERE, 'teapot.obj'))
    renderer = nr.Renderer()
    renderer.image_size = size
    renderer.eye = nr.get_points_from_angles(*CAMERA4)
    silhouette = renderer.render_silhouettes(vertices[None], faces[None])
    return (silhouette.array[0] * 255 + 0.5).astype(numpy.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--output-dir', default=HERE)
    args = parser.parse_args()
    for name, image in [('example2_ref.png', square_reference()),
                        ('example3_ref.png', stripes_reference()),
                        ('example4_ref.png', camera_reference())]:
        path = os.path.join(args.output_dir, name)
        imageio.imwrite(path, image)
        print('wrote', path)


if __name__ == '__main__':
    main()
