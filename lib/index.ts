// nquant's public API, and only that.
export { cpu, setThreads, getThreads, setSparseGemm, getSparseGemm } from './cpu';
export type { CpuInfo, Isa, SparseGemmMode } from './cpu';
export { setLimits, getLimits, DEFAULT_LIMITS } from './limits';
export type { Limits } from './limits';
export { Tensor } from './tensor';
export type { DataType, DataTypeMap, TypedArray } from './tensor';
export * as ops from './runtime/ops/quantization';

// Models: load, run, save.
export { load } from './runtime/load';
export type { LoadOptions } from './runtime/load';
export { Model } from './runtime/model';
export type { Feeds, Outputs, RunOptions, ValueSpec, ModelOptions } from './runtime/model';

// The graph layer, for tools that read or rewrite models.
export { importModel, importModelFile, unsupportedOps } from './onnx/import';
export type { ImportOptions } from './onnx/import';
export { exportModel } from './onnx/export';
export { inferShapes, inferShapesForInputs } from './graph/shape-inference';
export type { ShapeReport, ConcreteValue } from './graph/shape-inference';
export { optimize } from './graph/passes/index';
export type { OptimizeOptions, OptimizationLevel, OptimizeReport } from './graph/passes/index';
export { inspect } from './graph/inspect';
export type { ModelSummary } from './graph/inspect';
export { topoSort, eliminateDeadNodes } from './graph/topo';
export { Graph } from './graph/ir';
export type { ModelIR, Node, ValueInfo, Attribute, Dim } from './graph/ir';

// Post-training quantization.
export { quantizeDynamic } from './quant/dynamic';
export { quantizeStatic } from './quant/static';
export { QuantizedModel } from './quant/quantized-model';
export type { QuantFormat } from './quant/quantized-model';
export type { QuantizeDynamicOptions, QuantizeStaticOptions, NodeSelector, TensorOverride, CalibrationProgress } from './quant/options';
export type { QuantReport, NodeReport, TensorReport } from './quant/report';
export type { WeightReport } from './quant/qdq-builder';
export type { FeedSource } from './quant/calibrate';
export { createObserver, MinMaxObserver, MovingAverageObserver, HistogramObserver } from './quant/calibration/observers';
export type { Observer, ObserverOptions, CalibrationMethod, Range } from './quant/calibration/observers';
export { qparamsFromRange, sqnr } from './quant/qparams';
export type { QParams, QuantType } from './quant/qparams';
export { lowerQdq } from './runtime/qdq-lowering';
export type { LoweringReport, LoweringTarget } from './runtime/qdq-lowering';

// Training.
export { sequential } from './train/sequential';
export type { SequentialOptions } from './train/sequential';
export { layers } from './train/layers';
export type { Layer, ActivationName, InitName, Conv2dOptions, DenseOptions, PoolOptions, BatchNormOptions, ResidualOptions, Padding } from './train/layers';
export { fit, evaluate } from './train/fit';
export type { FitOptions, FitHistory, FitProgress, EpochMetrics, LabelledData, TrainData, EvaluateOptions } from './train/fit';
export { sgd, adam, adamw, stepLr, cosineLr } from './train/optimizers';
export type { Optimizer, SgdOptions, AdamOptions, LrSchedule, ScheduleProgress } from './train/optimizers';
export type { LossKind } from './train/autograd';
export { prepareQat, convertQat, QatModel } from './train/qat';
export type { QatOptions, QatInfo, ConvertQatOptions } from './train/qat';
export { loadMnistDigits, loadFashionMnist, readIdx, FASHION_MNIST_CLASSES } from './train/datasets';
export { randomShift } from './train/augment';

// Comparison reports.
export { compare, argmaxRows } from './report/compare';
export type { CompareInput, CompareOptions, CompareProgress, CompareResult, CompareRow } from './report/compare';
export { renderReport, writeReport, reportCharts } from './report/render';
export type { ReportData, ReportChart } from './report/render';
export type { BarChart, BarDatum } from './report/charts';
export type { LatencyStats } from './report/latency';
export { randomFeeds } from './report/random-feeds';
export type { RandomFeedOptions } from './report/random-feeds';
export { parseNpy, encodeNpy } from './cli/npy';

// Smaller than INT8: FP16 and block-wise INT4.
export { toFp16, Fp16Model } from './compress/fp16';
export type { Fp16Report } from './compress/fp16';
export type { ToFp16Options } from './compress/fp16-options';
export { quantizeInt4, Int4Model } from './compress/int4';
export type { Int4Report, Int4LayerReport } from './compress/int4';
export type { QuantizeInt4Options, Int4BlockSize } from './compress/int4-options';
export type { Int4Method } from './compress/int4-blocks';

// Weight sharing (clustering), pruning, and the Deep Compression pipeline.
export { clusterWeights, fineTuneClustered, materializeClusters, decodeClusteredWeight, distinctValues, ClusteredModel } from './compress/cluster';
export type { ClusterOptions, ClusterInit, ClusterExecution, ClusteredLayer, CodebookEncoding } from './compress/cluster';
export { quantizeCodebooks } from './compress/cluster-quantize';
export type { CodebookQuantOptions } from './compress/cluster-quantize';
export { prune, stripPruning, PrunedModel, polynomialSparsity, sparsityOf } from './compress/prune';
export type { PruneOptions, PruneStructure, PolynomialSchedule, PrunedLayer, PruningInfo } from './compress/prune';
export { packCompact, unpackCompact, compactReport } from './compress/compact-format';
export type { CompactReport, CompactTensorReport } from './compress/compact-format';
export { deepCompress } from './compress/deep-compression';
export type { DeepCompressionOptions, StageResult } from './compress/deep-compression';
export type { LayerPattern } from './compress/compressible-weights';

// Serving: KServe v2 / Triton HTTP inference.
export { createServer } from './serve/index';
export type { ServeOptions, InferenceServer, ListenAddress, ServerStats } from './serve/index';

// Mixed precision and custom schemes.
export { QuantScheme } from './quant/scheme';
export type { QuantSchemeOptions, SchemeGranularity, SchemeRounding, ObserverClass } from './quant/scheme';
export { quantizeMixed, MixedPrecisionModel } from './quant/mixed';
export type { QuantizeMixedOptions, MixedReport, MixedLayerReport } from './quant/mixed';
export type { LayerChoice, MixedLayer } from './quant/mixed-layers';
export { searchMixedPrecision } from './quant/mixed-search';
export type { MixedSearchResult, SearchedLayer, LayerSensitivity } from './quant/mixed-search';
export type { SearchMixedOptions, SearchProgress, EvalFn } from './quant/mixed-search-options';
export type { WeightQuantizer, QuantizedWeight } from './quant/weights';

// Binary (1-bit) weights: sign-GEMM / XNOR-popcount kernels, training through the STE.
export { binarizeWeights, binaryLayersOf, BinaryModel, BINARY_DOMAIN } from './compress/binary';
export type { BinarizeOptions, BinaryLayer, BinaryLayerReport, BinaryReport } from './compress/binary';
export { prepareBinaryTraining, convertBinaryTraining, BinaryTrainingModel } from './train/binary-training';
export type { BinaryTrainingOptions, BinaryTrainingInfo } from './train/binary-training';
