// The AVX2 build of the CPU kernels: kernels.cpp itself, compiled by
// setup.py with -mavx2 into neural_renderer._kernels_cpu_avx2 (a separate
// file only so that the two builds get separate object files).
#include "kernels.cpp"
