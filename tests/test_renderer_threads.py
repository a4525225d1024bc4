"""A Renderer shared between threads (audit issue 16, item 10): a render
call never mixes settings of two threads; the racy pattern (each thread sets
attributes, then renders) gives the right image or a RuntimeError, never a
wrong image; configuring in one thread and rendering in others works."""
import copy
import os
import pickle
import sys
import threading

import numpy
import pytest

import chainer

import neural_renderer as nr
from neural_renderer import renderer as renderer_module

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
VERTICES, FACES = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
VERTICES, FACES = VERTICES[None], FACES[None]
SIZE = 24


def make_renderer():
    renderer = nr.Renderer()
    renderer.image_size = SIZE
    renderer.anti_aliasing = False
    return renderer


def reference(azimuth):
    renderer = make_renderer()
    renderer.eye = nr.get_points_from_angles(2.732, 30, azimuth)
    return renderer.render_silhouettes(VERTICES, FACES).array


AZIMUTHS = list(range(0, 360, 45))
REFERENCES = {azimuth: reference(azimuth) for azimuth in AZIMUTHS}


@pytest.fixture
def fast_switching():
    # Thread switches every microsecond: races show up within a few calls.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_racy_pattern_gives_the_right_image_or_raises(fast_switching):
    renderer = make_renderer()
    start = threading.Barrier(32)
    results = []

    def work(index):
        start.wait()
        for call in range(3):
            azimuth = AZIMUTHS[(index + call) % len(AZIMUTHS)]
            try:
                renderer.eye = nr.get_points_from_angles(2.732, 30, azimuth)
                renderer.image_size = SIZE
                image = renderer.render_silhouettes(VERTICES, FACES).array
            except RuntimeError as e:
                assert 'another thread' in str(e)
                results.append('raised')
            else:
                results.append(
                    'right' if numpy.array_equal(image, REFERENCES[azimuth])
                    else 'wrong')

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 96
    assert 'wrong' not in results
    assert 'right' in results


def test_interleaved_settings_raise_in_the_thread_that_was_overridden():
    # T1 sets the eye, T2 sets another, T1 renders: T1 would get T2's view.
    renderer = make_renderer()
    steps = [threading.Event() for _ in range(3)]
    outcome = {}

    def first():
        renderer.eye = nr.get_points_from_angles(2.732, 30, 0)
        renderer.light_intensity_ambient = 0.3  # a later change of its own
        steps[0].set()
        steps[1].wait()
        try:
            renderer.render_silhouettes(VERTICES, FACES)
        except RuntimeError as e:
            outcome['first'] = str(e)
        steps[2].set()

    def second():
        steps[0].wait()
        renderer.eye = nr.get_points_from_angles(2.732, 30, 90)
        renderer.light_intensity_ambient = 0.5
        steps[1].set()
        steps[2].wait()
        outcome['second'] = renderer.render_silhouettes(VERTICES, FACES).array

    threads = [threading.Thread(target=f) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 'eye' in outcome['first'] and 'one Renderer per thread' in \
        outcome['first']
    # render_silhouettes does not read the light: not named.
    assert 'light_intensity_ambient' not in outcome['first']
    numpy.testing.assert_array_equal(outcome['second'], REFERENCES[90])


def test_configure_in_one_thread_render_in_others(fast_switching):
    renderer = make_renderer()
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    images, errors = [], []

    def work():
        try:
            for _ in range(3):
                images.append(
                    renderer.render_silhouettes(VERTICES, FACES).array)
        except Exception as e:  # pragma: no cover - the test fails
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(images) == 24
    for image in images:
        numpy.testing.assert_array_equal(image, REFERENCES[45])
    # The configuring thread may change the settings later, and render.
    renderer.eye = nr.get_points_from_angles(2.732, 30, 90)
    numpy.testing.assert_array_equal(
        renderer.render_silhouettes(VERTICES, FACES).array, REFERENCES[90])


def test_settings_and_render_under_a_lock(fast_switching):
    renderer = make_renderer()
    lock = threading.Lock()
    results = []

    def work(index):
        for call in range(3):
            azimuth = AZIMUTHS[(index + call) % len(AZIMUTHS)]
            with lock:
                renderer.eye = nr.get_points_from_angles(2.732, 30, azimuth)
                image = renderer.render_silhouettes(VERTICES, FACES).array
            results.append(numpy.array_equal(image, REFERENCES[azimuth]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 24


def test_a_change_during_a_call_does_not_reach_it(monkeypatch):
    # Another thread changes image_size and the eye while this call is
    # between its camera transform and its rasterization.
    renderer = make_renderer()
    renderer.eye = nr.get_points_from_angles(2.732, 30, 0)
    look_at = renderer_module.look_at

    def look_at_then_change(*args, **kwargs):
        out = look_at(*args, **kwargs)

        def change():
            renderer.image_size = 8
            renderer.eye = nr.get_points_from_angles(2.732, 30, 90)
        thread = threading.Thread(target=change)
        thread.start()
        thread.join()
        return out

    monkeypatch.setattr(renderer_module, 'look_at', look_at_then_change)
    image = renderer.render_silhouettes(VERTICES, FACES).array
    numpy.testing.assert_array_equal(image, REFERENCES[0])


def test_copies_and_pickles_are_independent():
    renderer = make_renderer()
    renderer.eye = nr.get_points_from_angles(2.732, 30, 0)
    copies = [copy.copy(renderer), copy.deepcopy(renderer),
              pickle.loads(pickle.dumps(renderer)), renderer.copy()]
    images = {}

    def work(index, azimuth):
        r = copies[index]
        r.eye = nr.get_points_from_angles(2.732, 30, azimuth)
        images[index] = r.render_silhouettes(VERTICES, FACES).array

    threads = [threading.Thread(target=work, args=(i, AZIMUTHS[i + 1]))
               for i in range(len(copies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in range(len(copies)):
        numpy.testing.assert_array_equal(images[index],
                                         REFERENCES[AZIMUTHS[index + 1]])
    numpy.testing.assert_array_equal(
        renderer.render_silhouettes(VERTICES, FACES).array, REFERENCES[0])


def test_parameters_in_init_scope_still_register():
    renderer = make_renderer()
    with renderer.init_scope():
        renderer.eye = chainer.Parameter(numpy.array(
            nr.get_points_from_angles(2.732, 30, 45), numpy.float32))
    assert [name for name, _ in renderer.namedparams()] == ['/eye']
    image = renderer.render_silhouettes(VERTICES, FACES)
    numpy.testing.assert_array_equal(image.array, REFERENCES[45])
    chainer.functions.sum(image * numpy.random.RandomState(0).rand(
        *image.shape).astype('f')).backward()
    assert renderer.eye.grad is not None and \
        numpy.abs(renderer.eye.grad).sum() > 0


def first_then_second_sets_the_eye(renderer, first_before, first_after):
    """Runs ``first_before()`` in thread T1, then T2 sets the eye to
    azimuth 90, then ``first_after()`` in T1; returns what it returned."""
    steps = [threading.Event() for _ in range(2)]
    outcome = {}

    def first():
        first_before()
        steps[0].set()
        steps[1].wait()
        outcome['after'] = first_after()

    def second():
        steps[0].wait()
        renderer.eye = nr.get_points_from_angles(2.732, 30, 90)
        steps[1].set()

    threads = [threading.Thread(target=f) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome['after']


def test_a_thread_that_changed_nothing_since_its_render_renders_again():
    # Audit issue 25, item 1: T1 sets image_size at start-up and renders;
    # T2 then sets the eye. T1's next calls (it changed nothing since its
    # render) render with T2's eye, again and again; none raises.
    renderer = nr.Renderer()
    renderer.anti_aliasing = False
    renderer.eye = nr.get_points_from_angles(2.732, 30, 0)

    def configure_and_render():
        renderer.image_size = SIZE
        renderer.render_silhouettes(VERTICES, FACES)

    images = first_then_second_sets_the_eye(
        renderer, configure_and_render,
        lambda: [renderer.render_silhouettes(VERTICES, FACES).array
                 for _ in range(3)])
    assert len(images) == 3
    for image in images:
        numpy.testing.assert_array_equal(image, REFERENCES[90])


def test_after_the_error_the_next_call_works():
    # T1 sets the eye, T2 overwrites it, T1's render raises; T1's next
    # call (nothing of its own pending) renders, with T2's eye.
    renderer = make_renderer()
    renderer.render_silhouettes(VERTICES, FACES)

    def set_the_eye():
        renderer.eye = nr.get_points_from_angles(2.732, 30, 0)

    def render_twice():
        with pytest.raises(RuntimeError, match='eye'):
            renderer.render_silhouettes(VERTICES, FACES)
        return renderer.render_silhouettes(VERTICES, FACES).array

    image = first_then_second_sets_the_eye(renderer, set_the_eye,
                                           render_twice)
    numpy.testing.assert_array_equal(image, REFERENCES[90])
