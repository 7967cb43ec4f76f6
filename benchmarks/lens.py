"""Benchmark the cost of the logit lens view per prompt, measured in this one run and printed as ratios.

    .venv/bin/python benchmarks/lens.py [--model NAME ...] [--tokens 20 200] [--repeats 5] [--precision auto]

For each prompt length: a plain forward pass of the prompt (the next token's logits, as the Sampling visualizer
computes them: ``next_token_logits``), the page's lens (one forward pass with hidden states, read-outs of the last 16 positions of every
layer: what "Inside the model" computes for a new prompt), and the full lens (every position of every layer).
The three run in turn within each repeat; the ratios are medians of the per-repeat ratios to the plain pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = ("I deposited my pay at the bank, then walked along the river bank to watch the boats. The teller had asked "
        "whether I wanted a savings account, and the river was high after the rain. ") * 40


def interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each function, run in turn within every repeat: on a shared machine the load then weighs
    on all of them alike, and the per-repeat ratios are steadier than ratios of separate medians."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def bench(loaded, n_tokens: int, repeats: int) -> None:
    from core.sampling import next_token_logits
    from core.sampling.lens import logit_lens
    from core.ui.lens import MAX_POSITIONS  # the page's view; core.ui.lens imports streamlit but runs nothing

    ids = loaded.tokenizer(TEXT)["input_ids"][:n_tokens]
    times = interleaved({"plain": lambda: next_token_logits(loaded, ids),
                         "page": lambda: logit_lens(loaded, ids, last=MAX_POSITIONS),
                         "full": lambda: logit_lens(loaded, ids)}, repeats)
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = {name: statistics.median(t / p for t, p in zip(times[name], times["plain"])) for name in ("page", "full")}
    print(f"  {len(ids):4d} tokens | plain forward {med['plain']:6.3f} s | page lens (last {MAX_POSITIONS} positions) "
          f"{med['page']:6.3f} s, x{ratio['page']:4.1f} | full lens ({len(ids)} positions) {med['full']:6.3f} s, "
          f"x{ratio['full']:4.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["smollm2-135m-instruct"])
    parser.add_argument("--tokens", nargs="+", type=int, default=[20, 200])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    import torch

    from core.models import load_model

    print(f"torch threads: {torch.get_num_threads()}")
    for name in args.model:
        loaded = load_model(name, precision=args.precision)
        print(f"{name} ({loaded.info.dtype}, {loaded.info.device}, {loaded.model.config.num_hidden_layers} layers, "
              f"vocabulary {loaded.info.vocab_size:,}), median of {args.repeats}, ratios to the plain pass:")
        for n in args.tokens:
            bench(loaded, n, args.repeats)


if __name__ == "__main__":
    main()
