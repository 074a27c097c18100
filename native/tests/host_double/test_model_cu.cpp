// The CUDA model's tests (test_cuda_model.cu), run against the CPU stand-in for
// the device: they check model.cu's orchestration on machines with no GPU.
#define GENRM_CUDA_STAND_IN 1  // the checks that read what the stand-in recorded
#include "../test_cuda_model.cu"
