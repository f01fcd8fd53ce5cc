// The tutorial's Keras-style digit classifier, shared by the MNIST examples:
// Conv2D(32, 3x3, relu) -> MaxPool -> Flatten -> Dense(128, relu) -> Dense(10).
import { layers, Model, sequential } from '../lib';

export function tutorialCnn(seed = 1): Model {
  return sequential([
    layers.conv2d({ filters: 32, kernel: 3, activation: 'relu', inputShape: [1, 28, 28] }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 128, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ], { seed });
}
