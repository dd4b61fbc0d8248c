"""A real torch.distributed job: every rank all-reduces a tensor and checks
the sum. Run by trainyard with --launch torchrun (any number of nodes and
ranks): it reads the environment torchrun would give it (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT) through init_process_group's env://.

    python allreduce.py [gloo|nccl]

gloo (the default) runs on CPUs; nccl on one GPU per rank (LOCAL_RANK).
Each rank prints one line, "allreduce rank=R world=W ... sum=S want=S ok",
and exits 1 when its sum is wrong.
"""
import os
import sys
import time

import torch
import torch.distributed as dist


def main() -> int:
    backend = sys.argv[1] if len(sys.argv) > 1 else "gloo"
    t0 = time.monotonic()
    dist.init_process_group(backend)  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ["LOCAL_RANK"])
    assert rank == int(os.environ["RANK"]), (rank, os.environ["RANK"])
    assert world == int(os.environ["WORLD_SIZE"]), (world, os.environ["WORLD_SIZE"])
    device = torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    # Rank r contributes r+1 in every element: the sum is W(W+1)/2.
    t = torch.full((1024,), float(rank + 1), device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    want = world * (world + 1) / 2
    ok = bool(torch.all(t == want).item())
    # And every rank hears from every other: gather the ranks.
    ranks = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world)]
    dist.all_gather(ranks, torch.tensor([rank], dtype=torch.int64, device=device))
    ok = ok and [int(r.item()) for r in ranks] == list(range(world))
    dev = torch.cuda.get_device_name(device) if backend == "nccl" else "cpu"
    print(f"allreduce rank={rank} world={world} local_rank={local} node_rank={os.environ.get('NODE_RANK', '0')} "
          f"backend={backend} device={dev} sum={t[0].item():g} want={want:g} "
          f"seconds={time.monotonic() - t0:.2f} {'ok' if ok else 'WRONG'}", flush=True)
    dist.barrier()
    dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
