"""One intra-op thread: these tests share a small machine, where OpenMP threads that spin
waiting for each other under load run several times slower than one thread alone."""

import torch

torch.set_num_threads(1)
