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

#ifndef NR_RASTERIZE_COMMON_CUH
#define NR_RASTERIZE_COMMON_CUH

#ifdef __CUDACC__
#define NR_DEVICE __device__ __forceinline__
#define NR_KERNEL extern "C" __global__
// One thread per index; the body is a lambda so that it may `return`.
#define NR_FOR_EACH(i, n)                                              \
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; \
    if (i >= (n)) return;
// One thread per pixel of n pixels in rows of `columns`: one division of
// the flat index gives (row, column).
#define NR_FOR_EACH_PIXEL(row, column, n, columns)                          \
    const long long nr_flat_ = (long long)blockIdx.x * blockDim.x +         \
                               threadIdx.x;                                 \
    if (nr_flat_ >= (n)) return;                                            \
    const long long row = nr_flat_ / (columns);                             \
    const long long column = nr_flat_ - row * (columns);
#else
#include <cmath>
#include <cstring>
#define NR_DEVICE inline
#define NR_KERNEL extern "C"
// Set (nr_set_serial) in a process forked from one that ran these loops:
// GNU OpenMP's thread pool does not survive fork(), and a parallel region
// in the child waits forever for the parent's threads. A region with the
// if() clause false runs on the calling thread alone, without the pool.
static int nr_serial = 0;
extern "C" void nr_set_serial(int serial) { nr_serial = serial; }
// Chunks of 256 indices: small chunks let two threads write neighbouring
// pixels of one cache line (and cost a dispatch each), one static chunk per
// thread leaves threads idle when faces differ in size.
#define NR_FOR_EACH(i, n) \
    _Pragma("omp parallel for schedule(dynamic, 256) if(!nr_serial)") \
    for (long long i = 0; i < (n); ++i)
// Rows to the threads (guided: big chunks first, small ones to balance),
// each row a plain loop: no integer division per pixel and contiguous
// stores. The body is a lambda as for NR_FOR_EACH; capturing by value ([=])
// lets the compiler keep the arguments in registers.
#define NR_FOR_EACH_PIXEL(row, column, n, columns) \
    _Pragma("omp parallel for schedule(guided) if(!nr_serial)") \
    for (long long row = 0; row < (n) / (columns); ++row) \
        for (long long column = 0; column < (columns); ++column)
#endif

#define NR_CAT2(a, b) a##b
#define NR_CAT(a, b) NR_CAT2(a, b)

typedef unsigned long long nr_key_t;
// Values per pixel record of pack_edge_records (see there).
#define NR_RECORD 8
#define NR_EMPTY_KEY 0xFFFFFFFFFFFFFFFFull
// rasterize_faces scans a face's rows over per-row spans (RowSpans) when
// its column range (bounding box and line_range's margins) has at least
// this many columns, else over the whole range: for faces a few pixels
// wide, most of a fine mesh, the spans cost more than the tests they save.
#define NR_SPAN_MIN_COLUMNS 6

namespace nr {

#ifdef __CUDACC__
NR_DEVICE void atomic_min_key(nr_key_t* address, nr_key_t value) {
    atomicMin(address, value);
}
NR_DEVICE unsigned int float_bits(float value) { return __float_as_uint(value); }
template <typename T> NR_DEVICE T nr_floor(T v) { return floor(v); }
template <typename T> NR_DEVICE T nr_ceil(T v) { return ceil(v); }
#else
NR_DEVICE void atomic_min_key(nr_key_t* address, nr_key_t value) {
    nr_key_t current = __atomic_load_n(address, __ATOMIC_RELAXED);
    while (value < current &&
           !__atomic_compare_exchange_n(address, &current, value, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
NR_DEVICE unsigned int float_bits(float value) {
    unsigned int bits;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits;
}
template <typename T> NR_DEVICE T nr_floor(T v) { return std::floor(v); }
template <typename T> NR_DEVICE T nr_ceil(T v) { return std::ceil(v); }
#endif

// Maps a float to an unsigned int with the same order (negative values too).
NR_DEVICE unsigned int depth_order(float depth) {
    unsigned int bits = float_bits(depth);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

NR_DEVICE nr_key_t make_key(float depth, long long face) {
    return ((nr_key_t)depth_order(depth) << 32) | (nr_key_t)(unsigned int)face;
}

// Twice the signed area of triangle (a, b, c); > 0 when counter-clockwise.
template <typename T>
NR_DEVICE T area2(T ax, T ay, T bx, T by, T cx, T cy) {
    return (bx - ax) * (cy - ay) - (cx - ax) * (by - ay);
}

// Pixel centres in NDC.
template <typename T> NR_DEVICE T column_x(long long j, long long W) {
    return (T)(2 * j + 1 - W) / (T)W;
}
template <typename T> NR_DEVICE T row_y(long long i, long long H) {
    return (T)(H - 1 - 2 * i) / (T)H;
}

// Closed index range [lo, hi] of pixel lines whose centre c = c0 + l * dc lies
// in [a, b], clamped to [0, n - 1]; hi < lo when empty (also for NaN
// bounds). Takes inv_dc = 1 / dc (-H / 2 or W / 2 for pixel centres,
// exact): no division. One extra line on each side absorbs rounding;
// callers test the exact condition.
template <typename T>
NR_DEVICE void line_range(T a, T b, T c0, T inv_dc, long long n,
                          long long* lo, long long* hi) {
    const T la = (a - c0) * inv_dc, lb = (b - c0) * inv_dc;
    T l0 = la < lb ? la : lb, l1 = la < lb ? lb : la;
    if (!(l0 <= l1)) {
        *lo = 0;
        *hi = -1;
        return;
    }
    // Clamp in floating point first: huge coordinates must not overflow.
    l0 = l0 < (T)-1 ? (T)-1 : (l0 > (T)n ? (T)n : l0);
    l1 = l1 < (T)-1 ? (T)-1 : (l1 > (T)n ? (T)n : l1);
    // Within [-1, n] truncation and a step give ceil and floor, without
    // libm calls.
    const long long t0 = (long long)l0, t1 = (long long)l1;
    const long long first = t0 + (l0 > (T)t0 ? 1 : 0) - 1;
    const long long last = t1 - (l1 < (T)t1 ? 1 : 0) + 1;
    *lo = first < 0 ? 0 : first;
    *hi = last > n - 1 ? n - 1 : last;
}

// A face in screen space: vertices, twice its area and, after
// prepare_weights(), the reciprocals of the area and the depths that the
// per-pixel weights multiply by (divisions are the slow part of a pixel's
// arithmetic: a face pays for its own once).
template <typename T>
struct Face {
    T x[3], y[3], z[3];
    T area;
    T inv_area, inv_z[3];

    NR_DEVICE void load(const T* face) {
        for (int k = 0; k < 3; ++k) {
            x[k] = face[3 * k];
            y[k] = face[3 * k + 1];
            z[k] = face[3 * k + 2];
        }
        area = area2(x[0], y[0], x[1], y[1], x[2], y[2]);
    }

    // Needed by weights_depth*() and perspective_weights(). z = 0 gives
    // inf, and weights * inf the inf or NaN that a division by z would (NaN
    // depths are never drawn).
    NR_DEVICE void prepare_weights() {
        for (int k = 0; k < 3; ++k) inv_z[k] = 1 / z[k];
        inv_area = 1 / area;
    }

    // Back faces (clockwise) and zero-area faces are never drawn, nor faces
    // wholly outside (near, far). With near >= 0, neither are faces that
    // cross the camera plane z = 0: their perspective projection is
    // meaningless (the original package drew garbage for them).
    NR_DEVICE bool drawable(T near, T far) const {
        if (!(area > 0)) return false;
        T zmin = z[0], zmax = z[0];
        for (int k = 1; k < 3; ++k) {
            zmin = z[k] < zmin ? z[k] : zmin;
            zmax = z[k] > zmax ? z[k] : zmax;
        }
        if (zmax <= near || zmin >= far) return false;
        return !(near >= 0 && zmin <= 0);
    }

    // Unnormalised barycentric numerators: e[k] = twice the area of the
    // triangle (p, v[k+1], v[k+2]); the point is inside when all are >= 0.
    NR_DEVICE void edge_values(T px, T py, T* e) const {
        for (int k = 0; k < 3; ++k) {
            const int k1 = (k + 1) % 3, k2 = (k + 2) % 3;
            e[k] = area2(px, py, x[k1], y[k1], x[k2], y[k2]);
        }
    }

    NR_DEVICE static bool inside(const T* e) {
        return e[0] >= 0 && e[1] >= 0 && e[2] >= 0;
    }

    NR_DEVICE bool contains(T px, T py) const {
        T e[3];
        edge_values(px, py, e);
        return inside(e);
    }

    // Barycentric weights from the edge values e at a point, clamped to
    // [0, 1] and renormalised, and the perspective-correct depth
    // 1 / sum(w_k / z_k).
    NR_DEVICE T weights_depth_from_edges(const T* e, T* w) const {
        T sum = 0;
        for (int k = 0; k < 3; ++k) {
            T v = e[k] * inv_area;
            v = v < 0 ? 0 : (v > 1 ? 1 : v);
            w[k] = v;
            sum += v;
        }
        const T inv_sum = 1 / sum;
        T inv_depth = 0;
        for (int k = 0; k < 3; ++k) {
            w[k] *= inv_sum;
            inv_depth += w[k] * inv_z[k];
        }
        return 1 / inv_depth;
    }

    // The same at the point p.
    NR_DEVICE T weights_depth(T px, T py, T* w) const {
        T e[3];
        edge_values(px, py, e);
        return weights_depth_from_edges(e, w);
    }

    // Screen-space weights to weights on the 3D face (perspective-correct).
    NR_DEVICE void perspective_weights(const T* w, T depth, T* wp) const {
        for (int k = 0; k < 3; ++k) wp[k] = w[k] * depth * inv_z[k];
    }

    NR_DEVICE bool has_vertex(T vx, T vy, T vz) const {
        for (int k = 0; k < 3; ++k)
            if (x[k] == vx && y[k] == vy && z[k] == vz) return true;
        return false;
    }
};

// An integer known at compile time that converts to long long: kernels pass
// it where a runtime value would do, to get code specialised for it.
template <long long N>
struct Constant {
    NR_DEVICE constexpr operator long long() const { return N; }
};

template <typename T> NR_DEVICE T machine_epsilon();
template <> NR_DEVICE float machine_epsilon<float>() { return 1.1920929e-7f; }
template <> NR_DEVICE double machine_epsilon<double>() {
    return 2.220446049250313e-16;
}

// Where on a pixel row a face's centres can pass Face::inside. On the row
// y = py, e_k(px) = c_k + a_k px is linear (a_k = y[k+1] - y[k+2]); the
// computed e_k differs from that line by rounding, at most `slack` for
// pixel centres (|px|, |py| < 1), so {px : c_k + a_k px >= -slack for all
// k} holds every centre the exact test can accept. The span only narrows
// the loop; each centre in it is still tested exactly, so the pixels drawn
// are those of a test of every centre in the bounding box.
template <typename T>
struct RowSpans {
    const Face<T>* face;
    T a[3], inv_a[3];
    T slack, xmin, xmax;

    NR_DEVICE void setup(const Face<T>& f, T x_min, T x_max) {
        face = &f;
        T ax = 0, ay = 0;
        for (int k = 0; k < 3; ++k) {
            const int k1 = (k + 1) % 3, k2 = (k + 2) % 3;
            a[k] = f.y[k1] - f.y[k2];
            inv_a[k] = a[k] != 0 ? 1 / a[k] : (T)0;
            const T abs_x = f.x[k] < 0 ? -f.x[k] : f.x[k];
            const T abs_y = f.y[k] < 0 ? -f.y[k] : f.y[k];
            ax = abs_x > ax ? abs_x : ax;
            ay = abs_y > ay ? abs_y : ay;
        }
        // Each product of area2 is at most (ax + 1)(ay + 1); a few roundings
        // of a few such terms, with a wide margin.
        slack = 64 * machine_epsilon<T>() * (ax + 1) * (ay + 1);
        xmin = x_min;
        xmax = x_max;
    }

    // [lo, hi] in x on the row y = py; false when no centre can be inside.
    // NaN bounds (from overflowing coordinates) leave the span as it is.
    NR_DEVICE bool row(T py, T* lo, T* hi) const {
        T l = xmin, h = xmax;
        for (int k = 0; k < 3; ++k) {
            const int k1 = (k + 1) % 3, k2 = (k + 2) % 3;
            const T c = face->x[k1] * (face->y[k2] - py) -
                        face->x[k2] * (face->y[k1] - py);
            if (a[k] == 0) {
                if (c < -slack) return false;
                continue;
            }
            const T bound = (-slack - c) * inv_a[k];
            if (a[k] > 0) {
                if (bound > l) l = bound;
            } else {
                if (bound < h) h = bound;
            }
        }
        *lo = l;
        *hi = h;
        return l <= h;
    }
};

// Trilinear sampling of a T x T x T texel cube at texel coordinates
// w_k * (T - 1). Visits the 8 neighbouring texels with their weights.
template <typename T>
struct TexelStencil {
    long long index[8];
    T weight[8];

    NR_DEVICE void build(const T* w, long long size) {
        long long base[3];
        T frac[3];
        for (int k = 0; k < 3; ++k) {
            T pos = w[k] * (T)(size - 1);
            pos = pos < 0 ? 0 : (pos > (T)(size - 1) ? (T)(size - 1) : pos);
            // pos >= 0: truncation is the floor, without a libm call.
            long long i0 = (long long)pos;
            if (i0 > size - 2) i0 = size - 2;
            if (i0 < 0) i0 = 0;
            base[k] = i0;
            frac[k] = size > 1 ? pos - (T)i0 : (T)0;
        }
        for (int corner = 0; corner < 8; ++corner) {
            T wt = 1;
            long long idx = 0;
            for (int k = 0; k < 3; ++k) {
                const int bit = (corner >> (2 - k)) & 1;
                long long ik = base[k] + bit;
                if (ik > size - 1) ik = size - 1;
                wt *= bit ? frac[k] : 1 - frac[k];
                idx = idx * size + ik;
            }
            index[corner] = idx;
            weight[corner] = wt;
        }
    }
};

// Visits, row by row and left to right, every centre of the height x width
// pixel grid that lies inside the face (Face::inside): visit(i, j, px, py,
// e) with (i, j) the pixel, (px, py) its centre and e the edge values there.
// Faces at least NR_SPAN_MIN_COLUMNS wide are scanned over per-row spans
// (RowSpans), narrower ones over their bounding box: cost grows with the
// faces' areas and heights rather than their bounding boxes. The forward
// pass and the backward pass both scan with this, so they agree exactly on
// which centres a face covers.
template <typename T, typename Visit>
NR_DEVICE void for_each_inside_pixel(const Face<T>& face, long long height,
                                     long long width, Visit visit) {
    T xmin = face.x[0], xmax = face.x[0];
    T ymin = face.y[0], ymax = face.y[0];
    for (int k = 1; k < 3; ++k) {
        xmin = face.x[k] < xmin ? face.x[k] : xmin;
        xmax = face.x[k] > xmax ? face.x[k] : xmax;
        ymin = face.y[k] < ymin ? face.y[k] : ymin;
        ymax = face.y[k] > ymax ? face.y[k] : ymax;
    }
    long long i0, i1, j0, j1;
    const T x0 = (T)(1 - width) / width;
    const T inv_dx = (T)width / 2;
    line_range<T>(ymin, ymax, (T)(height - 1) / height, (T)-height / 2,
                  height, &i0, &i1);
    line_range<T>(xmin, xmax, x0, inv_dx, width, &j0, &j1);
    if (i0 > i1 || j0 > j1) return;
    const bool use_spans = j1 - j0 + 1 >= NR_SPAN_MIN_COLUMNS;
    RowSpans<T> spans;
    if (use_spans) spans.setup(face, xmin, xmax);
    for (long long i = i0; i <= i1; ++i) {
        const T py = row_y<T>(i, height);
        long long jlo = j0, jhi = j1;
        if (use_spans) {
            T lo, hi;
            if (!spans.row(py, &lo, &hi)) continue;
            line_range<T>(lo, hi, x0, inv_dx, width, &jlo, &jhi);
            if (jlo < j0) jlo = j0;
            if (jhi > j1) jhi = j1;
        }
        for (long long j = jlo; j <= jhi; ++j) {
            const T px = column_x<T>(j, width);
            T e[3];
            face.edge_values(px, py, e);
            if (!face.inside(e)) continue;
            visit(i, j, px, py, e);
        }
    }
}

template <typename T>
NR_DEVICE void sample_texture(const T* cube, long long size, const T* w,
                              T* rgb) {
    TexelStencil<T> st;
    st.build(w, size);
    rgb[0] = rgb[1] = rgb[2] = 0;
    for (int c = 0; c < 8; ++c) {
        if (st.weight[c] == 0) continue;
        for (int ch = 0; ch < 3; ++ch)
            rgb[ch] += st.weight[c] * cube[3 * st.index[c] + ch];
    }
}

// Where drawn faces sample their colours (see the textures convention
// above): textures [B, texture_faces, T, T, T, 3] with T = texture_size,
// front_faces and source_weights (may be null).
template <typename T>
struct Texels {
    const T* textures;
    const T* source_weights;
    long long texture_faces, front_faces, texture_size;

    // The texel cube of drawn face f of batch item b, with its perspective
    // weights wp turned into weights on that cube's vertices.
    NR_DEVICE const T* cube(long long b, long long f, T* wp) const {
        if (f >= front_faces) {
            f -= front_faces;
            const T w0 = wp[0];
            wp[0] = wp[2];
            wp[2] = w0;
        }
        if (source_weights) {
            const T* m = source_weights + (b * front_faces + f) * 9;
            T w[3];
            for (int c = 0; c < 3; ++c)
                w[c] = wp[0] * m[c] + wp[1] * m[3 + c] + wp[2] * m[6 + c];
            for (int c = 0; c < 3; ++c) wp[c] = w[c];
        }
        return textures + (b * texture_faces + f % texture_faces) *
                              texture_size * texture_size * texture_size * 3;
    }
};

// One output pixel of resolve_pixels (see there): out_row = b * out_h + oi,
// column oj. Scale is the sample grid's scale: a Constant for the scales
// the renderer uses (1, 2), so that the sample loops compile away (loops
// over a runtime scale cost background pixels two thirds of their time).
template <typename T, typename Scale>
NR_DEVICE void resolve_pixel(const T* faces, const Texels<T>& texels,
                             const T* light, const nr_key_t* zbuffer,
                             const T* background, long long num_faces,
                             long long height, long long width, Scale s,
                             T far, int* face_index, T* rgb, T* alpha,
                             T* depth_map, long long out_row, long long oj) {
    const long long out_h = height / s, out_w = width / s;
    const long long out_hw = out_h * out_w;
    const bool with_rgb = texels.textures && rgb;
    const T mean = (T)1 / (T)(s * s);
    const long long b = out_row / out_h, oi = out_row - b * out_h;
    const long long index = out_row * out_w + oj;
    const long long pixel = oi * out_w + oj;
    T sum_rgb[3] = {0, 0, 0}, sum_alpha = 0, sum_depth = 0;
    for (long long dj = 0; dj < s; ++dj) {
        for (long long di = 0; di < s; ++di) {
            const long long i = oi * s + di, j = oj * s + dj;
            const long long sample = (b * height + i) * width + j;
            const nr_key_t key = zbuffer[sample];
            if (key == NR_EMPTY_KEY) {
                if (face_index) face_index[sample] = -1;
                sum_depth += far;
                if (with_rgb)
                    for (int ch = 0; ch < 3; ++ch)
                        sum_rgb[ch] += background[3 * b + ch];
                continue;
            }
            const long long f = (long long)(key & 0xFFFFFFFFull);
            const long long bf = b * num_faces + f;
            Face<T> face;
            face.load(faces + bf * 9);
            face.prepare_weights();
            T w[3];
            const T depth = face.weights_depth(column_x<T>(j, width),
                                               row_y<T>(i, height), w);
            if (face_index) face_index[sample] = (int)f;
            sum_alpha += 1;
            sum_depth += depth;
            if (with_rgb) {
                T wp[3], color[3];
                face.perspective_weights(w, depth, wp);
                const T* cube = texels.cube(b, f, wp);
                sample_texture(cube, texels.texture_size, wp, color);
                if (light)
                    for (int ch = 0; ch < 3; ++ch)
                        color[ch] *= light[3 * bf + ch];
                for (int ch = 0; ch < 3; ++ch) sum_rgb[ch] += color[ch];
            }
        }
    }
    if (alpha) alpha[index] = sum_alpha * mean;
    if (depth_map) depth_map[index] = sum_depth * mean;
    if (with_rgb)
        for (int ch = 0; ch < 3; ++ch)
            rgb[(b * 3 + ch) * out_hw + pixel] = sum_rgb[ch] * mean;
}

}  // namespace nr

#endif  // NR_RASTERIZE_COMMON_CUH

// ---------------------------------------------------------------------------
// Kernels, instantiated per scalar_t (float / double) by the includer.
// ---------------------------------------------------------------------------
#ifdef scalar_t
#define NR_NAME(name) NR_CAT(name, NR_SUFFIX)

// Forward pass 1, one index per face: every pixel centre the face covers with
// depth in (near, far) competes for the pixel through an atomic min of its
// (depth, face) key (for_each_inside_pixel visits the centres).
NR_KERNEL void NR_NAME(rasterize_faces)(
        const scalar_t* faces, long long num_faces, long long height,
        long long width, scalar_t near, scalar_t far, nr_key_t* zbuffer,
        long long n) {
    NR_FOR_EACH(index, n) [&] {
        const long long b = index / num_faces, f = index % num_faces;
        nr::Face<scalar_t> face;
        face.load(faces + index * 9);
        if (!face.drawable(near, far)) return;
        bool prepared = false;  // the weights' reciprocals, at the first hit
        nr_key_t* zrow = zbuffer + b * height * width;
        nr::for_each_inside_pixel(
            face, height, width,
            [&](long long i, long long j, scalar_t px, scalar_t py,
                const scalar_t* e) {
                if (!prepared) {
                    face.prepare_weights();
                    prepared = true;
                }
                scalar_t w[3];
                const scalar_t depth = face.weights_depth_from_edges(e, w);
                // NaN depth (a vertex at z = 0) fails both tests.
                if (!(depth > near && depth < far)) return;
                nr::atomic_min_key(zrow + i * width + j,
                                   nr::make_key((float)depth, f));
            });
    }();
}

// Forward pass 2, one index per output pixel: decodes the winning face of
// each of the pixel's scale x scale samples and writes the samples' mean
// rgb (texture sampled at the perspective-correct weights), alpha and depth
// (`far` on the background). height and width are the sample grid's (the
// z-buffer's); outputs are (height / scale) x (width / scale). scale 1 is
// the plain pass; scale 2 is anti-aliasing without the 2x maps, summed in
// the order of average_2x2 (column 0 rows 0, 1, then column 1) so that both
// give the same bits. face_index ([B, height, width], meaningful for
// scale 1), textures (texture_size 0; rgb is then left alone),
// source_weights, light (no lighting factor), rgb, alpha and depth_map may
// each be null.
NR_KERNEL void NR_NAME(resolve_pixels)(
        const scalar_t* faces, const scalar_t* textures,
        const scalar_t* source_weights, const scalar_t* light,
        const nr_key_t* zbuffer, const scalar_t* background,
        long long num_faces, long long front_faces, long long texture_faces,
        long long height, long long width, long long texture_size,
        long long scale, scalar_t far, int* face_index, scalar_t* rgb,
        scalar_t* alpha, scalar_t* depth_map, long long n) {
    const long long out_w = width / scale;
    const nr::Texels<scalar_t> texels = {textures, source_weights,
                                         texture_faces, front_faces,
                                         texture_size};
    // One loop per case: the common scales get code compiled for them.
#define NR_RESOLVE(S)                                                       \
    nr::resolve_pixel(faces, texels, light, zbuffer, background, num_faces, \
                      height, width, S, far, face_index, rgb, alpha,        \
                      depth_map, out_row, oj)
    if (scale == 1) {
        NR_FOR_EACH_PIXEL(out_row, oj, n, out_w) [=] {
            NR_RESOLVE(nr::Constant<1>());
        }();
    } else if (scale == 2) {
        NR_FOR_EACH_PIXEL(out_row, oj, n, out_w) [=] {
            NR_RESOLVE(nr::Constant<2>());
        }();
    } else {
        NR_FOR_EACH_PIXEL(out_row, oj, n, out_w) [=] {
            NR_RESOLVE(scale);
        }();
    }
#undef NR_RESOLVE
}

// Backward, the exact parts, one index per texel cube (b, t): the faces that
// sample cube t (faces t, t + texture_faces, ...: the face, its clipped
// pieces and their reversed copies) visit the pixels they draw (face_index,
// the scale-1 grid) in row order and add
// * to the cube: the trilinear weights times the rgb gradient (times the
//   face's light);
// * to the face's light: the rgb gradient times the unlit texel colour;
// * to the face: the depth gradient d(depth)/d(face), with the face
//   assignment of the pixel held fixed.
// Each index owns what it writes, so there are no atomics and the sums run
// in one fixed order: the gradients do not depend on the thread count or
// the schedule (CPU and GPU alike). grad_rgb, grad_depth, textures
// (texture_size 0), source_weights, light, grad_textures and grad_light may
// be null. Without textures texture_faces is num_faces.
NR_KERNEL void NR_NAME(backward_face_pixels)(
        const scalar_t* faces, const scalar_t* textures,
        const scalar_t* source_weights, const scalar_t* light,
        const int* face_index, const scalar_t* grad_rgb,
        const scalar_t* grad_depth, long long num_faces,
        long long front_faces, long long texture_faces, long long height,
        long long width, long long texture_size, scalar_t near, scalar_t far,
        scalar_t* grad_faces, scalar_t* grad_textures, scalar_t* grad_light,
        long long n) {
    const nr::Texels<scalar_t> texels = {textures, source_weights,
                                         texture_faces, front_faces,
                                         texture_size};
    NR_FOR_EACH(index, n) [&] {
        const long long hw = height * width;
        const long long b = index / texture_faces, t = index % texture_faces;
        const int* fi_map = face_index + b * hw;
        const bool with_rgb =
            grad_rgb && textures && (grad_textures || grad_light);
        for (long long f = t; f < num_faces; f += texture_faces) {
            const long long bf = b * num_faces + f;
            nr::Face<scalar_t> face;
            face.load(faces + bf * 9);
            if (!face.drawable(near, far)) continue;
            face.prepare_weights();
            scalar_t gf[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
            scalar_t gl[3] = {0, 0, 0};
            nr::for_each_inside_pixel(
                face, height, width,
                [&](long long i, long long j, scalar_t px, scalar_t py,
                    const scalar_t* e) {
                const long long pixel = i * width + j;
                if (fi_map[pixel] != (int)f) return;
                if (with_rgb) {
                    scalar_t w[3], wp[3];
                    const scalar_t depth = face.weights_depth_from_edges(e, w);
                    face.perspective_weights(w, depth, wp);
                    const scalar_t* cube = texels.cube(b, f, wp);
                    scalar_t* grad_cube =
                        grad_textures ? grad_textures + (cube - textures) : 0;
                    nr::TexelStencil<scalar_t> st;
                    st.build(wp, texture_size);
                    scalar_t g[3], color[3] = {0, 0, 0};
                    for (int ch = 0; ch < 3; ++ch) {
                        g[ch] = grad_rgb[(b * 3 + ch) * hw + pixel];
                        if (light) g[ch] *= light[3 * bf + ch];
                    }
                    for (int c = 0; c < 8; ++c) {
                        if (st.weight[c] == 0) continue;
                        for (int ch = 0; ch < 3; ++ch) {
                            if (grad_cube)
                                grad_cube[3 * st.index[c] + ch] +=
                                    st.weight[c] * g[ch];
                            color[ch] += st.weight[c] *
                                         cube[3 * st.index[c] + ch];
                        }
                    }
                    if (light && grad_light)
                        for (int ch = 0; ch < 3; ++ch)
                            gl[ch] += grad_rgb[(b * 3 + ch) * hw + pixel] *
                                      color[ch];
                }
                if (grad_depth) {
                    const scalar_t g = grad_depth[b * hw + pixel];
                    if (g == 0) return;
                    // depth = D / S with D = twice the face area and
                    // S = sum_k e_k / z_k (e_k the barycentric numerators):
                    // d depth = (dD - depth * dS) / S.
                    scalar_t s = 0;
                    for (int k = 0; k < 3; ++k) s += e[k] / face.z[k];
                    const scalar_t depth = face.area / s;
                    scalar_t ds_dx[3] = {0, 0, 0}, ds_dy[3] = {0, 0, 0};
                    for (int k = 0; k < 3; ++k) {
                        // e_k = area2(p, v_b, v_c), b = k + 1, c = k + 2.
                        const int kb = (k + 1) % 3, kc = (k + 2) % 3;
                        const scalar_t inv_z = 1 / face.z[k];
                        ds_dx[kb] += (face.y[kc] - py) * inv_z;
                        ds_dy[kb] -= (face.x[kc] - px) * inv_z;
                        ds_dx[kc] -= (face.y[kb] - py) * inv_z;
                        ds_dy[kc] += (face.x[kb] - px) * inv_z;
                    }
                    for (int k = 0; k < 3; ++k) {
                        const int k1 = (k + 1) % 3, k2 = (k + 2) % 3;
                        const scalar_t dd_dx = face.y[k1] - face.y[k2];
                        const scalar_t dd_dy = face.x[k2] - face.x[k1];
                        const scalar_t ds_dz = -e[k] / (face.z[k] * face.z[k]);
                        gf[3 * k] += g * (dd_dx - depth * ds_dx[k]) / s;
                        gf[3 * k + 1] += g * (dd_dy - depth * ds_dy[k]) / s;
                        gf[3 * k + 2] += g * (-depth * ds_dz) / s;
                    }
                }
            });
            for (int k = 0; k < 9; ++k) grad_faces[bf * 9 + k] += gf[k];
            if (light && grad_light)
                for (int ch = 0; ch < 3; ++ch) grad_light[3 * bf + ch] += gl[ch];
        }
    }();
}

// Backward, one index per pixel: packs what the edge scan of backward_edges
// reads at a pixel into one record of NR_RECORD values,
//   [g_r, g_g, g_b, <g_rgb, rgb>, g_alpha (1 - alpha), g_alpha, alpha, 0],
// in row-major order (scans along rows) and column-major order (scans along
// columns), so that both scans read memory contiguously. grad_rgb (with
// rgb) and grad_alpha may each be null: their fields are then 0.
// Indices run over NR_TILE x NR_TILE tiles of the image (n = B * tiles_y *
// tiles_x * NR_TILE^2), down the columns of a tile, so that the
// column-major writes of neighbouring indices share cache lines (twice as
// fast as indices in row order at 512 x 512).
#define NR_TILE 16
NR_KERNEL void NR_NAME(pack_edge_records)(
        const scalar_t* rgb, const scalar_t* alpha, const scalar_t* grad_rgb,
        const scalar_t* grad_alpha, long long height, long long width,
        scalar_t* rows, scalar_t* columns, long long n) {
    NR_FOR_EACH(tiled, n) [&] {
        const long long tiles_y = (height + NR_TILE - 1) / NR_TILE;
        const long long tiles_x = (width + NR_TILE - 1) / NR_TILE;
        const long long per_image = tiles_y * tiles_x * NR_TILE * NR_TILE;
        const long long b = tiled / per_image, rest = tiled % per_image;
        const long long tile = rest / (NR_TILE * NR_TILE);
        const long long within = rest % (NR_TILE * NR_TILE);
        const long long i = tile / tiles_x * NR_TILE + within % NR_TILE;
        const long long j = tile % tiles_x * NR_TILE + within / NR_TILE;
        if (i >= height || j >= width) return;
        const long long hw = height * width;
        const long long pixel = i * width + j;
        const long long index = b * hw + pixel;
        scalar_t record[NR_RECORD] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (grad_rgb && rgb) {
            for (int ch = 0; ch < 3; ++ch) {
                const long long at = (b * 3 + ch) * hw + pixel;
                record[ch] = grad_rgb[at];
                record[3] += grad_rgb[at] * rgb[at];
            }
        }
        record[6] = alpha[index];
        if (grad_alpha) {
            record[4] = grad_alpha[index] * (1 - alpha[index]);
            record[5] = grad_alpha[index];
        }
        scalar_t* row_record = rows + index * NR_RECORD;
        scalar_t* column_record =
            columns + ((b * width + j) * height + i) * NR_RECORD;
        for (int r = 0; r < NR_RECORD; ++r) {
            row_record[r] = record[r];
            column_record[r] = record[r];
        }
    }();
}

// Backward, one index per face: the approximate gradient of paper sec. 3.2-3.3
// for the screen x and y of the face's vertices.
//
// For each edge and each screen axis u (x, then y), every pixel line across u
// whose centre the edge spans is visited. On a line the edge crosses at u = c,
// at parameter t from vertex a to vertex b; moving a (b) by d along u moves
// the crossing by (1 - t) d (t d). For a pixel at u:
// * outside the face: moving the edge onto it would paint it with the face's
//   colour at the crossing, I_c: dI = I_c - I;
// * inside and drawn by this face: moving the edge past it would reveal what
//   lies beyond the edge, approximated by the pixel just outside: dI = I_o - I.
// With dL = <grad, dI> (rgb and alpha each on their own) the linear ramp gives
// dL / (u - c) * (1 - t) for a and * t for b, counted only when dL < 0 (the
// move lowers the loss: paper eq. 1, 3, 4). Nothing flows to a vertex
// through a crossing that is not drawn (sec. 3.3): the pixel just inside the
// crossing shows nothing, or a face other than this one that does not hold
// the vertex.
//
// rows / columns are pack_edge_records' output; textures may be null (no rgb
// term), source_weights too (see Texels), light too (no lighting factor). As in the original package, eps is
// added to every distance away from the edge, u - c -> u - c +- eps, so that
// centres on an edge give finite gradients (in the inner scan a centre on
// the edge counts as inside).
NR_KERNEL void NR_NAME(backward_edges)(
        const scalar_t* faces, const scalar_t* textures,
        const scalar_t* source_weights, const scalar_t* light,
        const int* face_index, const scalar_t* rgb, const scalar_t* rows,
        const scalar_t* columns, long long num_faces, long long front_faces,
        long long texture_faces, long long height, long long width,
        long long texture_size, scalar_t near, scalar_t far, scalar_t eps,
        scalar_t* grad_faces, long long n) {
    const nr::Texels<scalar_t> texels = {textures, source_weights,
                                         texture_faces, front_faces,
                                         texture_size};
    NR_FOR_EACH(index, n) [&] {
        const long long b = index / num_faces, f = index % num_faces;
        const long long hw = height * width;
        nr::Face<scalar_t> face;
        face.load(faces + index * 9);
        if (!face.drawable(near, far)) return;
        const int* fi_map = face_index + b * hw;
        const scalar_t* faces_b = faces + b * num_faces * 9;
        scalar_t grad[3][2] = {{0, 0}, {0, 0}, {0, 0}};

        for (int axis = 0; axis < 2; ++axis) {
            // Lines run across u; pixels along a line step along u.
            // axis 0: u = x, lines are rows; axis 1: u = y, lines are columns.
            const long long num_lines = axis == 0 ? height : width;
            const long long num_pixels = axis == 0 ? width : height;
            const scalar_t s0 = axis == 0 ? (scalar_t)(height - 1) / height
                                          : (scalar_t)(1 - width) / width;
            const scalar_t ds = axis == 0 ? (scalar_t)-2 / height
                                          : (scalar_t)2 / width;
            const scalar_t inv_ds = axis == 0 ? (scalar_t)-height / 2
                                              : (scalar_t)width / 2;
            const scalar_t u0 = axis == 0 ? (scalar_t)(1 - width) / width
                                          : (scalar_t)(height - 1) / height;
            const scalar_t du = axis == 0 ? (scalar_t)2 / width
                                          : (scalar_t)-2 / height;
            // Image pixel index of (line, k) = line * line_stride +
            // k * pixel_stride.
            const long long line_stride = axis == 0 ? width : 1;
            const long long pixel_stride = axis == 0 ? 1 : width;
            const scalar_t* records =
                (axis == 0 ? rows : columns) + b * hw * NR_RECORD;
            const scalar_t* u = axis == 0 ? face.x : face.y;
            const scalar_t* s = axis == 0 ? face.y : face.x;

            for (int edge = 0; edge < 3; ++edge) {
                const int ka = edge, kb = (edge + 1) % 3;
                if (s[ka] == s[kb]) continue;  // parallel to the lines
                // Inward direction along u: sign of d(area2(a, b, p))/du,
                // positive inside a counter-clockwise face.
                const scalar_t inward_u =
                    axis == 0 ? -(face.y[kb] - face.y[ka])
                              : (face.x[kb] - face.x[ka]);
                // ... and in pixel index steps.
                const long long step_in = (inward_u > 0) == (du > 0) ? 1 : -1;
                const scalar_t smin = s[ka] < s[kb] ? s[ka] : s[kb];
                const scalar_t smax = s[ka] < s[kb] ? s[kb] : s[ka];
                long long l0, l1;
                nr::line_range<scalar_t>(smin, smax, s0, inv_ds, num_lines,
                                         &l0, &l1);
                for (long long line = l0; line <= l1; ++line) {
                    const scalar_t sl = s0 + (scalar_t)line * ds;
                    if (sl < smin || sl > smax) continue;
                    const scalar_t t = (sl - s[ka]) / (s[kb] - s[ka]);
                    const scalar_t c = u[ka] + t * (u[kb] - u[ka]);
                    const scalar_t inv_zc =
                        (1 - t) / face.z[ka] + t / face.z[kb];
                    const scalar_t zc = 1 / inv_zc;
                    if (!(zc > near && zc < far)) continue;

                    // Pixels just inside and just outside the crossing
                    // (a centre on the edge counts as inside).
                    const scalar_t kc = (c - u0) / du;
                    scalar_t k_in_f = step_in > 0 ? nr::nr_ceil(kc)
                                                  : nr::nr_floor(kc);
                    // Far off-screen crossings: clamp before the cast.
                    if (k_in_f < -2) k_in_f = -2;
                    if (k_in_f > (scalar_t)num_pixels + 1)
                        k_in_f = (scalar_t)num_pixels + 1;
                    const long long k_in = (long long)k_in_f;
                    const long long k_out = k_in - step_in;
                    const long long line_offset = line * line_stride;
                    const scalar_t* line_records =
                        records + line * num_pixels * NR_RECORD;

                    // Occlusion of the crossing, per edge vertex: the
                    // crossing counts as drawn when the pixel just inside
                    // it shows this face or a face holding the vertex;
                    // anything else there (another surface, or nothing, as
                    // for faces smaller than a pixel) blocks the vertex.
                    // Off-screen crossings cannot be judged and pass.
                    // (A depth test against the crossing instead lets
                    // neighbours on one sloping surface block each other
                    // one way only, which biases the gradients of meshes
                    // with faces near or below pixel size.)
                    bool blocked[2] = {false, false};
                    if (k_in >= 0 && k_in < num_pixels) {
                        const long long q = line_offset + k_in * pixel_stride;
                        const int g = fi_map[q];
                        if (g < 0) {
                            blocked[0] = blocked[1] = true;
                        } else if (g != f) {
                            nr::Face<scalar_t> other;
                            other.load(faces_b + (long long)g * 9);
                            blocked[0] = !other.has_vertex(
                                face.x[ka], face.y[ka], face.z[ka]);
                            blocked[1] = !other.has_vertex(
                                face.x[kb], face.y[kb], face.z[kb]);
                        }
                    }
                    if (blocked[0] && blocked[1]) continue;
                    const scalar_t share[2] = {blocked[0] ? (scalar_t)0 : 1 - t,
                                               blocked[1] ? (scalar_t)0 : t};

                    // Colour of the face at the crossing point.
                    scalar_t color_c[3] = {0, 0, 0};
                    if (textures) {
                        scalar_t wp[3];
                        wp[ka] = (1 - t) / face.z[ka] * zc;
                        wp[kb] = t / face.z[kb] * zc;
                        wp[(edge + 2) % 3] = 0;
                        const scalar_t* cube = texels.cube(b, f, wp);
                        nr::sample_texture(cube, texture_size, wp, color_c);
                        if (light)
                            for (int ch = 0; ch < 3; ++ch)
                                color_c[ch] *= light[3 * index + ch];
                    }

                    scalar_t line_grad = 0;  // sum of dL / (u - c)
                    // Outside pixels, from just outside to the image border:
                    // dL_rgb = <g, I_c> - <g, I>, dL_alpha = g_a (1 - a).
                    // (A crossing off-screen on the outer side leaves all
                    // the line's pixels outside: start at the border.)
                    long long k = k_out;
                    if (step_in > 0 && k >= num_pixels) k = num_pixels - 1;
                    if (step_in < 0 && k < 0) k = 0;
                    for (; k >= 0 && k < num_pixels; k -= step_in) {
                        const scalar_t dist = u0 + (scalar_t)k * du - c;
                        // Rounding may put k_out on the edge: skip it.
                        if (dist == 0 || (dist > 0) == (inward_u > 0)) continue;
                        const scalar_t* r = line_records + k * NR_RECORD;
                        const scalar_t d_rgb = r[0] * color_c[0] +
                                               r[1] * color_c[1] +
                                               r[2] * color_c[2] - r[3];
                        const scalar_t dl = (d_rgb < 0 ? d_rgb : 0) +
                                            (r[4] < 0 ? r[4] : 0);
                        if (dl != 0)
                            line_grad += dl / (dist > 0 ? dist + eps
                                                        : dist - eps);
                    }

                    // Inside pixels drawn by this face; needs the pixel just
                    // outside on screen: dL_rgb = <g, I_o> - <g, I>,
                    // dL_alpha = g_a (a_o - a).
                    if (k_out >= 0 && k_out < num_pixels) {
                        const long long po = line_offset + k_out * pixel_stride;
                        scalar_t color_o[3] = {0, 0, 0};
                        if (rgb)
                            for (int ch = 0; ch < 3; ++ch)
                                color_o[ch] = rgb[(b * 3 + ch) * hw + po];
                        const scalar_t alpha_o =
                            line_records[k_out * NR_RECORD + 6];
                        const scalar_t sign = inward_u > 0 ? 1 : -1;
                        for (k = k_in; k >= 0 && k < num_pixels; k += step_in) {
                            const scalar_t uk = u0 + (scalar_t)k * du;
                            const scalar_t px = axis == 0 ? uk : sl;
                            const scalar_t py = axis == 0 ? sl : uk;
                            if (!face.contains(px, py)) break;
                            if (fi_map[line_offset + k * pixel_stride] != f)
                                continue;
                            const scalar_t* r = line_records + k * NR_RECORD;
                            const scalar_t d_rgb = r[0] * color_o[0] +
                                                   r[1] * color_o[1] +
                                                   r[2] * color_o[2] - r[3];
                            const scalar_t d_alpha = r[5] * (alpha_o - r[6]);
                            const scalar_t dl = (d_rgb < 0 ? d_rgb : 0) +
                                                (d_alpha < 0 ? d_alpha : 0);
                            if (dl != 0)
                                line_grad += dl / (uk - c + sign * eps);
                        }
                    }
                    grad[ka][axis] += line_grad * share[0];
                    grad[kb][axis] += line_grad * share[1];
                }
            }
        }
        scalar_t* gf = grad_faces + index * 9;
        for (int k = 0; k < 3; ++k) {
            gf[3 * k] += grad[k][0];
            gf[3 * k + 1] += grad[k][1];
        }
    }();
}

#undef NR_NAME
#endif  // scalar_t
