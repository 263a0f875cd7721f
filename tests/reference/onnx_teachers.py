"""ONNX teachers exported by PyTorch, with PyTorch's features as the reference.

    /usr/bin/python3 tests/reference/onnx_teachers.py OUT_DIR [--size 224]

Writes, with random weights (seeded) and Debian's torch 1.13 / torchvision 0.14:

  OUT_DIR/resnet50/model.onnx  torchvision resnet50 (full width, fc = Identity): images
                               "input" [batch, 3, 224, 224] -> "features" [batch, 2048]
  OUT_DIR/resnet50/card.json   its card (inputSize, ImageNet mean and std), read by the toolkit
  OUT_DIR/vit/model.onnx       torchvision VisionTransformer (ViT-style, CLS token, 32x32, patch 8):
                               encoder tokens "last_hidden_state" [batch, 17, 64] and "pooled"
  OUT_DIR/dynamic/model.onnx   a torchvision ResNet-18 whose height and width are dynamic axes
  OUT_DIR/ids/model.onnx       a model whose only input is not an image (int64 ids)
  OUT_DIR/reference.safetensors
                             "pixels" [4, 224, 224, 3] in [0, 1] (NHWC, what the toolkit feeds),
                             "resnet50" [4, 2048], "vit_cls" [4, 64], "vit_mean" [4, 64]: PyTorch's
                             features of those pixels after torchvision's Normalize (ImageNet mean
                             and std) and, for the ViT, a bilinear resize to 32x32

tests/models/onnx_teacher_test.ts runs it and checks the toolkit's ONNX teacher against it.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet50, resnet18
from torchvision.models.vision_transformer import VisionTransformer

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


class VitTokens(nn.Module):
    """torchvision's ViT up to the encoder: all tokens, and the CLS token as a second output."""

    def __init__(self):
        super().__init__()
        self.vit = VisionTransformer(
            image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128
        )

    def forward(self, x):
        v = self.vit
        x = v._process_input(x)
        cls = v.class_token.expand(x.shape[0], -1, -1)
        tokens = v.encoder(torch.cat([cls, x], dim=1))
        return tokens, tokens[:, 0]


def path(out, folder, name):
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    return os.path.join(out, folder, name)


def normalize(pixels_nhwc):
    x = pixels_nhwc.permute(0, 3, 1, 2)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    pixels = torch.rand(4, 224, 224, 3)

    net = resnet50()
    net.fc = nn.Identity()
    # Move the batch-norm statistics off (0, 1) so that the export's batch norm matters.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    net.eval()
    x = normalize(pixels)
    with torch.no_grad():
        ref_resnet = net(x)
        torch.onnx.export(
            net, x[:1], path(out, "resnet50", "model.onnx"), opset_version=17,
            input_names=["input"], output_names=["features"],
            dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}},
        )
    with open(path(out, "resnet50", "card.json"), "w") as f:
        json.dump({"inputSize": [224, 224], "mean": MEAN, "std": STD, "layout": "NCHW"}, f)

    vit = VitTokens().eval()
    small = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    with torch.no_grad():
        tokens, _ = vit(small)
    # With gradients enabled, nn.MultiheadAttention skips its fused inference kernel
    # (aten::_native_multi_head_attention), which torch 1.13 cannot export to ONNX.
    with torch.enable_grad():
        torch.onnx.export(
            vit, small[:1], path(out, "vit", "model.onnx"), opset_version=17,
            input_names=["pixel_values"], output_names=["last_hidden_state", "pooled"],
            dynamic_axes={"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"},
                          "pooled": {0: "batch"}},
        )

    dyn = resnet18(num_classes=8).eval()
    with torch.no_grad():
        torch.onnx.export(
            dyn, torch.zeros(1, 3, 64, 64), path(out, "dynamic", "model.onnx"), opset_version=17,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}},
        )

    emb = nn.EmbeddingBag(10, 4, mode="mean").eval()
    with torch.no_grad():
        torch.onnx.export(
            emb, torch.zeros(2, 3, dtype=torch.long), path(out, "ids", "model.onnx"),
            opset_version=17, input_names=["ids"], output_names=["vectors"],
        )

    save_safetensors(os.path.join(out, "reference.safetensors"), {
        "pixels": pixels,
        "resnet50": ref_resnet,
        "vit_cls": tokens[:, 0],
        "vit_mean": tokens[:, 1:].mean(dim=1),
    })
    print(json.dumps({"out": out, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
