// Registrations of the train_ops() family (see families.h and train_ops.h for the contracts).
#include "ops/families.h"
#include "ops/train_ops.h"

namespace nq::ops {

namespace {
constexpr const char* kTrain = "com.nquant.train";

const OpRegistration kTrainOps[] = {
    {kTrain, "ConvGrad", create_conv_grad, "float32"},
    {kTrain, "MaxPoolGrad", create_max_pool_grad, "float32"},
    {kTrain, "AveragePoolGrad", create_average_pool_grad, "float32"},
    {kTrain, "GlobalAveragePoolGrad", create_global_average_pool_grad, "float32"},
    {kTrain, "ActivationGrad", create_activation_grad, "float32"},
    {kTrain, "SoftmaxGrad", create_softmax_grad, "float32"},
    {kTrain, "BatchNormTraining", create_batch_norm_training, "float32"},
    {kTrain, "BatchNormGrad", create_batch_norm_grad, "float32"},
    {kTrain, "SoftmaxCrossEntropy", create_softmax_cross_entropy, "float32 (labels int64,int32)"},
    {kTrain, "SoftmaxCrossEntropyGrad", create_softmax_cross_entropy_grad, "float32 (labels int64,int32)"},
    {kTrain, "MseLoss", create_mse_loss, "float32"},
    {kTrain, "MseLossGrad", create_mse_loss_grad, "float32"},
    {kTrain, "ReduceToShape", create_reduce_to_shape, "float32"},
    {kTrain, "GatherGrad", create_gather_grad, "float32 (indices int32,int64)"},
    {kTrain, "DropoutTrain", create_dropout_train, "float32 (seed int64) -> float32,uint8"},
    {kTrain, "DropoutGrad", create_dropout_grad, "float32 (mask uint8)"},
    {kTrain, "SgdUpdate", create_sgd_update, "float32"},
    {kTrain, "AdamUpdate", create_adam_update, "float32"},
    {kTrain, "FakeQuantize", create_fake_quantize, "float32 -> float32,uint8"},
    {kTrain, "FakeQuantizeGrad", create_fake_quantize_grad, "float32"},
    {kTrain, "MinMaxObserve", create_min_max_observe, "float32"},
};
}  // namespace

OpTable train_ops() { return {kTrainOps, sizeof(kTrainOps) / sizeof(kTrainOps[0])}; }

}  // namespace nq::ops
