"""Room: look around a room from inside (near-plane clipping).

The room is 4 m x 2.5 m x 4 m with a checkered floor (16 x 16 squares of
25 cm), four coloured walls, a ceiling and a table, each wall, the floor and
the ceiling a single pair of triangles. The camera stands inside and turns
around: at every azimuth some walls reach behind it and cross the near
plane. They are clipped there, not dropped, so every pixel of every frame
shows the room: the script prints that coverage (100% is success) and how
many faces were clipped. Writes the turn as a GIF.

The colours come from a UV texture by default (``--floor uv``): one
1024 x 1040 image, the floor's checkerboard (64 texels a square) and a strip
of plain colours for the other faces, sampled at render time. ``--floor
cubes`` colours every face with texel cubes instead (T = ``--texture-size``),
which hold T^2 texels per face: on a floor of two triangles the squares
blur. The script also writes ``room_floor.png``, one view rendered both
ways side by side (cubes left, UV right), and prints for each the texture
memory and the floor's error: the mean absolute difference, over the
floor's pixels, from the UV texture rendered at 4x the size and
box-averaged. Runs on the CPU by default; ``--gpu N`` uses GPU N.
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


# The floor's checkerboard: squares of SQUARE metres, two colours.
SQUARE = 0.25
CHECKER_LIGHT = (0.85, 0.82, 0.75)
CHECKER_DARK = (0.3, 0.28, 0.26)
# The UV texture: the floor's 4 m x 4 m in FLOOR_TEXELS x FLOOR_TEXELS
# texels, then a strip of CELL-wide columns, one plain colour each.
FLOOR_TEXELS = 1024
CELL = 16


def checker(x, z):
    """The floor's colour at points (x, z) [...]: [..., 3] float32."""
    dark = (numpy.floor(x / SQUARE) + numpy.floor(z / SQUARE)) % 2
    return numpy.where(dark[..., None] > 0, numpy.float32(CHECKER_DARK),
                       numpy.float32(CHECKER_LIGHT)).astype(numpy.float32)


def checker_cubes(triangles, size):
    """Texel cubes [N, T, T, T, 3] of the floor: texel (i, j, k) of a face
    holds the pattern at the face's point with barycentric weights
    (i, j, k) / (i + j + k)."""
    index = numpy.stack(numpy.meshgrid(*[numpy.arange(size)] * 3,
                                       indexing='ij'), -1).astype(float)
    total = index.sum(-1, keepdims=True)
    weights = numpy.where(total > 0, index / numpy.maximum(total, 1), 1 / 3.)
    points = numpy.einsum('ijkv,fvc->fijkc', weights, triangles)
    return checker(points[..., 0], points[..., 2])


def room_geometry():
    """Vertices [V, 3], faces [F, 3] and each face's colour: a tuple, or
    None for the floor."""
    all_vertices, all_faces, colours = [], [], []

    def add(vertices, named, colour_of):
        offset = sum(len(v) for v in all_vertices)
        all_vertices.append(vertices)
        for name, pair in named.items():
            all_faces.append(pair + offset)
            colours.extend([colour_of(name)] * len(pair))

    add(*box_faces(*ROOM, inside=True), WALL_COLOURS.get)
    for low, high in TABLE:
        add(*box_faces(low, high, inside=False), lambda name: TABLE_COLOUR)
    return (numpy.concatenate(all_vertices), numpy.concatenate(all_faces),
            colours)


def build_room(texture_size):
    """The room as vertices [V, 3], faces [F, 3] and texel cubes
    [F, T, T, T, 3] (float32)."""
    vertices, faces, colours = room_geometry()
    floor = numpy.array([c is None for c in colours])
    textures = numpy.empty((len(faces),) + (texture_size,) * 3 + (3,),
                           numpy.float32)
    textures[floor] = checker_cubes(vertices[faces[floor]], texture_size)
    for f in numpy.nonzero(~floor)[0]:
        textures[f] = colours[f]
    return vertices, faces, textures


def build_uv_room():
    """The room as vertices [V, 3], faces [F, 3], uvs [F, 3, 2] and one
    image [H, W, 3] (float32): the floor's texels, each the pattern at its
    centre, and a column of CELL x CELL texels per plain colour, whose
    faces have all three corners at the cell's centre."""
    vertices, faces, colours = room_geometry()
    plain = sorted({c for c in colours if c is not None})
    width = FLOOR_TEXELS + CELL * len(plain)
    image = numpy.empty((FLOOR_TEXELS, width, 3), numpy.float32)
    (x0, _, z0), (x1, _, z1) = ROOM
    # Row 0 is the top (v = 1): texel (row r, column c) is the floor's point
    # x = x0 + (c + 0.5) / N (x1 - x0), z = z1 - (r + 0.5) / N (z1 - z0).
    centres = (numpy.arange(FLOOR_TEXELS) + 0.5) / FLOOR_TEXELS
    image[:, :FLOOR_TEXELS] = checker(
        x0 + centres[None, :] * (x1 - x0), z1 - centres[:, None] * (z1 - z0))
    for k, colour in enumerate(plain):
        image[:, FLOOR_TEXELS + k * CELL:FLOOR_TEXELS + (k + 1) * CELL] = \
            colour
    uvs = numpy.empty((len(faces), 3, 2), numpy.float32)
    for f, colour in enumerate(colours):
        if colour is None:
            corners = vertices[faces[f]]
            uvs[f, :, 0] = (corners[:, 0] - x0) / (x1 - x0) * \
                FLOOR_TEXELS / width
            uvs[f, :, 1] = 1 - (z1 - corners[:, 2]) / (z1 - z0)
        else:
            k = plain.index(colour)
            uvs[f, :, 0] = (FLOOR_TEXELS + (k + 0.5) * CELL) / width
            uvs[f, :, 1] = 0.5
    return vertices, faces, uvs, image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--step', type=common.positive_int, default=6,
                        help='degrees between frames (default: %(default)s)')
    parser.add_argument('--texture-size', type=common.positive_int,
                        default=32, help='texel cube size T (default: '
                                         '%(default)s)')
    parser.add_argument('--floor', choices=('uv', 'cubes'), default='uv',
                        help='colour the faces from a UV texture or from '
                             'texel cubes (default: %(default)s)')
    common.add_common_arguments(parser, image_size=256)
    args = parser.parse_args(argv)
    start = time.time()

    xp = common.select_device(args.gpu)
    vertices, faces, cubes = build_room(args.texture_size)
    _, _, uvs, image = build_uv_room()
    vertices, faces, cubes = (xp.asarray(a[None]) for a in
                              (vertices, faces, cubes))
    uv_texture = nr.UVTexture(xp.asarray(uvs[None]), xp.asarray(image[None]),
                              'CLAMP_TO_EDGE')
    textures = uv_texture if args.floor == 'uv' else cubes
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
    print('wrote {} ({} frames, {} texture)'.format(path, len(frames),
                                                    args.floor))
    print('pixels drawn: {:.1f}% (lowest frame {:.1f}%); faces clipped at '
          'the near plane: {:.1f} per frame'.format(
              100 * numpy.mean(coverage), 100 * min(coverage),
              numpy.mean(clipped)))
    comparison = compare_floors(renderer, vertices, faces, cubes, uv_texture,
                                eye, args.output_dir)
    print('({:.0f} s)'.format(time.time() - start))
    return dict(comparison, gif=path, coverage=coverage, clipped=clipped,
                frames=len(frames))


def compare_floors(renderer, vertices, faces, cubes, uv_texture, eye,
                   output_dir):
    """One view with texel cubes and with the UV texture, side by side in
    room_floor.png; their texture memory and floor error."""
    direction = [numpy.sin(numpy.radians(20)), -0.6,
                 numpy.cos(numpy.radians(20))]
    renderer.eye = eye
    renderer.camera_direction = direction
    _, _, colours = room_geometry()
    floor = [f for f, colour in enumerate(colours) if colour is None]
    floor_faces = faces[:, floor]
    xp = chainer.backend.get_array_module(vertices)
    with chainer.no_backprop_mode():
        images = [common.to_cpu(renderer.render(vertices, faces, t).array[0])
                  for t in (cubes, uv_texture)]
        # The floor's visible pixels (wholly covered, nothing in front).
        alpha = renderer.render_silhouettes(vertices, floor_faces).array[0]
        depth_floor = renderer.render_depth(vertices, floor_faces).array[0]
        depth = renderer.render_depth(vertices, faces).array[0]
        mask = common.to_cpu((alpha == 1) &
                             (xp.abs(depth_floor - depth) < 1e-5))
        # The ideal: the UV texture at 4x the size, averaged 4 x 4.
        size = renderer.image_size
        renderer.image_size = 4 * size
        fine = common.to_cpu(renderer.render(vertices, faces,
                                             uv_texture).array[0])
        renderer.image_size = size
    ideal = fine.reshape(3, size, 4, size, 4).mean(axis=(2, 4))
    errors = [float(numpy.abs(rgb - ideal)[:, mask].mean())
              for rgb in images]
    cube_bytes = int(common.to_cpu(cubes).nbytes)
    uv_bytes = int(uv_texture.image.nbytes + uv_texture.uvs.nbytes)
    floor_cube_bytes = int(cubes[0, floor].nbytes)
    floor_uv_bytes = FLOOR_TEXELS ** 2 * 3 * 4
    gap = numpy.ones((3, images[0].shape[1], 4), numpy.float32)
    path = common.save_image(
        os.path.join(output_dir, 'room_floor.png'),
        common.to_uint8(numpy.concatenate([images[0], gap, images[1]], 2)))
    # Cubes as fine as the image: a floor triangle's legs span
    # FLOOR_TEXELS texels, T of them along each cube axis.
    dense_bytes = len(floor) * FLOOR_TEXELS ** 3 * 3 * 4
    print('wrote {}: texel cubes (left, T = {}): floor error {:.3f}, '
          'textures {:.1f} MB (the floor\'s {:.2f} MB); UV texture (right): '
          'floor error {:.3f}, image and uvs {:.1f} MB (the floor\'s '
          '{:.1f} MB); cubes as fine as the image (T = {}) would take {:.1f} '
          'GB for the floor alone'.format(
              path, cubes.shape[2], errors[0], cube_bytes / 1e6,
              floor_cube_bytes / 1e6, errors[1], uv_bytes / 1e6,
              floor_uv_bytes / 1e6, FLOOR_TEXELS, dense_bytes / 1e9))
    return {'comparison': path, 'floor_error_cubes': errors[0],
            'floor_error_uv': errors[1], 'bytes_cubes': cube_bytes,
            'bytes_uv': uv_bytes}


if __name__ == '__main__':
    main()
