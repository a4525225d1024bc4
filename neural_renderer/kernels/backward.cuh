// Backward kernels: the exact parts (backward_face_pixels), the per-line
// planes of the edge scans (pack_edge_planes) and the approximate edge
// gradient of paper sec. 3 (backward_edges, built from the helpers below).
// The helpers are included once; the kernels once per scalar_t, from
// rasterize.cuh.
#include "common.cuh"

#ifndef NR_BACKWARD_HELPERS_CUH
#define NR_BACKWARD_HELPERS_CUH
namespace nr {

// The pixel grid seen along screen axis u (0: u = x, 1: u = y): pixel lines
// run across u (rows for u = x, columns for u = y), pixels step along it.
// Line l has its centre at s = s0 + l ds, pixel k of a line at
// u = u0 + k du; image pixel (line, k) is line * line_stride +
// k * pixel_stride.
template <typename T>
struct ScanAxis {
    long long num_lines, num_pixels, line_stride, pixel_stride;
    T s0, ds, inv_ds, u0, du;

    NR_DEVICE ScanAxis(int axis, long long height, long long width) {
        num_lines = axis == 0 ? height : width;
        num_pixels = axis == 0 ? width : height;
        s0 = axis == 0 ? (T)(height - 1) / height : (T)(1 - width) / width;
        ds = axis == 0 ? (T)-2 / height : (T)2 / width;
        inv_ds = axis == 0 ? (T)-height / 2 : (T)width / 2;
        u0 = axis == 0 ? (T)(1 - width) / width : (T)(height - 1) / height;
        du = axis == 0 ? (T)2 / width : (T)-2 / height;
        line_stride = axis == 0 ? width : 1;
        pixel_stride = axis == 0 ? 1 : width;
    }
};

// Where edge (ka, kb) crosses a pixel line whose centre is at s = sl: the
// parameter t from ka to kb, the position c along u and the depth zc there,
// and the pixels just inside (k_in; a centre on the edge counts as inside)
// and just outside (k_out) the crossing, clamped near the line's ends for
// far off-screen crossings. False when the crossing's depth is not inside
// (near, far): such a crossing is not drawn.
template <typename T>
struct Crossing {
    T t, c, zc;
    long long k_in, k_out;

    NR_DEVICE bool find(const Face<T>& face, const T* u, const T* s, int ka,
                        int kb, T sl, long long step_in,
                        const ScanAxis<T>& ax, T near, T far) {
        t = (sl - s[ka]) / (s[kb] - s[ka]);
        c = u[ka] + t * (u[kb] - u[ka]);
        const T inv_zc = (1 - t) / face.z[ka] + t / face.z[kb];
        zc = 1 / inv_zc;
        if (!(zc > near && zc < far)) return false;
        const T kc = (c - ax.u0) / ax.du;
        T k_in_f = step_in > 0 ? nr_ceil(kc) : nr_floor(kc);
        // Clamp before the cast.
        if (k_in_f < -2) k_in_f = -2;
        if (k_in_f > (T)ax.num_pixels + 1) k_in_f = (T)ax.num_pixels + 1;
        k_in = (long long)k_in_f;
        k_out = k_in - step_in;
        return true;
    }
};

// Occlusion of a crossing (paper sec. 3.3), per edge vertex: the crossing
// counts as drawn when the pixel just inside it shows this face (f) or a
// face holding the vertex; anything else there (another surface, or
// nothing, as for faces smaller than a pixel) blocks the vertex. Off-screen
// crossings cannot be judged and pass. (A depth test against the crossing
// instead lets neighbours on one sloping surface block each other one way
// only, which biases the gradients of meshes with faces near or below pixel
// size.) Sets each vertex's share of the line's gradient, 1 - t for ka and
// t for kb, or 0 when blocked; false when both are.
template <typename T>
NR_DEVICE bool crossing_shares(const Face<T>& face, long long f, int ka,
                               int kb, const Crossing<T>& cr,
                               long long line_offset, const ScanAxis<T>& ax,
                               const int* fi_map, const T* faces_b,
                               T* share) {
    bool blocked[2] = {false, false};
    if (cr.k_in >= 0 && cr.k_in < ax.num_pixels) {
        const int g = fi_map[line_offset + cr.k_in * ax.pixel_stride];
        if (g < 0) {
            blocked[0] = blocked[1] = true;
        } else if (g != f) {
            Face<T> other;
            other.load(faces_b + (long long)g * 9);
            blocked[0] = !other.has_vertex(face.x[ka], face.y[ka], face.z[ka]);
            blocked[1] = !other.has_vertex(face.x[kb], face.y[kb], face.z[kb]);
        }
    }
    share[0] = blocked[0] ? (T)0 : 1 - cr.t;
    share[1] = blocked[1] ? (T)0 : cr.t;
    return !(blocked[0] && blocked[1]);
}

// The lit colour of face f at a crossing of its edge (ka, kb), the third
// vertex kc: what moving the edge onto a pixel would paint it with.
template <typename T>
NR_DEVICE void crossing_colour(const Face<T>& face, const Texels<T>& texels,
                               const T* face_light, long long b, long long f,
                               int ka, int kb, int kc, const Crossing<T>& cr,
                               T px, T py, T* colour) {
    T wp[3];
    wp[ka] = (1 - cr.t) / face.z[ka] * cr.zc;
    wp[kb] = cr.t / face.z[kb] * cr.zc;
    wp[kc] = 0;
    texels.sample(b, f, face, px, py, wp, colour);
    if (face_light)
        for (int ch = 0; ch < 3; ++ch) colour[ch] *= face_light[ch];
}

// What the edge scans read along one pixel line (pack_edge_planes), each
// pointer at the line's pixel 0 with the pixels contiguous: the rgb
// gradient g, h = <g, rgb>, m = min(0, g_alpha (1 - alpha)), the alpha
// gradient ga and alpha a. The rgb ones are null without an rgb gradient,
// the alpha ones without an alpha gradient.
template <typename T>
struct LinePlanes {
    const T* g[3];
    const T* h;
    const T* m;
    const T* ga;
    const T* a;
};

// How many planes pack_edge_planes writes per pixel line, and where the
// alpha ones start (the rgb ones come first), for the gradients present.
struct PlaneLayout {
    long long rows, columns, alpha_row, alpha_column;

    NR_DEVICE PlaneLayout(bool with_rgb, bool with_alpha) {
        alpha_row = with_rgb ? NR_ROW_PLANES_RGB : 0;
        alpha_column = with_rgb ? NR_COLUMN_PLANES_RGB : 0;
        rows = alpha_row + (with_alpha ? NR_ROW_PLANES_ALPHA : 0);
        columns = alpha_column + (with_alpha ? NR_COLUMN_PLANES_ALPHA : 0);
    }
};

// Where LinePlanes come from: rows from the images themselves ([B, 3, H, W]
// gradients, [B, H, W] alpha and its gradient) and row_planes
// [B, H, Pr, W]; columns from column_planes [B, W, Pc, Hp] (Pr, Pc: the
// NR_*_PLANES counts of the gradients present, rgb planes first; Hp =
// column_stride). See pack_edge_planes.
template <typename T>
struct EdgePlanes {
    const T* grad_rgb;
    const T* grad_alpha;
    const T* alpha;
    const T* row_planes;
    const T* column_planes;
    long long height, width, column_stride;

    NR_DEVICE bool with_rgb() const { return grad_rgb != 0; }
    NR_DEVICE bool with_alpha() const { return grad_alpha != 0; }

    NR_DEVICE LinePlanes<T> line(long long b, int axis, long long l) const {
        LinePlanes<T> p = {{0, 0, 0}, 0, 0, 0, 0};
        const PlaneLayout layout(with_rgb(), with_alpha());
        if (axis == 0) {
            const T* base =
                row_planes + (b * height + l) * layout.rows * width;
            if (with_rgb()) {
                for (int ch = 0; ch < 3; ++ch)
                    p.g[ch] = grad_rgb + ((b * 3 + ch) * height + l) * width;
                p.h = base;
            }
            if (with_alpha()) {
                p.m = base + layout.alpha_row * width;
                p.ga = grad_alpha + (b * height + l) * width;
                p.a = alpha + (b * height + l) * width;
            }
        } else {
            const long long stride = column_stride;
            const T* base =
                column_planes + (b * width + l) * layout.columns * stride;
            if (with_rgb()) {
                for (int ch = 0; ch < 3; ++ch) p.g[ch] = base + ch * stride;
                p.h = base + 3 * stride;
            }
            if (with_alpha()) {
                p.m = base + layout.alpha_column * stride;
                p.ga = p.m + stride;
                p.a = p.m + 2 * stride;
            }
        }
        return p;
    }
};

// The terms of the out scan, dL / (u - c + eps_out) at pixel k of a line,
// with dL = min(0, <g, I_c> - <g, I>) + min(0, g_a (1 - a)), I_c the face's
// colour at the crossing (colour) and u = u0 + k du; kf is k as a T.
template <typename T, bool RGB, bool ALPHA>
struct OutsideTerms {
    const T *g0, *g1, *g2, *h, *m;
    T colour[3];
    T u0, du, c, eps_out;

    NR_DEVICE T at(long long k, T kf) const {
        T dl = 0;
        if (RGB) {
            const T d = g0[k] * colour[0] + g1[k] * colour[1] +
                        g2[k] * colour[2] - h[k];
            dl = d < 0 ? d : 0;
        }
        if (ALPHA) dl += m[k];
        return dl / (u0 + kf * du - c + eps_out);
    }

    // The sum over pixels k0..k1, in NR_LANES interleaved partial sums
    // summed pairwise at the end: no branch in the loop, which the compiler
    // vectorises. (T)(k + j) is kf + j exactly: lines are far shorter than
    // 2^24 pixels.
    NR_DEVICE T sum(long long k0, long long k1) const {
        T acc[NR_LANES];
        for (int j = 0; j < NR_LANES; ++j) acc[j] = 0;
        long long k = k0;
        for (; k + (NR_LANES - 1) <= k1; k += NR_LANES) {
            const T kf = (T)k;
            NR_SIMD
            for (int j = 0; j < NR_LANES; ++j) acc[j] += at(k + j, kf + (T)j);
        }
        for (int j = 0; k + j <= k1; ++j) acc[j] += at(k + j, (T)(k + j));
        for (int width = NR_LANES / 2; width > 0; width /= 2)
            for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
        return acc[0];
    }
};

template <typename T, bool RGB, bool ALPHA>
NR_DEVICE T outside_sum(const LinePlanes<T>& p, const T* colour_c,
                        long long k0, long long k1, T u0, T du, T c,
                        T eps_out) {
    const OutsideTerms<T, RGB, ALPHA> terms = {
        p.g[0], p.g[1], p.g[2], p.h, p.m,
        {colour_c[0], colour_c[1], colour_c[2]}, u0, du, c, eps_out};
    return terms.sum(k0, k1);
}

// The out scan: for the pixels outside the face, from just outside the
// crossing to the image border, the sum of dL / (u - c -+ eps) with
// dL_rgb = <g, I_c> - <g, I> (colour_c the face's colour at the crossing)
// and dL_alpha = g_a (1 - a), each counted when negative. A crossing
// off-screen on the outer side leaves all the line's pixels outside: the
// scan starts at the border. Rounding may put the first pixels on the edge
// or inside: they are skipped (u - c only grows away from the face, so
// they come first).
template <typename T>
NR_DEVICE T outside_scan(const LinePlanes<T>& p, const T* colour_c,
                         const Crossing<T>& cr, long long step_in,
                         T inward_u, const ScanAxis<T>& ax, T eps) {
    long long k0 = 0, k1 = ax.num_pixels - 1;
    if (step_in > 0) {
        k1 = cr.k_out < k1 ? cr.k_out : k1;
    } else {
        k0 = cr.k_out > 0 ? cr.k_out : 0;
    }
    for (;;) {
        if (k0 > k1) return 0;
        const long long k = step_in > 0 ? k1 : k0;
        const T dist = ax.u0 + (T)k * ax.du - cr.c;
        if (!(dist == 0 || (dist > 0) == (inward_u > 0))) break;
        if (step_in > 0) --k1; else ++k0;
    }
    const T eps_out = inward_u > 0 ? -eps : eps;
    if (p.h && p.m)
        return outside_sum<T, true, true>(p, colour_c, k0, k1,
                                          ax.u0, ax.du, cr.c, eps_out);
    if (p.h)
        return outside_sum<T, true, false>(p, colour_c, k0, k1,
                                           ax.u0, ax.du, cr.c, eps_out);
    return outside_sum<T, false, true>(p, colour_c, k0, k1, ax.u0,
                                       ax.du, cr.c, eps_out);
}

// The in scan: for the pixels inside the face that it draws, from just
// inside the crossing to where the line leaves the face, adds to line_grad
// (the out scan's sum) dL / (u - c +- eps) with dL_rgb = <g, I_o> - <g, I>
// and dL_alpha = g_a (a_o - a), I_o and a_o the pixel just outside (which
// must be on screen), each counted when negative.
template <typename T>
NR_DEVICE T inside_scan(T line_grad, const Face<T>& face, long long f,
                        int axis, T sl, const LinePlanes<T>& p,
                        const T* rgb_b, long long hw, const Crossing<T>& cr,
                        long long step_in, T inward_u,
                        long long line_offset, const ScanAxis<T>& ax,
                        const int* fi_map, T eps) {
    if (!(cr.k_out >= 0 && cr.k_out < ax.num_pixels)) return line_grad;
    const long long po = line_offset + cr.k_out * ax.pixel_stride;
    T colour_o[3] = {0, 0, 0};
    if (p.h)
        for (int ch = 0; ch < 3; ++ch) colour_o[ch] = rgb_b[ch * hw + po];
    const T alpha_o = p.a ? p.a[cr.k_out] : (T)0;
    const T sign = inward_u > 0 ? 1 : -1;
    for (long long k = cr.k_in; k >= 0 && k < ax.num_pixels; k += step_in) {
        const T uk = ax.u0 + (T)k * ax.du;
        const T px = axis == 0 ? uk : sl;
        const T py = axis == 0 ? sl : uk;
        if (!face.contains(px, py)) break;
        if (fi_map[line_offset + k * ax.pixel_stride] != f) continue;
        T dl = 0;
        if (p.h) {
            const T d_rgb = p.g[0][k] * colour_o[0] + p.g[1][k] * colour_o[1] +
                            p.g[2][k] * colour_o[2] - p.h[k];
            dl = d_rgb < 0 ? d_rgb : 0;
        }
        if (p.ga) {
            const T d_alpha = p.ga[k] * (alpha_o - p.a[k]);
            dl += d_alpha < 0 ? d_alpha : 0;
        }
        if (dl != 0) line_grad += dl / (uk - cr.c + sign * eps);
    }
    return line_grad;
}

// The bilinear stencil that sample `sample` ([B, height, width] flat, the
// scale-1 grid) of a UV texture drew with, and the rgb gradient there
// times the face's light; false where no face is drawn. The weights come
// from the same arithmetic as resolve_pixel's, so the taps are the ones
// the forward pass read.
template <typename T>
NR_DEVICE bool pixel_uv_taps(const T* faces, const Texels<T>& texels,
                             const T* light, const int* face_index,
                             const T* grad_rgb, long long num_faces,
                             long long height, long long width,
                             long long sample, long long* b_out,
                             UVTaps<T>* taps, T* g) {
    const int f = face_index[sample];
    if (f < 0) return false;
    const long long hw = height * width;
    const long long b = sample / hw, pixel = sample - b * hw;
    const long long i = pixel / width, j = pixel - i * width;
    const long long bf = b * num_faces + f;
    Face<T> face;
    face.load(faces + bf * 9);
    face.prepare_weights();
    T w[3], wp[3];
    const T px = column_x<T>(j, width), py = row_y<T>(i, height);
    const T depth = face.weights_depth(px, py, w);
    face.perspective_weights(w, depth, wp);
    texels.sample(b, f, face, px, py, wp, (T*)0, taps);
    for (int ch = 0; ch < 3; ++ch) {
        g[ch] = grad_rgb[(b * 3 + ch) * hw + pixel];
        if (light) g[ch] *= light[3 * bf + ch];
    }
    *b_out = b;
    return true;
}

}  // namespace nr
#endif  // NR_BACKWARD_HELPERS_CUH

#ifdef scalar_t
// Backward, the exact parts, one index per texel cube (b, t): the faces that
// sample cube t (faces t, t + texture_faces, ...: the face, its clipped
// pieces and their reversed copies) visit the pixels they draw (face_index,
// the scale-1 grid) in row order and add
// * to the cube: the trilinear weights times the rgb gradient (times the
//   face's light); with a UV texture instead, to the corners' (u, v): the
//   rgb gradient (times the light) times d(colour)/d(u, v) times the
//   corner's weight (the image's own gradient: uv_image_gradient);
// * to the face's light: the rgb gradient times the unlit texel colour;
// * to the face: the depth gradient d(depth)/d(face), with the face
//   assignment of the pixel held fixed.
// Each index owns what it writes, so there are no atomics and the sums run
// in one fixed order: the gradients do not depend on the thread count or
// the schedule (CPU and GPU alike). grad_rgb, grad_depth, textures
// (texture_size 0), uvs (and uv_image), source_weights, light,
// grad_textures, grad_uvs and grad_light may be null. Without textures and
// uvs texture_faces is num_faces.
NR_KERNEL void NR_NAME(backward_face_pixels)(
        const scalar_t* faces, const scalar_t* textures,
        const scalar_t* uvs, const scalar_t* uv_image,
        const scalar_t* uv_coarse, const scalar_t* source_weights,
        const scalar_t* light,
        const int* face_index, const scalar_t* grad_rgb,
        const scalar_t* grad_depth, long long num_faces,
        long long front_faces, long long texture_faces, long long height,
        long long width, long long texture_size, long long uv_image_batch,
        long long uv_height, long long uv_width, long long uv_levels,
        long long uv_repeat, scalar_t near, scalar_t far,
        scalar_t* grad_faces, scalar_t* grad_textures, scalar_t* grad_uvs,
        scalar_t* grad_light, long long n) {
    const nr::Texels<scalar_t> texels = nr::Texels<scalar_t>::make(
        textures, uvs, uv_image, uv_coarse, source_weights, texture_faces,
        front_faces, texture_size, uv_image_batch, uv_height, uv_width,
        uv_levels, uv_repeat, height, width);
    NR_FOR_EACH(index, n) [&] {
        const long long hw = height * width;
        const long long b = index / texture_faces, t = index % texture_faces;
        const int* fi_map = face_index + b * hw;
        const bool with_rgb = grad_rgb && texels.present() &&
                              (grad_textures || grad_uvs || grad_light);
        scalar_t guv[6] = {0, 0, 0, 0, 0, 0};
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
                if (with_rgb && uvs) {
                    scalar_t w[3], wp[3], g[3], color[3];
                    const scalar_t depth = face.weights_depth_from_edges(e, w);
                    face.perspective_weights(w, depth, wp);
                    nr::UVTaps<scalar_t> st;
                    texels.sample(b, f, face, px, py, wp, color, &st);
                    for (int ch = 0; ch < 3; ++ch) {
                        g[ch] = grad_rgb[(b * 3 + ch) * hw + pixel];
                        if (light && grad_light) gl[ch] += g[ch] * color[ch];
                        if (light) g[ch] *= light[3 * bf + ch];
                    }
                    if (grad_uvs) {
                        scalar_t gu = 0, gv = 0;
                        for (int c = 0; c < 4; ++c) {
                            const scalar_t* texel = texels.uv.texel(
                                uv_image, uv_coarse, b % uv_image_batch,
                                st.texel[c]);
                            scalar_t dot = 0;
                            for (int ch = 0; ch < 3; ++ch)
                                dot += g[ch] * texel[ch];
                            gu += st.du[c] * dot;
                            gv += st.dv[c] * dot;
                        }
                        for (int k = 0; k < 3; ++k) {
                            guv[2 * k] += wp[k] * gu;
                            guv[2 * k + 1] += wp[k] * gv;
                        }
                    }
                } else if (with_rgb) {
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
        if (uvs && grad_uvs)
            for (int k = 0; k < 6; ++k) grad_uvs[index * 6 + k] += guv[k];
    }();
}

// Backward of a UV texture's image, step 1, one index per sample of the
// scale-1 grid (n = B * height * width): the bucket of the sample's upper
// bilinear row, (b % uv_image_batch) * uv_rows + its pyramid row (UVMap),
// or Bi * uv_rows where no face is drawn. bucket_counts and bucket_order
// then list the samples by bucket (a stable sort: within a bucket, by
// sample) for step 2.
NR_KERNEL void NR_NAME(uv_image_rows)(
        const scalar_t* faces, const scalar_t* uvs, const scalar_t* uv_image,
        const scalar_t* uv_coarse, const scalar_t* source_weights,
        const scalar_t* light,
        const int* face_index, const scalar_t* grad_rgb, long long num_faces,
        long long front_faces, long long texture_faces, long long height,
        long long width, long long uv_image_batch, long long uv_height,
        long long uv_width, long long uv_levels, long long uv_repeat,
        long long uv_rows, int* buckets, long long n) {
    const nr::Texels<scalar_t> texels = nr::Texels<scalar_t>::make(
        0, uvs, uv_image, uv_coarse, source_weights, texture_faces,
        front_faces, 0, uv_image_batch, uv_height, uv_width, uv_levels,
        uv_repeat, height, width);
    NR_FOR_EACH(sample, n) [&] {
        nr::UVTaps<scalar_t> st;
        scalar_t g[3];
        long long b;
        if (!nr::pixel_uv_taps(faces, texels, light, face_index, grad_rgb,
                               num_faces, height, width, sample, &b, &st,
                               g)) {
            buckets[sample] = (int)(uv_image_batch * uv_rows);
            return;
        }
        buckets[sample] = (int)((b % uv_image_batch) * uv_rows + st.row[0]);
    }();
}

// A stable counting sort of the samples by bucket, in two kernels over
// `chunks` consecutive runs of samples (any number of chunks gives the same
// order: the samples of a bucket in increasing order). bucket_counts, one
// index per chunk c: counts [chunks, num_buckets] (zeroed) gets, per
// bucket, the samples of chunk c in it.
NR_KERNEL void NR_NAME(bucket_counts)(
        const int* buckets, long long samples, long long num_buckets,
        long long* counts, long long n) {
    NR_FOR_EACH(c, n) [&] {
        const long long first = samples * c / n;
        const long long last = samples * (c + 1) / n;
        long long* row = counts + c * num_buckets;
        for (long long s = first; s < last; ++s) ++row[buckets[s]];
    }();
}

// Then bucket_order, one index per chunk c: offsets [chunks, num_buckets]
// (rasterize.py: where chunk c's first sample of each bucket goes, the
// samples of lower buckets and of earlier chunks in this bucket before it;
// advanced here) places each sample s of the chunk at
// order[offsets[c, bucket of s]++].
NR_KERNEL void NR_NAME(bucket_order)(
        const int* buckets, long long samples, long long num_buckets,
        long long* offsets, long long* order, long long n) {
    NR_FOR_EACH(c, n) [&] {
        const long long first = samples * c / n;
        const long long last = samples * (c + 1) / n;
        long long* row = offsets + c * num_buckets;
        for (long long s = first; s < last; ++s) order[row[buckets[s]]++] = s;
    }();
}

// Backward of a UV texture's image, step 2, one index per pyramid row r of
// image bi (n = Bi * uv_rows): adds to grad_image [Bi, H, W, 3] and
// grad_coarse [Bi, Pc, 3] (the pyramid's gradient, as UVMap) the rgb
// gradient (times the light) times the bilinear weight of
// every tap in row r. Such taps come from the samples of bucket r (upper
// row r) and of the bucket of the row above (lower row r: the previous row
// of the level, wrapping for REPEAT), which `order` lists by bucket
// (starts[k]..starts[k + 1] - 1 for bucket k). Each index owns its row, and
// adds bucket r first, then the row above, each in sample order: no
// atomics, and sums that do not depend on the thread count.
NR_KERNEL void NR_NAME(uv_image_gradient)(
        const scalar_t* faces, const scalar_t* uvs, const scalar_t* uv_image,
        const scalar_t* uv_coarse, const scalar_t* source_weights,
        const scalar_t* light,
        const int* face_index, const scalar_t* grad_rgb, long long num_faces,
        long long front_faces, long long texture_faces, long long height,
        long long width, long long uv_image_batch, long long uv_height,
        long long uv_width, long long uv_levels, long long uv_repeat,
        long long uv_rows, const long long* order, const long long* starts,
        scalar_t* grad_image, scalar_t* grad_coarse, long long n) {
    const nr::Texels<scalar_t> texels = nr::Texels<scalar_t>::make(
        0, uvs, uv_image, uv_coarse, source_weights, texture_faces,
        front_faces, 0, uv_image_batch, uv_height, uv_width, uv_levels,
        uv_repeat, height, width);
    NR_FOR_EACH(index, n) [&] {
        const long long bi = index / uv_rows, r = index % uv_rows;
        long long level, y, h, w, texel0;
        texels.uv.row_level(r, &level, &y, &h, &w, &texel0);
        long long buckets[2] = {index, -1};
        if (y > 0)
            buckets[1] = index - 1;
        else if (uv_repeat && h > 1)
            buckets[1] = index + h - 1;
        for (int k = 0; k < 2; ++k) {
            if (buckets[k] < 0) continue;
            for (long long q = starts[buckets[k]]; q < starts[buckets[k] + 1];
                 ++q) {
                nr::UVTaps<scalar_t> st;
                scalar_t g[3];
                long long b;
                if (!nr::pixel_uv_taps(faces, texels, light, face_index,
                                       grad_rgb, num_faces, height, width,
                                       order[q], &b, &st, g))
                    continue;
                for (int c = 0; c < 4; ++c) {
                    if (st.row[c >> 1] != r) continue;
                    scalar_t* gt = texels.uv.texel(grad_image, grad_coarse,
                                                   bi, st.texel[c]);
                    for (int ch = 0; ch < 3; ++ch)
                        gt[ch] += st.weight[c] * g[ch];
                }
            }
        }
    }();
}

// Backward: the planes the edge scans of backward_edges read that the
// images do not hold as they are (see EdgePlanes and the NR_*_PLANES
// counts), row_planes [B, H, Pr, W] and column_planes [B, W, Pc, Hp]: per
// pixel line, each plane's values contiguous, so that both scans stream
// through memory. Hp = column_stride >= H: padded so that consecutive
// columns do not fall on the same cache sets (an odd multiple of NR_TILE
// values). grad_rgb (with rgb) and grad_alpha may each be null: their
// planes are then absent. One index per NR_TILE pixels along a row (n = B *
// ceil(W / NR_TILE) * H), indices running down the image: an index reads
// and writes rows contiguously, and the column writes of NR_TILE
// consecutive indices fill whole cache lines.
#define NR_TILE 16
NR_KERNEL void NR_NAME(pack_edge_planes)(
        const scalar_t* rgb, const scalar_t* alpha, const scalar_t* grad_rgb,
        const scalar_t* grad_alpha, long long height, long long width,
        long long column_stride, scalar_t* row_planes,
        scalar_t* column_planes, long long n) {
    NR_FOR_EACH(index, n) [&] {
        const long long tiles = (width + NR_TILE - 1) / NR_TILE;
        const long long b = index / (tiles * height);
        const long long rest = index - b * tiles * height;
        const long long j0 = rest / height * NR_TILE;
        const long long i = rest % height;
        const long long j1 = j0 + NR_TILE < width ? j0 + NR_TILE : width;
        const long long hw = height * width;
        const bool with_rgb = grad_rgb != 0, with_alpha = grad_alpha != 0;
        const nr::PlaneLayout layout(with_rgb, with_alpha);
        scalar_t* rows = row_planes + (b * height + i) * layout.rows * width;
        const long long pixels = b * hw + i * width;  // of alpha
        for (long long j = j0; j < j1; ++j) {
            scalar_t* columns = column_planes +
                                (b * width + j) * layout.columns *
                                    column_stride + i;
            if (with_rgb) {
                scalar_t h = 0;
                for (int ch = 0; ch < 3; ++ch) {
                    const long long at =
                        (b * 3 + ch) * hw + i * width + j;
                    h += grad_rgb[at] * rgb[at];
                    columns[ch * column_stride] = grad_rgb[at];
                }
                rows[j] = h;
                columns[3 * column_stride] = h;
            }
            if (with_alpha) {
                const scalar_t g = grad_alpha[pixels + j];
                const scalar_t a = alpha[pixels + j];
                scalar_t m = g * (1 - a);
                m = m < 0 ? m : 0;
                rows[layout.alpha_row * width + j] = m;
                columns[layout.alpha_column * column_stride] = m;
                columns[(layout.alpha_column + 1) * column_stride] = g;
                columns[(layout.alpha_column + 2) * column_stride] = a;
            }
        }
    }();
}

// Backward, one index per face: the approximate gradient of paper sec. 3.2-3.3
// for the screen x and y of the face's vertices.
//
// For each edge and each screen axis u (x, then y), every pixel line across u
// whose centre the edge spans is visited. On a line the edge crosses at u = c,
// at parameter t from vertex a to vertex b (Crossing); moving a (b) by d
// along u moves the crossing by (1 - t) d (t d). For a pixel at u:
// * outside the face: moving the edge onto it would paint it with the face's
//   colour at the crossing, I_c: dI = I_c - I (outside_scan);
// * inside and drawn by this face: moving the edge past it would reveal what
//   lies beyond the edge, approximated by the pixel just outside: dI = I_o - I
//   (inside_scan).
// With dL = <grad, dI> (rgb and alpha each on their own) the linear ramp gives
// dL / (u - c) * (1 - t) for a and * t for b, counted only when dL < 0 (the
// move lowers the loss: paper eq. 1, 3, 4). Nothing flows to a vertex
// through a crossing that is not drawn (sec. 3.3, crossing_shares). As in
// the original package, eps is added to every distance away from the edge,
// u - c -> u - c +- eps, so that centres on an edge give finite gradients
// (in the inner scan a centre on the edge counts as inside).
//
// grad_rgb and grad_alpha are the incoming gradients (either may be null),
// row_planes / column_planes pack_edge_planes' output; textures and uvs
// may be null (no rgb term), source_weights too (see Texels), light too
// (no lighting factor).
NR_KERNEL void NR_NAME(backward_edges)(
        const scalar_t* faces, const scalar_t* textures,
        const scalar_t* source_weights, const scalar_t* light,
        const int* face_index, const scalar_t* rgb, const scalar_t* alpha,
        const scalar_t* grad_rgb, const scalar_t* grad_alpha,
        const scalar_t* row_planes, const scalar_t* column_planes,
        const scalar_t* uvs, const scalar_t* uv_image,
        const scalar_t* uv_coarse,
        long long column_stride, long long num_faces, long long front_faces,
        long long texture_faces, long long height, long long width,
        long long texture_size, long long uv_image_batch,
        long long uv_height, long long uv_width, long long uv_levels,
        long long uv_repeat, scalar_t near, scalar_t far, scalar_t eps,
        scalar_t* grad_faces, long long n) {
    const nr::Texels<scalar_t> texels = nr::Texels<scalar_t>::make(
        textures, uvs, uv_image, uv_coarse, source_weights, texture_faces,
        front_faces, texture_size, uv_image_batch, uv_height, uv_width,
        uv_levels, uv_repeat, height, width);
    const nr::EdgePlanes<scalar_t> planes = {grad_rgb, grad_alpha, alpha,
                                             row_planes, column_planes,
                                             height, width, column_stride};
    NR_FOR_EACH(index, n) [&] {
        const long long b = index / num_faces, f = index % num_faces;
        const long long hw = height * width;
        nr::Face<scalar_t> face;
        face.load(faces + index * 9);
        if (!face.drawable(near, far)) return;
        // A UV texture's mip level at a crossing needs the reciprocals.
        if (texels.with_uv()) face.prepare_weights();
        const int* fi_map = face_index + b * hw;
        const scalar_t* faces_b = faces + b * num_faces * 9;
        const scalar_t* rgb_b = rgb ? rgb + b * 3 * hw : 0;
        const scalar_t* face_light = light ? light + 3 * index : 0;
        scalar_t grad[3][2] = {{0, 0}, {0, 0}, {0, 0}};

        for (int axis = 0; axis < 2; ++axis) {
            const nr::ScanAxis<scalar_t> ax(axis, height, width);
            const scalar_t* u = axis == 0 ? face.x : face.y;
            const scalar_t* s = axis == 0 ? face.y : face.x;

            for (int edge = 0; edge < 3; ++edge) {
                const int ka = edge, kb = (edge + 1) % 3;
                if (s[ka] == s[kb]) continue;  // parallel to the lines
                // Inward direction along u: sign of d(area2(a, b, p))/du,
                // positive inside a counter-clockwise face; and in pixel
                // index steps.
                const scalar_t inward_u =
                    axis == 0 ? -(face.y[kb] - face.y[ka])
                              : (face.x[kb] - face.x[ka]);
                const long long step_in =
                    (inward_u > 0) == (ax.du > 0) ? 1 : -1;
                const scalar_t smin = s[ka] < s[kb] ? s[ka] : s[kb];
                const scalar_t smax = s[ka] < s[kb] ? s[kb] : s[ka];
                long long l0, l1;
                nr::line_range<scalar_t>(smin, smax, ax.s0, ax.inv_ds,
                                         ax.num_lines, &l0, &l1);
                for (long long line = l0; line <= l1; ++line) {
                    const scalar_t sl = ax.s0 + (scalar_t)line * ax.ds;
                    if (sl < smin || sl > smax) continue;
                    nr::Crossing<scalar_t> cr;
                    if (!cr.find(face, u, s, ka, kb, sl, step_in, ax, near,
                                 far))
                        continue;
                    const long long line_offset = line * ax.line_stride;
                    scalar_t share[2];
                    if (!nr::crossing_shares(face, f, ka, kb, cr, line_offset,
                                             ax, fi_map, faces_b, share))
                        continue;
                    scalar_t colour_c[3] = {0, 0, 0};
                    if (texels.present())
                        nr::crossing_colour(
                            face, texels, face_light, b, f, ka, kb,
                            (edge + 2) % 3, cr, axis == 0 ? cr.c : sl,
                            axis == 0 ? sl : cr.c, colour_c);
                    const nr::LinePlanes<scalar_t> line_planes =
                        planes.line(b, axis, line);
                    scalar_t line_grad =
                        nr::outside_scan(line_planes, colour_c, cr, step_in,
                                         inward_u, ax, eps);
                    line_grad = nr::inside_scan(
                        line_grad, face, f, axis, sl, line_planes, rgb_b,
                        hw, cr, step_in, inward_u, line_offset, ax, fi_map,
                        eps);
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

#endif  // scalar_t
