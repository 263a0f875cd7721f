"""Write a torchvision ResNet-18 as a safetensors state dict that @coss/distill loads by name.

    python3 docs/examples/torch_teacher.py OUT.safetensors [CHECKPOINT.pth]

With CHECKPOINT.pth (a state dict saved by torch.save), its weights are used; without it, the
network keeps torchvision's random initialisation, which shows the mechanics but teaches the
student nothing. conv1 takes one channel, for grey images such as Fashion-MNIST's.

The file is written by hand with the safetensors layout (8-byte header length, JSON header,
raw little-endian data), so only torch is needed. With the safetensors package installed,
`safetensors.torch.save_file(model.state_dict(), out)` writes the same thing.
"""
import json
import os
import struct
import sys

import torch
import torchvision

DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet18()
model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
if len(sys.argv) > 2:
    model.load_state_dict(torch.load(sys.argv[2], map_location="cpu"))
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
save_safetensors(model.state_dict(), out)
print(f"wrote {out}: resnet18, 1 input channel, 512-d features")
