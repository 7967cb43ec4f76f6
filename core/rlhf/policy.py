"""The policy being aligned, its frozen reference and its value function, with one copy of the weights.

As the course puts RLHF with PEFT: the policy is a LoRA adapter on a private copy of its base model; the reference
is the same weights with the adapter switched off (or, when the policy starts from a LoRA fine-tune, that fine-tune's
adapter kept frozen beside a trainable copy of it). So the reference costs no memory, and its log-probabilities are
exactly the base's.

The value function is a linear head (hidden size + 1 numbers) on the policy's last hidden state, detached: a probe
that reads the policy's features without pulling on them. Its loss cannot disturb the policy, and it adds no model
copy. (TRL's old PPO used a whole second model for values; on a laptop that doubles the memory.)

Holds: ``load_policy``, ``reference_mode``, ``encode_prompts`` (chat template, left padding), ``sample`` (batched
plain sampling), ``forward`` (per-token log-probs, entropies and values of responses), ``save_policy``.
Does not hold: the PPO algorithm (``core.rlhf.ppo``) or rewards (``core.rlhf.rewards``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

REFERENCE = "reference"  # the frozen adapter's name when the policy starts from a LoRA fine-tune


@dataclass
class Policy:
    model: Any  # a PeftModel; its "default" adapter is the one being trained
    tokenizer: Any
    value_head: Any  # torch.nn.Linear(hidden, 1)
    base_model: str  # what the saved adapter sits on (a bundled name, a full run, a folder)
    frozen_reference: bool  # True: the reference is a frozen adapter, not "adapter off"

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def trainable_parameters(self) -> list[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]


def load_policy(name: str, lora_r: int = 8, seed: int = 0) -> Policy:
    """A private float32 copy of the model ``name`` with a trainable LoRA adapter (``load_model`` returns a fresh
    model for bundled names, folders and full runs; it is never the app's shared one)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    from core import models
    from core.jobs import read_config

    spec = models.resolve(name)
    run_config = read_config(Path(spec.location)) if spec.source == "run" else {}
    torch.manual_seed(seed)
    if run_config.get("method") == "lora" or run_config.get("task") == "align":
        # A LoRA fine-tune (or an aligned run): its adapter is the reference, a trainable copy of it is the policy.
        adapter_dir = Path(spec.location) / "model"
        base_name = _adapter_base(run_config, adapter_dir)
        base = models.load_model(base_name, precision="float32")
        model = PeftModel.from_pretrained(base.model, str(adapter_dir), adapter_name=REFERENCE)
        model.load_adapter(str(adapter_dir), adapter_name="default", is_trainable=True)
        model.set_adapter("default")
        tokenizer, frozen = base.tokenizer, True
    elif run_config and run_config.get("method") != "full":
        raise ValueError(f"{name} is a {run_config.get('method') or run_config.get('task')} run; align a bundled model, "
                         "a full fine-tune or a LoRA fine-tune.")
    else:
        loaded = models.load_model(name, precision="float32")
        lora = LoraConfig(task_type="CAUSAL_LM", r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        model, tokenizer, base_name, frozen = get_peft_model(loaded.model, lora), loaded.tokenizer, name, False
    model.eval()  # no dropout: the log-probs of the rollout and of the first optimisation pass must agree exactly
    value_head = torch.nn.Linear(model.config.hidden_size, 1)
    torch.nn.init.normal_(value_head.weight, std=1e-3)
    torch.nn.init.zeros_(value_head.bias)
    return Policy(model, tokenizer, value_head.to(next(model.parameters()).device), base_name, frozen)


def _adapter_base(run_config: dict[str, Any], adapter_dir: Path) -> str:
    import json

    meta = adapter_dir / "lab.json"  # aligned runs say what their adapter sits on
    return json.loads(meta.read_text())["base_model"] if meta.is_file() else run_config["base_model"]


@contextmanager
def reference_mode(policy: Policy) -> Iterator[None]:
    """Run the frozen reference inside this block: the adapter switched off, or the frozen adapter switched on."""
    if policy.frozen_reference:
        policy.model.set_adapter(REFERENCE)
        try:
            yield
        finally:
            policy.model.set_adapter("default")  # also makes "default" trainable again, as set_adapter does
    else:
        with policy.model.disable_adapter():
            yield


def prompt_text(tokenizer: Any, prompt: str) -> str:
    """What the policy reads: the chat template's user turn for chat models, the prompt and a newline for base ones."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    return prompt.rstrip() + "\n"


def encode_prompts(policy: Policy, prompts: Sequence[str], max_prompt_tokens: int) -> tuple[Any, Any]:
    """Left-padded prompt ids and attention mask (left, so every response starts at the same column)."""
    tokenizer = policy.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    texts = [prompt_text(tokenizer, p) for p in prompts]
    lengths = [len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts]
    if max(lengths) > max_prompt_tokens:
        long = prompts[lengths.index(max(lengths))]
        raise ValueError(f"A prompt is {max(lengths)} tokens, more than max_prompt_tokens={max_prompt_tokens}: {long[:60]!r}")
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(policy.device)
    return batch.input_ids, batch.attention_mask


def sample(policy: Policy, query: Any, query_mask: Any, max_new_tokens: int, should_stop: Callable[[], bool]) -> Any | None:
    """Plain sampling (temperature 1, no top-k, no top-p), batched: the distribution sampled is exactly the policy's,
    so log π − log π_ref averaged over samples estimates the true KL. Tokens after a response's first EOS are
    padding. None when ``should_stop`` became true during generation (a cancel)."""
    import torch
    from transformers import GenerationConfig, StoppingCriteria

    class Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), should_stop(), dtype=torch.bool, device=input_ids.device)

    tokenizer = policy.tokenizer
    config = GenerationConfig(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                              min_new_tokens=1, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.no_grad():
        out = policy.model.generate(input_ids=query, attention_mask=query_mask, generation_config=config,
                                    stopping_criteria=[Stop()])
    if should_stop():
        return None
    response = out[:, query.shape[1]:]
    if response.shape[1] < max_new_tokens:  # every response ended early: pad to the agreed width
        response = torch.nn.functional.pad(response, (0, max_new_tokens - response.shape[1]), value=tokenizer.pad_token_id)
    mask = response_mask(response, tokenizer.eos_token_id)
    return torch.where(mask.bool(), response, torch.full_like(response, tokenizer.pad_token_id))


def response_mask(response: Any, eos_token_id: int) -> Any:
    """1 for a response's tokens up to and including its first EOS, 0 after it."""
    import torch

    is_eos = (response == eos_token_id).int()
    after_eos = (torch.cumsum(is_eos, dim=1) - is_eos) > 0
    return (~after_eos).long()


def forward(policy: Policy, query: Any, query_mask: Any, response: Any, resp_mask: Any,
            values: bool = True) -> tuple[Any, Any, Any]:
    """Log-probability and entropy of each response token under the current model (policy, or reference inside
    ``reference_mode``), and the value head's estimate before each token. Positions follow the attention mask, as in
    generation, so left padding changes nothing."""
    import torch

    ids = torch.cat([query, response], dim=1)
    mask = torch.cat([query_mask, resp_mask], dim=1)
    positions = (torch.cumsum(mask, dim=1) - 1).clamp(min=0)
    width = response.shape[1]
    out = policy.model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=values,
                       logits_to_keep=width + 1)
    logits = out.logits[:, :-1].float()  # the logits at position t predict token t+1: the last width tokens
    logprobs_all = torch.log_softmax(logits, dim=-1)
    logprobs = torch.gather(logprobs_all, 2, response.unsqueeze(-1)).squeeze(-1)
    entropy = -(logprobs_all.exp() * logprobs_all).sum(-1)
    value = None
    if values:
        hidden = out.hidden_states[-1][:, -width - 1:-1].detach().float()
        value = policy.value_head(hidden).squeeze(-1)
    return logprobs, entropy, value


def save_policy(policy: Policy, folder: Path) -> None:
    """The trained adapter in PEFT format (``PeftModel.from_pretrained(base, folder)``), the tokenizer, the value head
    (safetensors) and ``lab.json`` saying which base the adapter sits on."""
    import json

    from safetensors.torch import save_file

    policy.model.save_pretrained(str(folder), selected_adapters=["default"])
    policy.tokenizer.save_pretrained(str(folder))
    save_file({k: v.detach().cpu().contiguous() for k, v in policy.value_head.state_dict().items()}, str(folder / "value_head.safetensors"))
    (folder / "lab.json").write_text(json.dumps({"method": "lora", "base_model": policy.base_model}))
