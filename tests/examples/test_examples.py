"""The four examples, each run in a reduced mode (small images, fewer
iterations): their success figures and their files."""
import os
import sys

import imageio.v2 as imageio
import numpy
import pytest

import neural_renderer as nr

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                        'examples')
sys.path.insert(0, EXAMPLES)

import example1  # NOQA
import example2  # NOQA
import example3  # NOQA
import example4  # NOQA


def read_frames(path):
    frames = imageio.mimread(path)
    assert frames and all(f.ndim == 3 for f in frames)
    return frames


def assert_png(path):
    image = imageio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_example1_renders_the_turntable(tmp_path):
    path = example1.main(['-o', str(tmp_path), '--image-size', '32'])
    frames = read_frames(path)
    # 90 azimuths; the GIF writer merges consecutive identical frames only.
    assert 45 <= len(frames) <= 90
    assert frames[0].shape[:2] == (32, 32)
    from PIL import Image
    with Image.open(path) as gif:
        assert gif.info['duration'] == 40  # milliseconds per frame
    first = frames[0][..., :3].astype(int)
    assert first.max() > 100 and (first == 0).all(axis=-1).mean() > 0.5


def test_example2_bends_the_silhouette_into_the_square(tmp_path):
    result = example2.main(['-o', str(tmp_path), '--image-size', '64',
                            '--iterations', '100', '--learning-rate', '0.01'])
    assert result['iou'] >= 0.95
    assert result['losses'][-1] < 0.1 * result['losses'][0]
    assert read_frames(result['optimisation_gif'])[0].shape[:2] == (64, 64)
    assert len(read_frames(result['result_gif'])) > 10
    assert_png(result['loss_plot'])
    vertices, faces = nr.load_obj(result['mesh'], normalization=False)
    assert faces.shape == (2256, 3) and numpy.isfinite(vertices).all()


def test_example3_paints_the_stripes(tmp_path):
    result = example3.main(['-o', str(tmp_path), '--image-size', '64',
                            '--iterations', '60'])
    assert result['final_loss'] * 10 <= result['first_loss']
    assert result['stripe_accuracy'] >= 0.9
    assert len(read_frames(result['gif'])) > 10
    assert_png(result['loss_plot'])
    vertices, faces, textures = nr.load_obj(
        result['mesh'], normalization=False, load_texture=True)
    assert textures.shape[0] == faces.shape[0]
    # The painted texture spans the stripes' colours, not one flat tone.
    assert textures.reshape(-1, 3).std(axis=0).min() > 0.1


def test_example3_paints_a_uv_texture_image(tmp_path):
    # --uv: the texture is an image sampled through the teapot's
    # cylindrical UV map; it is optimised and saved with the mesh.
    result = example3.main(['-o', str(tmp_path), '--image-size', '64',
                            '--iterations', '60', '--uv', '--uv-size',
                            '64'])
    assert result['final_loss'] * 10 <= result['first_loss']
    assert result['stripe_accuracy'] >= 0.9
    assert result['gif'].endswith('example3_uv.gif')
    vertices, faces, uvs, image = nr.load_obj(
        result['mesh'], normalization=False, load_texture='uv')
    assert uvs.shape == (faces.shape[0], 3, 2)
    assert image.shape == (64, 64, 3)
    # Horizontal stripes: rows differ, each row is nearly one colour.
    assert image.mean(axis=1).std(axis=0).min() > 0.1
    rendered = nr.Renderer(image_size=32).render(
        vertices[None], faces[None], nr.UVTexture(uvs[None], image[None]))
    assert rendered.array.std() > 0.1


def test_example4_finds_the_camera(tmp_path):
    # At the original's 256 px (the default), with the original's gradient
    # (eps 1e-4 for silhouettes, eps added to the distance), from [6, 10,
    # -14]: converges in about 130 steps.
    result = example4.main(['-o', str(tmp_path)])
    assert result['iou'] >= 0.95
    assert result['iterations'] < 300
    assert result['distance_error'] <= 0.1
    assert result['eye_error'] <= 0.2
    assert len(read_frames(result['gif'])) > 5
    assert_png(result['loss_plot'])


@pytest.mark.parametrize('module', [example1, example2, example3, example4])
def test_help_and_bad_arguments(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(['--help'])
    assert exit_info.value.code == 0
    assert '--output-dir' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        module.main(['--image-size', '0'])
    assert exit_info.value.code == 2
    assert 'positive integer' in capsys.readouterr().err


def test_reference_images_are_what_the_script_makes():
    sys.path.insert(0, os.path.join(EXAMPLES, '..', 'data'))
    import make_example_references as make
    data = os.path.join(EXAMPLES, '..', 'data')
    for name, image in [('example2_ref.png', make.square_reference()),
                        ('example3_ref.png', make.stripes_reference())]:
        numpy.testing.assert_array_equal(
            imageio.imread(os.path.join(data, name)), image)
    # The camera reference: the teapot from (2.732, 30, -15), re-rendered.
    stored = imageio.imread(os.path.join(data, 'example4_ref.png'))
    difference = numpy.abs(stored.astype(int) - make.camera_reference())
    assert difference.max() <= 1


def test_room_is_seen_whole_from_inside(tmp_path):
    # Walls, floor and ceiling are single pairs of triangles that reach
    # behind the camera: clipped at the near plane, every pixel of every
    # frame is drawn (without clipping they were dropped: holes).
    sys.path.insert(0, EXAMPLES)
    import room
    result = room.main(['-o', str(tmp_path), '--image-size', '32',
                        '--step', '45', '--texture-size', '4'])
    assert result['frames'] == 8
    assert min(result['coverage']) == 1.0
    assert min(result['clipped']) > 0
    assert len(read_frames(result['gif'])) >= 4
    # The floor from the UV texture is much nearer the ideal (the UV
    # texture at 4x the size, averaged) than from texel cubes.
    assert result['floor_error_uv'] < result['floor_error_cubes'] / 2
    assert imageio.imread(result['comparison']).shape == (32, 68, 3)


def test_room_with_texel_cubes_is_seen_whole_too(tmp_path):
    sys.path.insert(0, EXAMPLES)
    import room
    result = room.main(['-o', str(tmp_path), '--image-size', '16',
                        '--step', '90', '--texture-size', '2', '--floor',
                        'cubes'])
    assert min(result['coverage']) == 1.0


def test_mip_levels_bring_a_minified_texture_nearer_the_ideal(tmp_path):
    # A 1024^2 checkerboard on a floor seen at a grazing angle: without mip
    # levels the far half aliases; with them it is much nearer the ideal
    # (8 x 8 samples a pixel).
    import mipmap
    result = mipmap.main(['-o', str(tmp_path), '--image-size', '96'])
    assert result['far_error_with'] < 0.75 * result['far_error_without']
    assert result['error_with'] < result['error_without']
    assert imageio.imread(result['image']).shape == (96, 3 * 96 + 8, 3)
