// TensorFlow.js (pure-JS CPU backend, single-threaded) as a training-throughput peer: the
// benchmark CNN trained with Adam on batches taken in order, timed after a warmup.
// tfjs-node is not used: its install downloads a native TensorFlow, which cannot happen here.
import type * as TfModule from '@tensorflow/tfjs';
import { checkTrainData, IMAGE_PIXELS, TrainBenchOptions } from './train-data';

type Tf = typeof TfModule;

// Loaded on first use so that benchmarks which never train do not pay for tfjs' start-up,
// and its backend registration stays out of processes that do not need it.
async function loadTf(): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs');
  // Production mode drops debug checks and the "install tfjs-node" console nag.
  tf.enableProdMode();
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs: the cpu backend failed to initialise');
  return tf;
}

/** Conv2D(32, 3x3, valid, relu) -> MaxPool 2x2 -> Flatten -> Dense(128, relu) -> Dense(10), channels-last. */
function buildModel(tf: Tf): TfModule.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'valid', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 128, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

export async function tfjsTrainThroughput(x: Float32Array, y: Int32Array, opts: TrainBenchOptions): Promise<{ imagesPerSecond: number; steps: number }> {
  const n = checkTrainData(x, y, opts);
  const tf = await loadTf();
  const batch = opts.batchSize;
  const batches = Math.floor(n / batch);
  const model = buildModel(tf);
  const optimizer = tf.train.adam(1e-3);
  // Explicit variables: the default (every trainable variable in the engine) would also
  // pick up any other tfjs model alive in this process.
  const variables = model.trainableWeights.map((w) => {
    const v = w.read();
    if (!(v instanceof tf.Variable)) throw new Error(`tfjs: weight ${w.name} is not a Variable`);
    return v;
  });

  // Single-channel NHWC has the same bytes as NCHW, so the caller's images feed in as is.
  const step = (i: number): void => {
    tf.tidy(() => {
      const lo = (i % batches) * batch;
      const xb = tf.tensor4d(x.subarray(lo * IMAGE_PIXELS, (lo + batch) * IMAGE_PIXELS), [batch, 28, 28, 1]);
      const yb = tf.oneHot(tf.tensor1d(y.subarray(lo, lo + batch), 'int32'), 10);
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(yb, model.apply(xb, { training: true }) as TfModule.Tensor) as TfModule.Scalar, false, variables);
    });
  };

  try {
    for (let i = 0; i < opts.warmup; i++) step(i);
    const tensorsBefore = tf.memory().numTensors;
    // The CPU backend computes synchronously, so the clock around the loop covers all work.
    const start = performance.now();
    for (let i = opts.warmup; i < opts.warmup + opts.steps; i++) step(i);
    const seconds = (performance.now() - start) / 1000;
    // After a warmup step Adam's slots exist, so any growth is a leak in the step (without
    // warmup the first timed step creates the slots, and the count proves nothing).
    const leaked = tf.memory().numTensors - tensorsBefore;
    if (opts.warmup > 0 && leaked > 0) throw new Error(`tfjs: the training step leaked ${leaked} tensors over ${opts.steps} steps`);
    return { imagesPerSecond: (opts.steps * batch) / seconds, steps: opts.steps };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}
