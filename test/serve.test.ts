// The inference server on loopback: KServe v2 metadata and health, and JSON and binary
// inference agreeing bit for bit with model.run on the same inputs, for a real FP32 model
// and its INT8 (quantizeStatic, QDQ) version.
import { readFileSync } from 'fs';
import { load } from '../lib/runtime/load';
import { Model } from '../lib/runtime/model';
import { quantizeStatic } from '../lib/quant/static';
import { createServer, InferenceServer } from '../lib/serve';
import { Tensor } from '../lib/tensor';
import { REAL_MODELS, rng } from './helpers/ort-models';
import { binaryBody, bits, jsonBody, replyOutputs, request } from './helpers/serve-client';

const deepa = REAL_MODELS.find((m) => m.name === 'hello_deepa')!;

async function expectSameAsRun(model: Model, url: string, feeds: { [name: string]: Tensor }): Promise<void> {
  const expected = await model.run(feeds);
  const outName = model.outputs[0].name;
  const want = expected[outName].data as Float32Array;

  const viaJson = await request(`${url}/infer`, { body: jsonBody(feeds, { id: 'req-1' }) });
  expect(viaJson.status).toBe(200);
  expect(viaJson.json()).toMatchObject({ id: 'req-1', model_version: '1' });
  const [jsonOut] = replyOutputs(viaJson);
  expect(jsonOut).toMatchObject({ name: outName, datatype: 'FP32', shape: [...expected[outName].dims] });
  expect(bits(jsonOut.values)).toEqual(bits(want));

  const bin = binaryBody(feeds, { outputs: [{ name: outName, parameters: { binary_data: true } }] });
  const viaBinary = await request(`${url}/infer`, { body: bin.body, headers: bin.headers });
  expect(viaBinary.status).toBe(200);
  expect(viaBinary.headers['content-type']).toBe('application/octet-stream');
  const [binOut] = replyOutputs(viaBinary);
  expect(viaBinary.json()).toMatchObject({ outputs: [{ name: outName, parameters: { binary_data_size: want.byteLength } }] });
  expect(bits(binOut.values)).toEqual(bits(want));

  // Binary in, JSON out (the request-level default off, no outputs named).
  const mixed = await request(`${url}/infer`, { body: binaryBody(feeds).body, headers: binaryBody(feeds).headers });
  expect(mixed.status).toBe(200);
  expect(mixed.headers['inference-header-content-length']).toBeUndefined();
  expect(bits(replyOutputs(mixed)[0].values)).toEqual(bits(want));
}

describe('createServer on hello_deepa', () => {
  let model: Model;
  let server: InferenceServer;
  let base: string;

  beforeAll(async () => {
    model = await load(readFileSync(deepa.path));
    server = await createServer(deepa.path, { maxBatchSize: 4 });
    base = (await server.listen(0)).url;
  });
  afterAll(async () => {
    await server.close();
    model.dispose();
  });

  test('health, server and model metadata', async () => {
    expect((await request(`${base}/v2/health/live`)).status).toBe(200);
    expect((await request(`${base}/v2/health/ready`)).status).toBe(200);
    expect((await request(`${base}/v2/models/hello_deepa/ready`)).status).toBe(200);
    expect((await request(`${base}/v2`)).json()).toMatchObject({ name: 'nquant', extensions: ['binary_tensor_data'] });
    const meta = await request(`${base}/v2/models/hello_deepa`);
    expect(meta.status).toBe(200);
    expect(meta.json()).toEqual({
      name: 'hello_deepa',
      versions: ['1'],
      platform: 'nquant_onnx',
      inputs: [{ name: 'onnx::Flatten_0', datatype: 'FP32', shape: [1, 25, 96] }],
      outputs: [{ name: model.outputs[0].name, datatype: 'FP32', shape: [1, 1] }],
    });
    // Versioned paths address the same model.
    expect((await request(`${base}/v2/models/hello_deepa/versions/1`)).json()).toMatchObject({ name: 'hello_deepa' });
    const otherVersion = await request(`${base}/v2/models/hello_deepa/versions/2/ready`);
    expect(otherVersion.status).toBe(400);
    expect(otherVersion.json()).toEqual({ error: 'unknown model "hello_deepa/versions/2"; this server serves "hello_deepa"' });
    // Its first dim is fixed at 1: nothing to batch.
    expect(server.stats().batching).toBe(false);
  });

  test('JSON and binary inference agree bit for bit with model.run', async () => {
    const r = rng(3);
    for (let i = 0; i < 3; i++) await expectSameAsRun(model, `${base}/v2/models/hello_deepa`, deepa.feeds(r));
  });

  test('/metrics counts requests by status and reports latency, batch sizes and queue depth', async () => {
    const text = (await request(`${base}/metrics`)).body.toString();
    expect(text).toMatch(/nquant_http_requests_total\{route="infer",status="200"\} (\d+)/);
    expect(Number(/nquant_http_requests_total\{route="infer",status="200"\} (\d+)/.exec(text)![1])).toBeGreaterThanOrEqual(9);
    expect(text).toMatch(/nquant_http_request_duration_seconds_bucket\{le="\+Inf",route="infer"\} \d+/);
    expect(text).toMatch(/nquant_batch_size_bucket\{le="1"\} \d+/);
    expect(text).toMatch(/nquant_queue_depth 0/);
  });
});

describe('createServer on an INT8 model from quantizeStatic', () => {
  test('JSON and binary inference agree bit for bit with the quantized model run', async () => {
    const fp = await load(readFileSync(deepa.path));
    const r = rng(11);
    const q = await quantizeStatic(fp, Array.from({ length: 4 }, () => deepa.feeds(r)), { reportBatches: 0 });
    expect(q.report.nodes.some((n) => n.quantized)).toBe(true);
    const server = await createServer(q, { name: 'deepa-int8' });
    const { url } = await server.listen(0);
    try {
      expect((await request(`${url}/v2/models/deepa-int8`)).status).toBe(200);
      await expectSameAsRun(q, `${url}/v2/models/deepa-int8`, deepa.feeds(r));
    } finally {
      await server.close();
    }
    // The server did not dispose a model it was handed.
    await expect(q.run(deepa.feeds(r))).resolves.toBeDefined();
  });
});
