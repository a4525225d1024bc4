"""Make ``data/textured_cube/``: a small textured cube (.obj, .mtl, .png).

Usage: ``python data/make_textured_mesh.py [output_directory]``
(default: ``textured_cube`` next to this script).

The cube spans [-1, 1]^3 and has six quads (12 triangles once
fan-triangulated), front-facing from outside with the renderer's winding:
its screen frame (x right, y up, z away from the camera) is left-handed, so
each quad is counter-clockwise on the renderer's screen, and clockwise by the
right-hand rule, seen from outside. Two materials:

* ``pattern``: ``map_Kd cube.png`` on the four side faces, each showing the
  whole image upright (``vt`` (0, 0) at the face's lower left corner, seen
  from outside, (1, 1) at its upper right);
* ``plain``: ``Kd 0.2 0.6 0.9`` (no image) on the top and bottom faces, which
  have no ``vt``.

``cube.png`` is 32 x 32 RGB with one colour per quadrant (as displayed, row 0
at the top): top left red (255, 0, 0), top right green (0, 255, 0), bottom
left blue (0, 0, 255), bottom right yellow (255, 255, 0). OBJ ``vt`` v = 0 is
the image's bottom row, so (u, v) = (0.25, 0.25) is blue and (0.75, 0.75)
green. The .obj and .mtl are reproduced byte for byte, the .png pixel for
pixel (its compressed bytes depend on the PNG writer's version).
"""
import argparse
import os

import imageio.v3 as iio
import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_SIZE = 32
QUADRANT_COLOURS = {  # (row half, column half) as displayed: RGB
    (0, 0): (255, 0, 0), (0, 1): (0, 255, 0),
    (1, 0): (0, 0, 255), (1, 1): (255, 255, 0)}
PLAIN_KD = (0.2, 0.6, 0.9)

VERTICES = [(-1, -1, -1), (1, -1, -1), (1, 1, -1), (-1, 1, -1),
            (-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)]
TEXCOORDS = [(0, 0), (1, 0), (1, 1), (0, 1)]
# One-based vertex indices. Seen from outside in the renderer's view (the
# camera at -z sees +x on its right), each side quad starts at its lower left
# corner and runs counter-clockwise: lower right, upper right, upper left.
SIDE_QUADS = [(1, 2, 3, 4),   # -z
              (2, 6, 7, 3),   # +x
              (6, 5, 8, 7),   # +z
              (5, 1, 4, 8)]   # -x
CAP_QUADS = [(4, 3, 7, 8),    # +y
             (5, 6, 2, 1)]    # -y


def make_image():
    """[32, 32, 3] uint8, row 0 at the top."""
    half = IMAGE_SIZE // 2
    image = numpy.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), numpy.uint8)
    for (r, c), colour in sorted(QUADRANT_COLOURS.items()):
        image[r * half:(r + 1) * half, c * half:(c + 1) * half] = colour
    return image


def obj_text():
    lines = ['# Textured cube: made by data/make_textured_mesh.py',
             'mtllib cube.mtl']
    lines += ['v %d %d %d' % v for v in VERTICES]
    lines += ['vt %d %d' % t for t in TEXCOORDS]
    lines.append('usemtl pattern')
    for quad in SIDE_QUADS:
        lines.append('f ' + ' '.join('%d/%d' % (v, t + 1)
                                     for t, v in enumerate(quad)))
    lines.append('usemtl plain')
    for quad in CAP_QUADS:
        lines.append('f ' + ' '.join('%d' % v for v in quad))
    return '\n'.join(lines) + '\n'


def mtl_text():
    return ('# Materials of cube.obj: made by data/make_textured_mesh.py\n'
            'newmtl pattern\n'
            'Kd 1 1 1\n'
            'map_Kd cube.png\n'
            '\n'
            'newmtl plain\n'
            'Kd %g %g %g\n' % PLAIN_KD)


def check_outward():
    v = numpy.array(VERTICES, numpy.float64)
    for quad in SIDE_QUADS + CAP_QUADS:
        p = v[numpy.array(quad) - 1]
        normal = numpy.cross(p[0] - p[1], p[2] - p[1])  # renderer's normal
        if numpy.dot(normal, p.mean(0)) <= 0:
            raise AssertionError('quad %r is not oriented outward' % (quad,))


def write(directory):
    check_outward()
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'cube.obj'), 'w', newline='\n') as f:
        f.write(obj_text())
    with open(os.path.join(directory, 'cube.mtl'), 'w', newline='\n') as f:
        f.write(mtl_text())
    iio.imwrite(os.path.join(directory, 'cube.png'), make_image())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('output', nargs='?',
                        default=os.path.join(HERE, 'textured_cube'))
    args = parser.parse_args(argv)
    write(args.output)
    print('%s: cube.obj, cube.mtl, cube.png' % args.output)


if __name__ == '__main__':
    main()
