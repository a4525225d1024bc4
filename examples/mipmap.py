"""Minification: a UV texture seen from afar, with and without mip levels.

A 12 m x 12 m floor of two triangles carries a 1024 x 1024 checkerboard
(128 x 128 squares) and is seen at a grazing angle, so that its texels shrink
from about one per pixel in front to dozens per pixel at the horizon. Each
pixel samples:

* without mip levels (``UVTexture(mipmap=False)``): the full image at one
  point, which aliases into moire where many texels fall in a pixel;
* with them (the default): the level of the image's pyramid whose texels
  are about a pixel wide there (see ``neural_renderer.uv_texture``).

The ideal is the same view without mip levels at 4x the size (with the
renderer's 2x anti-aliasing: 8 x 8 samples a pixel), averaged 4 x 4. Writes
``mipmap.png`` (without, with, ideal: left to right) and prints each one's
mean absolute error from the ideal over the floor, overall and on its far
half, and the render times. Runs on the CPU by default; ``--gpu N`` uses
GPU N.
"""
import argparse
import os
import time

import numpy

import chainer
import neural_renderer as nr

import common

TEXELS = 1024
SQUARES = 128
HALF_SIDE = 6.


def checkerboard(texels=TEXELS, squares=SQUARES):
    """[texels, texels, 3] float32: squares x squares, light and dark."""
    index = numpy.arange(texels) * squares // texels
    dark = (index[:, None] + index[None, :]) % 2
    grey = numpy.where(dark > 0, 0.15, 0.9).astype(numpy.float32)
    return numpy.repeat(grey[..., None], 3, axis=2)


def floor_mesh():
    """Vertices [4, 3], faces [2, 3] (front faces seen from above) and uvs
    [2, 3, 2] spanning the image once."""
    s = HALF_SIDE
    vertices = numpy.array([[-s, 0, -s], [s, 0, -s], [s, 0, s], [-s, 0, s]],
                           numpy.float32)
    faces = numpy.array([[0, 1, 2], [0, 2, 3]], numpy.int32)
    corners = vertices[faces]
    uvs = numpy.stack([(corners[..., 0] + s) / (2 * s),
                       (corners[..., 2] + s) / (2 * s)], axis=-1)
    return vertices, faces, uvs.astype(numpy.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_arguments(parser, image_size=256)
    args = parser.parse_args(argv)
    start = time.time()
    xp = common.select_device(args.gpu)
    vertices, faces, uvs = floor_mesh()
    vertices, faces, uvs = (xp.asarray(a[None]) for a in
                            (vertices, faces, uvs))
    image = xp.asarray(checkerboard()[None])
    renderer = nr.Renderer(image_size=args.image_size, camera_mode='look',
                           light_intensity_ambient=1.,
                           light_intensity_directional=0., fill_back=False,
                           far=100.)
    renderer.eye = [0., 1.5, -HALF_SIDE - 0.5]
    renderer.camera_direction = [0., -0.3, 1.]

    def render(mipmap, size):
        renderer.image_size = size
        with chainer.no_backprop_mode():
            t0 = time.time()
            rgb = renderer.render(vertices, faces,
                                  nr.UVTexture(uvs, image, mipmap=mipmap))
            rgb = common.to_cpu(rgb.array[0])
        return rgb, time.time() - t0

    size = args.image_size
    without, time_without = render(False, size)
    with_mip, time_with = render(True, size)
    fine, _ = render(False, 4 * size)
    ideal = fine.reshape(3, size, 4, size, 4).mean(axis=(2, 4))
    renderer.image_size = size
    with chainer.no_backprop_mode():
        alpha = common.to_cpu(renderer.render_silhouettes(
            vertices, faces).array[0])
    floor = alpha == 1
    rows = numpy.nonzero(floor.any(axis=1))[0]
    far = floor.copy()
    far[(rows[0] + rows[-1]) // 2:] = False  # the upper half is farther

    def error(rgb, mask):
        return float(numpy.abs(rgb - ideal)[:, mask].mean())

    errors = {name: (error(rgb, floor), error(rgb, far))
              for name, rgb in (('without', without), ('with', with_mip))}
    gap = numpy.ones((3, size, 4), numpy.float32)
    path = common.save_image(
        os.path.join(args.output_dir, 'mipmap.png'), common.to_uint8(
            numpy.concatenate([without, gap, with_mip, gap, ideal], 2)))
    print('wrote', path)
    for name, seconds in (('without', time_without), ('with', time_with)):
        print('{} mip levels: error from the ideal {:.4f} over the floor, '
              '{:.4f} on its far half; render {:.0f} ms'.format(
                  name, errors[name][0], errors[name][1], 1e3 * seconds))
    print('({:.0f} s)'.format(time.time() - start))
    return {'image': path, 'error_without': errors['without'][0],
            'error_with': errors['with'][0],
            'far_error_without': errors['without'][1],
            'far_error_with': errors['with'][1]}


if __name__ == '__main__':
    main()
