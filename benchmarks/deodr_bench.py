"""DEODR (https://github.com/martinResearch/DEODR, `pip install deodr`) on
the same mesh, camera and image size as the renderer, for a CPU comparison.

DEODR is a C++ rasterizer (double precision, single-threaded) with a Python
front end (``deodr.Scene3D``: projection, per-vertex lighting, silhouette
edge detection in NumPy). What is timed is its public path, as a user
calls it:

* rgb: ``Scene3D.render(camera)`` (per-vertex colours, ambient 0.5 +
  directional 0.5 light) and, forward + backward, ``render_backward`` of a
  fixed random image gradient;
* silhouettes: the same with one colour channel of ones on a black
  background and no lighting (DEODR has no separate alpha output);
* depth: ``render_depth`` / ``render_depth_backward``.

Differences from the renderer, stated in the tables:

* anti-aliasing: DEODR's is edge overdraw (silhouette edges smeared over
  ``sigma`` pixels, sigma = 1) and its edge gradient comes from that smear;
  the renderer's is 2x supersampling and its gradient the paper's linear
  ramp. With sigma = 0 (anti-aliasing off) DEODR gives no edge gradient.
* colour: DEODR interpolates per-vertex colours (Gouraud lighting); the
  renderer samples per-face texel cubes with flat lighting.
* faces: DEODR culls back faces of the single-sided mesh; the renderer's
  default ``fill_back`` adds reversed copies (twice the faces, half of them
  culled).
* no batching: DEODR renders one image per call (batch > 1 is not run).

The camera is the renderer's look-at camera (eye at distance 2.732,
elevation 30, azimuth 45, half field of view 30 degrees) written as an
OpenCV-style camera with pixel centres at half-integers, so that both put
every vertex at the same pixel position.
"""
import math
import warnings

import numpy

# deodr 0.2.3 calls numpy.cross on 2-vectors (deprecated in NumPy 2).
warnings.filterwarnings('ignore', category=DeprecationWarning,
                        module=r'deodr\.')

try:
    import deodr
    from deodr.differentiable_renderer import Camera, Scene3D
    from deodr.triangulated_mesh import ColoredTriMesh
    IMPORT_ERROR = None
except Exception as error:  # not installed, or broken (0.2.3 needs trimesh)
    deodr = None
    IMPORT_ERROR = '{}: {}'.format(type(error).__name__, error)


def available():
    return deodr is not None


def unavailable_reason():
    if IMPORT_ERROR is None:
        return None
    if 'No module named' in IMPORT_ERROR and "'deodr'" in IMPORT_ERROR:
        return 'deodr not installed'
    if 'Trimesh' in IMPORT_ERROR:
        return 'deodr import failed: it needs trimesh (pip install trimesh)'
    return 'deodr import failed ({})'.format(IMPORT_ERROR)


def look_at_rotation(eye, at=(0., 0., 0.), up=(0., 1., 0.)):
    """Rows x, y, z of the renderer's look-at camera frame."""
    eye, at, up = (numpy.asarray(a, numpy.float64) for a in (eye, at, up))
    z = at - eye
    z /= numpy.linalg.norm(z)
    x = numpy.cross(up, z)
    x /= numpy.linalg.norm(x)
    y = numpy.cross(z, x)
    return numpy.stack([x, y, z])


def camera(eye, image_size, viewing_angle=30.):
    """A DEODR camera equal to the renderer's: same frame, focal length
    S / (2 tan(angle)), principal point at the image centre. Its image rows
    go up (row r has y_ndc = (2r + 1 - S) / S): flip them for the
    renderer's row order (row 0 at the top). (A negative y focal length
    would flip them in the camera instead but turn DEODR's back-face
    culling around.)"""
    rotation = look_at_rotation(eye)
    translation = -rotation.dot(numpy.asarray(eye, numpy.float64))
    focal = image_size / (2 * math.tan(math.radians(viewing_angle)))
    intrinsic = numpy.array([[focal, 0, image_size / 2.],
                             [0, focal, image_size / 2.],
                             [0, 0, 1]])
    return Camera(extrinsic=numpy.column_stack([rotation, translation]),
                  intrinsic=intrinsic, height=image_size, width=image_size)


class Bench(object):
    """One DEODR scene for one mode ('rgb', 'silhouettes', 'depth')."""

    def __init__(self, vertices, faces, mode, image_size, anti_aliasing,
                 eye, seed=0):
        rng = numpy.random.RandomState(seed)
        vertices = numpy.asarray(vertices, numpy.float64)
        # The renderer's front faces are clockwise by DEODR's right-hand
        # rule (see meshes.py): clockwise=True.
        channels = 3 if mode == 'rgb' else 1
        colors = numpy.ones((len(vertices), 1)) if mode == 'silhouettes' \
            else rng.uniform(0, 1, (len(vertices), 3))
        self.mesh = ColoredTriMesh(numpy.asarray(faces, numpy.int64),
                                   vertices, clockwise=True, colors=colors)
        self.scene = Scene3D(sigma=1. if anti_aliasing else 0.,
                             integer_pixel_centers=False)
        self.scene.set_mesh(self.mesh)
        if mode == 'rgb':
            self.scene.set_light(light_directional=numpy.array([0., -.5, 0.]),
                                 light_ambient=0.5)
        else:
            self.scene.set_light(light_directional=None, light_ambient=1.)
        # Depth: the renderer's far (100) where no face is drawn.
        self.scene.set_background_color(
            numpy.full(channels, 100. if mode == 'depth' else 0.))
        self.camera = camera(eye, image_size)
        self.mode = mode
        shape = (image_size, image_size, channels)
        # In DEODR's row order (bottom row first).
        self.grad = numpy.ascontiguousarray(rng.randn(*shape)[::-1])

    def forward(self):
        """The image [S, S, C] in DEODR's row order (flip for ours)."""
        if self.mode == 'depth':
            return self.scene.render_depth(self.camera)
        return self.scene.render(self.camera)

    def forward_backward(self):
        image = self.forward()
        if self.mode == 'depth':
            self.scene.render_depth_backward(self.grad)
        else:
            self.scene.render_backward(self.grad)
        return image
