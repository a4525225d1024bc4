// Rasterization kernels of neural_renderer: the single source for CPU and GPU.
//
// This file is CUDA C that is also valid C++. CuPy compiles it with NVRTC for
// the GPU; setup.py compiles it with the host C++ compiler (OpenMP) for the
// CPU. Every kernel is written once, as the body of NR_FOR_EACH: on the GPU
// that is one thread per index, on the CPU an OpenMP loop over the indices.
// kernels.cpp includes the kernel part twice, with scalar_t = float and
// scalar_t = double; exported names get the suffix _f32 / _f64.
//
// Conventions (shared with neural_renderer/rasterize.py):
// * faces [B, F, 3, 3]: per face three vertices (x, y, z); x, y in NDC
//   [-1, 1], y up; z is the camera depth. Front faces are counter-clockwise
//   in that frame; back faces and zero-area faces are not drawn.
// * images [B, H, W] (rgb [B, 3, H, W]): row 0 is the top (y = +1). Pixel
//   (row i, column j) has its centre at x = (2j + 1 - W) / W,
//   y = (H - 1 - 2i) / H.
// * textures [B, Ft, T, T, T, 3]: texel cube axis k belongs to vertex k.
//   The F drawn faces are Ff front faces, F = Ff, or with fill_back F = 2 Ff
//   where faces Ff..2Ff-1 are the reversed copies [v2, v1, v0] of faces
//   0..Ff-1: face Ff + f then samples as face f with its weights reversed,
//   which is what the cube with axes 0 and 2 swapped would give. Front face
//   f samples cube f % Ft (Ff is a multiple of Ft: Ff > Ft when faces were
//   clipped, each face's pieces in slots f, f + Ft, ...) at its weights
//   mapped by source_weights [B, Ff, 3, 3] (row k: vertex k's barycentric
//   weights on the face cube f % Ft belongs to; null: the identity).
// * light [B, F, 3] (may be null): per-face colour factor (flat lighting),
//   applied to the sampled texel colour.
// * The z-buffer holds, per pixel, a 64-bit key (orderable depth bits << 32 |
//   face index): an atomic min picks the nearest face, ties the lower index.

// The kernels live in forward.cuh, backward.cuh, average.cuh and
// mipmap.cuh, their device helpers in common.cuh; this file gathers them.
// Without scalar_t defined it gives the helpers only
// (benchmarks/per_pixel_original.cpp builds on them).
#include "common.cuh"

#ifdef scalar_t
#define NR_NAME(name) NR_CAT(name, NR_SUFFIX)
#include "forward.cuh"
#include "backward.cuh"
#include "average.cuh"
#include "mipmap.cuh"
#undef NR_NAME
#endif  // scalar_t
