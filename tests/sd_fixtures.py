"""A tiny random folder of Stable Diffusion's layout, made with save_pretrained: what UNETLAB_SD_PATH points at."""

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel

WIDTH = 16  # the U-Net's cross_attention_dim = the text encoder's hidden size
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def save_tiny_sd(
    folder: Path, prediction_type: str = "epsilon", vae: bool = False, text: bool = False, seed: int = 0
) -> Path:
    """unet/ (8x8x4 latents) and scheduler/ always; vae/ and CLIP's text_encoder/ + tokenizer/ when asked (text
    needs transformers). The same seed gives the same weights, whatever the prediction_type."""
    torch.manual_seed(seed)
    UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=WIDTH,
        attention_head_dim=2,
    ).save_pretrained(folder / "unet")
    # SD 1.x ships a PNDM scheduler config; the tab reads it as DDPM or DDIM (the same betas)
    PNDMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, prediction_type=prediction_type
    ).save_pretrained(folder / "scheduler")
    if vae:
        AutoencoderKL(block_out_channels=(8,), latent_channels=4, norm_num_groups=4, sample_size=8).save_pretrained(
            folder / "vae"
        )
    if text:
        save_tiny_clip(folder)
    return folder


def save_tiny_clip(folder: Path, width: int = WIDTH) -> None:
    """CLIP's tokenizer/ as SD ships it (vocab.json, merges.txt, tokenizer_config.json) with a vocabulary of single
    letters, each alone or ending a word (BPE with no merges), and a 2-layer random CLIPTextModel for it, width wide."""
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab = [*LETTERS, *(f"{c}</w>" for c in LETTERS), "<|startoftext|>", "<|endoftext|>"]
    tokenizer = folder / "tokenizer"
    tokenizer.mkdir(parents=True)
    (tokenizer / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (tokenizer / "merges.txt").write_text("#version: 0.2\n")
    config = {"model_max_length": 77, "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    (tokenizer / "tokenizer_config.json").write_text(json.dumps(config))
    CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=width,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=vocab.index("<|startoftext|>"),
            eos_token_id=vocab.index("<|endoftext|>"),
            pad_token_id=vocab.index("<|endoftext|>"),
        )
    ).save_pretrained(folder / "text_encoder")
