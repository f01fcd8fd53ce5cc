// ESM entry: the CommonJS build re-exported under its names.
import nquant from '../dist/lib/index.js';

export const {
  cpu, setThreads, getThreads, Tensor, ops,
  load, Model,
  importModel, importModelFile, unsupportedOps, exportModel,
  inferShapes, inferShapesForInputs, optimize, inspect, topoSort, eliminateDeadNodes, Graph,
  quantizeDynamic, quantizeStatic, QuantizedModel,
  createObserver, MinMaxObserver, MovingAverageObserver, HistogramObserver, qparamsFromRange, sqnr, lowerQdq,
} = nquant;
export default nquant;
