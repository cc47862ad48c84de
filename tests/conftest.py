import os

# Set before torch is imported anywhere: CPU torch stalls in OpenMP busy-waiting otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# --- Tiny Stable Diffusion, built from configs (no network), for the morph tests -----------------
import json
import string

import pytest


def _write_tiny_vocab(folder):
    """Write a character-level CLIP vocab.json/merges.txt; return (vocab.json, merges.txt, size)."""
    chars = list(string.ascii_lowercase + string.digits + ".,!?-'")
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder / "vocab.json", folder / "merges.txt", len(tokens)


def _tiny_vae():
    """Return a tiny random AutoencoderKL (scale factor 2) for the tiny pipelines."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8,
    )  # fmt: skip


def build_tiny_sd(folder):
    """Save a tiny random StableDiffusionPipeline (32x32 images) to ``folder``; return its path."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    vocab, merges, vocab_size = _write_tiny_vocab(folder / "_vocab")
    tokenizer = CLIPTokenizer(str(vocab), str(merges), model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
            bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
        )
    )  # fmt: skip
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=8, attention_head_dim=4,
    )  # fmt: skip
    vae = _tiny_vae()
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


def build_tiny_sdxl(folder):
    """Save a tiny random StableDiffusionXLPipeline (32x32 images, two text encoders) to ``folder``; return it."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    vocab, merges, vocab_size = _write_tiny_vocab(folder / "_vocab")
    text_config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, projection_dim=32, hidden_act="gelu",
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
    )  # fmt: skip
    # SDXL's UNet takes both encoders' token states (32 + 32) and, as "text_time" embedding, the
    # second encoder's pooled vector (32) plus six size/crop numbers of 8 each: 32 + 6 * 8 = 80.
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=8,
    )  # fmt: skip
    vae = _tiny_vae()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(text_config), text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer=CLIPTokenizer(str(vocab), str(merges), model_max_length=77),
        tokenizer_2=CLIPTokenizer(str(vocab), str(merges), model_max_length=77), unet=unet, scheduler=scheduler,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


def _tiny_clip(vocab_size: int, projection: bool):
    """Return a tiny random CLIP text encoder (hidden size 32; with a projection: SDXL's and SD3's second kind)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, projection_dim=32, hidden_act="gelu",
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
    )  # fmt: skip
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _tiny_t5(d_model: int):
    """Return a tiny random T5 encoder of width ``d_model`` and a T5 tokenizer over letters, built offline."""
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(c, -2.0) for c in "▁" + string.ascii_lowercase + string.digits + ".,!?-'"]
    pieces += [("▁" + c, -1.0) for c in string.ascii_lowercase]
    tokenizer = T5TokenizerFast(vocab=pieces, extra_ids=0)
    config = T5Config(
        vocab_size=len(pieces), d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip
    return T5EncoderModel(config), tokenizer


def _tiny_flow_vae(latent_channels: int):
    """Return a tiny random AutoencoderKL as SD3 and Flux use them (shifted latents, no quant convs)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=latent_channels, block_out_channels=(16, 32),
        layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8, shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False,
    )  # fmt: skip


def build_tiny_sd3(folder):
    """Save a tiny random StableDiffusion3Pipeline (32x32 images; two CLIPs and a T5) to ``folder``; return it."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTokenizer

    torch.manual_seed(0)
    vocab, merges, vocab_size = _write_tiny_vocab(folder / "_vocab")
    t5, t5_tokenizer = _tiny_t5(d_model=64)
    # The two CLIPs' token states (32 + 32) are padded to the T5 width (64), the joint attention width;
    # their pooled vectors (32 + 32) are the pooled projection.
    transformer = SD3Transformer2DModel(
        sample_size=16, patch_size=1, in_channels=4, out_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=64, pooled_projection_dim=64,
    )  # fmt: skip
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=_tiny_flow_vae(4),
        text_encoder=_tiny_clip(vocab_size, True), tokenizer=CLIPTokenizer(str(vocab), str(merges), model_max_length=77),
        text_encoder_2=_tiny_clip(vocab_size, True), tokenizer_2=CLIPTokenizer(str(vocab), str(merges), model_max_length=77),
        text_encoder_3=t5, tokenizer_3=t5_tokenizer,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


def build_tiny_flux(folder):
    """Save a tiny random FluxPipeline (32x32 images, guidance-distilled like FLUX.1-dev) to ``folder``; return it."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTokenizer

    torch.manual_seed(0)
    vocab, merges, vocab_size = _write_tiny_vocab(folder / "_vocab")
    t5, t5_tokenizer = _tiny_t5(d_model=32)
    # 4 latent channels packed in 2x2 patches: 16 input channels; rotary axes add up to the head size.
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 4, 8),
    )  # fmt: skip
    pipe = FluxPipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=_tiny_flow_vae(4),
        text_encoder=_tiny_clip(vocab_size, False), tokenizer=CLIPTokenizer(str(vocab), str(merges), model_max_length=77),
        text_encoder_2=t5, tokenizer_2=t5_tokenizer,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


def build_tiny_transformer_lora(folder, path, seed=1, scale=4.0):
    """Save a random peft LoRA for the transformer of the tiny SD3 or Flux pipeline at ``folder`` to ``path``."""
    import diffusers
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    kind = json.loads((folder / "model_index.json").read_text())["_class_name"]
    transformer_class = {"FluxPipeline": "FluxTransformer2DModel", "StableDiffusion3Pipeline": "SD3Transformer2DModel"}
    transformer = getattr(diffusers, transformer_class[kind]).from_pretrained(folder / "transformer")
    torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v"])
    )
    layers = {k: v * scale for k, v in get_peft_model_state_dict(transformer).items()}
    getattr(diffusers, kind).save_lora_weights(path.parent, transformer_lora_layers=layers, weight_name=path.name)
    return path


def check_stacked_loras(folder, first, second, config) -> None:
    """Assert that two LoRAs of the model at ``folder`` load as named adapters at their weights: each
    changes the first frame of ``config``'s morph, and weight 0 turns them off."""
    import numpy as np

    from pixelgif.run import load_engine

    def first_frame(lora):
        engine = load_engine(str(folder), lora=lora, progress=False)
        return np.asarray(engine(config).frames[0]), engine.pipe

    plain, _ = first_frame(None)
    one, _ = first_frame(str(first))
    both, pipe = first_frame([f"{first}:1.0", f"{second}:0.5"])
    assert pipe.get_active_adapters() == ["pixelgif-0", "pixelgif-1"]
    assert not np.array_equal(one, plain) and not np.array_equal(both, one)
    off, _ = first_frame([f"{first}:0", f"{second}:0"])
    assert np.array_equal(off, plain)  # weight 0 turns a LoRA off


def build_tiny_lora(sd_folder, path, rank=4, seed=1):
    """Save a random peft LoRA for the tiny SD UNet to ``path`` (.safetensors); return the path."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(sd_folder / "unet")
    config = LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"]
    )
    unet.add_adapter(config)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    layers = {k: v * 4.0 for k, v in layers.items()}  # a strong LoRA, so its effect is plain to see
    StableDiffusionPipeline.save_lora_weights(path.parent, unet_lora_layers=layers, weight_name=path.name)
    return path


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    """Return the folder of a tiny Stable Diffusion pipeline saved with save_pretrained."""
    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory):
    """Return the folder of a tiny StableDiffusion3Pipeline saved with save_pretrained."""
    return build_tiny_sd3(tmp_path_factory.mktemp("tiny-sd3"))


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory):
    """Return the folder of a tiny FluxPipeline saved with save_pretrained."""
    return build_tiny_flux(tmp_path_factory.mktemp("tiny-flux"))


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory):
    """Return the folder of a tiny Stable Diffusion XL pipeline saved with save_pretrained."""
    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session")
def tiny_lora(tiny_sd, tmp_path_factory):
    """Return the path of a tiny LoRA (.safetensors) that fits `tiny_sd`."""
    return build_tiny_lora(tiny_sd, tmp_path_factory.mktemp("tiny-lora") / "tiny_lora.safetensors")
