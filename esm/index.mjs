// ESM entry: the CommonJS build re-exported under its names.
import nquant from '../dist/lib/index.js';

export const {
  cpu, setThreads, getThreads, setSparseGemm, getSparseGemm, setLimits, getLimits, DEFAULT_LIMITS, Tensor, ops,
  load, Model,
  importModel, importModelFile, unsupportedOps, exportModel,
  inferShapes, inferShapesForInputs, optimize, inspect, topoSort, eliminateDeadNodes, Graph,
  quantizeDynamic, quantizeStatic, QuantizedModel,
  createObserver, MinMaxObserver, MovingAverageObserver, HistogramObserver, qparamsFromRange, sqnr, lowerQdq,
  sequential, layers, fit, evaluate, sgd, adam, adamw, stepLr, cosineLr,
  prepareQat, convertQat, QatModel, randomShift, loadMnistDigits, loadFashionMnist, readIdx, FASHION_MNIST_CLASSES,
  compare, argmaxRows, renderReport, writeReport, reportCharts, randomFeeds, parseNpy, encodeNpy,
  toFp16, Fp16Model, quantizeInt4, Int4Model,
  clusterWeights, fineTuneClustered, materializeClusters, decodeClusteredWeight, distinctValues, ClusteredModel,
  quantizeCodebooks, prune, stripPruning, PrunedModel, polynomialSparsity, sparsityOf,
  packCompact, unpackCompact, compactReport, deepCompress,
  createServer,
  QuantScheme, quantizeMixed, MixedPrecisionModel, searchMixedPrecision,
  binarizeWeights, binaryLayersOf, BinaryModel, BINARY_DOMAIN, prepareBinaryTraining, convertBinaryTraining, BinaryTrainingModel,
} = nquant;
export default nquant;
