"""Room: look around a room from inside (near-plane clipping).

The room is 4 m x 2.5 m x 4 m with a checkered floor, four coloured walls,
a ceiling and a table, each wall, the floor and the ceiling a single pair of
triangles. The camera stands inside and turns around: at every azimuth some
walls reach behind it and cross the near plane. They are clipped there, not
dropped, so every pixel of every frame shows the room: the script prints
that coverage (100% is success) and how many faces were clipped. Writes the
turn as a GIF. Runs on the CPU by default; ``--gpu N`` uses GPU N.
"""
import argparse
import os
import time

import numpy

import chainer
import neural_renderer as nr

import common

# Corners (x, y, z) of the room's axis-aligned boxes: the room itself (seen
# from inside) and a table top and its four legs (seen from outside).
ROOM = ((-2., 0., -2.), (2., 2.5, 2.))
TABLE = [((-0.5, 0.7, 0.6), (0.5, 0.78, 1.4))] + [
    ((x, 0., z), (x + 0.08, 0.7, z + 0.08))
    for x in (-0.45, 0.37) for z in (0.65, 1.27)]
WALL_COLOURS = {'floor': None, 'ceiling': (0.95, 0.95, 0.9),
                '-x': (0.8, 0.3, 0.25), '+x': (0.25, 0.5, 0.8),
                '-z': (0.9, 0.8, 0.35), '+z': (0.35, 0.7, 0.4)}
TABLE_COLOUR = (0.55, 0.35, 0.2)


def box_faces(low, high, inside):
    """Vertices [8, 3] and named quads of an axis-aligned box, each as two
    triangles front-facing (counter-clockwise on screen) from inside or
    from outside: the renderer's projection mirrors x, so a front face's
    right-handed normal points away from the camera."""
    (x0, y0, z0), (x1, y1, z1) = low, high
    vertices = numpy.array([[x, y, z] for x in (x0, x1) for y in (y0, y1)
                            for z in (z0, z1)], numpy.float32)
    # Vertex i is (x, y, z) with bits (i >> 2, i >> 1, i) & 1 choosing the
    # high side.
    quads = {'-x': (0, 1, 3, 2), '+x': (4, 6, 7, 5), 'floor': (0, 4, 5, 1),
             'ceiling': (2, 3, 7, 6), '-z': (0, 2, 6, 4), '+z': (1, 5, 7, 3)}
    faces = {}
    centre = vertices.mean(axis=0)
    for name, (a, b, c, d) in quads.items():
        pair = numpy.array([(a, b, c), (a, c, d)], numpy.int32)
        tri = vertices[pair[0]]
        normal = numpy.cross(tri[1] - tri[0], tri[2] - tri[0])
        outward = numpy.dot(normal, tri.mean(axis=0) - centre) > 0
        if outward != inside:
            pair = pair[:, ::-1]
        faces[name] = pair
    return vertices, faces


def checker_cubes(triangles, size, square=1.):
    """Texel cubes [N, T, T, T, 3] of a floor checkerboard: texel (i, j, k)
    of a face holds the pattern at the face's point with barycentric
    weights (i, j, k) / (i + j + k)."""
    index = numpy.stack(numpy.meshgrid(*[numpy.arange(size)] * 3,
                                       indexing='ij'), -1).astype(float)
    total = index.sum(-1, keepdims=True)
    weights = numpy.where(total > 0, index / numpy.maximum(total, 1), 1 / 3.)
    points = numpy.einsum('ijkv,fvc->fijkc', weights, triangles)
    dark = (numpy.floor(points[..., 0] / square) +
            numpy.floor(points[..., 2] / square)) % 2
    light, shade = numpy.array([0.85, 0.82, 0.75]), numpy.array(
        [0.3, 0.28, 0.26])
    return numpy.where(dark[..., None] > 0, shade, light).astype(numpy.float32)


def build_room(texture_size):
    """The room as vertices [V, 3], faces [F, 3] and textures
    [F, T, T, T, 3] (float32)."""
    all_vertices, all_faces, all_textures = [], [], []

    def add(vertices, named, colour_of):
        offset = sum(len(v) for v in all_vertices)
        all_vertices.append(vertices)
        for name, pair in named.items():
            all_faces.append(pair + offset)
            colour = colour_of(name)
            if colour is None:
                cubes = checker_cubes(vertices[pair], texture_size)
            else:
                cubes = numpy.broadcast_to(
                    numpy.asarray(colour, numpy.float32),
                    (2,) + (texture_size,) * 3 + (3,))
            all_textures.append(cubes)

    add(*box_faces(*ROOM, inside=True), WALL_COLOURS.get)
    for low, high in TABLE:
        add(*box_faces(low, high, inside=False), lambda name: TABLE_COLOUR)
    return (numpy.concatenate(all_vertices), numpy.concatenate(all_faces),
            numpy.concatenate(all_textures))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--step', type=common.positive_int, default=6,
                        help='degrees between frames (default: %(default)s)')
    parser.add_argument('--texture-size', type=common.positive_int,
                        default=32, help='texel cube size T (default: '
                                         '%(default)s)')
    common.add_common_arguments(parser, image_size=256)
    args = parser.parse_args(argv)
    start = time.time()

    xp = common.select_device(args.gpu)
    vertices, faces, textures = build_room(args.texture_size)
    vertices, faces, textures = (xp.asarray(a[None]) for a in
                                 (vertices, faces, textures))
    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    renderer.camera_mode = 'look'
    renderer.fill_back = False
    renderer.light_intensity_ambient = 0.6
    renderer.light_intensity_directional = 0.4
    renderer.light_direction = [0.3, 1., 0.5]
    eye = numpy.array([0.4, 1.5, -0.6], numpy.float32)

    frames, coverage, clipped = [], [], []
    with chainer.no_backprop_mode():
        for azimuth in range(0, 360, args.step):
            angle = numpy.radians(azimuth)
            direction = [numpy.sin(angle), -0.35, numpy.cos(angle)]
            renderer.eye = eye
            renderer.camera_direction = direction
            out = renderer.render_rgbad(vertices, faces, textures)
            frames.append(common.to_uint8(out['rgb'].array[0]))
            coverage.append(float(common.to_cpu(out['alpha'].array).mean()))
            camera = nr.look(vertices, eye, direction).array[0, :, 2]
            z = common.to_cpu(camera)[common.to_cpu(faces[0])]
            clipped.append(int(((z.min(1) < renderer.near) &
                                (z.max(1) > renderer.near)).sum()))

    path = common.save_gif(os.path.join(args.output_dir, 'room.gif'),
                           frames, frame_ms=80)
    print('wrote {} ({} frames)'.format(path, len(frames)))
    print('pixels drawn: {:.1f}% (lowest frame {:.1f}%); faces clipped at '
          'the near plane: {:.1f} per frame ({:.0f} s)'.format(
              100 * numpy.mean(coverage), 100 * min(coverage),
              numpy.mean(clipped), time.time() - start))
    return {'gif': path, 'coverage': coverage, 'clipped': clipped,
            'frames': len(frames)}


if __name__ == '__main__':
    main()
