// Device helpers shared by the forward and backward kernels: the loop
// macros for CPU and GPU, the z-buffer key, pixel centres, faces and their
// scans, texel sampling. Included once (guarded); see rasterize.cuh for the
// conventions.
#ifndef NR_COMMON_CUH
#define NR_COMMON_CUH

#ifdef __CUDACC__
#define NR_DEVICE __device__ __forceinline__
#define NR_KERNEL extern "C" __global__
#define NR_SIMD
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
// Before a loop whose iterations are independent (no reduction across
// them): asks the compiler to vectorise it.
#define NR_SIMD _Pragma("omp simd")
// Set (nr_set_serial) in a process forked from one that ran these loops:
// GNU OpenMP's thread pool does not survive fork(), and a parallel region
// in the child waits forever for the parent's threads. A region with the
// if() clause false runs on the calling thread alone, without the pool.
static int nr_serial = 0;
extern "C" void nr_set_serial(int serial) { nr_serial = serial; }
// Whether this CPU (and its OS) runs AVX2 code: the launcher loads the
// AVX2 build of these kernels (setup.py) when it does.
extern "C" int nr_cpu_has_avx2() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}
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
// Planes per pixel line that pack_edge_planes writes for the edge scans
// (see there): with an rgb gradient, <g_rgb, rgb> in rows and g_r, g_g,
// g_b, <g_rgb, rgb> in columns; with an alpha gradient,
// min(0, g_alpha (1 - alpha)) in rows and that, g_alpha and alpha in
// columns. rasterize.py allocates by these counts.
#define NR_ROW_PLANES_RGB 1
#define NR_ROW_PLANES_ALPHA 1
#define NR_COLUMN_PLANES_RGB 4
#define NR_COLUMN_PLANES_ALPHA 3
// Partial sums of the out scan (outside_sum): its terms are added in this
// many interleaved running sums, which the compiler keeps in vector
// registers, then summed pairwise. The order is fixed by the source, so
// CPU and GPU, any vector width and any thread count add alike.
#define NR_LANES 16
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

// A UV texture (neural_renderer/uv_texture.py): uvs [B, Ft, 3, 2], the
// (u, v) of each corner of texture face t, and the image's pyramid: levels
// 0..levels-1, level 0 of height x width texels and level l + 1 of
// ceil(h_l / 2) x ceil(w_l / 2), each row-major with row 0 at the top
// (v = 1). Level 0 is image [Bi, height, width, 3] (Bi = B, or 1: one image
// for every batch item), levels 1.. follow each other in coarse
// [Bi, Pc, 3] (neural_renderer/mipmap.py). Texels are numbered through the
// levels (level 0 first) and reached with texel(). repeat: GL_REPEAT, else
// GL_CLAMP_TO_EDGE. The rows of all levels, numbered level by level, are
// the "pyramid rows" that the image gradient is bucketed by
// (uv_image_rows).
template <typename T>
struct UVMap {
    const T* uvs;
    const T* image;
    const T* coarse;
    long long image_batch, height, width, levels, repeat;
    long long coarse_texels;  // Pc

    // The three values of texel `index` (numbered through the levels) of
    // image bi, in level0 (as image) or coarse (as coarse): the texture or
    // its gradient.
    template <typename P>
    NR_DEVICE P texel(P level0, P coarse_levels, long long bi,
                      long long index) const {
        const long long hw = height * width;
        return index < hw ? level0 + (bi * hw + index) * 3
                          : coarse_levels +
                                (bi * coarse_texels + index - hw) * 3;
    }

    // Level l's size, its first texel and its first pyramid row.
    NR_DEVICE void level_shape(long long l, long long* h, long long* w,
                               long long* texel0, long long* row0) const {
        long long hh = height, ww = width, texel = 0, row = 0;
        for (long long k = 0; k < l; ++k) {
            texel += hh * ww;
            row += hh;
            hh = (hh + 1) / 2;
            ww = (ww + 1) / 2;
        }
        *h = hh;
        *w = ww;
        *texel0 = texel;
        *row0 = row;
    }

    // Rows and texels of the whole pyramid.
    NR_DEVICE void totals(long long* rows, long long* texels) const {
        long long h, w, texel0, row0;
        level_shape(levels - 1, &h, &w, &texel0, &row0);
        *rows = row0 + h;
        *texels = texel0 + h * w;
    }

    // The level, row within it and level shape of pyramid row r.
    NR_DEVICE void row_level(long long r, long long* level, long long* y,
                             long long* h, long long* w,
                             long long* texel0) const {
        long long hh = height, ww = width, texel = 0, l = 0;
        while (l + 1 < levels && r >= hh) {
            r -= hh;
            texel += hh * ww;
            hh = (hh + 1) / 2;
            ww = (ww + 1) / 2;
            ++l;
        }
        *level = l;
        *y = r;
        *h = hh;
        *w = ww;
        *texel0 = texel;
    }
};

// One image coordinate of a bilinear sample: the two texels around it
// (i0, i1), the weight of i1 (frac) and d(position)/d(coordinate) (scale,
// 0 where clamped). REPEAT wraps the coordinate modulo 1 and the texels
// around the edge; CLAMP_TO_EDGE clamps the position to the outermost
// texel centres.
template <typename T>
NR_DEVICE void bilinear_axis(T coordinate, long long size, bool repeat,
                             bool flip, long long* i0, long long* i1,
                             T* frac, T* scale) {
    const T sz = (T)size;
    if (repeat) {
        T c = coordinate - nr_floor(coordinate);
        if (flip) c = 1 - c;
        const T pos = c * sz - (T)0.5;
        const T base = nr_floor(pos);
        long long a = (long long)base;
        *frac = pos - base;
        if (a < 0) a += size;
        if (a >= size) a -= size;
        long long b = a + 1;
        if (b >= size) b -= size;
        *i0 = a;
        *i1 = b;
        *scale = flip ? -sz : sz;
        return;
    }
    T pos = (flip ? 1 - coordinate : coordinate) * sz - (T)0.5;
    bool inside = true;
    if (!(pos > 0)) {
        pos = 0;
        inside = false;
    } else if (pos > sz - 1) {
        pos = sz - 1;
        inside = false;
    }
    long long a = (long long)pos;  // pos >= 0: truncation is the floor
    if (a > size - 2) a = size - 2;
    if (a < 0) a = 0;
    *i0 = a;
    *i1 = a + 1 < size ? a + 1 : size - 1;
    *frac = size > 1 ? pos - (T)a : (T)0;
    *scale = inside ? (flip ? -sz : sz) : (T)0;
}

// Bilinear sampling of a UV texture level at (u, v): the four texels
// (x0 y0, x1 y0, x0 y1, x1 y1) as offsets into the item's pyramid, their
// weights and the weights' derivatives along u and v, and the pyramid rows
// of y0 and y1.
template <typename T>
struct UVTaps {
    long long texel[4];
    long long row[2];
    T weight[4];
    T du[4], dv[4];

    NR_DEVICE void build(const UVMap<T>& m, long long level, T u, T v) {
        long long h, w, texel0, row0, x0, x1, y0, y1;
        m.level_shape(level, &h, &w, &texel0, &row0);
        T fx, fy, sx, sy;
        bilinear_axis<T>(u, w, m.repeat != 0, false, &x0, &x1, &fx, &sx);
        // v = 1 is the top row: rows run along 1 - v.
        bilinear_axis<T>(v, h, m.repeat != 0, true, &y0, &y1, &fy, &sy);
        texel[0] = texel0 + y0 * w + x0;
        texel[1] = texel0 + y0 * w + x1;
        texel[2] = texel0 + y1 * w + x0;
        texel[3] = texel0 + y1 * w + x1;
        row[0] = row0 + y0;
        row[1] = row0 + y1;
        weight[0] = (1 - fx) * (1 - fy);
        weight[1] = fx * (1 - fy);
        weight[2] = (1 - fx) * fy;
        weight[3] = fx * fy;
        du[0] = -(1 - fy) * sx;
        du[1] = (1 - fy) * sx;
        du[2] = -fy * sx;
        du[3] = fy * sx;
        dv[0] = -(1 - fx) * sy;
        dv[1] = -fx * sy;
        dv[2] = (1 - fx) * sy;
        dv[3] = fx * sy;
    }
};

// Where drawn faces sample their colours (see the textures convention
// above): texel cubes, textures [B, texture_faces, T, T, T, 3] with T =
// texture_size, or (textures null) the UV texture uv; front_faces and
// source_weights (may be null). grid_height and grid_width, the sample
// grid's size, set the pixel size that picks a UV texture's mip level.
template <typename T>
struct Texels {
    const T* textures;
    const T* source_weights;
    long long texture_faces, front_faces, texture_size;
    UVMap<T> uv;
    long long grid_height, grid_width;

    // The kernels' arguments, in the order of their signatures.
    NR_DEVICE static Texels make(
            const T* textures, const T* uvs, const T* uv_image,
            const T* uv_coarse, const T* source_weights,
            long long texture_faces, long long front_faces,
            long long texture_size, long long uv_image_batch,
            long long uv_height, long long uv_width, long long uv_levels,
            long long uv_repeat, long long grid_height,
            long long grid_width) {
        Texels texels = {
            textures, source_weights, texture_faces, front_faces,
            texture_size,
            {uvs, uv_image, uv_coarse, uv_image_batch, uv_height, uv_width,
             uv_levels, uv_repeat, 0},
            grid_height, grid_width};
        long long rows, total;
        texels.uv.totals(&rows, &total);
        texels.uv.coarse_texels = total - uv_height * uv_width;
        return texels;
    }

    NR_DEVICE bool with_uv() const { return uv.uvs != 0; }
    NR_DEVICE bool present() const { return textures != 0 || uv.uvs != 0; }

    // The texture face (cube or UV triangle) of drawn face f of batch item
    // b, with its perspective weights wp turned into weights on that
    // texture face's vertices.
    NR_DEVICE long long source(long long b, long long f, T* wp) const {
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
        return f % texture_faces;
    }

    // The texel cube of drawn face f of batch item b, and its weights (see
    // source).
    NR_DEVICE const T* cube(long long b, long long f, T* wp) const {
        const long long t = source(b, f, wp);
        return textures + (b * texture_faces + t) * texture_size *
                              texture_size * texture_size * 3;
    }

    // (u, v) at weights wp on texture face t.
    NR_DEVICE void uv_at(long long b, long long t, const T* wp, T* u,
                         T* v) const {
        const T* c = uv.uvs + (b * texture_faces + t) * 6;
        *u = wp[0] * c[0] + wp[1] * c[2] + wp[2] * c[4];
        *v = wp[0] * c[1] + wp[1] * c[3] + wp[2] * c[5];
    }

    // The mip level drawn face f samples at the point (px, py) (NDC):
    // round(log2(rho)), rho the larger of |d(uv)/dx| and |d(uv)/dy| in
    // level-0 texels per grid pixel (OpenGL's scale factor, with the exact
    // derivatives of the perspective-correct interpolation), clamped to
    // the pyramid; 0 for a NaN rho. Needs face.prepare_weights().
    NR_DEVICE long long level(long long b, long long f, const Face<T>& face,
                              T px, T py) const {
        if (uv.levels <= 1) return 0;
        T cu[3], cv[3];
        for (int k = 0; k < 3; ++k) {
            T wk[3] = {0, 0, 0};
            wk[k] = 1;
            const long long t = source(b, f, wk);
            uv_at(b, t, wk, &cu[k], &cv[k]);
        }
        // wp_k = q_k / S with q_k = e_k / (area z_k), S = sum_k q_k, e_k
        // linear in (px, py).
        T e[3], q[3], qx[3], qy[3], sum = 0, sum_x = 0, sum_y = 0;
        face.edge_values(px, py, e);
        for (int k = 0; k < 3; ++k) {
            const int k1 = (k + 1) % 3, k2 = (k + 2) % 3;
            const T scale = face.inv_area * face.inv_z[k];
            q[k] = e[k] * scale;
            qx[k] = (face.y[k1] - face.y[k2]) * scale;
            qy[k] = (face.x[k2] - face.x[k1]) * scale;
            sum += q[k];
            sum_x += qx[k];
            sum_y += qy[k];
        }
        T ux = 0, vx = 0, uy = 0, vy = 0;
        for (int k = 0; k < 3; ++k) {
            const T dx = qx[k] * sum - q[k] * sum_x;
            const T dy = qy[k] * sum - q[k] * sum_y;
            ux += dx * cu[k];
            vx += dx * cv[k];
            uy += dy * cu[k];
            vy += dy * cv[k];
        }
        // d(wp)/d(NDC) is over S^2; a grid pixel is 2 / W by 2 / H.
        const T inv_s2 = 1 / (sum * sum);
        const T to_x = inv_s2 * 2 / (T)grid_width;
        const T to_y = inv_s2 * 2 / (T)grid_height;
        ux *= to_x * (T)uv.width;
        vx *= to_x * (T)uv.height;
        uy *= to_y * (T)uv.width;
        vy *= to_y * (T)uv.height;
        const T rx = ux * ux + vx * vx, ry = uy * uy + vy * vy;
        const T ratio = rx > ry ? rx : ry;
        long long l = 0;
        // round(log2(rho)) >= l + 1 exactly when rho^2 >= 2^(2l + 1).
        T threshold = 2;
        while (l + 1 < uv.levels && ratio >= threshold) {
            ++l;
            threshold *= 4;
        }
        return l;
    }

    // The unlit colour of drawn face f at the point (px, py) (NDC) with
    // perspective weights wp (changed: see source); for UV textures taps,
    // when given, receives the bilinear stencil, and colour may be null
    // (the stencil alone: no texel is read).
    NR_DEVICE void sample(long long b, long long f, const Face<T>& face,
                          T px, T py, T* wp, T* colour,
                          UVTaps<T>* taps = 0) const {
        if (!with_uv()) {
            const T* c = cube(b, f, wp);
            sample_texture(c, texture_size, wp, colour);
            return;
        }
        const long long lvl = level(b, f, face, px, py);
        const long long t = source(b, f, wp);
        T u, v;
        uv_at(b, t, wp, &u, &v);
        UVTaps<T> local;
        UVTaps<T>& st = taps ? *taps : local;
        st.build(uv, lvl, u, v);
        if (!colour) return;
        const long long bi = b % uv.image_batch;
        colour[0] = colour[1] = colour[2] = 0;
        for (int c = 0; c < 4; ++c) {
            const T* texel = uv.texel(uv.image, uv.coarse, bi, st.texel[c]);
            for (int ch = 0; ch < 3; ++ch)
                colour[ch] += st.weight[c] * texel[ch];
        }
    }
};

}  // namespace nr

#endif  // NR_COMMON_CUH
