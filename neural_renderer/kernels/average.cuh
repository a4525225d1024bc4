// The 2 x 2 block average that turns the 2x supersampled maps into the
// anti-aliased images, and its gradient (neural_renderer/average_2x2.py).
// Included once per scalar_t from rasterize.cuh. Maps are [N, 2H, 2W]
// (x, gx) and [N, H, W] (y, gy), C-contiguous; the N images' rows follow
// each other, so row r of y averages rows 2r and 2r + 1 of x.
#ifdef scalar_t

// One index per output pixel (n = N H W): y = (((x00 + x10) + x01) + x11)
// / 4, x_ij the sample at row 2r + i, column 2c + j.
NR_KERNEL void NR_NAME(average_2x2)(const scalar_t* x, long long width,
                                    scalar_t* y, long long n) {
    NR_FOR_EACH_PIXEL(row, column, n, width) [=] {
        const scalar_t* top = x + 2 * row * 2 * width + 2 * column;
        const scalar_t* bottom = top + 2 * width;
        y[row * width + column] =
            (((top[0] + bottom[0]) + top[1]) + bottom[1]) * (scalar_t)0.25;
    }();
}

// One index per input sample (n = N 2H 2W, rows of `width` = 2W samples):
// gx = gy / 4 at the output pixel the sample belongs to.
NR_KERNEL void NR_NAME(average_2x2_backward)(const scalar_t* gy,
                                             long long width, scalar_t* gx,
                                             long long n) {
    NR_FOR_EACH_PIXEL(row, column, n, width) [=] {
        gx[row * width + column] =
            gy[row / 2 * (width / 2) + column / 2] * (scalar_t)0.25;
    }();
}

#endif  // scalar_t
