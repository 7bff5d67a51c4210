"""The search loop under torch.distributed (gloo, 2 CPU ranks): ranks stay in lockstep."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp


def _rank(rank: int, world: int, port: int, ckpt: str, q) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    from search.cost import MacsCost
    from search.loop import SearchConfig, run_search
    from search.loss import SearchLoss
    from tests.support.search_tiny import make_tiny_data, make_tiny_space

    cfg = SearchConfig(epochs=2, batch_size=16, warmup_epochs=0, loss=SearchLoss("target", target=0.05))
    r = run_search(make_tiny_space(), make_tiny_data(), MacsCost(), cfg, checkpoint=ckpt)
    with torch.no_grad():
        q.put((rank, r.choices, {n: r.supernet.alphas[n].tolist() for n in r.supernet.alphas.names}))
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_agree_and_rank0_checkpoints(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ckpt = str(tmp_path / "ddp.pt")
    procs = [ctx.Process(target=_rank, args=(r, 2, port, ckpt, q)) for r in range(2)]
    for p in procs:
        p.start()
    out = sorted(q.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert out[0][1] == out[1][1]
    assert out[0][2] == out[1][2]
    assert torch.load(ckpt, weights_only=False)["epoch"] == 2
