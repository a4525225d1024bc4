// Instantiates the per-pixel rasterizer of the original algorithm
// (per_pixel_original.cuh) for float (_f32) and double (_f64), on top of the
// common part of the package's kernel header. Built by benchmarks/sweep.py
// with the host C++ compiler (include path: neural_renderer/kernels); CuPy
// compiles the same text for the GPU.
#include "rasterize.cuh"

#define scalar_t float
#define NR_SUFFIX _f32
#include "per_pixel_original.cuh"
#undef scalar_t
#undef NR_SUFFIX

#define scalar_t double
#define NR_SUFFIX _f64
#include "per_pixel_original.cuh"
#undef scalar_t
#undef NR_SUFFIX
