// Gemm, nquant.FusedGemm and MatMul (float32) on the sgemm driver. Constant B operands are
// packed once at creation; dynamic ones go through sgemm_unpacked (GEMV for one row).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/sgemm.h"
#include "ops/nn_conv_internal.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

SGemmEpilogue epilogue_for(const ConvActivation& act) {
  SGemmEpilogue e;
  e.activation = act.kind;
  e.clip_min = act.lo;
  e.clip_max = act.hi;
  return e;
}

class GemmKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, const ConvActivation& act) {
    act_ = act;
    const TensorDesc& a = init.inputs[0];
    const TensorDesc& b = init.inputs[1];
    if (a.dims.size() != 2 || b.dims.size() != 2)
      return op_error(init, "A " + dims_str(a.dims) + " and B " + dims_str(b.dims) +
                                " must be 2-D");
    alpha_ = float(init.attrs.get_float("alpha", 1.0));
    beta_ = float(init.attrs.get_float("beta", 1.0));
    trans_a_ = init.attrs.get_int("transA", 0) != 0;
    trans_b_ = init.attrs.get_int("transB", 0) != 0;
    m_ = size_t(trans_a_ ? a.dims[1] : a.dims[0]);
    k_ = size_t(trans_a_ ? a.dims[0] : a.dims[1]);
    const size_t kb = size_t(trans_b_ ? b.dims[1] : b.dims[0]);
    n_ = size_t(trans_b_ ? b.dims[0] : b.dims[1]);
    if (kb != k_)
      return op_error(init, "inner dims differ: A " + dims_str(a.dims) + (trans_a_ ? " (transA)" : "") +
                                ", B " + dims_str(b.dims) + (trans_b_ ? " (transB)" : ""));
    const TensorDesc& y = init.outputs[0];
    if (y.dims.size() != 2 || size_t(y.dims[0]) != m_ || size_t(y.dims[1]) != n_)
      return op_error(init, "Y " + dims_str(y.dims) + " must be [" + std::to_string(m_) + "," +
                                std::to_string(n_) + "]");
    if (present(init, 2) && beta_ != 0.f) {
      const auto& cd = init.inputs[2].dims;
      if (cd.size() > 2)
        return op_error(init, "C must have rank <= 2, got " + dims_str(cd));
      const size_t cr = cd.size() == 2 ? size_t(cd[0]) : 1;
      const size_t cc = cd.empty() ? 1 : size_t(cd.back());
      if ((cr != 1 && cr != m_) || (cc != 1 && cc != n_))
        return op_error(init, "C " + dims_str(cd) + " does not broadcast to [" +
                                  std::to_string(m_) + "," + std::to_string(n_) + "]");
      c_rows_ = cr;
      c_cols_ = cc;
      has_c_ = true;
      c_is_bias_ = cr == 1 && cc == n_ && beta_ == 1.f;
    }
    if (const void* bc = constant(init, 1)) {
      Status s = sgemm_pack_b(*active_kernels().sgemm, static_cast<const float*>(bc), k_, n_, 0,
                              trans_b_, &packed_);
      if (!s.is_ok()) return op_error(init, s.message);
      b_const_ = true;
    }
    return Status::ok();
  }

  size_t scratch_bytes() const override { return trans_a_ ? m_ * k_ * sizeof(float) : 0; }
  void set_scratch(void* s) override { scratch_ = static_cast<float*>(s); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* a = static_cast<const float*>(in[0]);
    const float* b = static_cast<const float*>(in[1]);
    const float* c = in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    if (trans_a_) {
      for (size_t i = 0; i < m_; ++i)
        for (size_t p = 0; p < k_; ++p) scratch_[i * k_ + p] = a[p * m_ + i];
      a = scratch_;
    }
    SGemmEpilogue e = epilogue_for(act_);
    e.alpha = alpha_;
    if (has_c_ && c) {
      if (c_is_bias_) {
        e.bias = c;
      } else {
        for (size_t i = 0; i < m_; ++i) {
          const float* cr = c + (c_rows_ == 1 ? 0 : i * c_cols_);
          float* yr = y + i * n_;
          if (c_cols_ == 1)
            for (size_t j = 0; j < n_; ++j) yr[j] = beta_ * cr[0];
          else
            for (size_t j = 0; j < n_; ++j) yr[j] = beta_ * cr[j];
        }
        e.accumulate = true;
      }
    }
    if (b_const_) return sgemm(a, m_, 0, packed_, y, 0, e);
    return sgemm_unpacked(a, m_, k_, 0, b, n_, 0, trans_b_, y, 0, e);
  }

 private:
  ConvActivation act_;
  float alpha_ = 1.f, beta_ = 1.f;
  bool trans_a_ = false, trans_b_ = false, has_c_ = false, c_is_bias_ = false, b_const_ = false;
  size_t m_ = 0, n_ = 0, k_ = 0, c_rows_ = 1, c_cols_ = 1;
  SGemmPackedB packed_;
  float* scratch_ = nullptr;
};

class MatMulKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    Status st = matmul_shape(init, &s_);
    if (!st.is_ok()) return st;
    if (const void* bc = constant(init, 1)) {
      const float* bp = static_cast<const float*>(bc);
      packed_.resize(s_.b_count);
      for (size_t i = 0; i < s_.b_count; ++i) {
        st = sgemm_pack_b(*active_kernels().sgemm, bp + i * s_.k * s_.n, s_.k, s_.n, 0, false,
                          &packed_[i]);
        if (!st.is_ok()) return op_error(init, st.message);
      }
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* a = static_cast<const float*>(in[0]);
    const float* b = static_cast<const float*>(in[1]);
    float* y = static_cast<float*>(out[0]);
    const SGemmEpilogue e;
    const size_t batches = s_.a_index.size(), m = s_.m, k = s_.k, n = s_.n;
    if (s_.single_call) {
      if (!packed_.empty()) return sgemm(a, m * batches, 0, packed_[0], y, 0, e);
      return sgemm_unpacked(a, m * batches, k, 0, b, n, 0, false, y, 0, e);
    }
    for (size_t t = 0; t < batches; ++t) {
      const float* at = a + s_.a_index[t] * m * k;
      float* yt = y + t * m * n;
      Status st = !packed_.empty()
                      ? sgemm(at, m, 0, packed_[s_.b_index[t]], yt, 0, e)
                      : sgemm_unpacked(at, m, k, 0, b + s_.b_index[t] * k * n, n, 0, false, yt, 0, e);
      if (!st.is_ok()) return st;
    }
    return Status::ok();
  }

 private:
  MatMulShape s_;
  std::vector<SGemmPackedB> packed_;
};

}  // namespace

Status create_gemm(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 3, 1);
  if (!s.is_ok()) return s;
  const char* names[] = {"A", "B", "C"};
  for (size_t i = 0; i < init.inputs.size(); ++i) {
    if (i == 2 && !present(init, 2)) continue;
    s = check_input_dtype(init, i, names[i], DType::f32);
    if (!s.is_ok()) return s;
  }
  s = check_output_dtype(init, 0, "Y", DType::f32);  // the kernel writes floats
  if (!s.is_ok()) return s;
  ConvActivation act;
  s = read_conv_activation(init, &act);
  if (!s.is_ok()) return s;
  auto k = std::make_unique<GemmKernel>();
  s = k->init(init, act);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  if (!s.is_ok()) return s;
  s = check_input_dtype(init, 0, "A", DType::f32);
  if (s.is_ok()) s = check_input_dtype(init, 1, "B", DType::f32);
  if (s.is_ok()) s = check_output_dtype(init, 0, "Y", DType::f32);
  if (!s.is_ok()) return s;
  auto k = std::make_unique<MatMulKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
