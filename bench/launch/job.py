"""A fixed amount of data-parallel work for the launch benchmark: every rank
all-reduces a 1 MiB tensor ITERS times (gloo, CPU) and prints when it is
done. The same work whether torchrun or trainyard launches it.

    python job.py ITERS
"""
import sys

import torch
import torch.distributed as dist


def main() -> int:
    iters = int(sys.argv[1])
    dist.init_process_group("gloo")
    t = torch.ones(256 * 1024)
    for _ in range(iters):
        dist.all_reduce(t)
        t.div_(dist.get_world_size())
    dist.barrier()
    if dist.get_rank() == 0:
        print(f"done {iters} all-reduces over {dist.get_world_size()} ranks", flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
