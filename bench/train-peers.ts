// The peers of `bench train`: other frameworks training the same CNN on the same data, so
// the benchmark can print nquant's throughput as a ratio to each.
export { tfjsTrainThroughput } from './peers/train-tfjs';
export { torchTrainThroughput } from './peers/train-torch';
export type { TorchTrainOptions, TorchTrainResult } from './peers/train-torch';
export type { TrainBenchOptions } from './peers/train-data';
export { checkTrainData } from './peers/train-data';
