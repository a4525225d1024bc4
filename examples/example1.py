"""Example 1: render the teapot turning around into a GIF.

Camera at distance 2.732, elevation 30, azimuth 0..356 in steps of 4
degrees. Runs on the CPU by default; ``--gpu N`` uses GPU N (needs CuPy).
"""
import argparse
import os

import imageio.v2 as imageio
import numpy

import neural_renderer as nr
import chainer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'data')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-i', '--filename-input',
                        default=os.path.join(DATA, 'teapot.obj'))
    parser.add_argument('-o', '--filename-output',
                        default=os.path.join(HERE, 'output', 'example1.gif'))
    parser.add_argument('-g', '--gpu', type=int, default=-1,
                        help='GPU id, -1 for the CPU (default)')
    parser.add_argument('--image-size', type=int, default=256)
    args = parser.parse_args()

    vertices, faces = nr.load_obj(args.filename_input)
    vertices = vertices[None]
    faces = faces[None]
    texture_size = 2
    textures = numpy.ones((1, faces.shape[1]) + (texture_size,) * 3 + (3,),
                          numpy.float32)

    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    if args.gpu >= 0:
        import cupy
        chainer.backends.cuda.get_device_from_id(args.gpu).use()
        vertices, faces, textures = (cupy.asarray(a) for a in
                                     (vertices, faces, textures))
        renderer.to_gpu()

    distance, elevation = 2.732, 30
    frames = []
    with chainer.no_backprop_mode():
        for azimuth in range(0, 360, 4):
            renderer.eye = nr.get_points_from_angles(distance, elevation,
                                                     azimuth)
            images = renderer.render(vertices, faces, textures)
            image = chainer.backend.CpuDevice().send(images.array)[0]
            frames.append((numpy.clip(image.transpose(1, 2, 0), 0, 1) *
                           255).astype(numpy.uint8))
    directory = os.path.dirname(os.path.abspath(args.filename_output))
    os.makedirs(directory, exist_ok=True)
    imageio.mimsave(args.filename_output, frames, duration=0.04, loop=0)
    print('wrote {} ({} frames)'.format(args.filename_output, len(frames)))


if __name__ == '__main__':
    main()
