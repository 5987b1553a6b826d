"""StyleGAN2 losses: non-saturating logistic loss, lazy R1 on D, lazy path-length
regularization on G, style-mixing regularization.

The training loop asks for `discriminator_loss(real, step)` and `generator_loss(n, step)`
and backpropagates their "total"; which regularizers run at a step, and how, is decided
here. Regularizers are lazy (every `r1_interval` / `pl_interval` steps, scaled by the
interval so their average weight is unchanged) and run in float32: second derivatives in
bf16/fp16 are too coarse, and at one step in 4 or 16 the cost is small.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
import torch.nn.functional as F

from trainers.stylegan.networks import NOISE_RANDOM, Discriminator, Generator


class StyleGAN2Loss:
    def __init__(self, G: Generator, D: Discriminator, r1_gamma: float, r1_interval: int = 16,
                 pl_weight: float = 2.0, pl_interval: int = 4, pl_batch_shrink: int = 2, pl_decay: float = 0.01,
                 mixing_prob: float = 0.9, augment: Callable | None = None,
                 autocast: Callable = contextlib.nullcontext, mean_across_ranks: Callable = lambda t: t):
        self.G, self.D = G, D
        self.r1_gamma, self.r1_interval = r1_gamma, r1_interval
        self.pl_weight, self.pl_interval, self.pl_batch_shrink, self.pl_decay = pl_weight, pl_interval, pl_batch_shrink, pl_decay
        self.mixing_prob, self.augment = mixing_prob, augment
        self.autocast, self.mean_across_ranks = autocast, mean_across_ranks
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)  # running mean of path lengths

    def state_dict(self) -> dict:  # checkpointed beside the networks
        return {"pl_mean": self.pl_mean.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.pl_mean = state["pl_mean"].to(self.pl_mean.device)

    def run_G(self, n: int, device, track_w_avg: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """n generated images and their styles; with `mixing_prob`, two latents cross over at a
        random layer so that neighbouring layers cannot rely on sharing one style."""
        G = self.G
        z = torch.randn(n, G.z_dim, device=device)
        z_mix, cutoff = None, G.num_ws
        if self.mixing_prob > 0 and torch.rand(()).item() < self.mixing_prob:
            z_mix, cutoff = torch.randn_like(z), int(torch.randint(1, G.num_ws, ()).item())
        ws = G.styles(z, z_mix=z_mix, mix_layer=cutoff, track_w_avg=track_w_avg)
        return G.synthesis(ws, NOISE_RANDOM), ws

    def run_D(self, img: torch.Tensor) -> torch.Tensor:
        return self.D(self.augment(img) if self.augment else img)

    def discriminator_loss(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        do_r1 = self.r1_gamma > 0 and step % self.r1_interval == 0
        with self.autocast():
            with torch.no_grad():
                fake, _ = self.run_G(real.shape[0], real.device)
            loss_fake = F.softplus(self.run_D(fake)).mean()            # −log(1 − sigmoid(D(fake)))
        real = real.detach().requires_grad_(do_r1)
        with self.autocast() if not do_r1 else contextlib.nullcontext():
            real_logits = self.run_D(real).float()
        loss_real = F.softplus(-real_logits).mean()                    # −log sigmoid(D(real))
        r1 = torch.zeros((), device=real.device)
        if do_r1:  # R1: penalize D's gradient on real images, which keeps it from overshooting
            grad, = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum([1, 2, 3]).mean() * (self.r1_gamma / 2) * self.r1_interval
        return {"total": loss_fake + loss_real + r1, "d_real": loss_real.detach(), "d_fake": loss_fake.detach(),
                "r1": r1.detach(), "d_real_logit": real_logits.detach().mean()}

    def generator_loss(self, n: int, device, step: int) -> dict[str, torch.Tensor]:
        with self.autocast():
            fake, _ = self.run_G(n, device, track_w_avg=True)
            loss = F.softplus(-self.run_D(fake).float()).mean()        # non-saturating: −log sigmoid(D(fake))
        pl = torch.zeros((), device=device)
        if self.pl_weight > 0 and step % self.pl_interval == 0:
            pl = self.path_length_penalty(max(1, n // self.pl_batch_shrink), device) * self.pl_interval
        return {"total": loss + pl, "g": loss.detach(), "pl": pl.detach(), "pl_mean": self.pl_mean.detach().clone()}

    def path_length_penalty(self, n: int, device) -> torch.Tensor:
        """A fixed-size step in W should move the image by a fixed amount, in every direction:
        penalize the deviation of |J_w^T y| (y random image-space noise) from its running mean."""
        img, ws = self.run_G(n, device)
        y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        grad, = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        mean = self.mean_across_ranks(lengths.mean().detach())
        self.pl_mean.copy_(self.pl_mean.lerp(mean, self.pl_decay))
        return (lengths - self.pl_mean).square().mean() * self.pl_weight
