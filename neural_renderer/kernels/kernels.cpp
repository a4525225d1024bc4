// The one translation unit that instantiates every rasterization kernel for
// float (suffix _f32) and double (suffix _f64). setup.py compiles this file
// as C++ with OpenMP into neural_renderer._kernels_cpu; on the GPU CuPy
// compiles the same text with NVRTC (see neural_renderer/_launcher.py).
#define scalar_t float
#define NR_SUFFIX _f32
#include "rasterize.cuh"
#undef scalar_t
#undef NR_SUFFIX

#define scalar_t double
#define NR_SUFFIX _f64
#include "rasterize.cuh"
#undef scalar_t
#undef NR_SUFFIX
