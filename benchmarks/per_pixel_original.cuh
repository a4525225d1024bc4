// The forward rasterization of the original package (neural_renderer 1.1.3),
// for comparison in the benchmarks only: one thread per pixel that loops over
// every face of its batch item, O(B * H * W * F).
//
// Like the package's kernels this is CUDA C that is also valid C++, written
// with the macros of neural_renderer/kernels/rasterize.cuh (NR_KERNEL,
// NR_FOR_EACH: one GPU thread, or one OpenMP iteration, per pixel) and its
// per-face arithmetic (nr::Face: the same inside test, clamped barycentric
// weights and perspective-correct depth), so that only the loop structure
// differs from the package's per-face rasterize_faces kernel.
// per_pixel_original.cpp includes the common part of rasterize.cuh once and
// then this file per scalar type (float: _f32, double: _f64); the harness
// builds it with the host C++ compiler for the CPU (OpenMP) and with NVRTC
// (through CuPy) for the GPU.
//
// What the original did per pixel and face, and so does this kernel: skip
// back faces, test whether the pixel centre is inside, compute the clamped,
// renormalised barycentric weights and the perspective-correct depth, drop
// depths outside (near, far), keep the nearest face (ties: the lower index).
// (The original read a per-face inverse matrix precomputed by another kernel
// for the weights; here the edge functions give them: the same few flops.)
//
// Output: the z-buffer of the package's rasterize_faces, one 64-bit key per
// pixel (orderable float depth << 32 | face index; all ones when empty), so
// that the package's resolve_pixels kernel turns it into face index, rgb,
// alpha and depth exactly as it does for its own rasterizer.

#ifdef scalar_t
#define NR_NAME(name) NR_CAT(name, NR_SUFFIX)

// One index per pixel of the [B, H, W] z-buffer; faces [B, F, 3, 3] as for
// rasterize_faces (which takes the same arguments).
NR_KERNEL void NR_NAME(rasterize_pixels_all_faces)(
        const scalar_t* faces, long long num_faces, long long height,
        long long width, scalar_t near, scalar_t far, nr_key_t* zbuffer,
        long long n) {
    NR_FOR_EACH(index, n) [&] {
        const long long hw = height * width;
        const long long b = index / hw, pixel = index % hw;
        const scalar_t px = nr::column_x<scalar_t>(pixel % width, width);
        const scalar_t py = nr::row_y<scalar_t>(pixel / width, height);
        const scalar_t* faces_b = faces + b * num_faces * 9;
        nr_key_t best = NR_EMPTY_KEY;
        for (long long f = 0; f < num_faces; ++f) {
            nr::Face<scalar_t> face;
            face.load(faces_b + f * 9);
            if (!face.drawable(near, far)) continue;
            if (!face.contains(px, py)) continue;
            face.prepare_weights();
            scalar_t w[3];
            const scalar_t depth = face.weights_depth(px, py, w);
            if (!(depth > near && depth < far)) continue;
            // Strictly nearer: an equal depth keeps the lower face index.
            const nr_key_t key = nr::make_key((float)depth, f);
            if (key < best) best = key;
        }
        zbuffer[index] = best;
    }();
}

#undef NR_NAME
#endif  // scalar_t
