// native/cuda/model.cu is host code only; compiled here by the C++ compiler, it
// runs over the CPU stand-in for the device (device.cpp in this folder).
#include "../../cuda/model.cu"
