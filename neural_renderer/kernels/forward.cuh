// Forward kernels: the z-buffer of the faces (rasterize_faces), then the
// rgb, alpha and depth maps (resolve_pixels). The helpers are included
// once; the kernels once per scalar_t, from rasterize.cuh.
#include "common.cuh"

#ifndef NR_FORWARD_HELPERS_CUH
#define NR_FORWARD_HELPERS_CUH
namespace nr {

// One output pixel of resolve_pixels (see there): out_row = b * out_h + oi,
// column oj. Scale is the sample grid's scale: a Constant for the scales
// the renderer uses (1, 2), so that the sample loops compile away (loops
// over a runtime scale dominate a background pixel's time: see
// benchmarks/README.md, "Measurements behind the code").
template <typename T, typename Scale>
NR_DEVICE void resolve_pixel(const T* faces, const Texels<T>& texels,
                             const T* light, const nr_key_t* zbuffer,
                             const T* background, long long num_faces,
                             long long height, long long width, Scale s,
                             T far, int* face_index, T* rgb, T* alpha,
                             T* depth_map, long long out_row, long long oj) {
    const long long out_h = height / s, out_w = width / s;
    const long long out_hw = out_h * out_w;
    const bool with_rgb = texels.present() && rgb;
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
            const T px = column_x<T>(j, width), py = row_y<T>(i, height);
            const T depth = face.weights_depth(px, py, w);
            if (face_index) face_index[sample] = (int)f;
            sum_alpha += 1;
            sum_depth += depth;
            if (with_rgb) {
                T wp[3], color[3];
                face.perspective_weights(w, depth, wp);
                texels.sample(b, f, face, px, py, wp, color);
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
#endif  // NR_FORWARD_HELPERS_CUH

#ifdef scalar_t
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
// rgb (texture sampled at the perspective-correct weights: a texel cube, or
// with uvs the UV texture, see UVMap), alpha and depth (`far` on the
// background). height and width are the sample grid's (the
// z-buffer's); outputs are (height / scale) x (width / scale). scale 1 is
// the plain pass; scale 2 is anti-aliasing without the 2x maps, summed in
// the order of average_2x2 (column 0 rows 0, 1, then column 1) so that both
// give the same bits. face_index ([B, height, width], meaningful for
// scale 1), textures and uvs (both null: rgb is then left alone),
// source_weights, light (no lighting factor), rgb, alpha and depth_map may
// each be null.
NR_KERNEL void NR_NAME(resolve_pixels)(
        const scalar_t* faces, const scalar_t* textures,
        const scalar_t* uvs, const scalar_t* uv_image,
        const scalar_t* uv_coarse, const scalar_t* source_weights,
        const scalar_t* light,
        const nr_key_t* zbuffer, const scalar_t* background,
        long long num_faces, long long front_faces, long long texture_faces,
        long long height, long long width, long long texture_size,
        long long uv_image_batch, long long uv_height, long long uv_width,
        long long uv_levels, long long uv_repeat,
        long long scale, scalar_t far, int* face_index, scalar_t* rgb,
        scalar_t* alpha, scalar_t* depth_map, long long n) {
    const long long out_w = width / scale;
    const nr::Texels<scalar_t> texels = nr::Texels<scalar_t>::make(
        textures, uvs, uv_image, uv_coarse, source_weights, texture_faces,
        front_faces, texture_size, uv_image_batch, uv_height, uv_width,
        uv_levels, uv_repeat, height, width);
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

#endif  // scalar_t
