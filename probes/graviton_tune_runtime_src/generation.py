"""Generation: language models measured and served the way they are used, in tokens.

A causal LM (LlamaForCausalLM, GPT2LMHeadModel, Qwen2ForCausalLM …) or a seq2seq LM
(T5ForConditionalGeneration, BartForConditionalGeneration, MarianMTModel …) is served by
generating: greedy, from fixed prompts, a fixed number of new tokens (the end-of-sequence
token ignored, so every call does the same work). graviton-tune measures it with these
functions and the deployed helper's OptimizedModel.generate() runs it the same way:

    model = optimize(AutoModelForCausalLM.from_pretrained(folder), prompt)
    tokens = model.generate(**prompt, **greedy_settings(model, new_tokens=64))

The timing is taken from inside generate() (a streamer sees each token as it is made):
the first token (prefill: the whole prompt through the model) and the following ones
(decode: one token per sequence per step) apart.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import torch

# The first tokens of the greedy-token check: sequences identical over this many new tokens.
CHECK_TOKENS = 32


def can_generate(model: Any) -> bool:
    """A Hugging Face model with a language-model head that generate() drives."""
    check = getattr(model, "can_generate", None)
    try:
        return bool(callable(check) and check())
    except Exception:  # noqa: BLE001 - a model that cannot say cannot generate
        return False


def is_encoder_decoder(model: Any) -> bool:
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))


def prompt_inputs(model: Any, batch_size: int, prompt_len: int, seed: int = 0) -> Dict[str, torch.Tensor]:
    """Seeded prompts: batch_size sequences of prompt_len token ids inside the vocabulary
    (special ids left out, so no prompt ends early), with an attention mask of ones."""
    config = getattr(model, "config", model)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    if vocab < 2:
        raise ValueError("the model's config has no vocab_size: give the prompts yourself")
    special = {getattr(config, name, None) for name in ("pad_token_id", "eos_token_id", "bos_token_id",
                                                         "decoder_start_token_id")}
    low = 1 + max([s for s in special if isinstance(s, int) and s < 8] or [-1])
    gen = torch.Generator().manual_seed(int(seed))
    shape = (int(batch_size), int(prompt_len))
    ids = torch.randint(low, vocab, shape, generator=gen, dtype=torch.int64)
    return {"input_ids": ids, "attention_mask": torch.ones(shape, dtype=torch.int64)}


def max_positions(model: Any) -> Optional[int]:
    """The longest sequence the model takes (prompt plus new tokens for a causal LM), when it says."""
    config = getattr(model, "config", model)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def greedy_settings(model: Any, new_tokens: int) -> Dict[str, Any]:
    """generate() keyword arguments for the measured work: greedy, exactly new_tokens new tokens.
    `model` is the Hugging Face model or what optimize() returned for it."""
    config = getattr(getattr(model, "module", model), "config", None)
    pad = getattr(config, "pad_token_id", None)
    if pad is None:
        eos = getattr(config, "eos_token_id", None)
        pad = eos[0] if isinstance(eos, (list, tuple)) and eos else (eos if isinstance(eos, int) else 0)
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": int(new_tokens), "min_new_tokens": int(new_tokens),
            "pad_token_id": pad, "use_cache": True}


class TokenClock:
    """A generate() streamer that notes when each step's tokens come out.

    generate() hands the streamer the prompt (or the decoder's start token) first, then
    each new token of every sequence: `times[0]` is the first new token (the end of the
    prefill), `times[i]` the (i+1)-th."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.times: List[float] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass

    def timing(self) -> Dict[str, Any]:
        """ttft (s), the gaps between tokens (s), decode seconds (first to last token), total seconds."""
        times = self.times
        if not times:
            return {"ttft": float("nan"), "gaps": [], "decode": 0.0, "total": 0.0}
        gaps = [b - a for a, b in zip(times, times[1:])]
        return {"ttft": times[0] - self.started, "gaps": gaps, "decode": times[-1] - times[0],
                "total": times[-1] - self.started}


def generate_timed(generate: Any, inputs: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, Any]:
    """One generate() call with its timing: {"tokens": the new tokens [batch, n], **TokenClock.timing()}."""
    clock = TokenClock()
    sequences = generate(**inputs, **settings, streamer=clock)
    # Exactly max_new_tokens were made: the last ones (after the prompt of a causal LM, or
    # the start token of an encoder-decoder's decoder).
    return {"tokens": sequences[:, -int(settings["max_new_tokens"]):], **clock.timing()}


def generate_checked(generate: Any, inputs: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """One generate() call that also keeps the first step's logits (the prefill's output, [batch,
    vocab], float32): what the greedy-token check compares. The same call as the measured ones
    (same shapes, so a compiled step is not compiled again)."""
    out = generate(**inputs, **settings, output_logits=True, return_dict_in_generate=True)
    return {"tokens": out.sequences[:, -int(settings["max_new_tokens"]):], "logits": out.logits[0].detach().float()}


def compare_tokens(reference: torch.Tensor, tokens: torch.Tensor, first: int = CHECK_TOKENS) -> Dict[str, Any]:
    """Greedy tokens against the fp32 eager ones: sequences identical over the first `first`
    new tokens, and the earliest position where any sequence differs (None: none does)."""
    n = min(first, reference.shape[1], tokens.shape[1])
    same = reference[:, :n] == tokens[:, :n]
    identical = int(same.all(dim=1).sum())
    differing = (~same).any(dim=0).nonzero()
    return {"compared": n, "sequences": int(reference.shape[0]), "identical": identical,
            "firstDivergence": int(differing[0]) if differing.numel() else None}
