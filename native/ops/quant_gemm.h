// Pieces the GEMM-shaped quantized ops share (MatMulInteger, QLinearMatMul, ConvInteger,
// QLinearConv, com.microsoft QGemm / DynamicQuantizeMatMul and the nquant-domain variants):
// how the int32 accumulators become the op's output, and the factories.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/qgemm.h"
#include "ops/op.h"

namespace nq::ops {

// The output stage of an INT8 GEMM-shaped op. One accumulator column j (a GEMM column, a
// conv output channel) has a B scale sb[j] (one per tensor or one per column) and may have
// an int32 bias at scale sa*sb[j]:
//   int32:     acc
//   float32:   float(acc) * (sa*sb[j]) + float(bias[j]) * (sa*sb[j])
//   quantized: clamp(round_half_even(float(acc + bias[j]) * ((sa*sb[j]) / sy)) + zy, qmin, qmax)
// where sa already includes QGemm's alpha. These are the INT8 GEMM's epilogue rules, so a
// kernel that hands the GEMM a QGemmOutput from column_output() and one that runs the
// epilogue itself (depthwise conv) agree bit for bit.
// The stage is fixed at creation; what depends on the run's scale and zero-point inputs is a
// Params in the run's scratch (concurrent runs of one plan each have their own).
class QuantOutputStage {
 public:
  enum class Kind { int32, float32, quantized };

  struct Config {
    Kind kind = Kind::int32;
    size_t columns = 0;       // N (GEMM) or M (conv)
    size_t b_scales = 1;      // 1 or columns
    bool has_bias = false;    // an int32 bias per column is passed to prepare()
    bool out_signed = false;  // quantized: int8 (else uint8)
    int32_t qmin = 0, qmax = 255;
  };

  // One run's parameters.
  struct Params {
    float sa = 1.f;
    const float* sb = nullptr;
    size_t b_scales = 1;
    const int32_t* bias = nullptr;   // int32 bias (quantized outputs), or null
    const float* rq = nullptr;       // quantized: (sa*sb[j]) / sy, 1 or columns values
    const float* fbias = nullptr;    // float32: the float bias per column, or null
    int32_t zy = 0;

    float scale(size_t j) const { return sa * sb[b_scales == 1 ? 0 : j]; }
    float requant_scale(size_t j) const { return rq[b_scales == 1 ? 0 : j]; }
    float float_bias(size_t j) const { return fbias ? fbias[j] : 0.f; }
    int32_t int_bias(size_t j) const { return bias ? bias[j] : 0; }
  };

  void configure(const Config& c) { cfg_ = c; }
  const Config& config() const { return cfg_; }
  bool quantized() const { return cfg_.kind == Kind::quantized; }
  bool is_float() const { return cfg_.kind == Kind::float32; }
  size_t elem_bytes() const { return cfg_.kind == Kind::quantized ? 1 : 4; }

  // Scratch prepare() fills (a multiple of 64 bytes).
  size_t scratch_bytes() const;
  // sa: A's scale times alpha; sb: 1 or `columns` values; sy / y_zero_point: quantized
  // only; bias: null or `columns` int32 values. float_bias (float32 output only, `columns`
  // values) is added as given instead of a dequantized int32 bias (DynamicQuantizeMatMul).
  Params prepare(void* scratch, float sa, const float* sb, float sy, int32_t y_zero_point,
                 const int32_t* bias, const float* float_bias = nullptr) const;

  // QGemmOutput for the accumulator columns [col0, col0 + cols) written to data (ldc elements).
  QGemmOutput column_output(const Params& p, size_t col0, size_t cols, void* data, size_t ldc) const;

 private:
  Config cfg_;
};

// Reads an 8-bit value (uint8 or int8 tensor element i) as int32.
inline int32_t byte_value(const void* p, DType t, size_t i) {
  return t == DType::s8 ? int32_t(static_cast<const int8_t*>(p)[i])
                        : int32_t(static_cast<const uint8_t*>(p)[i]);
}

// The nquant domain's `qmin`/`qmax` attributes (the clamp a fused Relu/Clip becomes in the
// quantized domain), defaulting to the full range of the output type and checked against it.
Status read_quant_clamp(const OpInit& init, bool out_signed, int32_t* qmin, int32_t* qmax);

// y_scale and y_zero_point at (iy_scale, iy_zp): both present gives a quantized output whose
// dtype must be y_zero_point's, both omitted a float32 output (when allow_float). Fills
// kind/out_signed/qmin/qmax of *cfg (the clamp from read_quant_clamp when allow_clamp).
Status read_output_kind(const OpInit& init, size_t iy_scale, size_t iy_zp, bool allow_float,
                        bool allow_clamp, QuantOutputStage::Config* cfg);

// Factories of the quant_gemm_ops() family.
Status create_qgemm(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_dynamic_quantize_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_nquant_qlinear_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_nquant_qlinear_conv(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
