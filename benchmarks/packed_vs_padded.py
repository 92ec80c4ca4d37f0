"""Why textclf does not pack sequences: one training step of the study's BiGRU on CPU.

    python benchmarks/packed_vs_padded.py [--batch 64] [--length 400] [--repeats 3]

Times forward + backward of a bidirectional GRU (200 → 192) on a random batch whose lengths
lie between 75 % and 100 % of --length: (a) PyTorch's pack_padded_sequence, (b) textclf's
PaddedRNN (padded batch, backward direction reversed within each row's length). Both give the
same outputs at real positions; the script checks that too. Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lib.timing import best_of
from textclf.models.rnn import PaddedRNN


def timed(step, repeats: int) -> float:
    step()  # warm-up
    return best_of(step, repeats)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    ours = PaddedRNN("gru", 200, 192, bidirectional=True)
    packed_gru = nn.GRU(200, 192, bidirectional=True, batch_first=True)
    # Same weights in both: PyTorch's reverse direction is our second GRU.
    fwd, bwd = ours.layers[0]
    with torch.no_grad():
        for name, value in fwd.named_parameters():
            getattr(packed_gru, name).copy_(value)
        for name, value in bwd.named_parameters():
            getattr(packed_gru, name + "_reverse").copy_(value)
    x = torch.randn(args.batch, args.length, 200, requires_grad=True)
    lengths = torch.randint(int(0.75 * args.length), args.length + 1, (args.batch,))
    lengths[0] = args.length

    def packed_step():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = packed_gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=args.length)
        out.sum().backward()
        return out

    def padded_step():
        out, _ = ours(x, lengths)
        out.sum().backward()
        return out

    mask = (torch.arange(args.length)[None, :] < lengths[:, None]).unsqueeze(-1)
    torch.testing.assert_close(packed_step() * mask, padded_step() * mask, rtol=1e-4, atol=1e-5)
    t_packed = timed(packed_step, args.repeats)
    t_padded = timed(padded_step, args.repeats)
    print(f"BiGRU 200→192, batch {args.batch} × up to {args.length} tokens, forward + backward, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}\n")
    print("| path | seconds per step | relative |")
    print("|---|---|---|")
    print(f"| pack_padded_sequence (PyTorch) | {t_packed:.3f} | {t_packed / t_padded:.1f}× |")
    print(f"| PaddedRNN (textclf) | {t_padded:.3f} | 1.0× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
