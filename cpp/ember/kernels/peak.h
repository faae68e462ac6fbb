// The measured float32 FMA peak of this CPU (GFLOP/s over `threads` threads, run for about
// `seconds`), for benchmarks: products are reported as a fraction of it.
#pragma once

namespace ember {
double fma_peak_gflops(int threads, double seconds);
}
