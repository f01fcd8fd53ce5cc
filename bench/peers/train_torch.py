#!/usr/bin/python3
"""PyTorch training-throughput peer for `nquant bench train`.

Trains the benchmark CNN (Conv2d(1,32,3)+ReLU, MaxPool2d(2), Flatten, Linear(5408,128)+ReLU,
Linear(128,10), cross-entropy, Adam lr 1e-3) on the data in --data and prints one JSON line:
  {"imagesPerSecond": ..., "threads": N, "torch": "<version>", "steps": S, "batch": B}

--data is one headerless file in the machine's byte order: N*784 float32 pixels (image after image, 28x28
row-major, the same bytes as NCHW [N,1,28,28]) followed by N int32 labels; N is its size
divided by 3140 (784*4 + 4) bytes. Batches are taken in file order and wrap around.

Exit code 3 with {"unavailable": reason} means torch cannot be imported: the caller reports
the peer as missing instead of failing.
"""
import argparse
import json
import os
import sys
import time

BYTES_PER_EXAMPLE = 784 * 4 + 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    try:
        import torch
        from torch import nn
    except ImportError as e:  # the peer is optional: say why, and let the caller skip it
        print(json.dumps({"unavailable": f"torch cannot be imported by {sys.executable}: {e}"}))
        return 3

    size = os.path.getsize(args.data)
    if size == 0 or size % BYTES_PER_EXAMPLE:
        sys.exit(f"--data: expected a size that is a non-zero multiple of {BYTES_PER_EXAMPLE} bytes, found {size}")
    n = size // BYTES_PER_EXAMPLE
    if n < args.batch:
        sys.exit(f"--data: expected at least one batch of {args.batch} examples, found {n}")
    with open(args.data, "rb") as f:
        raw = bytearray(f.read())
    x = torch.frombuffer(raw, dtype=torch.float32, count=n * 784).view(n, 1, 28, 28)
    y = torch.frombuffer(raw, dtype=torch.int32, count=n, offset=n * 784 * 4).long()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = n // args.batch

    def step(i: int) -> None:
        lo = (i % batches) * args.batch
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[lo:lo + args.batch]), y[lo:lo + args.batch])
        loss.backward()
        optimizer.step()

    model.train()
    for i in range(args.warmup):
        step(i)
    # CPU ops run synchronously, so the wall clock around the loop covers all the work.
    start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        step(i)
    seconds = time.perf_counter() - start

    print(json.dumps({
        "imagesPerSecond": args.steps * args.batch / seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": args.steps,
        "batch": args.batch,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
