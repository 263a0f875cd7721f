#!/usr/bin/env python3
"""The PyTorch side of `deno task bench` (lib/bench): the same computations, the same shapes.

`tasks/bench.ts` runs this script once per case, in a fresh process, so that its peak RSS
(VmHWM) is that case's. Every mode prints one JSON object on stdout and nothing else there.

  /usr/bin/python3 bench/reference.py --probe
      versions, CPU model, cores, memory, load average (imports torch only to read its version)
  /usr/bin/python3 bench/reference.py --machine
      CPU model, cores, memory, load average, without importing torch (fast)
  /usr/bin/python3 bench/reference.py --rss PID [--reset]
      VmHWM / VmRSS of another process (Deno refuses to read /proc without --allow-all);
      --reset first writes 5 to /proc/PID/clear_refs, which resets VmHWM to the current RSS
  /usr/bin/python3 bench/reference.py --case NAME --config JSON --iters N --warmup W
      [--threads 2] [--profile] [--device cpu|cuda] [--compile]
      median of N timed iterations after W untimed ones; --profile adds the top ops of one
      iteration by self CPU time (torch.autograd.profiler)

  --device cuda runs the model cases (step-*, teacher-embed) on the GPU in strict fp32 (TF32 off for
      matrix products and cuDNN convolutions, so that both sides compute in the same precision);
      every iteration still ends with a host readback (loss.item(), .cpu().numpy()), which
      synchronises. Peak GPU memory (torch.cuda.max_memory_allocated) is reported as well.
  --compile wraps the step's forward (or the teacher's) in torch.compile (default mode) and times
      that instead of eager; its warm-up iterations include the compilation, reported apart.

  --blas PATH (with --probe or --case) loads PATH, a libblas.so.3, before torch, so that torch's
      matrix products use it instead of the system's. Debian's torch 1.13 is built against the
      generic BLAS interface and, without libopenblas0 installed, gets the reference (netlib) BLAS
      at ~2 GFLOP/s; `apt-get download libopenblas0-pthread && dpkg -x <deb> DIR` gives an
      OpenBLAS libblas.so.3 under DIR/usr/lib/x86_64-linux-gnu/openblas-pthread/ without touching
      the system. Convolutions use oneDNN either way.

What each case runs (the sizes come from --config, written by bench/cases.ts):
  step-cnn28, step-r18  one CoSS training step: student forward in train mode (batch norm with
      batch statistics), projection head Linear-ReLU-Linear, CoSS loss (lambda 1, scale
      1/(0.07*0.1)) against a fixed random teacher tensor, backward, SGD (momentum 0.9, weight
      decay 1e-4) update, then loss.item(). NCHW, PyTorch's default CPU layout.
  teacher-embed  torchvision ResNet-50 with the CIFAR stem (3x3/1 conv, no max-pool), eval mode,
      under torch.no_grad(); pooled features of one batch, read back with .numpy().
  augment  MoCo-v2 "aug_plus" with torchvision 0.14 transforms v1 on PIL images, the way a
      single-process DataLoader (num_workers=0) over a CIFAR-style uint8 array runs it: per image
      Image.fromarray -> RandomResizedCrop(scale 0.2-1) -> RandomApply(ColorJitter(.4,.4,.4,.1),
      .8) -> RandomGrayscale(.2) -> RandomApply(GaussianBlur(3, sigma .1-2), .5) ->
      RandomHorizontalFlip -> ToTensor -> Normalize, then torch.stack (default_collate).
      "alt" times the same transforms on per-image float tensors (ToTensor first).
  knn  weighted kNN: F.normalize both sets, then per chunk of test rows one mm against all
      training rows, topk(k), weights exp(sim/T), scatter_add_ votes per class, argmax; top-1.
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import time


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(rf"^{key}:\s+(\d+)\s+kB", f.read(), re.M)
    return int(m.group(1)) * 1024 if m else None


def machine():
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg": list(os.getloadavg())}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        info["cpuModel"] = m.group(1).strip() if m else None
    except OSError:
        info["cpuModel"] = None
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s+(\d+)\s+kB", f.read(), re.M)
        info["memTotalBytes"] = int(m.group(1)) * 1024 if m else None
    except OSError:
        info["memTotalBytes"] = None
    return info


def loaded_blas():
    """The BLAS libraries mapped into this process (after import torch)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
    return sorted(paths)


def preload_blas(path, threads):
    import ctypes
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    if hasattr(lib, "openblas_set_num_threads"):
        lib.openblas_set_num_threads(threads)


def probe():
    info = machine()
    try:
        import torch
        info["torch"] = torch.__version__
        info["threadsDefault"] = torch.get_num_threads()
        info["blas"] = loaded_blas()
        info["cuda"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except Exception as e:  # noqa: BLE001 - any import failure means "no torch"
        info["torch"] = None
        info["torchError"] = f"{type(e).__name__}: {e}"
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except Exception as e:  # noqa: BLE001
        info["torchvision"] = None
        info["torchvisionError"] = f"{type(e).__name__}: {e}"
    return info


# --- models -----------------------------------------------------------------------------------
def build_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision.models import resnet as tvr

    class Block(nn.Module):
        """bench/_cnn28.ts's block: two 3x3 conv-BN (ReLU between) plus a 1x1 conv-BN shortcut."""

        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class Cnn28(nn.Module):
        def __init__(self, in_channels=1):
            super().__init__()
            self.layer1, self.layer2, self.layer3 = Block(in_channels, 32), Block(32, 64), Block(64, 128)
            self.feature_dim = 128

        def forward(self, x):
            x = F.max_pool2d(self.layer1(x), 2)
            x = F.max_pool2d(self.layer2(x), 2)
            return self.layer3(x).mean(dim=(2, 3))

    def cifar_resnet(depth, width, in_channels):
        """torchvision's ResNet with the CIFAR stem and a width multiplier (as lib/models/resnet.ts)."""
        block, layers = {18: (tvr.BasicBlock, [2, 2, 2, 2]), 50: (tvr.Bottleneck, [3, 4, 6, 3])}[depth]
        net = tvr.ResNet(block, layers)
        c = lambda n: max(1, int(round(n * width)))  # noqa: E731
        if width != 1:
            net.inplanes = c(64)
            net.layer1 = net._make_layer(block, c(64), layers[0])
            net.layer2 = net._make_layer(block, c(128), layers[1], stride=2)
            net.layer3 = net._make_layer(block, c(256), layers[2], stride=2)
            net.layer4 = net._make_layer(block, c(512), layers[3], stride=2)
            net.bn1 = nn.BatchNorm2d(c(64))
        net.conv1 = nn.Conv2d(in_channels, c(64), 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        net.feature_dim = c(512) * block.expansion
        return net

    return Cnn28, cifar_resnet


def coss_loss(teacher, student, lam=1.0, scale=1 / (0.07 * 0.1)):
    import torch.nn.functional as F
    co = -(F.normalize(student, dim=1) * F.normalize(teacher, dim=1)).sum(dim=1).mean()
    ss = -(F.normalize(student, dim=0) * F.normalize(teacher, dim=0)).sum(dim=0).mean()
    return scale * (co + lam * ss)


# --- cases: each returns (step, info) ----------------------------------------------------------
def case_step(cfg, device="cpu", compile=False):
    import torch
    import torch.nn as nn
    Cnn28, cifar_resnet = build_models()
    if cfg["model"] == "cnn28":
        model = Cnn28(cfg["channels"])
    else:
        model = cifar_resnet(18, cfg.get("width", 1), cfg["channels"])
    head = nn.Sequential(nn.Linear(model.feature_dim, cfg["hidden"]), nn.ReLU(),
                         nn.Linear(cfg["hidden"], cfg["teacherDim"]))
    model.train().to(device)
    head.train().to(device)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weightDecay"])
    x = torch.randn(cfg["batch"], cfg["channels"], cfg["size"], cfg["size"]).to(device)
    teacher = torch.randn(cfg["batch"], cfg["teacherDim"]).to(device)

    def forward(inputs, targets):
        return coss_loss(targets, head(model(inputs)))

    loss_fn = torch.compile(forward) if compile else forward

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x, teacher)
        loss.backward()
        opt.step()
        return loss.item()

    n = sum(p.numel() for p in params)
    mode = "torch.compile" if compile else "eager"
    return step, {"images": cfg["batch"], "params": n,
                  "detail": f"{cfg['model']} + head, batch {cfg['batch']}, NCHW, SGD, {device}, {mode}"}


def case_teacher(cfg, device="cpu", compile=False):
    import torch
    _, cifar_resnet = build_models()
    model = cifar_resnet(cfg["depth"], cfg.get("width", 1), cfg["channels"]).eval().to(device)
    x = torch.randn(cfg["batch"], cfg["channels"], cfg["size"], cfg["size"]).to(device)
    forward = torch.compile(model) if compile else model

    def step():
        with torch.no_grad():
            return forward(x).cpu().numpy()

    n = sum(p.numel() for p in model.parameters())
    mode = "torch.compile" if compile else "eager"
    return step, {"images": cfg["batch"], "params": n,
                  "detail": f"resnet{cfg['depth']} cifar stem, eval, no_grad, batch {cfg['batch']}, "
                            f"{device}, {mode}"}


def mocov2(size, tensor_input):
    import torchvision.transforms as T
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    steps = [
        T.RandomResizedCrop(size, scale=(0.2, 1.0)),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5),
        T.RandomHorizontalFlip(),
    ]
    if tensor_input:
        return T.Compose([T.ToTensor(), *steps, T.Normalize(mean, std)])
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


def case_augment(cfg):
    import numpy as np
    import torch
    from PIL import Image
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (cfg["batch"], cfg["size"], cfg["size"], cfg["channels"]), dtype=np.uint8)
    pil_aug, tensor_aug = mocov2(cfg["size"], False), mocov2(cfg["size"], True)

    def step():
        return torch.stack([pil_aug(Image.fromarray(img)) for img in images])

    def alt():
        return torch.stack([tensor_aug(Image.fromarray(img)) for img in images])

    return step, {"images": cfg["batch"], "alt": ("per-image float tensors", alt),
                  "detail": f"torchvision v1 on PIL, per image, batch {cfg['batch']}, num_workers=0"}


def case_knn(cfg):
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(0)
    train = torch.randn(cfg["nTrain"], cfg["dim"], generator=g)
    test = torch.randn(cfg["nTest"], cfg["dim"], generator=g)
    train_labels = torch.randint(0, cfg["classes"], (cfg["nTrain"],), generator=g)
    test_labels = torch.randint(0, cfg["classes"], (cfg["nTest"],), generator=g)
    k, t, chunk, classes = cfg["k"], cfg["t"], cfg["chunk"], cfg["classes"]

    def step():
        bank = F.normalize(train, dim=1).t().contiguous()
        queries = F.normalize(test, dim=1)
        hits = 0
        for s in range(0, queries.shape[0], chunk):
            sims = queries[s:s + chunk] @ bank
            top, idx = sims.topk(k, dim=1)
            votes = torch.zeros(top.shape[0], classes).scatter_add_(1, train_labels[idx], (top / t).exp())
            hits += int((votes.argmax(dim=1) == test_labels[s:s + chunk]).sum())
        return hits / queries.shape[0]

    return step, {"images": cfg["nTest"],
                  "detail": f"{cfg['nTest']}x{cfg['nTrain']} d={cfg['dim']} k={k} chunk {chunk} x all"}


CASES = {"step-cnn28": case_step, "step-r18": case_step, "teacher-embed": case_teacher,
         "augment": case_augment, "knn": case_knn}
# The cases that run on a GPU with --device cuda (and can be compiled); the others stay on the CPU.
DEVICE_CASES = {"step-cnn28", "step-r18", "teacher-embed"}


def timed(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def profile_once(step, device="cpu", top=10):
    """The top ops of one iteration: by self CPU time, or on CUDA by self GPU (kernel) time."""
    import torch
    if device == "cuda":
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()

        def own(e):
            return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
    else:
        with torch.autograd.profiler.profile() as prof:
            step()

        def own(e):
            return e.self_cpu_time_total
    rows = sorted(prof.key_averages(), key=own, reverse=True)
    total = sum(own(e) for e in rows) / 1000
    return total, [{"name": e.key, "ms": own(e) / 1000, "count": e.count} for e in rows[:top]]


def run_case(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = json.loads(args.config)
    start_rss = status_kib("self", "VmRSS")
    load = list(os.getloadavg())
    if (args.device != "cpu" or args.compile) and args.case not in DEVICE_CASES:
        raise SystemExit(f"--device/--compile apply to {', '.join(sorted(DEVICE_CASES))} only, "
                         f"not {args.case}")
    if args.compile and not hasattr(torch, "compile"):
        raise SystemExit(f"--compile: torch.compile needs torch >= 2.0, this is {torch.__version__}")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch.cuda.is_available() is False")
        # Strict fp32, as WebGPU computes: no TF32 in matrix products or cuDNN convolutions.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.reset_peak_memory_stats()
    if args.device == "cpu" and not args.compile:
        step, info = CASES[args.case](cfg)
    else:
        step, info = CASES[args.case](cfg, args.device, args.compile)
    t0 = time.perf_counter()
    samples = timed(step, args.iters, args.warmup)
    warm_ms = (time.perf_counter() - t0) * 1000 - sum(samples)
    out = {
        "case": args.case,
        "iters": args.iters,
        "warmup": args.warmup,
        "samplesMs": samples,
        "medianMs": statistics.median(samples),
        "minMs": min(samples),
        "maxMs": max(samples),
        "images": info["images"],
        "params": info.get("params"),
        "detail": info["detail"],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "startRssBytes": start_rss,
        "loadavg": load,
        "blas": loaded_blas(),
        "device": args.device,
        "compiled": args.compile,
        "warmupMs": warm_ms,
    }
    if args.device == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
        out["cuda"] = torch.version.cuda
        out["gpuPeakBytes"] = torch.cuda.max_memory_allocated()
    if "alt" in info:
        label, alt = info["alt"]
        alt_samples = timed(alt, args.iters, min(args.warmup, 1))
        out["alt"] = {"label": label, "medianMs": statistics.median(alt_samples), "samplesMs": alt_samples}
    if args.profile:
        out["profileTotalMs"], out["profile"] = profile_once(step, args.device)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and execve, so a child of a large
    # process (the Deno bench) would report its parent's RSS at the fork.
    out["peakRssBytes"] = status_kib("self", "VmHWM")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--probe", action="store_true")
    p.add_argument("--machine", action="store_true")
    p.add_argument("--rss", type=int, metavar="PID")
    p.add_argument("--reset", action="store_true")
    p.add_argument("--case", choices=sorted(CASES))
    p.add_argument("--config", default="{}")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--blas", metavar="PATH")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    if args.blas:
        preload_blas(args.blas, args.threads)
    if args.probe:
        out = probe()
    elif args.machine:
        out = machine()
    elif args.rss is not None:
        if args.reset:
            with open(f"/proc/{args.rss}/clear_refs", "w") as f:
                f.write("5")
        out = {"peakBytes": status_kib(args.rss, "VmHWM"), "rssBytes": status_kib(args.rss, "VmRSS")}
    elif args.case:
        out = run_case(args)
    else:
        p.error("give --probe, --machine, --rss PID or --case NAME")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
