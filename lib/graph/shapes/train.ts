// Shape rules for the com.nquant.train ops a model graph can hold between training runs
// (quantization-aware training inserts them); backward-only ops never reach shape inference.
import { InferCtx, Known, ShapeFn } from './context';


function channelRange(ctx: InferCtx): Known[] {
  const axis = ctx.int('axis', -1000);
  const x = ctx.dims(0);
  if (axis === -1000) return [{ dtype: 'float32', dims: [2] }];
  if (!x) return [{ dtype: 'float32' }];
  const a = axis < 0 ? axis + x.length : axis;
  return [{ dtype: 'float32', dims: [x[a], 2] }];
}

function qparamsFromRange(ctx: InferCtx): Known[] {
  const r = ctx.dims(0);
  const dims = r ? r.slice(0, -1) : undefined;
  return [{ dtype: 'float32', dims }, { dtype: 'float32', dims }];
}

export const TRAIN: { [domainOp: string]: ShapeFn } = {
  'com.nquant.train:FakeQuantize': (ctx) => [{ dtype: ctx.dtype(0), dims: ctx.dims(0) }, { dtype: 'uint8', dims: ctx.dims(0) }],
  'com.nquant.train:MinMaxObserve': (ctx) => [{ dtype: 'float32', dims: ctx.dims(1) }],
  'com.nquant.train:ChannelRange': channelRange,
  'com.nquant.train:QParamsFromRange': qparamsFromRange,
};
