"""The Renderer link: lighting, camera, projection and rasterization."""
import math

import chainer

from neural_renderer import _checks
from neural_renderer.lighting import face_light
from neural_renderer.look import look
from neural_renderer.look_at import look_at
from neural_renderer.perspective import perspective
from neural_renderer.rasterize import DEFAULT_EPS
from neural_renderer.rasterize import image_shape
from neural_renderer.rasterize import rasterize_rgbad
from neural_renderer.vertices_to_faces import vertices_to_faces


class Renderer(chainer.Link):
    """Renders meshes with the original package's pipeline and defaults.

    Pipeline: fill_back -> lighting (world space) -> camera (``look_at`` /
    ``look`` / none) -> projection (perspective, or none when ``perspective``
    is False) -> ``vertices_to_faces`` -> ``rasterize_rgbad``.

    Attributes (all may be changed between calls; ``eye`` may be a list, an
    array [3] or [B, 3], or a ``chainer.Parameter`` to optimise the camera):
        image_size (int or (int, int)): S for S x S images, or (H, W). For
            H != W the perspective keeps pixels square: ``viewing_angle`` is
            the vertical half angle and x is divided by W / H.
        anti_aliasing (bool), background_color ([3] or [B, 3]), fill_back
        (bool), perspective (bool), viewing_angle (float, degrees, half field
        of view), eye, camera_mode ('look_at', 'look' or anything else for no
        view transform), camera_direction ([3], for 'look'), near, far,
        light_intensity_ambient, light_intensity_directional,
        light_color_ambient, light_color_directional, light_direction,
        rasterizer_eps (the gradient's eps for ``render``, ``render_rgbad``
        and ``__call__``; as in the original, ``render_silhouettes`` and
        ``render_depth`` use the rasterizer's default, ``DEFAULT_EPS`` =
        1e-4, whatever it is set to).
    """

    def __init__(self):
        super(Renderer, self).__init__()
        # rendering
        self.image_size = 256
        self.anti_aliasing = True
        self.background_color = [0, 0, 0]
        self.fill_back = True

        # camera
        self.perspective = True
        self.viewing_angle = 30
        self.eye = [0, 0, -(1. / math.tan(math.radians(self.viewing_angle))
                            + 1)]
        self.camera_mode = 'look_at'
        self.camera_direction = [0, 0, 1]
        self.near = 0.1
        self.far = 100

        # light
        self.light_intensity_ambient = 0.5
        self.light_intensity_directional = 0.5
        self.light_color_ambient = [1, 1, 1]  # white
        self.light_color_directional = [1, 1, 1]  # white
        self.light_direction = [0, 1, 0]  # up-to-down

        # rasterization
        self.rasterizer_eps = 1e-3

    # -- pipeline stages ----------------------------------------------------

    def _fill_back(self, faces):
        """faces [B, F, 3] -> [B, 2F, 3]: the faces, then their reversed
        copies [v2, v1, v0]. The copies need no texel cubes of their own:
        the rasterizer samples the original cube with reversed weights (the
        cube with axes 0 and 2 swapped, as in the original package)."""
        if not self.fill_back:
            return faces
        faces_array = faces.array if isinstance(faces, chainer.Variable) \
            else faces
        xp = chainer.backend.get_array_module(faces_array)
        reversed_faces = faces_array[:, :, ::-1]
        return xp.ascontiguousarray(
            xp.concatenate((faces_array, reversed_faces), axis=1))

    def _to_screen(self, vertices):
        if self.camera_mode == 'look_at':
            vertices = look_at(vertices, self.eye)
        elif self.camera_mode == 'look':
            vertices = look(vertices, self.eye, self.camera_direction)
        if self.perspective:
            height, width = image_shape(self.image_size)
            vertices = perspective(vertices, angle=self.viewing_angle,
                                   aspect_ratio=float(width) / height)
        return vertices

    def _screen_faces(self, vertices, faces, textures=None):
        # Checked here so that errors name the user's arguments, not the
        # faces the rasterizer receives after projection.
        _checks.check_array('vertices', vertices, ndim=3, shape_suffix=(3,))
        _checks.check_finite('vertices', vertices)
        _checks.check_array('faces', faces, ndim=3, shape_suffix=(3,),
                            dtype_kind='iu')
        light = None
        if textures is not None:
            # Flat lighting as a factor per drawn face, applied by the
            # rasterizer: equal to lighting() on the texel cubes, without a
            # pass over them. The reversed copies of fill_back get the
            # negated normal without being gathered.
            light = face_light(
                vertices_to_faces(vertices, faces),
                self.light_intensity_ambient,
                self.light_intensity_directional, self.light_color_ambient,
                self.light_color_directional, self.light_direction,
                dtype_like=textures.array if isinstance(
                    textures, chainer.Variable) else textures,
                fill_back=self.fill_back)
        faces = self._fill_back(faces)
        vertices = self._to_screen(vertices)
        return vertices_to_faces(vertices, faces), textures, light

    def _rasterize(self, faces, textures, light, return_rgb, return_alpha,
                   return_depth, eps):
        return rasterize_rgbad(
            faces, textures, self.image_size, self.anti_aliasing, self.near,
            self.far, eps, self.background_color,
            return_rgb, return_alpha, return_depth, light=light,
            fill_back=self.fill_back)

    # -- public API ---------------------------------------------------------

    def render_rgbad(self, vertices, faces, textures):
        """rgb [B, 3, H, W], alpha [B, H, W] and depth [B, H, W] as a dict
        with keys 'rgb', 'alpha', 'depth', from one rasterization pass.

        Args:
            vertices: [B, V, 3] float32 world coordinates (y up).
            faces: [B, F, 3] int32 vertex indices, counter-clockwise seen
                from outside.
            textures: [B, F, T, T, T, 3] per-face texel cubes.
        """
        faces, textures, light = self._screen_faces(vertices, faces, textures)
        return self._rasterize(faces, textures, light, True, True, True,
                               self.rasterizer_eps)

    def __call__(self, vertices, faces, textures=None, mode=None):
        """Renders in one of the modes of the PyTorch port's ``forward``.

        mode None: (rgb, depth, alpha) from one pass; 'rgb': rgb;
        'silhouettes': alpha; 'depth': depth.
        """
        if mode is None:
            out = self.render_rgbad(vertices, faces, textures)
            return out['rgb'], out['depth'], out['alpha']
        if mode == 'rgb':
            return self.render(vertices, faces, textures)
        if mode == 'silhouettes':
            return self.render_silhouettes(vertices, faces)
        if mode == 'depth':
            return self.render_depth(vertices, faces)
        raise ValueError("mode must be None, 'rgb', 'silhouettes' or "
                         "'depth', got {!r}".format(mode))

    def render(self, vertices, faces, textures):
        """RGB images [B, 3, H, W] (see render_rgbad for the arguments).
        The gradient's eps is ``rasterizer_eps`` (1e-3 by default)."""
        faces, textures, light = self._screen_faces(vertices, faces, textures)
        return self._rasterize(faces, textures, light, True, False, False,
                               self.rasterizer_eps)['rgb']

    def render_silhouettes(self, vertices, faces):
        """Silhouettes (alpha) [B, H, W] of meshes vertices [B, V, 3],
        faces [B, F, 3]. The gradient's eps is ``DEFAULT_EPS`` (1e-4), not
        ``rasterizer_eps``, as in the original package."""
        faces, _, _ = self._screen_faces(vertices, faces)
        return self._rasterize(faces, None, None, False, True, False,
                               DEFAULT_EPS)['alpha']

    def render_depth(self, vertices, faces):
        """Depth images [B, H, W] (``far`` on the background). Depth has an
        exact gradient; eps (``DEFAULT_EPS``, as in the original) plays no
        part in it."""
        faces, _, _ = self._screen_faces(vertices, faces)
        return self._rasterize(faces, None, None, False, False, True,
                               DEFAULT_EPS)['depth']
