// The CUDA model's tests (test_cuda_model.cu), run against the CPU stand-in for
// the device: they check model.cu's orchestration on machines with no GPU.
#include "../test_cuda_model.cu"
