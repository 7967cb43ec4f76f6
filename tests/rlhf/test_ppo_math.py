"""core.rlhf.ppo: GAE, the clipped losses, the KL estimate and the KL controller against plain references."""

from __future__ import annotations

import math

import pytest
import torch

from core.rlhf.ppo import KLController, PPOConfig, gae, kl_per_token, masked_whiten, ppo_losses, shaped_rewards


def padded_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = [5, 3, 1, 4]
    mask = torch.tensor([[1.0] * n + [0.0] * (5 - n) for n in lengths])
    return torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g), mask, lengths


def test_gae_equals_a_plain_loop_per_answer():
    rewards, values, mask, lengths = padded_batch()
    gamma, lam = 0.9, 0.8
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    expected_adv, expected_ret = torch.zeros(4, 5), torch.zeros(4, 5)
    for i, n in enumerate(lengths):  # the textbook definition, one answer at a time, over its own tokens only
        for t in range(n):
            total = 0.0
            for k in range(t, n):
                next_value = values[i, k + 1].item() if k + 1 < n else 0.0
                delta = rewards[i, k].item() + gamma * next_value - values[i, k].item()
                total += (gamma * lam) ** (k - t) * delta
            expected_adv[i, t], expected_ret[i, t] = total, total + values[i, t].item()
    assert torch.allclose(returns * mask, expected_ret, atol=1e-5)
    flat = expected_adv[mask.bool()]
    whitened = (flat - flat.mean()) / flat.var(unbiased=False).add(1e-8).sqrt()
    assert torch.allclose(advantages[mask.bool()], whitened, atol=1e-4)
    assert (advantages[~mask.bool()] == 0).all()


def test_the_clipped_losses_equal_a_plain_loop():
    g = torch.Generator().manual_seed(1)
    new_lp, old_lp = torch.randn(3, 4, generator=g) * 0.3, torch.randn(3, 4, generator=g) * 0.3
    adv, ret = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    new_v, old_v = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    entropy = torch.rand(3, 4, generator=g)
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    eps, eps_v, vf, ent = 0.2, 0.3, 0.5, 0.01
    loss, stats = ppo_losses(new_lp, old_lp, adv, new_v, old_v, ret, entropy, mask, eps, eps_v, vf, ent)
    pg, v, e, clipped, n = 0.0, 0.0, 0.0, 0, 0
    for i in range(3):
        for t in range(4):
            if not mask[i, t]:
                continue
            ratio = math.exp(new_lp[i, t] - old_lp[i, t])
            a = adv[i, t].item()
            unclipped, clip = -a * ratio, -a * min(max(ratio, 1 - eps), 1 + eps)
            pg += max(unclipped, clip)
            clipped += clip > unclipped
            vc = old_v[i, t].item() + min(max(new_v[i, t].item() - old_v[i, t].item(), -eps_v), eps_v)
            v += max((new_v[i, t].item() - ret[i, t].item()) ** 2, (vc - ret[i, t].item()) ** 2)
            e += entropy[i, t].item()
            n += 1
    expected = pg / n + vf * 0.5 * v / n - ent * e / n
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert stats["loss/policy_avg"].item() == pytest.approx(pg / n, rel=1e-5)
    assert stats["loss/value_avg"].item() == pytest.approx(0.5 * v / n, rel=1e-5)
    assert stats["policy/clipfrac_avg"].item() == pytest.approx(clipped / n)


def test_the_kl_estimate_averages_to_the_exact_kl_on_a_tiny_vocabulary():
    p = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05])
    q = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.2])
    exact = float((p * (p / q).log()).sum())
    samples = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    per_sample = kl_per_token(p.log()[samples], q.log()[samples])
    standard_error = per_sample.std().item() / math.sqrt(len(samples))
    assert abs(per_sample.mean().item() - exact) < 4 * standard_error
    assert (per_sample < 0).any()  # one sample can be negative; the mean over samples from p cannot
    # Samples not drawn from p (here: from q, as a wrong sampling setting would) give a biased, negative estimate.
    wrong = torch.multinomial(q, 200_000, replacement=True, generator=torch.Generator().manual_seed(1))
    assert kl_per_token(p.log()[wrong], q.log()[wrong]).mean().item() < 0


def test_shaped_rewards_put_the_score_on_the_last_token_and_the_penalty_everywhere():
    kl = torch.tensor([[0.5, 0.5, 0.5], [1.0, 2.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    rewards, non_score = shaped_rewards(torch.tensor([3.0, -1.0]), kl * mask, mask, beta=0.1)
    assert torch.allclose(non_score, torch.tensor([[-0.05, -0.05, -0.05], [-0.1, -0.2, 0.0]]))
    assert torch.allclose(rewards, torch.tensor([[-0.05, -0.05, 2.95], [-0.1, -1.2, 0.0]]))


def test_whitening_keeps_the_mean_when_asked():
    x, mask = torch.tensor([[1.0, 2.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert masked_whiten(x, mask)[0, :3].mean().item() == pytest.approx(0, abs=1e-6)
    assert masked_whiten(x, mask, shift_mean=False)[0, :3].mean().item() == pytest.approx(2.0, abs=1e-5)
    assert masked_whiten(x, mask)[0, 3] == 0


def test_the_adaptive_kl_controller_moves_beta_towards_the_target():
    above, below, fixed = KLController(0.1, True, 6, 100), KLController(0.1, True, 6, 100), KLController(0.1, False, 6, 100)
    above.update(12.0, 10)
    below.update(1.0, 10)
    fixed.update(12.0, 10)
    assert above.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100)) and below.value == pytest.approx(0.1 * (1 - 0.2 * 10 / 100))
    assert fixed.value == 0.1


@pytest.mark.parametrize("bad, match", [({"batch_size": 6, "mini_batch_size": 4}, "multiple"), ({"beta": float("nan")}, "beta"),
                                        ({"learning_rate": 0}, "learning_rate"), ({"method": "dpo"}, "method"),
                                        ({"gamma": 1.5}, "gamma")])
def test_the_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        PPOConfig(**bad)


def test_a_nan_loss_stops_the_optimisation_with_a_clear_error():
    from core.rlhf.ppo import optimise

    weight = torch.nn.Parameter(torch.zeros(1))
    batch = {key: torch.zeros(4, 3) for key in ("logprobs", "advantages", "values", "returns")}
    batch["mask"] = torch.ones(4, 3)
    batch["advantages"][0, 0] = float("nan")

    def forward(idx):
        return weight.expand(len(idx), 3), torch.zeros(len(idx), 3), weight.expand(len(idx), 3)

    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        optimise(batch, PPOConfig(batch_size=4, mini_batch_size=4), forward, torch.optim.Adam([weight]), [weight],
                 torch.Generator().manual_seed(0))
