// The NN family's registrations: what the native runtime claims for these ops.
#include "ops/families.h"
#include "ops/nn_util.h"

namespace nq::ops {

namespace {
const OpRegistration kNnOps[] = {
    {"", "Conv", create_conv, "float32"},
    {"nquant", "FusedConv", create_conv, "float32"},
    {"", "ConvTranspose", create_conv_transpose, "float32"},
    {"", "Gemm", create_gemm, "float32"},
    {"nquant", "FusedGemm", create_gemm, "float32"},
    {"", "MatMul", create_matmul, "float32"},
    {"", "MaxPool", create_max_pool, "float32,uint8,int8"},
    {"", "AveragePool", create_average_pool, "float32"},
    {"", "GlobalAveragePool", create_global_average_pool, "float32"},
    {"", "GlobalMaxPool", create_global_max_pool, "float32"},
    {"", "BatchNormalization", create_batch_norm, "float32"},
    {"", "InstanceNormalization", create_instance_norm, "float32"},
    {"", "LayerNormalization", create_layer_norm, "float32"},
    {"", "Softmax", create_softmax, "float32"},
    {"", "LogSoftmax", create_log_softmax, "float32"},
    {"", "Resize", create_resize, "float32"},
};
}  // namespace

OpTable nn_ops() { return {kNnOps, sizeof(kNnOps) / sizeof(kNnOps[0])}; }

}  // namespace nq::ops
