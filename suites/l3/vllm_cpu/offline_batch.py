"""Offline batch inference with vLLM's own LLM class, as a user's batch job would run it.

    python offline_batch.py --model DIR --input PROMPTS.jsonl --output OUT.jsonl

Reads one {"prompt": ...} per line, generates for all of them in one `LLM.generate` call
(greedy, a fixed number of tokens), and writes one {"prompt", "text", "tokens",
"finish_reason"} line per prompt, in input order, as shakedown's offline suites expect.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--max-tokens", type=int, default=16)
    a = p.parse_args()
    with open(a.input, encoding="utf-8") as f:
        prompts = [json.loads(line)["prompt"] for line in f if line.strip()]

    from vllm import LLM, SamplingParams

    llm = LLM(
        model=a.model,
        load_format="dummy",
        max_model_len=512,
        dtype="bfloat16",
        seed=0,
    )
    params = SamplingParams(temperature=0.0, max_tokens=a.max_tokens, ignore_eos=True)
    outputs = llm.generate(prompts, params)
    with open(a.output, "w", encoding="utf-8") as out:
        for prompt, o in zip(prompts, outputs):
            c = o.outputs[0]
            line = {
                "prompt": prompt,
                "text": c.text,
                "tokens": len(c.token_ids),
                "finish_reason": c.finish_reason or "",
            }
            out.write(json.dumps(line) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
