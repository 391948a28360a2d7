// The host's standard image stage (model.yml `preprocess: {kind: image}`):
// an encoded image → the model's input tensor. Decoding is image_decode.h's
// (PNG, JPEG, BMP, PPM/PGM), resizing Pillow's BILINEAR (image_resize.h);
// then channel order, scale/mean/std and layout.
#pragma once

#include <string>
#include <string_view>

#include "mrt/core/image_decode.h"  // sniff_image_format
#include "mrt/core/manifest.h"
#include "mrt/core/status.h"
#include "mrt/core/tensor.h"

namespace mrt {

// INVALID_ARGUMENT for a corrupt, unsupported or oversized image (the
// message says which limit), naming the tensor `input_name`.
Result<Tensor> preprocess_image(const PreprocessSpec& spec, std::string_view encoded, const std::string& input_name);

}  // namespace mrt
