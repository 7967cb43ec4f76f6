"""RLOO with TRL's RLOOTrainer: a library-backed cross-check of this project's PPO, on the same rewards and budget.

REINFORCE Leave-One-Out samples k answers per prompt and uses the mean reward of the other k − 1 as each answer's
baseline: no value function, no GAE. TRL puts the KL penalty (β) into the reward as our PPO does. The policy is a
LoRA adapter on a bundled model, a full fine-tune or a folder; the reward is any name of ``core.rlhf.rewards``.
The learning rate is constant, as in our PPO, so the two compare on the algorithm. Logged as TRL names them:
``reward``, ``kl`` (per token), ``entropy``, ``completions/mean_length``.

Does not hold: PPO (``core.rlhf.ppo``), the rewards (``core.rlhf.rewards``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core import checkpoints
from core.config import DictConfig, check_range
from core.rlhf.dpo import lora_config, plain_model, save_adapter

if TYPE_CHECKING:
    from core.jobs import RunContext

JOB = "core.rlhf.rloo:rloo_job"


@dataclass(frozen=True)
class RLOOConfig(DictConfig):
    KIND = "RLOO"

    task: str = field(default="align", metadata={"help": "Marks an alignment config."})
    method: str = field(default="rloo", metadata={"help": "rloo (TRL's RLOOTrainer)."})
    policy: str = field(default="smollm2-135m-instruct", metadata={"help": "The model to align: bundled, a full "
                                                                           "fine-tune (run:<id>) or a folder."})
    reward: str = field(default="sentiment", metadata={"help": "Any reward PPO takes: sentiment, run:<id>, rule:..."})
    prompts: str = field(default="reviews", metadata={"help": "reviews, rlhf, provocative, or a path to a JSONL/text file."})
    max_steps: int = field(default=30, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=8, metadata={"help": "Answers per step (prompts × num_generations)."})
    num_generations: int = field(default=2, metadata={"help": "k: answers per prompt; each one's baseline is the others' mean."})
    max_new_tokens: int = field(default=32, metadata={"help": "Longest answer sampled."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Adam step size for the LoRA adapter."})
    beta: float = field(default=0.1, metadata={"help": "β, the weight of the KL penalty in the reward."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    seed: int = field(default=0, metadata={"help": "Fixes the adapter's start and the data order."})

    def __post_init__(self) -> None:
        if self.task != "align" or self.method != "rloo":
            raise ValueError(f"an RLOO config needs task 'align' and method 'rloo', got {self.task!r} and {self.method!r}")
        for name, value, low, high in (("max_steps", self.max_steps, 1, 100_000), ("batch_size", self.batch_size, 2, 256),
                                       ("num_generations", self.num_generations, 2, 64),
                                       ("max_new_tokens", self.max_new_tokens, 1, 1024), ("lora_r", self.lora_r, 1, 256)):
            check_range(name, value, low, high, integer=True)
        if self.batch_size % self.num_generations:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of num_generations ({self.num_generations})")
        check_range("beta", self.beta, 0, 100)
        check_range("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)


def reward_function(name: str) -> Any:
    """Our reward as TRL wants it: ``f(prompts, completions, **kwargs) -> list[float]`` on plain or chat messages."""
    from core.rlhf.rewards import load_reward

    reward = load_reward(name)
    text = lambda item: item[-1]["content"] if isinstance(item, list) else item  # noqa: E731

    def score(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        return reward.score([text(p) for p in prompts], [text(c) for c in completions])

    score.__name__ = name.replace(":", "_")  # TRL logs rewards/<name>/mean
    return score


def rloo_job(ctx: "RunContext") -> dict[str, Any]:
    """The child-process entry point (core.jobs target ``JOB``)."""
    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import RLOOConfig as TRLRLOOConfig
    from trl import RLOOTrainer

    from core.finetune.train import run_callback
    from core.rlhf.prompts import load_prompts

    config = RLOOConfig.from_dict(ctx.config)
    set_seed(config.seed)
    train, _ = load_prompts(config.prompts)
    loaded = plain_model(config.policy, "rloo")
    chat = bool(loaded.tokenizer.chat_template)
    rows = [{"prompt": [{"role": "user", "content": p}] if chat else p.rstrip() + "\n"} for p in train]
    args = TRLRLOOConfig(
        output_dir=str(ctx.dir / "checkpoints"), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        num_generations=config.num_generations, max_completion_length=config.max_new_tokens, learning_rate=config.learning_rate,
        beta=config.beta, temperature=1.0, top_k=0, top_p=1.0, lr_scheduler_type="constant", logging_steps=1, save_strategy="steps", save_steps=10,
        save_total_limit=2, seed=config.seed, report_to=[], use_cpu=not torch.cuda.is_available(), bf16=False,
        gradient_checkpointing=False, disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = RLOOTrainer(model=loaded.model, reward_funcs=[reward_function(config.reward)], args=args,
                          train_dataset=Dataset.from_list(rows), processing_class=loaded.tokenizer,
                          peft_config=lora_config(config.lora_r), callbacks=[run_callback(ctx)])
    ctx.progress(event="start", train_prompts=len(rows), reward=config.reward)
    trainer.train(resume_from_checkpoint=checkpoints.resume_checkpoint(ctx))
    if ctx.should_stop():
        return {"stopped_at": trainer.state.global_step}
    final = checkpoints.save_final(ctx.dir, lambda folder: save_adapter(trainer, loaded.tokenizer, config.policy, folder))
    return {"steps": trainer.state.global_step, "model": str(final), "method": "rloo", "policy": config.policy,
            "reward": config.reward, "beta": config.beta}
