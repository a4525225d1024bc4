"""The command line tool: ``neural-renderer render`` / ``python -m
neural_renderer render``, run in-process through ``cli.main``."""
import os
import subprocess
import sys

import numpy
import pytest

import neural_renderer as nr  # NOQA  (installs the NumPy 2 shim first)
import chainer
import imageio.v3 as iio

from neural_renderer import cli

DATA = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', 'data'))
TEAPOT = os.path.join(DATA, 'teapot.obj')
SPHERE = os.path.join(DATA, 'sphere_642.obj')
CUBE = os.path.join(DATA, 'textured_cube', 'cube.obj')


def run(capsys, *args):
    """(exit status, stdout, stderr) of ``neural-renderer render ARGS``."""
    status = cli.main(['render'] + [str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def render_ok(capsys, *args):
    status, out, err = run(capsys, *args)
    assert (status, err) == (0, ''), err
    return out


def reference(method, mesh=TEAPOT, image_size=32, azimuth=0,
              anti_aliasing=True):
    """What the library renders for the CLI's default camera: [H, W] or
    [3, H, W] floats."""
    vertices, faces = nr.load_obj(mesh)
    vertices, faces = vertices[None], faces[None]
    renderer = nr.Renderer()
    renderer.image_size = image_size
    renderer.anti_aliasing = anti_aliasing
    renderer.eye = nr.get_points_from_angles(2.732, 30, azimuth)
    with chainer.no_backprop_mode():
        if method == 'render':
            textures = numpy.ones(faces.shape[:2] + (1, 1, 1, 3), 'f')
            return renderer.render(vertices, faces, textures).array[0]
        return getattr(renderer, method)(vertices, faces).array[0]


def to_uint8(image):
    return (numpy.clip(image, 0, 1) * 255 + 0.5).astype(numpy.uint8)


# ------------------------------------------------------------------ images

def test_png_matches_the_renderer(tmp_path, capsys):
    path = tmp_path / 'teapot.png'
    out = render_ok(capsys, TEAPOT, '-o', path, '--image-size', 40,
                    '--azimuth', 45)
    assert str(path) in out
    image = iio.imread(path)
    assert image.shape == (40, 40, 3) and image.dtype == numpy.uint8
    expected = to_uint8(reference('render', image_size=40, azimuth=45)
                        .transpose(1, 2, 0))
    assert numpy.abs(image.astype(int) - expected).max() <= 1
    assert (image > 0).any(axis=2).mean() > 0.1  # the teapot is there


def test_silhouette_is_the_renderer_silhouette(tmp_path, capsys):
    path = tmp_path / 'sphere.png'
    render_ok(capsys, SPHERE, '-o', path, '--image-size', 48,
              '--mode', 'silhouette')
    image = iio.imread(path).astype(int)
    assert (image == image[..., :1]).all()  # grey
    grey = image[..., 0]
    # Binary but for the anti-aliased rim.
    assert numpy.isin(grey, (0, 255)).mean() > 0.9
    expected = to_uint8(reference('render_silhouettes', SPHERE, 48))
    assert numpy.abs(grey - expected).max() <= 1
    assert 0.1 < (grey == 255).mean() < 0.9


def test_silhouette_without_anti_aliasing_is_binary(tmp_path, capsys):
    path = tmp_path / 'teapot.png'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 32,
              '--mode', 'silhouette', '--no-anti-aliasing')
    grey = iio.imread(path)[..., 0]
    assert set(numpy.unique(grey)) == {0, 255}
    expected = reference('render_silhouettes', image_size=32,
                         anti_aliasing=False)
    numpy.testing.assert_array_equal(grey == 255, expected > 0.5)


def test_depth_is_grey_with_the_nearest_point_white(tmp_path, capsys):
    path = tmp_path / 'depth.png'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 32,
              '--mode', 'depth', '--no-anti-aliasing')
    grey = iio.imread(path)[..., 0].astype(float) / 255
    depth = reference('render_depth', image_size=32, anti_aliasing=False)
    covered = depth < 100
    near, far = depth[covered].min(), depth[covered].max()
    expected = numpy.where(
        covered, 1 - (1 - cli.DEPTH_FAR_GREY) * (depth - near) / (far - near),
        0)
    assert numpy.abs(grey - expected).max() <= 1 / 255 + 1e-6
    assert grey.max() == 1 and grey[covered].min() >= 0.19


def test_depth_with_anti_aliasing_stays_in_range(tmp_path, capsys):
    # Rim pixels average the mesh's depth with the far plane; the CLI must
    # not turn them into outliers that flatten the grey scale.
    path = tmp_path / 'depth.png'
    render_ok(capsys, SPHERE, '-o', path, '--image-size', 32,
              '--mode', 'depth')
    grey = iio.imread(path)[..., 0]
    assert grey.max() == 255
    alpha = reference('render_silhouettes', SPHERE, 32)
    inside = alpha == 1
    # A sphere: the full grey range shows inside the silhouette.
    assert grey[inside].min() < 0.5 * 255


def test_gif_has_one_frame_per_azimuth(tmp_path, capsys):
    path = tmp_path / 'turn.gif'
    out = render_ok(capsys, TEAPOT, '-o', path, '--image-size', 32,
                    '--mode', 'silhouette', '--no-anti-aliasing',
                    '--azimuth-range', 10, 100, 30)
    assert '3 frames' in out
    frames = iio.imread(path, index=None)
    assert frames.shape == (3, 32, 32, 3)
    for frame, azimuth in zip(frames, (10, 40, 70)):
        expected = reference('render_silhouettes', image_size=32,
                             azimuth=azimuth, anti_aliasing=False)
        numpy.testing.assert_array_equal(frame[..., 0] > 127,
                                         expected > 0.5)


def test_default_gif_turns_in_4_degree_steps(tmp_path, capsys):
    path = tmp_path / 'turn.gif'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 16,
              '--frame-duration', 20)
    assert len(iio.imread(path, index=None)) == 90


def test_textures_from_the_mtl(tmp_path, capsys):
    # Seen face on, unlit (ambient 1), the cube's -z face shows cube.png:
    # red top left, green top right, blue bottom left, yellow bottom right.
    def render(*extra):
        path = tmp_path / 'cube.png'
        render_ok(capsys, CUBE, '-o', path, '--image-size', 64,
                  '--distance', 4, '--elevation', 0, '--ambient', 1,
                  '--directional', 0, *extra)
        return iio.imread(path).astype(int)

    image = render('--textures', '--texture-size', 6)
    quadrants = {(22, 22): (255, 0, 0), (22, 41): (0, 255, 0),
                 (41, 22): (0, 0, 255), (41, 41): (255, 255, 0)}
    for (row, column), colour in quadrants.items():
        assert numpy.abs(image[row, column] - colour).max() <= 40, (
            row, column, image[row, column])
    plain = render()  # no --textures: white
    assert (plain[22:42, 22:42] == 255).all()
    # --uv: the image sampled at render time: the library's rendering of
    # the same UV texture, with the same quadrants.
    uv = render('--textures', '--uv')
    vertices, faces, uvs, texture = nr.load_obj(CUBE, load_texture='uv')
    renderer = nr.Renderer(image_size=64, light_intensity_ambient=1,
                           light_intensity_directional=0)
    renderer.eye = nr.get_points_from_angles(4, 0, 0)
    with chainer.no_backprop_mode():
        expected = renderer.render(vertices[None], faces[None], nr.UVTexture(
            uvs[None], texture[None])).array[0]
    assert numpy.abs(uv - to_uint8(expected).transpose(1, 2, 0)).max() <= 1
    for (row, column), colour in quadrants.items():
        assert numpy.abs(uv[row, column] - colour).max() <= 40
    status, _, err = run(capsys, CUBE, '-o', tmp_path / 'x.png', '--uv')
    assert status == 2 and '--uv: needs --textures' in err


def test_background_in_the_corners(tmp_path, capsys):
    for mode in ('rgb', 'silhouette', 'depth'):
        path = tmp_path / (mode + '.png')
        render_ok(capsys, SPHERE, '-o', path, '--image-size', 32,
                  '--mode', mode, '--background', 0.2, 0.4, 0.6)
        image = iio.imread(path)
        for corner in (image[0, 0], image[0, -1], image[-1, 0],
                       image[-1, -1]):
            assert tuple(corner) == (51, 102, 153), mode


def test_lighting_options_change_the_image(tmp_path, capsys):
    def mean(*extra):
        path = tmp_path / 'lit.png'
        render_ok(capsys, SPHERE, '-o', path, '--image-size', 32, *extra)
        return iio.imread(path).astype(float).mean(axis=(0, 1))

    default = mean()
    dark = mean('--ambient', 0.1, '--directional', 0.1)
    red = mean('--ambient-color', 1, 0, 0, '--directional-color', 1, 0, 0)
    below = mean('--light-direction', 0, -5, 0)
    assert (dark < default).all()
    assert red[0] == pytest.approx(default[0]) and red[1] < default[1] / 2
    # Lit from below, the camera (above) sees less directional light.
    assert below[0] < default[0]


def test_unknown_material_is_a_one_line_warning(tmp_path, capsys):
    obj = tmp_path / 'm.obj'
    obj.write_text('v 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl nowhere\nf 1 2 3\n')
    status, out, err = run(capsys, obj, '-o', tmp_path / 'm.png',
                           '--image-size', 16, '--textures')
    assert status == 0
    assert err.startswith('neural-renderer: warning:') and \
        err.count('\n') == 1 and 'nowhere' in err


# ------------------------------------------------------------------ errors

def write_bad_meshes(tmp_path):
    (tmp_path / 'malformed.obj').write_text('v 0 0\nf 1 2 3\n')
    (tmp_path / 'no_mtl.obj').write_text(
        'mtllib missing.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n')


# name: (arguments, with {tmp} for the test's directory, exit status)
BAD_INPUTS = {
    'missing file': (['{tmp}/none.obj', '-o', '{tmp}/out.png'], 1),
    'malformed obj': (['{tmp}/malformed.obj', '-o', '{tmp}/out.png'], 1),
    'missing mtl': (['{tmp}/no_mtl.obj', '-o', '{tmp}/out.png',
                     '--textures'], 1),
    'bad extension': ([TEAPOT, '-o', '{tmp}/out.jpg'], 2),
    'no output dir': ([TEAPOT, '-o', '{tmp}/no/out.png'], 2),
    'negative size': ([TEAPOT, '-o', '{tmp}/out.png', '--image-size', -8], 2),
    'size not a number': ([TEAPOT, '-o', '{tmp}/out.png',
                           '--image-size', 'big'], 2),
    'background > 1': ([TEAPOT, '-o', '{tmp}/out.png',
                        '--background', 2, 0, 0], 2),
    'zero light': ([TEAPOT, '-o', '{tmp}/out.png',
                    '--light-direction', 0, 0, 0], 2),
    'nan distance': ([TEAPOT, '-o', '{tmp}/out.png', '--distance', 'nan'], 2),
    'range for png': ([TEAPOT, '-o', '{tmp}/out.png',
                       '--azimuth-range', 0, 9, 3], 2),
    'azimuth for gif': ([TEAPOT, '-o', '{tmp}/out.gif', '--azimuth', 9], 2),
    'zero step': ([TEAPOT, '-o', '{tmp}/out.gif',
                   '--azimuth-range', 0, 90, 0], 2),
    'empty range': ([TEAPOT, '-o', '{tmp}/out.gif',
                     '--azimuth-range', 90, 0, 10], 2),
    'no output': ([TEAPOT], 2),
    'unknown option': ([TEAPOT, '-o', '{tmp}/out.png', '--shiny'], 2),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, case):
    write_bad_meshes(tmp_path)
    args, expected_status = BAD_INPUTS[case]
    args = [str(a).format(tmp=tmp_path) for a in args]
    status, out, err = run(capsys, *args)
    assert status == expected_status
    assert err.startswith('neural-renderer: error: ')
    assert err.count('\n') == 1 and 'Traceback' not in err
    assert out == ''
    assert sorted(os.listdir(tmp_path)) == ['malformed.obj', 'no_mtl.obj']


def test_messages_name_the_problem(tmp_path, capsys):
    malformed = tmp_path / 'malformed.obj'
    malformed.write_text('v 0 0 0\nv 1 0 0\nf 1 2 x\n')
    err = run(capsys, malformed, '-o', tmp_path / 'o.png')[2]
    assert 'malformed.obj:3' in err
    err = run(capsys, TEAPOT, '-o', tmp_path / 'o.png', '--image-size',
              '-8')[2]
    assert '--image-size' in err and '-8' in err


def test_help_and_missing_command(capsys):
    assert cli.main(['render', '--help']) == 0
    assert '--azimuth-range' in capsys.readouterr().out
    assert cli.main([]) == 2
    assert capsys.readouterr().err.count('\n') == 1


def test_python_dash_m(tmp_path):
    def run_module(mesh):
        return subprocess.run(
            [sys.executable, '-m', 'neural_renderer', 'render', mesh,
             '-o', str(tmp_path / 'teapot.png'), '--image-size', '32'],
            capture_output=True, text=True, cwd=str(tmp_path))

    result = run_module(TEAPOT)
    assert result.returncode == 0, result.stderr
    assert iio.imread(tmp_path / 'teapot.png').shape == (32, 32, 3)
    result = run_module(str(tmp_path / 'none.obj'))
    assert result.returncode == 1
    assert result.stderr.startswith('neural-renderer: error: ')
    assert result.stderr.count('\n') == 1


# ------------------------------------------- audit issue 16: safe output

def leftovers(directory, keep):
    return sorted(set(os.listdir(directory)) - set(keep))


@pytest.mark.parametrize('error, status', [
    (KeyboardInterrupt, 130), (cli.Terminated, 143),
    (OSError(28, 'No space left on device'), 1)])
def test_a_failed_gif_keeps_the_earlier_file(tmp_path, capsys, monkeypatch,
                                             error, status):
    path = tmp_path / 'turn.gif'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 16,
              '--azimuth-range', 0, 20, 10)
    before = path.read_bytes()
    write = cli._GifStream._write
    calls = []

    def fail_on_the_second_frame(self, frame, duration):
        calls.append(1)
        if len(calls) == 2:
            raise error
        write(self, frame, duration)

    monkeypatch.setattr(cli._GifStream, '_write', fail_on_the_second_frame)
    got, out, err = run(capsys, TEAPOT, '-o', path, '--image-size', 16,
                        '--azimuth-range', 0, 90, 10)
    assert got == status and out == '' and err.count('\n') == 1
    assert path.read_bytes() == before
    assert leftovers(tmp_path, ['turn.gif']) == []


def test_a_failed_png_keeps_the_earlier_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / 'teapot.png'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 16)
    before = path.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, '_render_batches', interrupted)
    assert run(capsys, TEAPOT, '-o', path, '--image-size', 16)[0] == 130
    assert path.read_bytes() == before
    assert leftovers(tmp_path, ['teapot.png']) == []


def test_output_mode_follows_the_umask(tmp_path, capsys):
    path = tmp_path / 'teapot.png'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 8)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize('signal_name, status', [('SIGTERM', 143),
                                                 ('SIGHUP', 129)])
def test_termination_keeps_the_earlier_file(tmp_path, signal_name, status):
    # SIGHUP (audit issue 25, item 7) as SIGTERM: the temporary output is
    # removed and the earlier file kept.
    import signal
    import time
    path = tmp_path / 'turn.gif'
    path.write_bytes(b'earlier result')
    process = subprocess.Popen(
        [sys.executable, '-m', 'neural_renderer', 'render', TEAPOT, '-o',
         str(path), '--image-size', '64', '--azimuth-range', '0', '360',
         '0.1'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not leftovers(tmp_path, ['turn.gif']) and time.time() < deadline \
            and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(getattr(signal, signal_name))
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert 'terminated ({})'.format(signal_name) in err
    assert 'Traceback' not in err
    assert path.read_bytes() == b'earlier result'
    assert leftovers(tmp_path, ['turn.gif']) == []


@pytest.mark.parametrize('option, value, words', [
    ('--frame-duration', 655360, '[10, 655350]'),
    ('--frame-duration', 5, '[10, 655350]'),
    ('--distance', '1e308', '(0, 1e+06]'),
    ('--ambient', '1e39', '[0, 1e+06]'),
    ('--directional', '1e7', '[0, 1e+06]'),
    ('--elevation', '1e39', '[-36000, 36000]'),
    ('--viewing-angle', '1e-300', '[0.001, 90)'),
])
def test_out_of_range_options_state_the_range(tmp_path, capsys, option,
                                              value, words):
    output = tmp_path / ('out.gif' if option == '--frame-duration'
                         else 'out.png')
    status, out, err = run(capsys, TEAPOT, '-o', output, option, value)
    assert status == 2 and out == ''
    assert option in err and words in err and err.count('\n') == 1
    assert os.listdir(tmp_path) == []


def test_longest_frame_duration(tmp_path, capsys):
    from PIL import Image
    path = tmp_path / 'slow.gif'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 8,
              '--azimuth-range', 0, 180, 90, '--frame-duration', 655350)
    with Image.open(path) as image:
        assert image.n_frames == 2 and image.info['duration'] == 655350


def test_huge_light_direction_is_normalised(tmp_path, capsys):
    path = tmp_path / 'lit.png'
    render_ok(capsys, SPHERE, '-o', path, '--image-size', 16,
              '--light-direction', '1e308', '1e308', 0)


def gif_args(tmp_path, mode, *extra):
    return cli.build_parser().parse_args(
        ['render', TEAPOT, '-o', str(tmp_path / 'x.gif'), '--image-size',
         '24', '--mode', mode, '--azimuth-range', '0', '50', '10'] +
        [str(a) for a in extra])


@pytest.mark.parametrize('mode', ['rgb', 'silhouette', 'depth'])
def test_streamed_gif_decodes_like_the_one_shot_writer(tmp_path, capsys,
                                                       monkeypatch, mode):
    # The former writer: all frames at once through imageio's Pillow plugin.
    args = gif_args(tmp_path, mode)
    frames = list(cli.render_frames(args, [0., 10., 20., 30., 40.]))
    one_shot = tmp_path / 'one_shot.gif'
    iio.imwrite(one_shot, numpy.stack(frames), extension='.gif',
                duration=40, loop=0)
    # One frame per batch: depth then renders twice (first for its range).
    monkeypatch.setattr(cli, 'BATCH_PIXELS', 48 * 48)
    path = tmp_path / 'streamed.gif'
    render_ok(capsys, TEAPOT, '-o', path, '--image-size', 24, '--mode', mode,
              '--azimuth-range', 0, 50, 10)
    streamed = iio.imread(path, index=None)
    numpy.testing.assert_array_equal(streamed,
                                     iio.imread(one_shot, index=None))
    numpy.testing.assert_array_equal(streamed, numpy.stack(frames))
    from PIL import Image
    with Image.open(path) as image:
        assert image.info['loop'] == 0 and image.info['duration'] == 40


def test_identical_frames_are_merged_as_before(tmp_path, capsys):
    # A sphere seen from above turns into identical frames: one frame with
    # their durations summed, as Pillow's one-shot writer does.
    from PIL import Image
    path = tmp_path / 'sphere.gif'
    render_ok(capsys, SPHERE, '-o', path, '--image-size', 16, '--mode',
              'silhouette', '--azimuth-range', 0, 40, 10, '--frame-duration',
              30)
    with Image.open(path) as image:
        assert image.n_frames == 1 and image.info['duration'] == 120


def peak_memory(tmp_path, count):
    import tracemalloc
    tracemalloc.start()
    try:
        status = cli.main(['render', SPHERE, '-o', str(tmp_path / 'm.gif'),
                           '--image-size', '64', '--no-anti-aliasing',
                           '--azimuth-range', '0', str(count * 7), '7'])
        return status, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gif_memory_does_not_grow_with_the_frames(tmp_path, capsys,
                                                  monkeypatch):
    monkeypatch.setattr(cli, 'BATCH_PIXELS', 2 * 64 * 64)  # 2 frames a batch
    peak_memory(tmp_path, 2)  # warm-up (caches, lazy imports)
    status_few, few = peak_memory(tmp_path, 4)
    status_many, many = peak_memory(tmp_path, 40)
    assert status_few == status_many == 0
    # 36 more frames held as float64 RGB would be 36 * 98 kB = 3.5 MB.
    assert many < few + 300000, (few, many)


def test_an_interrupt_after_the_rename_is_not_a_failure(tmp_path, capsys,
                                                        monkeypatch):
    # Audit issue 25, item 7: Ctrl-C arriving once the output is renamed
    # into place reported "interrupted" (exit 130) for a complete file.
    path = tmp_path / 'teapot.png'
    real_replace = os.replace

    def replace_then_interrupt(source, destination):
        real_replace(source, destination)
        raise KeyboardInterrupt()

    monkeypatch.setattr(os, 'replace', replace_then_interrupt)
    status, out, err = run(capsys, TEAPOT, '-o', path, '--image-size', 8)
    assert status == 0 and 'wrote {}'.format(path) in out, err
    assert path.stat().st_size > 0 and leftovers(tmp_path,
                                                 ['teapot.png']) == []
