// Asks the linked CTranslate2 which CPU GEMM backend and instruction set it dispatches to, for
// `vid2text models`. The declarations are CTranslate2 4.8.4's own (src/cpu/backend.h,
// src/cpu/cpu_isa.h, include/ctranslate2/types.h): those headers are not installed with the
// library, and these functions are exported by the wheel's libctranslate2 and present in the
// static source builds.

#include <cstddef>
#include <cstring>
#include <string>

namespace ctranslate2 {
  enum class ComputeType {
    DEFAULT,
    AUTO,
    FLOAT32,
    INT8,
    INT8_FLOAT32,
    INT8_FLOAT16,
    INT8_BFLOAT16,
    INT16,
    FLOAT16,
    BFLOAT16,
  };
  namespace cpu {
    enum class GemmBackend { NONE, MKL, DNNL, ACCELERATE, OPENBLAS, RUY };
    enum class CpuIsa;  // its values differ by architecture; only its name is used
    std::string gemm_backend_to_str(GemmBackend gemm_backend);
    GemmBackend get_gemm_backend(ComputeType compute_type);
    std::string isa_to_str(CpuIsa isa);
    CpuIsa get_cpu_isa();
  }
}

static size_t copy_out(const std::string& s, char* buf, size_t len) {
  if (len == 0)
    return s.size();
  size_t n = s.size() < len - 1 ? s.size() : len - 1;
  std::memcpy(buf, s.data(), n);
  buf[n] = '\0';
  return s.size();
}

// The GEMM backend for int8 (`int8 != 0`) or float32 computation, e.g. "DNNL", "MKL", "RUY".
extern "C" size_t vid2text_ct2_gemm_backend(int int8, char* buf, size_t len) {
  try {
    auto type = int8 ? ctranslate2::ComputeType::INT8 : ctranslate2::ComputeType::FLOAT32;
    auto backend = ctranslate2::cpu::get_gemm_backend(type);
    return copy_out(ctranslate2::cpu::gemm_backend_to_str(backend), buf, len);
  } catch (...) {
    return copy_out("unknown", buf, len);
  }
}

// The instruction set of CTranslate2's own CPU kernels, e.g. "AVX2".
extern "C" size_t vid2text_ct2_cpu_isa(char* buf, size_t len) {
  try {
    return copy_out(ctranslate2::cpu::isa_to_str(ctranslate2::cpu::get_cpu_isa()), buf, len);
  } catch (...) {
    return copy_out("unknown", buf, len);
  }
}

// The float32 data of a StorageView on the CPU (the encoder's output), or null when it holds
// another type. Only the member used is declared: `data<float>()` is exported by the library
// (an explicit instantiation), so no layout of the class is needed to call it.
namespace ctranslate2 {
  class StorageView {
  public:
    template <typename T>
    const T* data() const;
  };
}

extern "C" const float* vid2text_ct2_float_data(const void* view) {
  try {
    return static_cast<const ctranslate2::StorageView*>(view)->data<float>();
  } catch (...) {
    return nullptr;
  }
}
