// Llama models in GGUF files (general.architecture "llama", as llama.cpp's
// convert_hf_to_gguf.py and llama-quantize write them): the config from the
// llama.* metadata keys, the weights from the tensors
//
//   token_embd.weight  blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output,
//   ffn_norm, ffn_gate, ffn_down, ffn_up}.weight  output_norm.weight
//   [output.weight: absent when tied to token_embd]  [rope_freqs.weight]
//
// pointing into the mapped file in their stored type. The converter permutes
// Q and K rows so that RoPE rotates adjacent pairs (llama.cpp's "norm" RoPE),
// as llama2.c checkpoints do.
#pragma once

#include <string>

#include "gguf.h"
#include "llama_model.h"

namespace mrt::raw {

// Empty string on success, else what is missing, unsupported or
// inconsistent, naming the key or tensor.
std::string load_gguf_llama(const Gguf& g, LlamaConfig& config, LlamaWeights& weights);

}  // namespace mrt::raw
