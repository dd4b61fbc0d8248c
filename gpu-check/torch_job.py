"""A real PyTorch job for the GPU check: it must see exactly one GPU, train
on it, and log through the SDK (with GPU system metrics)."""
import os

import torch
import trainyard

cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
assert cvd is not None and len(cvd.split(",")) == 1, f"CUDA_VISIBLE_DEVICES={cvd!r}"
assert torch.cuda.is_available(), "CUDA not available in the job"
assert torch.cuda.device_count() == 1, f"the job sees {torch.cuda.device_count()} GPUs"
print(f"CUDA_VISIBLE_DEVICES={cvd} device={torch.cuda.get_device_name(0)}", flush=True)

run = trainyard.init(system_metrics_interval=0.5)
torch.manual_seed(0)
x = torch.randn(4096, 256, device="cuda")
w_true = torch.randn(256, 1, device="cuda")
y = x @ w_true
model = torch.nn.Linear(256, 1).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(300):
    loss = torch.nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0:
        run.log({"loss": loss.item()}, step=step)
        print(f"step {step} loss {loss.item():.4f}", flush=True)
torch.cuda.synchronize()
import time
time.sleep(1.2)  # let the SDK take a GPU reading
run.finish()
