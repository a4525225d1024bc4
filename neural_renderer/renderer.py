"""The Renderer link: lighting, camera, projection and rasterization."""
import itertools
import math
import numbers
import threading
import weakref

import numpy

import chainer

from neural_renderer import _checks
from neural_renderer.clip_faces import clip_faces
from neural_renderer.lighting import face_light
from neural_renderer.look import look
from neural_renderer.look_at import check_camera_vectors
from neural_renderer.look_at import look_at
from neural_renderer.perspective import perspective
from neural_renderer.projection import calibrated_camera
from neural_renderer.projection import calibrated_screen
from neural_renderer.rasterize import _available_memory
from neural_renderer.rasterize import _background
from neural_renderer.rasterize import _MEMORY_CHECK_THRESHOLD
from neural_renderer.rasterize import DEFAULT_EPS
from neural_renderer.rasterize import image_shape
from neural_renderer.rasterize import memory_estimate
from neural_renderer.rasterize import rasterize_rgbad
from neural_renderer import uv_texture
from neural_renderer.vertices_to_faces import vertices_to_faces

# The accepted ``camera_mode`` values. The original package applied no view
# transform for any value other than 'look_at' and 'look', so that a typo
# ('lookat') silently drew the mesh untransformed; here no view transform
# is asked for explicitly with None or 'none', and anything else is an error.
CAMERA_MODES = ('look_at', 'look', 'projection', 'none', None)

# The settings the render methods read: the silhouette and depth methods
# read GEOMETRY_SETTINGS, render, render_rgbad and __call__ all of them.
GEOMETRY_SETTINGS = frozenset((
    'image_size', 'anti_aliasing', 'background_color', 'fill_back',
    'perspective', 'viewing_angle', 'eye', 'camera_mode',
    'camera_direction', 'near', 'far', 'K', 'R', 't', 'dist_coeffs',
    'orig_size'))
# The calibrated camera of camera_mode 'projection': attributes that render
# calls may override with keyword arguments of the same names (the port's).
PROJECTION_SETTINGS = ('K', 'R', 't', 'dist_coeffs', 'orig_size')
LIGHT_SETTINGS = frozenset((
    'light_intensity_ambient', 'light_intensity_directional',
    'light_color_ambient', 'light_color_directional', 'light_direction'))
SETTINGS = GEOMETRY_SETTINGS | LIGHT_SETTINGS | {'rasterizer_eps'}

# Argument names of look_at / look / perspective / face_light -> the
# Renderer attribute the user set, for error messages.
_ATTRIBUTE_OF_ARGUMENT = {
    'eye': 'eye', 'eye, at': 'eye', 'direction': 'camera_direction',
    'angle': 'viewing_angle',
    'intensity_ambient': 'light_intensity_ambient',
    'intensity_directional': 'light_intensity_directional',
    'color_ambient': 'light_color_ambient',
    'color_directional': 'light_color_directional',
}

# Attribute changes are numbered in one sequence shared by all renderers
# (next() on a count is atomic in CPython).
_change_numbers = itertools.count(1)
_thread_local = threading.local()


class _ThreadToken(object):
    """Identifies a thread in a Renderer's change records (unlike a thread
    id it is never reused while a record holds it)."""
    __slots__ = ('__weakref__',)


def _thread_token():
    try:
        return _thread_local.token
    except AttributeError:
        token = _thread_local.token = _ThreadToken()
        return token


def _renamed(error, prefix=''):
    """``error`` again with the function argument it names replaced by the
    Renderer attribute (e.g. perspective's 'angle' -> 'viewing_angle')."""
    head, sep, rest = str(error).partition(': ')
    attribute = _ATTRIBUTE_OF_ARGUMENT.get(head) if sep else None
    if attribute is None:
        return error
    if head == 'eye, at':
        rest = rest.replace(
            'eye and at must differ (the view direction is at - eye)',
            "must not be [0, 0, 0], the point the 'look_at' camera looks "
            "at")
        rest = rest.replace('the view direction at - eye',
                            'its distance from the origin (the point the '
                            "'look_at' camera looks at)")
    return type(error)('Renderer.{}: {}{}'.format(attribute, prefix, rest))


class Renderer(chainer.Link):
    """Renders meshes with the original package's pipeline and defaults.

    Pipeline: fill_back -> lighting (world space) -> camera (``look_at`` /
    ``look`` / calibrated R, t / none) -> projection (perspective, or none
    when ``perspective`` is False; K and distortion in 'projection' mode)
    -> ``vertices_to_faces`` -> ``rasterize_rgbad``.

    The constructor takes the PyTorch port's keywords and defaults (image_size
    to light_direction below), except that ``camera_mode`` defaults to the
    original's 'look_at'; ``eye`` starts where the original puts it for
    ``viewing_angle``.

    Attributes (all may be changed between calls; ``eye`` may be a list, an
    array [3] or [B, 3], or a ``chainer.Parameter`` to optimise the camera):
        image_size (int or (int, int)): S for S x S images, or (H, W). For
            H != W the perspective keeps pixels square: ``viewing_angle`` is
            the vertical half angle and x is divided by W / H.
        anti_aliasing (bool), background_color ([3] or [B, 3]), fill_back
        (bool), perspective (bool), viewing_angle (degrees in (0, 90), half
        field of view; a number or an array/Variable [B]), eye,
        camera_mode ('look_at': look at the origin from ``eye``; 'look':
        look along ``camera_direction`` from ``eye``; 'projection': the
        PyTorch port's calibrated camera, K, R, t, dist_coeffs and
        orig_size, see :func:`neural_renderer.projection`; None or 'none':
        no view transform, the vertices are already in camera coordinates.
        Any other value is a ValueError: the original package treated
        every other value as 'none'), camera_direction ([3], for 'look'),
        K ([B or 1, 3, 3]), R ([B or 1, 3, 3]), t ([B or 1, 1, 3] or
        [B, 3]), dist_coeffs ([B or 1, 5] or None), orig_size (S or
        (height, width) of the calibrated image; 1024 by default, as the
        port's),
        near, far, light_intensity_ambient, light_intensity_directional,
        light_color_ambient, light_color_directional, light_direction,
        rasterizer_eps (positive: the gradient's eps for ``render``,
        ``render_rgbad`` and ``__call__``; as in the original,
        ``render_silhouettes`` and ``render_depth`` use the rasterizer's
        default, ``DEFAULT_EPS`` = 1e-4, whatever it is set to).

    Errors name the attribute or argument at fault. ``near`` and ``far``
    must be finite with 0 < near < far. Faces partly behind the near plane
    are clipped to it; faces wholly at or behind it are not drawn, whatever
    their vertices (depth 0 included), and raise nothing; vertices that
    nothing draws get zero gradients. An empty mesh (F = 0) or batch
    (B = 0) renders the background, alpha 0 and depth ``far``, with zero
    gradients.

    Threads: each render call reads all the attributes it uses once, when
    it starts, so a change made during a call never mixes old and new
    settings. Sharing one Renderer between threads is safe when only one
    thread changes its attributes (e.g. configure in one thread, render in
    others) or when each thread holds a lock around its attribute changes
    and its render call. A render call raises RuntimeError only when this
    thread set an attribute that the call reads since its previous render
    call and another thread overwrote it before this call (the image would
    show the other thread's setting instead of this thread's): use one
    Renderer per thread (``copy.copy(renderer)`` is enough) instead. The
    thread's next call works again. A thread that changed nothing since its
    previous call renders with the attributes as they are. Changes made in
    place (``renderer.eye[0] = 1``, an optimizer updating a Parameter) are
    not tracked.
    """

    def __init__(self, image_size=256, anti_aliasing=True,
                 background_color=(0, 0, 0), fill_back=True,
                 camera_mode='look_at', K=None, R=None, t=None,
                 dist_coeffs=None, orig_size=1024, perspective=True,
                 viewing_angle=30, camera_direction=(0, 0, 1), near=0.1,
                 far=100, light_intensity_ambient=0.5,
                 light_intensity_directional=0.5,
                 light_color_ambient=(1, 1, 1),
                 light_color_directional=(1, 1, 1),
                 light_direction=(0, 1, 0)):
        super(Renderer, self).__init__()
        # rendering
        self.image_size = image_size
        self.anti_aliasing = anti_aliasing
        self.background_color = _own(background_color)
        self.fill_back = fill_back

        # camera
        self.perspective = perspective
        self.viewing_angle = viewing_angle
        # As the original (and the port): the eye at the distance where the
        # unit cube fills the view.
        angle = viewing_angle if isinstance(viewing_angle, numbers.Real) \
            and 0 < viewing_angle < 90 else 30
        self.eye = [0, 0, -(1. / math.tan(math.radians(angle)) + 1)]
        self.camera_mode = camera_mode
        self.camera_direction = _own(camera_direction)
        self.near = near
        self.far = far
        # camera_mode 'projection' (the port's calibrated camera, see
        # neural_renderer.projection).
        self.K = K
        self.R = R
        self.t = t
        self.dist_coeffs = dist_coeffs
        self.orig_size = orig_size

        # light
        self.light_intensity_ambient = light_intensity_ambient
        self.light_intensity_directional = light_intensity_directional
        self.light_color_ambient = _own(light_color_ambient)  # white
        self.light_color_directional = _own(light_color_directional)
        self.light_direction = _own(light_direction)  # up-to-down

        # rasterization
        self.rasterizer_eps = 1e-3
        # The defaults are nobody's settings.
        self._reset_change_records()

    # -- thread-safety records ----------------------------------------------

    def _reset_change_records(self):
        # Makes a change's record and its value one step, and a render
        # call's reading of the values and the records another: without it
        # two threads' records and values could end up crossed (the record
        # of one, the value of the other).
        self._changes_lock = threading.RLock()
        # name -> (thread token, change number) of the last change.
        self._changes = {}
        # thread token -> (number of the thread's first change since its
        # last render call, the names it changed since) while that thread
        # has changes its next render call has not read yet.
        self._configurations = weakref.WeakKeyDictionary()

    def __setattr__(self, name, value):
        if name in SETTINGS:
            try:
                changes = self._changes
                configurations = self._configurations
                lock = self._changes_lock
            except AttributeError:  # during __init__
                pass
            else:
                token = _thread_token()
                with lock:
                    number = next(_change_numbers)
                    changes[name] = (token, number)
                    configuration = configurations.get(token)
                    if configuration is None:
                        configuration = configurations[token] = (number,
                                                                 set())
                    configuration[1].add(name)
                    super(Renderer, self).__setattr__(name, value)
                return
        super(Renderer, self).__setattr__(name, value)

    def __getstate__(self):
        # Copies and pickles start without change records (a copy shared
        # with the original would tie their threads together).
        state = self.__dict__.copy()
        state.pop('_changes', None)
        state.pop('_configurations', None)
        state.pop('_changes_lock', None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset_change_records()

    def _settings(self, names):
        """The attributes a render call uses, read once (a dict); raises
        RuntimeError if another thread overwrote one of ``names`` that this
        thread had set since its previous render call (see the class
        docstring). Either way this thread's changes count as read: its
        next call starts afresh."""
        token = _thread_token()
        with self._changes_lock:
            settings = self.__dict__.copy()
            for name in SETTINGS.difference(settings):
                settings[name] = getattr(self, name)  # a subclass property
            configuration = self._configurations.pop(token, None)
            changed = []
            if configuration is not None:
                start, own = configuration
                changed = sorted(
                    name for name in own.intersection(names)
                    if self._changes[name][0] is not token and
                    self._changes[name][1] > start)
        if changed:
            raise RuntimeError(
                'Renderer attributes were changed by another thread between '
                "this thread's settings and its render call ({}); use one "
                'Renderer per thread (e.g. copy.copy(renderer)), or hold a '
                'lock around the settings and the render call'.format(
                    ', '.join(changed)))
        self._check_depth_range(settings)
        mode = settings['camera_mode']
        if not (mode is None or isinstance(mode, str) and
                mode in CAMERA_MODES):
            raise ValueError(
                'Renderer.camera_mode: expected one of {} (None or \'none\': '
                'no view transform), got {!r}'.format(
                    ', '.join(repr(m) for m in CAMERA_MODES), mode))
        return settings

    @staticmethod
    def _check_depth_range(settings):
        """0 < near < far, finite real numbers: the rasterizer draws depths
        strictly between them, and clipping cuts faces at both planes in
        front of the camera (a near plane at or behind the camera would
        keep what lies behind it)."""
        for name in ('near', 'far'):
            value = settings[name]
            if isinstance(value, bool) or \
                    not isinstance(value, numbers.Real) or \
                    not math.isfinite(value):
                raise ValueError('Renderer.{}: expected a finite number, got '
                                 '{!r}'.format(name, value))
        near, far = settings['near'], settings['far']
        if not 0 < near < far:
            raise ValueError(
                'Renderer.near, Renderer.far: expected 0 < near < far, got '
                'near={!r}, far={!r}'.format(near, far))

    # -- pipeline stages ----------------------------------------------------

    @staticmethod
    def _fill_back_faces(settings, faces):
        """faces [B, F, 3] -> [B, 2F, 3]: the faces, then their reversed
        copies [v2, v1, v0]. The copies need no texel cubes of their own:
        the rasterizer samples the original cube with reversed weights (the
        cube with axes 0 and 2 swapped, as in the original package)."""
        if not settings['fill_back']:
            return faces
        faces_array = _checks.unwrap(faces)
        xp = chainer.backend.get_array_module(faces_array)
        reversed_faces = faces_array[:, :, ::-1]
        return xp.ascontiguousarray(
            xp.concatenate((faces_array, reversed_faces), axis=1))

    @staticmethod
    def _to_camera(settings, vertices):
        mode = settings['camera_mode']
        if mode == 'projection':
            missing = [name for name in ('K', 'R', 't')
                       if settings[name] is None]
            if missing:
                raise ValueError(
                    "Renderer.camera_mode 'projection' needs K, R and t "
                    '(attributes, or arguments of the render call); {} '
                    '{} None'.format(', '.join(missing),
                                     'is' if len(missing) == 1 else 'are'))
            return calibrated_camera(vertices, settings['R'], settings['t'])
        try:
            if mode == 'look_at':
                return look_at(vertices, settings['eye'])
            if mode == 'look':
                return look(vertices, settings['eye'],
                            settings['camera_direction'])
        except (ValueError, TypeError) as e:
            raise _renamed(e) from None
        return vertices

    @staticmethod
    def _project(settings, vertices):
        if settings['camera_mode'] == 'projection':
            return calibrated_screen(vertices, settings['K'],
                                     settings['dist_coeffs'],
                                     settings['orig_size'])
        if not settings['perspective']:
            return vertices
        height, width = image_shape(settings['image_size'])
        try:
            return perspective(vertices, angle=settings['viewing_angle'],
                               aspect_ratio=float(width) / height)
        except (ValueError, TypeError) as e:
            raise _renamed(e) from None

    @staticmethod
    def _light(settings, vertices, faces, dtype_like):
        # Flat lighting as a factor per drawn face, applied by the
        # rasterizer: equal to lighting() on the texel cubes, without a
        # pass over them. The reversed copies of fill_back get the negated
        # normal without being gathered.
        try:
            light = face_light(
                vertices_to_faces(vertices, faces),
                settings['light_intensity_ambient'],
                settings['light_intensity_directional'],
                settings['light_color_ambient'],
                settings['light_color_directional'],
                settings['light_direction'],
                dtype_like=_checks.unwrap(dtype_like),
                fill_back=settings['fill_back'])
        except (ValueError, TypeError) as e:
            raise _renamed(e) from None
        light_array = light.array
        xp = chainer.backend.get_array_module(light_array)
        if not bool(xp.isfinite(light_array).all()):
            raise ValueError(
                'Renderer light attributes: the light factor '
                'light_intensity_ambient * light_color_ambient + '
                'light_intensity_directional * light_color_directional * '
                '(normal . light_direction) overflows {} (at most {:.3g}); '
                'use smaller values'.format(
                    light_array.dtype.name,
                    float(numpy.finfo(light_array.dtype).max)))
        return light

    @staticmethod
    def _check_textures(textures, v_array, f_array):
        """Checks ``textures`` (texel cubes [B, F, T, T, T, 3] or a
        UVTexture) against the vertices and faces, naming the argument.
        Shapes, dtypes and devices only: the rasterizer checks the values
        (one pass over a UV texture's image per call)."""
        if uv_texture.is_uv(textures):
            textures.check(f_array.shape[0], f_array.shape[1],
                           v_array.dtype,
                           chainer.backend.get_array_module(v_array),
                           values=False)
            return
        t_array = _checks.check_array('textures', textures, ndim=6,
                                      shape_suffix=(3,))
        if t_array.shape[:2] != f_array.shape[:2]:
            raise ValueError(
                'textures: expected shape [B, F, T, T, T, 3] = [{}, {}, '
                'T, T, T, 3], got {}'.format(f_array.shape[0],
                                             f_array.shape[1],
                                             t_array.shape))
        if t_array.dtype != v_array.dtype:
            raise TypeError('textures: expected the dtype of vertices '
                            '({}), got {}'.format(v_array.dtype,
                                                  t_array.dtype))

    @classmethod
    def _settings_screen_faces(cls, settings, vertices, faces,
                               textures=None):
        # Checked here so that errors name the user's arguments, not the
        # faces the rasterizer receives after projection.
        v_array = _checks.check_array('vertices', vertices, ndim=3,
                                      shape_suffix=(3,))
        _checks.check_finite('vertices', vertices)
        f_array = _checks.check_array('faces', faces, ndim=3,
                                      shape_suffix=(3,), dtype_kind='iu')
        light = None
        if textures is not None:
            cls._check_textures(textures, v_array, f_array)
            light = cls._light(settings, vertices, faces, v_array)
        camera = cls._to_camera(settings, vertices)
        # One read-back (a sync on the GPU) for the checks and the clipping
        # test: the nearest and farthest depths and the largest coordinate.
        # (NaN, a broken camera, fails the clipping test: it is diagnosed
        # after the projection.)
        camera_array = _checks.unwrap(camera)
        xp = chainer.backend.get_array_module(camera_array)
        nearest = farthest = largest = 0.
        if camera_array.size:
            nearest, farthest, largest = (
                float(v) for v in chainer.backend.CpuDevice().send(xp.stack([
                    camera_array[..., 2].min(), camera_array[..., 2].max(),
                    xp.abs(camera_array).max()])))
        clipping = nearest < settings['near'] or farthest > settings['far']
        cls._check_camera_range(settings, camera_array.dtype, largest)
        cls._check_call_memory(settings, camera_array.dtype, faces, textures,
                               clipping)
        clipped = cls._clip(settings, camera, faces, light) if clipping \
            else None
        if clipped is not None:
            return (clipped[0], textures) + clipped[1:]
        faces = cls._fill_back_faces(settings, faces)
        screen = cls._project(settings, camera)
        screen_faces = vertices_to_faces(screen, faces)
        screen_array = _checks.unwrap(screen)
        xp = chainer.backend.get_array_module(screen_array)
        if not bool(xp.isfinite(screen_array).all()):
            # Only vertices of drawn faces matter. (Faces at or behind the
            # near plane never come here: clip_faces makes them dummies.)
            faces_array = screen_faces.array
            if not bool(xp.isfinite(faces_array).all()):
                cls._diagnose(settings, camera, faces_array, faces)
        return screen_faces, textures, light, None

    @classmethod
    def _clip(cls, settings, camera, faces, light):
        """For a camera whose depths leave (near, far): where faces cross
        or lie beyond a plane, the screen faces of their clipped pieces:
        (screen faces [B, n, 3, 3], light [B, n, 3] or None, source weights
        [B, front pieces, 3, 3]); else None (the faces are projected as
        they are)."""
        near, far = settings['near'], settings['far']
        # A degenerate camera given as Variables (an eye at the point
        # looked at) puts everything at depth 0: its error, not the mesh's.
        cls._check_camera_values(settings, camera)
        pieces, weights = clip_faces(vertices_to_faces(camera, faces), near,
                                     far)
        if weights is None:
            return None
        num_faces = faces.shape[1]
        copies = pieces.shape[1] // num_faces
        if settings['fill_back']:
            pieces = chainer.functions.concat(
                (pieces, chainer.functions.flip(pieces, 2)), axis=1)
        batch, count = pieces.shape[:2]
        screen = cls._project(settings, chainer.functions.reshape(
            pieces, (batch, count * 3, 3)))
        screen_faces = chainer.functions.reshape(screen, (batch, count, 3, 3))
        if light is not None:
            # Piece q of a face takes the light of face q % F (front and,
            # with fill_back, back halves alike).
            halves = (light[:, :num_faces], light[:, num_faces:]) \
                if settings['fill_back'] else (light,)
            light = chainer.functions.concat(
                [chainer.functions.tile(half, (1, copies, 1))
                 for half in halves], axis=1)
        return screen_faces, light, weights

    @staticmethod
    def call_memory_estimate(settings, batch_size, num_faces, dtype,
                             texture_size=None, clipping=False):
        """Bytes one render call with its backward pass needs at its peak:
        the per-face buffers (camera and screen faces, light, fill_back's
        copies, clipping's pieces, their gradients, the texel cubes' and
        their gradient) and the rasterizer's image buffers
        (:func:`neural_renderer.rasterize.memory_estimate`).

        Per face: 140 times the dtype's size in bytes without clipping, 475
        with (measured: 551 and 1,793 bytes a float32 teapot face, peak
        resident memory over forward and backward in batches of 400 and
        1,600 at 8 px, T = 2, fill_back), plus twice the texel cube (6 T^3
        values).
        """
        itemsize = numpy.dtype(dtype).itemsize
        per_face = (475 if clipping else 140) * itemsize
        if texture_size is not None:
            per_face += 2 * 3 * texture_size ** 3 * itemsize
        images = memory_estimate(
            batch_size, settings['image_size'], settings['anti_aliasing'],
            dtype, return_rgb=texture_size is not None)
        return batch_size * num_faces * per_face + images

    @classmethod
    def _check_call_memory(cls, settings, dtype, faces, textures, clipping):
        """Refuses, naming what to reduce, a call that cannot fit in the
        memory this process can still allocate, before the projection, the
        clipping and the rasterizer allocate their buffers (the rasterizer
        checks its own again)."""
        faces_array = _checks.unwrap(faces)
        batch, num_faces = faces_array.shape[:2]
        uv = uv_texture.is_uv(textures)
        texture_size = None if textures is None or uv else \
            _checks.unwrap(textures).shape[2]
        needed = cls.call_memory_estimate(settings, batch, num_faces, dtype,
                                          texture_size, clipping)
        if uv:
            needed += uv_texture.memory_estimate(textures, batch,
                                                 settings['image_size'],
                                                 settings['anti_aliasing'])
        if needed < _MEMORY_CHECK_THRESHOLD:
            return
        limit = _available_memory(chainer.backend.get_array_module(
            faces_array))
        if limit is not None and needed > limit:
            height, width = image_shape(settings['image_size'])
            raise ValueError(
                'vertices, faces: a batch of {} meshes of {} faces at '
                'image_size {}x{}{} needs about {:.1f} GiB (forward and '
                'backward), more than the {:.1f} GiB this process can still '
                'allocate on this device; render a smaller batch (or fewer '
                'faces, a smaller texture size or image_size)'.format(
                    batch, num_faces, height, width,
                    ' with texture size {}'.format(texture_size)
                    if texture_size else '', needed / 2 ** 30,
                    max(limit, 0) / 2 ** 30))

    @staticmethod
    def _check_camera_range(settings, dtype, largest):
        """Camera coordinates (``largest``: the largest in magnitude) at
        most sqrt(max) * near / 16 of their dtype (1.15e17 in float32 at
        near = 0.1): projecting and clipping divide by depths down to near
        and multiply coordinates together in the backward pass; beyond that
        bound the gradients overflow to inf or NaN even when the image is
        finite."""
        bound = float(numpy.sqrt(numpy.finfo(dtype).max)) * \
            min(float(settings['near']), 1.) / 16
        if not largest <= bound:
            raise ValueError(
                'vertices: camera coordinates reach {:.3g}; in {} with '
                'near = {} the renderer handles at most {:.3g} (sqrt of the '
                'largest {} * near / 16), beyond which its gradients '
                'overflow. Scale the mesh (and the camera) down, or render '
                'in float64'.format(largest, numpy.dtype(dtype).name,
                                    settings['near'], bound,
                                    numpy.dtype(dtype).name))

    @staticmethod
    def _check_camera_values(settings, camera):
        """Checks the values of a camera given as Variables (not checked
        before the transform: that would read them back from the GPU every
        call); raises the error naming the attribute at fault."""
        mode = settings['camera_mode']
        if mode not in ('look_at', 'look'):
            return
        cpu = chainer.backend.CpuDevice()
        camera = cpu.send(_checks.unwrap(camera))

        def concrete(name, value):
            return _checks.as_batched_array(
                name, numpy.asarray(cpu.send(_checks.unwrap(value))),
                camera, camera.shape[0], (3,))
        try:
            eye_b = concrete('eye', settings['eye'])
            forward = -eye_b if mode == 'look_at' else concrete(
                'direction', settings['camera_direction'])
            check_camera_vectors(
                eye_b, forward, concrete('up', (0., 1., 0.)),
                'eye, at' if mode == 'look_at' else 'direction',
                'the view direction at - eye' if mode == 'look_at'
                else 'direction',
                'eye and at must differ (the view direction is at - eye)'
                if mode == 'look_at' else 'must be a nonzero vector')
        except (ValueError, TypeError) as e:
            raise _renamed(e) from None

    @staticmethod
    def _diagnose(settings, camera, screen_faces, faces):
        """Raises the error that explains non-finite screen coordinates."""
        cpu = chainer.backend.CpuDevice()
        camera = cpu.send(_checks.unwrap(camera))
        faces = cpu.send(_checks.unwrap(faces))
        bad = ~numpy.isfinite(cpu.send(screen_faces)).all(axis=3)  # [B,F,3]
        batch, face, corner = [int(i[0]) for i in numpy.nonzero(bad)]
        vertex = int(faces[batch, face, corner])
        point = camera[batch, vertex]
        count = len(numpy.unique(faces[bad]))
        mode = settings['camera_mode']
        eye = numpy.asarray(cpu.send(_checks.unwrap(settings['eye'])))
        Renderer._check_camera_values(settings, camera)
        if mode == 'projection':
            raise ValueError(
                'vertices: the calibrated camera (K, R, t, dist_coeffs) '
                'gave NaN or inf screen coordinates for {} vertex(es) of the '
                'drawn faces, e.g. vertex {} of batch item {} at camera '
                'coordinates {}: check that they are small enough for {} '
                'and the distortion coefficients moderate'.format(
                    count, vertex, batch,
                    numpy.array2string(point, precision=4),
                    camera.dtype.name))
        if not numpy.isfinite(point).all():
            raise ValueError(
                "Renderer.eye: the {!r} camera transform of the vertices "
                "gave NaN or inf (eye = {}{}): the eye must differ from the "
                "point looked at (the origin) and, like camera_direction, "
                "be small enough for {} ({:.3g} at most in each "
                "coordinate)".format(
                    mode, numpy.array2string(eye.ravel()[:6],
                                             precision=4),
                    ', camera_direction = {}'.format(
                        settings['camera_direction']) if mode == 'look'
                    else '', camera.dtype.name,
                    float(numpy.sqrt(numpy.finfo(camera.dtype).max)) / 2))
        raise ValueError(
            'vertices: {} vertex(es) of the drawn faces lie in the plane of '
            'the camera (depth 0), where the perspective projection divides '
            'by zero, e.g. vertex {} of batch item {} at camera coordinates '
            '{} (camera_mode {!r}, eye {}). Move the mesh or the camera: '
            'faces at depth > 0 are drawn, faces (partly) behind the camera '
            '(depth < 0) are not drawn.'.format(
                count, vertex, batch,
                numpy.array2string(point, precision=4), mode,
                numpy.array2string(eye, precision=4)))

    @staticmethod
    def _settings_rasterize(settings, faces, textures, light, return_rgb,
                            return_alpha, return_depth, eps,
                            source_weights=None):
        return rasterize_rgbad(
            faces, textures, settings['image_size'],
            settings['anti_aliasing'], settings['near'], settings['far'],
            eps, settings['background_color'], return_rgb, return_alpha,
            return_depth, light=light, fill_back=settings['fill_back'],
            source_weights=source_weights)

    @staticmethod
    def _rasterizer_eps(settings):
        eps = settings['rasterizer_eps']
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or \
                not 0 < eps < float('inf'):
            raise ValueError('Renderer.rasterizer_eps: expected a positive '
                             'number, got {!r}'.format(eps))
        return eps

    # The stages with the old signatures (used by benchmarks/): each reads
    # the attributes anew.

    def _fill_back(self, faces):
        return self._fill_back_faces(self._settings(SETTINGS), faces)

    def _to_screen(self, vertices):
        settings = self._settings(SETTINGS)
        return self._project(settings, self._to_camera(settings, vertices))

    def _screen_faces(self, vertices, faces, textures=None):
        return self._settings_screen_faces(self._settings(SETTINGS),
                                           vertices, faces, textures)

    def _rasterize(self, faces, textures, light, return_rgb, return_alpha,
                   return_depth, eps, source_weights=None):
        return self._settings_rasterize(
            self._settings(SETTINGS), faces, textures, light, return_rgb,
            return_alpha, return_depth, eps, source_weights)

    def _render(self, vertices, faces, textures, return_rgb, return_alpha,
                return_depth, camera=None):
        """The maps asked for (rasterize_rgbad's dict), with the settings
        read once. The eps: rasterizer_eps with rgb, else DEFAULT_EPS.
        ``camera``: the call's K, R, t, dist_coeffs, orig_size arguments;
        those given (not None) replace the attributes."""
        if return_rgb:
            settings = self._settings(SETTINGS)
            eps = self._rasterizer_eps(settings)
        else:
            settings = self._settings(GEOMETRY_SETTINGS)
            eps = DEFAULT_EPS
        for name, value in (camera or {}).items():
            if value is not None:
                settings[name] = value
        if self._is_empty(vertices, faces, textures if return_rgb else None):
            return self._background_maps(
                settings, vertices, textures if return_rgb else None,
                return_rgb, return_alpha, return_depth)
        faces, textures, light, source_weights = \
            self._settings_screen_faces(settings, vertices, faces, textures)
        return self._settings_rasterize(
            settings, faces, textures, light, return_rgb, return_alpha,
            return_depth, eps, source_weights)

    @staticmethod
    def _is_empty(vertices, faces, textures):
        """Whether there is nothing to draw: a batch of 0 or meshes of no
        faces (after checking the arguments' shapes and types)."""
        v_array = _checks.check_array('vertices', vertices, ndim=3,
                                      shape_suffix=(3,))
        if v_array.dtype not in (numpy.float32, numpy.float64):
            raise TypeError('vertices: expected float32 or float64, got {}'
                            .format(v_array.dtype))
        f_array = _checks.check_array('faces', faces, ndim=3,
                                      shape_suffix=(3,), dtype_kind='iu')
        if f_array.shape[0] != v_array.shape[0]:
            raise ValueError('faces: expected the batch size of vertices '
                             '({}), got shape {}'.format(v_array.shape[0],
                                                         f_array.shape))
        if textures is not None:
            Renderer._check_textures(textures, v_array, f_array)
        return f_array.shape[0] == 0 or f_array.shape[1] == 0

    @staticmethod
    def _background_maps(settings, vertices, textures, return_rgb,
                         return_alpha, return_depth):
        """What an empty mesh renders: the background colour, alpha 0 and
        depth ``far``, as rasterize_rgbad's dict; connected to vertices
        (and textures) with zero gradients, so that an optimiser sees zeros
        rather than no gradient."""
        F = chainer.functions
        v_array = _checks.unwrap(vertices)
        xp = chainer.backend.get_array_module(v_array)
        dtype = v_array.dtype
        batch = v_array.shape[0]
        height, width = image_shape(settings['image_size'])
        # 0 * x elementwise (not 0 * sum(x), which overflows to NaN).
        zero = F.sum(vertices * 0)
        if uv_texture.is_uv(textures):
            zero = zero + F.sum(textures.uvs * 0) + F.sum(textures.image * 0)
        elif textures is not None:
            zero = zero + F.sum(textures * 0)

        def constant(array):
            return F.broadcast_to(zero, array.shape) + array

        background = xp.asarray(_background(settings['background_color'],
                                            batch, dtype))
        maps = {'rgb': None, 'alpha': None, 'depth': None}
        if return_rgb:
            maps['rgb'] = constant(xp.ascontiguousarray(xp.broadcast_to(
                background[:, :, None, None], (batch, 3, height, width))))
        if return_alpha:
            maps['alpha'] = constant(xp.zeros((batch, height, width), dtype))
        if return_depth:
            maps['depth'] = constant(xp.full((batch, height, width),
                                             settings['far'], dtype))
        return maps

    # -- public API ---------------------------------------------------------

    def render_rgbad(self, vertices, faces, textures, K=None, R=None,
                     t=None, dist_coeffs=None, orig_size=None):
        """rgb [B, 3, H, W], alpha [B, H, W] and depth [B, H, W] as a dict
        with keys 'rgb', 'alpha', 'depth', from one rasterization pass.

        Args:
            vertices: [B, V, 3] float32 world coordinates (y up).
            faces: [B, F, 3] int32 vertex indices, counter-clockwise seen
                from outside.
            textures: [B, F, T, T, T, 3] per-face texel cubes, or a
                :class:`neural_renderer.UVTexture` (uvs [B, F, 3, 2] and an
                image sampled at render time).
            K, R, t, dist_coeffs, orig_size: for camera_mode 'projection',
                the calibrated camera of this call (see
                :func:`neural_renderer.projection`); those given replace
                the attributes of the same names, as in the PyTorch port.

        Faces that cross the near or far plane are clipped to it in camera
        space (see :func:`neural_renderer.clip_faces`): their visible part
        is drawn, and gradients reach their vertices through the cut.
        """
        return self._render(vertices, faces, textures, True, True, True,
                            _camera(K, R, t, dist_coeffs, orig_size))

    def __call__(self, vertices, faces, textures=None, mode=None, K=None,
                 R=None, t=None, dist_coeffs=None, orig_size=None):
        """Renders in one of the modes of the PyTorch port's ``forward``.

        mode None: (rgb, depth, alpha) from one pass; 'rgb': rgb;
        'silhouettes': alpha; 'depth': depth. K, R, t, dist_coeffs,
        orig_size: see :meth:`render_rgbad`.
        """
        camera = dict(K=K, R=R, t=t, dist_coeffs=dist_coeffs,
                      orig_size=orig_size)
        if mode is None:
            out = self.render_rgbad(vertices, faces, textures, **camera)
            return out['rgb'], out['depth'], out['alpha']
        if mode == 'rgb':
            return self.render(vertices, faces, textures, **camera)
        if mode == 'silhouettes':
            return self.render_silhouettes(vertices, faces, **camera)
        if mode == 'depth':
            return self.render_depth(vertices, faces, **camera)
        raise ValueError("mode must be None, 'rgb', 'silhouettes' or "
                         "'depth', got {!r}".format(mode))

    def render(self, vertices, faces, textures, K=None, R=None, t=None,
               dist_coeffs=None, orig_size=None):
        """RGB images [B, 3, H, W] (see render_rgbad for the arguments).
        The gradient's eps is ``rasterizer_eps`` (1e-3 by default)."""
        return self._render(vertices, faces, textures, True, False, False,
                            _camera(K, R, t, dist_coeffs, orig_size))['rgb']

    def render_silhouettes(self, vertices, faces, K=None, R=None, t=None,
                           dist_coeffs=None, orig_size=None):
        """Silhouettes (alpha) [B, H, W] of meshes vertices [B, V, 3],
        faces [B, F, 3] (K ... orig_size: see render_rgbad). The gradient's
        eps is ``DEFAULT_EPS`` (1e-4), not ``rasterizer_eps``, as in the
        original package."""
        return self._render(vertices, faces, None, False, True, False,
                            _camera(K, R, t, dist_coeffs,
                                    orig_size))['alpha']

    def render_depth(self, vertices, faces, K=None, R=None, t=None,
                     dist_coeffs=None, orig_size=None):
        """Depth images [B, H, W] (``far`` on the background; K ...
        orig_size: see render_rgbad). Depth has an exact gradient; eps
        (``DEFAULT_EPS``, as in the original) plays no part in it."""
        return self._render(vertices, faces, None, False, False, True,
                            _camera(K, R, t, dist_coeffs,
                                    orig_size))['depth']


def _own(value):
    """A constructor argument to keep: lists and tuples as new lists (the
    original's attributes are lists; a default is never shared), arrays and
    Variables as they are."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _camera(K, R, t, dist_coeffs, orig_size):
    return dict(zip(PROJECTION_SETTINGS, (K, R, t, dist_coeffs, orig_size)))
