// The mip levels of a UV texture's image (neural_renderer/mipmap.py) and
// their gradient. Level l + 1 of a level of h x w texels has ceil(h / 2) x
// ceil(w / 2): each texel the mean of the 2 x 2 texels below it, an odd
// side first extended by its first row (column) for REPEAT or its last for
// CLAMP_TO_EDGE; a side of 1 stays 1. Levels are [B, h, w, 3], row-major.
#include "common.cuh"

#ifndef NR_MIPMAP_HELPERS_CUH
#define NR_MIPMAP_HELPERS_CUH
namespace nr {

// Along one axis of a level of n texels: the texels that texel k of the
// next level averages (1 or 2, into s).
NR_DEVICE int mip_sources(long long k, long long n, bool repeat,
                          long long* s) {
    if (n == 1) {
        s[0] = 0;
        return 1;
    }
    s[0] = 2 * k;
    s[1] = 2 * k + 1;
    if (s[1] == n) s[1] = repeat ? 0 : n - 1;
    return 2;
}

// The converse: the texels of the next level that texel k averages into,
// once per time it is counted (1 or 2, into p), and the weight of each
// along this axis (*weight: 1 / 2, or 1 for a side of 1).
NR_DEVICE int mip_parents(long long k, long long n, bool repeat,
                          long long* p, double* weight) {
    if (n == 1) {
        p[0] = 0;
        *weight = 1;
        return 1;
    }
    *weight = 0.5;
    int count = 0;
    p[count++] = k / 2;
    const long long last = (n + 1) / 2 - 1;
    if (n % 2 && ((repeat && k == 0) || (!repeat && k == n - 1)))
        p[count++] = last;
    return count;
}

}  // namespace nr
#endif  // NR_MIPMAP_HELPERS_CUH

#ifdef scalar_t
// One index per texel of the coarser level (n = B * ceil(height / 2) *
// ceil(width / 2)): coarse = the mean of the texels of fine ([B, height,
// width, 3], item b at fine + b * fine_stride * 3) it covers, summed rows
// outer, columns inner. coarse: item b at coarse + b * coarse_stride * 3.
NR_KERNEL void NR_NAME(mip_downsample)(
        const scalar_t* fine, long long fine_stride, long long height,
        long long width, long long repeat, scalar_t* coarse,
        long long coarse_stride, long long n) {
    const long long h2 = (height + 1) / 2, w2 = (width + 1) / 2;
    NR_FOR_EACH(index, n) [&] {
        const long long b = index / (h2 * w2), rest = index % (h2 * w2);
        const long long y = rest / w2, x = rest % w2;
        long long rows[2], columns[2];
        const int nr_rows = nr::mip_sources(y, height, repeat != 0, rows);
        const int nr_columns = nr::mip_sources(x, width, repeat != 0,
                                               columns);
        const scalar_t weight = (scalar_t)1 / (scalar_t)(nr_rows * nr_columns);
        const scalar_t* item = fine + b * fine_stride * 3;
        scalar_t sum[3] = {0, 0, 0};
        for (int i = 0; i < nr_rows; ++i)
            for (int j = 0; j < nr_columns; ++j)
                for (int ch = 0; ch < 3; ++ch)
                    sum[ch] += item[(rows[i] * width + columns[j]) * 3 + ch];
        scalar_t* out = coarse + b * coarse_stride * 3 + (y * w2 + x) * 3;
        for (int ch = 0; ch < 3; ++ch) out[ch] = sum[ch] * weight;
    }();
}

// Its gradient, one index per texel of the finer level (n = B * height *
// width): grad_fine += the gradients of the coarser texels it averages
// into, times its weight in each (parents' rows outer, columns inner).
NR_KERNEL void NR_NAME(mip_downsample_backward)(
        const scalar_t* grad_coarse, long long coarse_stride,
        long long height, long long width, long long repeat,
        scalar_t* grad_fine, long long fine_stride, long long n) {
    const long long w2 = (width + 1) / 2;
    NR_FOR_EACH(index, n) [&] {
        const long long b = index / (height * width);
        const long long rest = index % (height * width);
        const long long y = rest / width, x = rest % width;
        long long rows[2], columns[2];
        double row_weight, column_weight;
        const int nr_rows = nr::mip_parents(y, height, repeat != 0, rows,
                                            &row_weight);
        const int nr_columns = nr::mip_parents(x, width, repeat != 0,
                                               columns, &column_weight);
        const scalar_t weight = (scalar_t)(row_weight * column_weight);
        const scalar_t* item = grad_coarse + b * coarse_stride * 3;
        scalar_t sum[3] = {0, 0, 0};
        for (int i = 0; i < nr_rows; ++i)
            for (int j = 0; j < nr_columns; ++j)
                for (int ch = 0; ch < 3; ++ch)
                    sum[ch] += item[(rows[i] * w2 + columns[j]) * 3 + ch];
        scalar_t* out = grad_fine + b * fine_stride * 3 + (y * width + x) * 3;
        for (int ch = 0; ch < 3; ++ch) out[ch] += sum[ch] * weight;
    }();
}

#endif  // scalar_t
