"""Example 1: render the teapot turning around into a GIF.

Camera at distance 2.732, elevation 30, azimuth 0, 4, ..., 356 degrees.
Runs on the CPU by default; ``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import os
import time

import numpy

import neural_renderer as nr

import common


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-i', '--filename-input',
                        default=os.path.join(common.DATA, 'teapot.obj'),
                        help='OBJ mesh (default: the teapot)')
    common.add_common_arguments(parser, image_size=256)
    args = parser.parse_args(argv)
    start = time.time()

    vertices, faces = nr.load_obj(args.filename_input)
    vertices, faces = vertices[None], faces[None]
    textures = numpy.ones((1, faces.shape[1], 2, 2, 2, 3), numpy.float32)
    xp = common.select_device(args.gpu)
    vertices, faces, textures = (xp.asarray(a) for a in
                                 (vertices, faces, textures))

    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    frames = common.turntable(renderer, vertices, faces, textures)
    path = common.save_gif(os.path.join(args.output_dir, 'example1.gif'),
                           frames)
    print('wrote {} ({} frames, {:.1f} s)'.format(
        path, len(frames), time.time() - start))
    return path


if __name__ == '__main__':
    main()
